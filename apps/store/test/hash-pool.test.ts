// The hashing pool gives the same names as hashing in the calling thread, for whole and short
// chunks, zero chunks and every chunk size, and keeps order across batches.
import { describe, expect, test } from 'vitest';
import { HashPool, hashBatch } from '../src/_hash-pool';
import { content, prng } from './_helpers';

describe('HashPool', () => {
  test('matches in-thread hashing, in order', async () => {
    const pool = new HashPool(2);
    const rand = prng(4);
    try {
      const jobs: { data: Uint8Array; cs: number }[] = [];
      for (const cs of [512, 4096, 65536]) {
        for (const len of [0, 1, cs - 1, cs, 3 * cs + 17, 8 * cs])
          jobs.push({ data: content(rand, len, 2), cs });
      }
      const results = await Promise.all(jobs.map((j) => pool.hash(j.data, j.cs)));
      jobs.forEach((j, i) => {
        const want = hashBatch(j.data, j.cs);
        expect(Buffer.from((results[i] as { names: Uint8Array }).names).equals(Buffer.from(want.names))).toBe(
          true,
        );
        expect([...(results[i] as { zero: Uint8Array }).zero]).toEqual([...want.zero]);
      });
    } finally {
      await pool.close();
    }
    // A closed pool hashes inline.
    const data = new Uint8Array(1024).fill(1);
    expect((await pool.hash(data, 512)).zero.length).toBe(2);
  });
});
