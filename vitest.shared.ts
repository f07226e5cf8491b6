// Shared vitest settings for every package: resolve workspace packages to their TypeScript sources
// through the `@deja/source` export condition, so a fresh clone tests without a build.
import { defineConfig } from 'vitest/config';

const conditions = ['@deja/source', 'module', 'node', 'import', 'default'];

export function packageConfig(name: string) {
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['@deja/source'] } },
    test: {
      name,
      include: ['test/**/*.test.ts'],
      exclude: ['test/**/*.slow.test.ts'],
      testTimeout: 60_000,
      passWithNoTests: true,
    },
  });
}

export function slowConfig(name: string) {
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['@deja/source'] } },
    test: {
      name: `${name}:slow`,
      include: ['test/**/*.slow.test.ts'],
      testTimeout: 3_600_000,
    },
  });
}
