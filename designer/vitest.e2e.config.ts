import { defineConfig } from 'vitest/config';

// End-to-end: a real `sluice serve` and Debian's Chromium through
// playwright-core (see e2e/README.md).
export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.ts'],
    environment: 'node',
    testTimeout: 300_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
