// The hashing pool gives the same names as hashing in the calling thread, for whole and short
// chunks, zero chunks and every chunk size, and keeps order across batches.
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
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

  test('writes a batch out once its names match, never a damaged one; a failed write is the system error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'deja-pool-'));
    const pool = new HashPool(1);
    try {
      const cs = 512;
      const rand = prng(5);
      const data = new Uint8Array(new SharedArrayBuffer(6 * cs));
      for (let i = 0; i < data.length; i++) data[i] = Math.floor(rand() * 256);
      const expect16 = hashBatch(data, cs).names;
      const path = join(dir, 'out');
      const fd = openSync(path, 'w+');
      try {
        // Chunks 1..2 at 0, chunk 4 at 10000; chunk 5 is not checked (only), nor written.
        const only = Uint8Array.of(1, 1, 1, 1, 1, 0);
        const runs = Float64Array.of(cs, 2 * cs, 0, 4 * cs, cs, 10000);
        const ok = await pool.hash(data, cs, only, { fd, runs, expect: expect16 });
        expect(ok.written).toBe(true);
        const out = readFileSync(path);
        expect(out.subarray(0, 2 * cs)).toEqual(Buffer.from(data.subarray(cs, 3 * cs)));
        expect(out.subarray(10000, 10000 + cs)).toEqual(Buffer.from(data.subarray(4 * cs, 5 * cs)));
        // One checked chunk damaged: nothing written, and its name shows it.
        data[3 * cs + 7] = (data[3 * cs + 7] as number) ^ 1;
        const runs2 = Float64Array.of(0, 6 * cs, 20000);
        const bad = await pool.hash(data, cs, only, { fd, runs: runs2, expect: expect16 });
        expect(bad.written).toBe(false);
        expect(bad.names.subarray(3 * 16, 4 * 16)).not.toEqual(expect16.subarray(3 * 16, 4 * 16));
        expect(readFileSync(path).length).toBe(10000 + cs);
        // The unchecked chunk may differ: it is written.
        data[3 * cs + 7] = (data[3 * cs + 7] as number) ^ 1;
        data[5 * cs] = (data[5 * cs] as number) ^ 1;
        expect((await pool.hash(data, cs, only, { fd, runs: runs2, expect: expect16 })).written).toBe(true);
        expect(readFileSync(path).subarray(20000 + 5 * cs, 20000 + 6 * cs)).toEqual(
          Buffer.from(data.subarray(5 * cs)),
        );
      } finally {
        closeSync(fd);
      }
      // A write that fails (a descriptor open for reading only) rejects with the system's code.
      const ro = openSync(path, 'r');
      try {
        const e = await pool
          .hash(data, cs, undefined, { fd: ro, runs: Float64Array.of(0, cs, 0) })
          .catch((x: unknown) => x);
        expect((e as { code?: string }).code).toBe('EBADF');
      } finally {
        closeSync(ro);
      }
      // Without workers nothing is written: the caller writes.
      const none = new HashPool(0);
      expect(
        (await none.hash(data, cs, undefined, { fd: 0, runs: Float64Array.of(0, cs, 0) })).written,
      ).toBeFalsy();
      await none.close();
    } finally {
      await pool.close();
      await rm(dir, { recursive: true, force: true });
    }
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

  test('with crc, a worker gives the CRC-32 of each whole non-zero chunk (0 for the others)', async () => {
    const pool = new HashPool(1);
    const rand = prng(9);
    try {
      const cs = 4096;
      const data = new Uint8Array(new SharedArrayBuffer(9 * cs + 100));
      for (let c = 0; c < 9; c++) if (c % 3 !== 0) data.set(content(rand, cs, 2), c * cs);
      data.fill(7, 9 * cs);
      const got = await pool.hash(data, cs, undefined, undefined, true);
      const want = Array.from({ length: 10 }, (_, c) => {
        const chunk = data.subarray(c * cs, Math.min(data.length, (c + 1) * cs));
        return chunk.length < cs || chunk.every((b) => b === 0) ? 0 : crc32(chunk);
      });
      expect([...(got.crcs as Uint32Array)]).toEqual(want);
      expect(Buffer.from(got.names).equals(Buffer.from(hashBatch(data, cs).names))).toBe(true);
      // Not asked: none.
      expect((await pool.hash(data, cs)).crcs).toBeUndefined();
    } finally {
      await pool.close();
    }
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
