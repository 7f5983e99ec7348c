import { defineConfig } from 'vitest/config';

/** Tests that run only with `npm run soak` (vitest.soak.config.ts): long, and run once per CI run. */
export const SOAK_TESTS = ['test/reliability/soak.test.ts'];

/** Settings both configurations share. */
export const COMMON = {
  // Builds dist/ from the current source when it is stale: the I/O worker runs from there.
  globalSetup: 'test/global-setup.ts',
  testTimeout: 30_000,
  hookTimeout: 30_000,
  // Integration tests open real sockets and worker threads; run files one by one on the 2-core CI box.
  fileParallelism: false,
  pool: 'forks',
} as const;

export default defineConfig({
  test: {
    ...COMMON,
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...SOAK_TESTS],
  },
});
