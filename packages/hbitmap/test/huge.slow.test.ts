// Slow suite (pnpm --filter @deja/hbitmap test:slow): the sizes the default run avoids. A 2^30-item
// bitmap, nearly full, against a sorted list of its holes; a bottom level past 2^32 bits, where word
// indexes leave the 32-bit fast path; and longer property runs at larger sizes.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { popcount } from '../src/_internal';
import { HBitmap } from '../src/hbitmap';
import { checkAgainstModel, checkInvariants, Model, rng } from './_model';

/** First element of sorted `a` that is >= x, or -1. */
function ceiling(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo < a.length ? a[lo]! : -1;
}

describe('2^30 items', () => {
  const N = 2 ** 30;

  it('front-filled to 99%: next zero and allocation from 0', () => {
    const hb = new HBitmap(N);
    const front = Math.floor(N * 0.99);
    hb.set(0, front);
    expect(hb.count()).toBe(front);
    expect(hb.nextZero(0)).toBe(front);
    expect(hb.nextZero(12345, front - 12345)).toBe(-1);
    for (let i = 0; i < 10000; i++) expect(hb.allocate(0)).toBe(front + i);
    expect(hb.nextDirtyArea(0)).toEqual({ start: 0, count: front + 10000 });
    hb.reset(N / 2, 64);
    expect(hb.allocate(0)).toBe(N / 2);
    expect(hb.status(N / 2 - 10, 100)).toEqual({ dirty: true, count: 11 }); // N/2 - 10 .. N/2
  });

  it('scattered holes: next zero agrees with the sorted holes', () => {
    const hb = new HBitmap(N);
    hb.set(0, N);
    const r = rng(99);
    const holes = new Set<number>();
    for (let i = 0; i < 200000; i++) holes.add(r(N));
    for (const h of holes) hb.reset(h, 1);
    const sorted = [...holes].sort((a, b) => a - b);
    expect(hb.count()).toBe(N - holes.size);
    for (let i = 0; i < 100000; i++) {
      const s = r(N);
      const want = ceiling(sorted, s);
      if (hb.nextZero(s) !== want) throw new Error(`nextZero(${s}) = ${hb.nextZero(s)}, want ${want}`);
    }
    // Iteration over the complement: the holes, word by word.
    const it = hb.iter(0);
    let zeros = 0;
    for (let w = it.nextWord(); w >= 0; w = it.nextWord()) zeros += 32 - popcount(it.word);
    expect(zeros).toBe(holes.size);
  });
});

describe('a bottom level past 2^32 bits', () => {
  it('sets, finds, iterates, resets, serializes and truncates across the 2^32 boundary', () => {
    const N = 2 ** 33 + 77;
    const B = 2 ** 32;
    const hb = new HBitmap(N);
    hb.set(B - 5, 10);
    hb.set(N - 7, 7);
    expect(hb.get(B - 6)).toBe(false);
    expect(hb.get(B)).toBe(true);
    expect(hb.get(B + 4)).toBe(true);
    expect(hb.get(B + 5)).toBe(false);
    expect(hb.count()).toBe(17);
    expect(hb.nextDirty(0)).toBe(B - 5);
    expect(hb.nextDirty(B + 5)).toBe(N - 7);
    expect(hb.nextZero(B - 5)).toBe(B + 5);
    expect(hb.nextDirtyArea(0)).toEqual({ start: B - 5, count: 10 });
    expect(hb.nextDirtyArea(B + 1, N, 2)).toEqual({ start: B + 1, count: 2 });
    const items = [...hb];
    expect(items).toEqual([
      ...Array.from({ length: 10 }, (_, i) => B - 5 + i),
      ...Array.from({ length: 7 }, (_, i) => N - 7 + i),
    ]);
    hb.reset(B, 3);
    expect(hb.count()).toBe(14);
    expect(hb.nextZero(B - 5)).toBe(B);
    expect(hb.status(B - 5, 10)).toEqual({ dirty: true, count: 5 });
    // Serialize the chunk holding the boundary and load it into a fresh bitmap.
    const start = B - 64 * 1024;
    const count = 128 * 1024;
    const buf = new Uint8Array(hb.serializationSize(start, count));
    hb.serializePart(buf, start, count);
    const copy = new HBitmap(N);
    copy.deserializePart(buf, start, count);
    expect([...copy]).toEqual([B - 5, B - 4, B - 3, B - 2, B - 1, B + 3, B + 4]);
    // Fill across the boundary, then shrink below it.
    hb.set(B - 1000, 2000);
    expect(hb.nextZero(B - 1000)).toBe(B + 1000);
    hb.truncate(B + 2);
    expect(hb.count()).toBe(1002);
    expect(hb.nextDirty(B + 1)).toBe(B + 1);
    expect(hb.nextZero(0, B + 2)).toBe(0);
    let bits = 0;
    for (const w of hb._bottom) bits += popcount(w);
    expect(bits).toBe(1002);
  });
});

describe('longer property runs', () => {
  for (const [size, g] of [
    [131075, 0],
    [1 << 20, 3],
  ] as const) {
    it(`size ${size}, granularity ${g}`, () => {
      fc.assert(
        fc.property(
          fc.array(
            fc.tuple(fc.boolean(), fc.integer({ min: 0, max: size - 1 }), fc.integer({ min: 0, max: 70000 })),
            { maxLength: 60 },
          ),
          (ops) => {
            const hb = new HBitmap(size, g);
            const m = new Model(size, g);
            const scale = 2 ** g;
            for (const [isSet, a, n] of ops) {
              if (isSet) {
                const count = Math.min(n, size - a);
                hb.set(a, count);
                m.set(a, count);
              } else {
                const start = a - (a % scale);
                const count = Math.min(n - (n % scale), size - start);
                hb.reset(start, count);
                m.reset(start, count);
              }
              checkInvariants(hb);
              const q = (a * 7919) % size;
              expect(hb.nextZero(q)).toBe(m.nextZero(q));
              expect(hb.nextDirty(q)).toBe(m.nextDirty(q));
            }
            checkAgainstModel(hb, m);
          },
        ),
        { seed: 0x51043 + size, numRuns: 30 },
      );
    });
  }
});
