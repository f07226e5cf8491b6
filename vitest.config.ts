// Root test runner: every package's own vitest config runs as one project, in one process, and the
// run closes with a plain `tests: N passed, N failed` line (scripts/summary-reporter.ts).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'apps/*/vitest.config.ts', 'tools/*/vitest.config.ts'],
    reporters: ['default', './scripts/summary-reporter.ts'],
  },
});
