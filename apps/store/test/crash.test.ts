// Crash at every storage operation of a store workload, in every FaultyStorage mode (see _crash.ts).
import { describe, expect, test } from 'vitest';
import { sweep } from './_crash';

describe('crash at every storage operation', () => {
  test('seed 1, every point and mode', async () => {
    const ops = await sweep(1);
    expect(ops).toBeGreaterThan(20);
  }, 300_000);

  // A compressed store: seed 6's workload crashes between a deletion's batches and the releases
  // that follow them (open must count the fragments' references again: it fails without), and
  // leaves dead fragments, so the sweep also crashes inside a compaction.
  test('seed 6, a compressed store (zstd), every point and mode', async () => {
    const ops = await sweep(6, undefined, 'zstd');
    expect(ops).toBeGreaterThan(20);
  }, 300_000);
});
