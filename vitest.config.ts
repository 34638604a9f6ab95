import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds the test images a fresh machine lacks (once; later runs reuse them).
    globalSetup: ['test/images/global-setup.ts'],
    // Engine tests start containers and write volumes: give them room, never assert on time.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
