import { defineConfig } from 'vitest/config';
import { COMMON, SOAK_TESTS } from './vitest.config.js';

/**
 * The long soak, kept out of `npm test`: `npm run soak` (20 s per mode; SOAK_SECONDS=N for another
 * length). CI runs a short one once, on one Node version (.ci/run).
 */
export default defineConfig({ test: { ...COMMON, include: SOAK_TESTS } });
