// Long suites (pnpm --filter @deja/storage test:slow): the conformance suite with many more random
// steps, and crash sweeps of seeded random workloads over memory, every crash point and every mode,
// with each post-crash image checked against a model of flushed and cached writes. The same suites
// over files are in @deja/storage-file.
import { checkCrashImage, emptyCrashModel, randomStorageWorkload } from '@deja/test-helpers';
import { describe, expect, test } from 'vitest';
import { storageConformance } from '../src/conformance';
import { MemoryStorage } from '../src/index';
import { crashSweep, FaultyStorage } from '../src/testing';

for (const seed of [101, 202, 303]) {
  storageConformance(test, {
    prefix: `slow MemoryStorage seed ${seed}`,
    create: async () => new MemoryStorage(),
    reopen: async (closed) => new MemoryStorage({ data: (closed as MemoryStorage).snapshot() }),
    seed,
    steps: 5000,
  });
  storageConformance(test, {
    prefix: `slow FaultyStorage seed ${seed}`,
    create: () => FaultyStorage.wrap(new MemoryStorage(), { seed }),
    seed,
    steps: 3000,
  });
}

describe('crash sweeps of random workloads', () => {
  for (const seed of [1, 2, 3]) {
    test(`memory, seed ${seed}`, async () => {
      const model = emptyCrashModel();
      const result = await crashSweep({
        create: () => new MemoryStorage(),
        workload: randomStorageWorkload(seed, 80, model),
        reopen: (medium) => new MemoryStorage({ data: (medium as MemoryStorage).snapshot() }),
        check: async (image, info) => {
          checkCrashImage(await image.read(0, await image.size()), model, info.mode);
        },
        seed,
      });
      expect(result.runs).toBe((result.operations + 1) * 4);
    });
  }
});
