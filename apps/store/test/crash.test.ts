// Crash at every storage operation of a store workload, in every FaultyStorage mode (see _crash.ts).
import { describe, expect, test } from 'vitest';
import { sweep } from './_crash';

describe('crash at every storage operation', () => {
  test('seed 1, every point and mode', async () => {
    const ops = await sweep(1);
    expect(ops).toBeGreaterThan(20);
  }, 300_000);

  test('seed 1, a compressed store (zstd), every point and mode', async () => {
    const ops = await sweep(1, undefined, 'zstd');
    expect(ops).toBeGreaterThan(20);
  }, 300_000);
});
