// The hashing pool gives the same names as hashing in the calling thread, for whole and short
// chunks, zero chunks and every chunk size, and keeps order across batches.
import { describe, expect, test } from 'vitest';
import { deflateCodec, zstdCodec } from '../src/_codec';
import { HashPool, hashBatch, UnpackError } from '../src/_hash-pool';
import { content, mixedContent, prng } from './_helpers';

describe('HashPool', () => {
  test('unpackAndHash: fragments decompressed into place and named as the originals; a bad one is named by index', async () => {
    const rand = prng(77);
    for (const workers of [0, 1]) {
      const pool = new HashPool(workers);
      try {
        for (const codec of [await zstdCodec(1), deflateCodec(1)]) {
          const cs = 4096;
          const count = 8;
          const original = new Uint8Array(count * cs);
          for (let c = 0; c < count; c++)
            for (let i = 0; i < cs; i++)
              original[c * cs + i] = 65 + (((i >> (2 + (c % 3))) + c * 5 + Math.floor(rand() * 2)) % 23);
          // Chunks 1, 4 and 6 arrive compressed (in the second half), the others as they are.
          const data = new Uint8Array(new SharedArrayBuffer(2 * count * cs));
          data.set(original.subarray(0, count * cs));
          const jobs: number[] = [];
          let at = count * cs;
          for (const c of [1, 4, 6]) {
            const f = codec.compress(original.subarray(c * cs, (c + 1) * cs)) as Uint8Array;
            expect(f, `${codec.name} compresses chunk ${c}`).toBeDefined();
            data.set(f, at);
            data.fill(0xee, c * cs, (c + 1) * cs);
            jobs.push(at, f.length, c * cs);
            at += f.length;
          }
          const names = await pool.unpackAndHash(data, count * cs, cs, Int32Array.from(jobs), codec);
          expect(data.subarray(0, count * cs)).toEqual(original);
          expect(names.names).toEqual(hashBatch(original, cs).names);
          // The second fragment cut short: index 1 fails.
          const bad = Int32Array.from(jobs);
          bad[4] = Math.max(1, (bad[4] as number) - 9);
          const e = await pool.unpackAndHash(data, count * cs, cs, bad, codec).catch((x: unknown) => x);
          expect(e, `${codec.name} ${workers} workers`).toBeInstanceOf(UnpackError);
          expect((e as UnpackError).index).toBe(1);
        }
      } finally {
        await pool.close();
      }
    }
  });

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
