// Root test runner: every package's own vitest config runs as one project, in one process, so a
// single summary line closes the run.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*'],
  },
});
