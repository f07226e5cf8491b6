// Longer crash sweeps (pnpm --filter @deja/exception-store test:slow): more seeds and longer
// workloads, every storage operation, every crash mode.

import { describe, expect, it } from 'vitest';
import { sweep, WIDE_1K, WIDE_4K } from './_crash';
import { volumeSweep } from './_volume-crash';

describe('crash sweeps (slow)', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}: 6 commits of 20 operations`, async () => {
      const r = await sweep(seed * 7919, 6, 20);
      expect(r.runs).toBe((r.operations + 1) * 4);
    });
  }
  for (const seed of [31, 32, 33]) {
    it(`4 KiB pages, 256-bit masks, seed ${seed}: 3 commits of 12 operations`, async () => {
      const r = await sweep(seed, 3, 12, undefined, WIDE_4K);
      expect(r.runs).toBe((r.operations + 1) * 4);
    });
    it(`1 KiB pages, 96-bit masks, seed ${seed}: 3 commits of 12 operations`, async () => {
      const r = await sweep(seed, 3, 12, undefined, WIDE_1K);
      expect(r.runs).toBe((r.operations + 1) * 4);
    });
  }
  for (const seed of [11, 12, 13]) {
    it(`volumes, seed ${seed}: 60 operations`, async () => {
      await volumeSweep(seed, 60);
    });
  }
});
