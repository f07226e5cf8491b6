// The hashing pool gives the same names as hashing in the calling thread, for whole and short
// chunks, zero chunks and every chunk size, and keeps order across batches.
import { describe, expect, test } from 'vitest';
import { deflateCodec, zstdCodec } from '../src/_codec';
import { HashPool, hashBatch } from '../src/_hash-pool';
import { content, mixedContent, prng } from './_helpers';

describe('HashPool', () => {
  test('compresses on its workers exactly as the codec does here (zstd at two levels, deflate), plain and shared buffers', async () => {
    const pool = new HashPool(2);
    const rand = prng(12);
    try {
      for (const codec of [await zstdCodec(1), await zstdCodec(3), deflateCodec(1), deflateCodec(6)]) {
        expect(pool.compresses(codec)).toBe(true);
        for (const cs of [512, 4096, 65536]) {
          const count = 12;
          const plain = new Uint8Array(count * cs);
          for (let c = 0; c < count; c++) plain.set(mixedContent(rand, cs), c * cs);
          const shared = new Uint8Array(new SharedArrayBuffer(plain.length));
          shared.set(plain);
          const offsets = [0, 3, 5, 6, 11].map((c) => c * cs);
          for (const data of [plain, shared]) {
            const got = await pool.compress(data, cs, offsets, codec);
            const want = offsets.map((o) => codec.compress(data.subarray(o, o + cs)));
            expect(got.length).toBe(want.length);
            got.forEach((f, i) => {
              const w = want[i];
              if (w === undefined) expect(f, `${codec.name} ${cs} ${i}`).toBeUndefined();
              else
                expect(Buffer.from(f as Uint8Array).equals(Buffer.from(w)), `${codec.name} ${cs} ${i}`).toBe(
                  true,
                );
            });
          }
        }
      }
    } finally {
      await pool.close();
    }
    // A closed pool compresses inline.
    const z = await zstdCodec(1);
    expect(pool.compresses(z)).toBe(false);
    expect(
      (await pool.compress(new Uint8Array(1024).fill(7), 512, [0, 512], z)).every((f) => f !== undefined),
    ).toBe(true);
  });

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

  test('shared buffers: views anywhere in them, reused and rewritten, more of them than the workers keep', async () => {
    const pool = new HashPool(2);
    const rand = prng(9);
    try {
      const buffers = Array.from({ length: 40 }, () => new Uint8Array(new SharedArrayBuffer(8 * 4096)));
      for (let round = 0; round < 3; round++) {
        const jobs: Uint8Array[] = [];
        for (const [k, buf] of buffers.entries()) {
          buf.set(content(rand, buf.length, 2));
          const from = ((k + round) % 3) * 4096;
          jobs.push(buf.subarray(from, from + 4096 * (1 + (k % 5))));
        }
        const results = await Promise.all(jobs.map((view) => pool.hash(view, 4096)));
        jobs.forEach((view, i) => {
          const want = hashBatch(view, 4096);
          const got = results[i] as { names: Uint8Array; zero: Uint8Array };
          expect(Buffer.from(got.names).equals(Buffer.from(want.names))).toBe(true);
          expect([...got.zero]).toEqual([...want.zero]);
        });
      }
    } finally {
      await pool.close();
    }
  });
});
