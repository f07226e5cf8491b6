// The WebAssembly kernel that copies and summarizes 32-word blocks during deserialization
// (_internal-wasm.ts): it is available on the Node versions the package supports, and it produces
// exactly the summary words and count of the JavaScript path (_summarize), on random blocks that are
// empty, full, mixed or nearly uniform, across the kernel's 1024-block pieces, at any source offset.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copySummarize } from '../src/_internal-wasm';
import { HBitmap } from '../src/hbitmap';
import { checkInvariants, rng } from './_model';

/** Whether two word arrays hold the same words (Buffer.equals: vitest's deep equality is slow here). */
function same(a: Int32Array, b: Int32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

/** Random words in runs: zero, all ones, random, or uniform with one bit flipped. */
function randomWords(n: number, seed: number): Int32Array {
  const r = rng(seed);
  const w = new Int32Array(n);
  for (let i = 0; i < n; ) {
    const run = 1 + r(96);
    const kind = r(4);
    for (let j = 0; j < run && i < n; j++, i++) {
      w[i] = kind === 0 ? 0 : kind === 1 ? -1 : kind === 2 ? r(2 ** 32) | 0 : r(50) === 0 ? 1 << r(32) : 0;
    }
  }
  return w;
}

describe('deserialization kernel', () => {
  it('is available here (Node >= 20 has WebAssembly SIMD)', () => {
    const hb = new HBitmap(2048);
    const src = new Uint8Array(256).fill(0xff);
    const up = hb._levels[hb._levels.length - 2]!;
    const full = hb._full[hb._full.length - 1]!;
    expect(copySummarize(src, 0, hb._bottom, up, full, undefined, undefined, 0, 2)).toBe(2048);
    expect([up[0], full[0], up[1], full[1]]).toEqual([-1, -1, -1, -1]);
  });

  it('gives the summary words and count of the JavaScript path, across pieces and offsets', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2600 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (blocks, offsetWords, seed) => {
          const words = randomWords(blocks * 32, seed);
          const hb = new HBitmap(blocks * 1024);
          const src = new Uint8Array((offsetWords + words.length) * 4);
          src.set(new Uint8Array(words.buffer), offsetWords * 4);
          const n = hb._levels.length;
          const [up, full] = [hb._levels[n - 2]!, hb._full[n - 2]!];
          const [up2, full2] = n > 3 ? [hb._levels[n - 3]!, hb._full[n - 3]!] : [undefined, undefined];
          const count = copySummarize(src, offsetWords * 4, hb._bottom, up, full, up2, full2, 0, blocks);
          expect(same(hb._bottom.subarray(0, words.length), words)).toBe(true);
          const groups = Math.floor(blocks / 32);
          const got = [up, full, up2, full2].map((a) => a?.slice());
          // The JavaScript path over the same bottom level.
          expect(count).toBe(hb._summarize(0, blocks));
          hb._rebuildAbove(0, blocks);
          expect(same(got[0]!.subarray(0, blocks), up.subarray(0, blocks))).toBe(true);
          expect(same(got[1]!.subarray(0, blocks), full.subarray(0, blocks))).toBe(true);
          if (up2 !== undefined && full2 !== undefined) {
            expect(same(got[2]!.subarray(0, groups), up2.subarray(0, groups))).toBe(true);
            expect(same(got[3]!.subarray(0, groups), full2.subarray(0, groups))).toBe(true);
          }
          hb._count = count!;
          checkInvariants(hb);
        },
      ),
      { seed: 0x3a5e, numRuns: 60 },
    );
  });

  it('a deserialization with finish (kernel) builds what one without finish then a rebuild builds', () => {
    // 3 pieces and a bit, an end inside a block, chunks that start and end inside blocks.
    const size = 3 * 2 ** 20 + 12345;
    const src = new HBitmap(size);
    const words = randomWords(src._bottom.length, 7);
    src.deserializePart(new Uint8Array(words.buffer), 0, size);
    const align = src.serializationAlign();
    for (const [start, count] of [
      [0, size],
      [align * 3, align * 40000],
      [align * 5, size - align * 5],
    ] as const) {
      const buf = new Uint8Array(src.serializationSize(start, count));
      src.serializePart(buf, start, count);
      const a = new HBitmap(size);
      const b = new HBitmap(size);
      for (const hb of [a, b]) hb.set(align, size - 2 * align); // old contents under the chunk
      a.deserializePart(buf, start, count, true);
      b.deserializePart(buf, start, count, false);
      b.deserializeFinish();
      checkInvariants(a);
      expect(a._count).toBe(b._count);
      a._levels.forEach((level, i) => {
        expect(same(level, b._levels[i]!)).toBe(true);
      });
      a._full.forEach((level, i) => {
        expect(same(level, b._full[i]!)).toBe(true);
      });
    }
  });
});
