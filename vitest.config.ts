import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ from the current source when it is stale: the I/O worker runs from there.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests open real sockets and worker threads; run files one by one on the 2-core CI box.
    fileParallelism: false,
    pool: 'forks',
  },
});
