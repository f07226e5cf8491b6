// Shared vitest settings for every package: resolve workspace packages to their TypeScript sources
// through the `@deja/source` export condition, so a fresh clone tests without a build. Files named
// `*.slow.test.ts` (long crash sweeps, big fuzz runs) only run through the `test:slow` config.
import { defineConfig } from 'vitest/config';

const conditions = ['@deja/source', 'module', 'node', 'import', 'default'];
const resolve = { conditions };
const ssr = { resolve: { conditions, externalConditions: ['@deja/source'] } };

export function packageConfig(name: string) {
  return defineConfig({
    resolve,
    ssr,
    test: {
      name,
      include: ['test/**/*.test.ts'],
      exclude: ['test/**/*.slow.test.ts'],
      testTimeout: 60_000,
    },
  });
}

export function slowConfig(name: string) {
  return defineConfig({
    resolve,
    ssr,
    test: { name: `${name}:slow`, include: ['test/**/*.slow.test.ts'], testTimeout: 3_600_000 },
  });
}
