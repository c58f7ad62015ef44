import { defineConfig } from 'vitest/config';

// Unit tests: pure logic (flow <-> DSL conversion, form generation, undo)
// in Node; no DOM.
export default defineConfig({
  test: { include: ['src/**/*.test.ts'], environment: 'node' },
});
