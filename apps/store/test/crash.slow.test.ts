// The crash sweep (see _crash.ts) over more seeds, and compressed stores: `pnpm test:slow`.
import { describe, expect, test } from 'vitest';
import { sweep } from './_crash';

describe('crash at every storage operation (slow)', () => {
  for (let seed = 2; seed <= 9; seed++) {
    test(`seed ${seed}, every point and mode`, async () => {
      expect(await sweep(seed)).toBeGreaterThan(20);
    }, 600_000);
  }
  for (const [seed, codec] of [
    [2, 'zstd'],
    [5, 'deflate'],
    [8, 'zstd'],
    [10, 'deflate'],
  ] as const) {
    test(`seed ${seed}, a compressed store (${codec}), every point and mode`, async () => {
      expect(await sweep(seed, undefined, codec)).toBeGreaterThan(20);
    }, 600_000);
  }
});
