// HotPages, the cache of checked pages (the read path takes pages from it, the write path's dedup
// check compares with it), against a naive model: a page is served or compared only under the name
// it was kept with, never beyond the limit, and what it serves or compares with is what was kept.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HotPages } from '../src/_hot';

const SIZE = 64;

function page(seed: number): Uint8Array {
  return Uint8Array.from({ length: SIZE }, (_, i) => (seed * 31 + i) & 255);
}
function name(seed: number): Uint8Array {
  return Uint8Array.from({ length: 16 }, (_, i) => (seed * 7 + i * 13) & 255);
}

describe('HotPages', () => {
  it('serves a kept page under its name only, and the bytes it kept', () => {
    const hot = new HotPages(SIZE, 8);
    const into = new Uint8Array(SIZE * 2);
    expect(hot.take(5, name(1), 0, into, 0)).toBe(false);
    hot.keep(5, name(1), 0, page(1), 0);
    expect(hot.take(5, name(1), 0, into, SIZE)).toBe(true);
    expect(into.subarray(SIZE)).toEqual(page(1));
    // The page was freed and reused for other bytes: another name, so it is not served.
    expect(hot.take(5, name(2), 0, into, 0)).toBe(false);
    hot.keep(5, name(2), 0, page(2), 0);
    expect(hot.take(5, name(1), 0, into, 0)).toBe(false);
    expect(hot.take(5, name(2), 0, into, 0)).toBe(true);
    expect(into.subarray(0, SIZE)).toEqual(page(2));
  });

  it('compares kept bytes under their name only, at any offset', () => {
    const hot = new HotPages(SIZE, 8);
    const both = new Uint8Array(SIZE * 2);
    both.set(page(3), SIZE);
    expect(hot.compare(9, name(3), 0, both, SIZE)).toBeUndefined();
    const names = new Uint8Array(32);
    names.set(name(3), 16);
    hot.keep(9, names, 16, both, SIZE);
    expect(hot.holds(9, name(3), 0)).toBe(true);
    expect(hot.compare(9, name(3), 0, page(3), 0)).toBe(true);
    expect(hot.compare(9, name(3), 0, both, 0)).toBe(false);
    // Another name (the page freed and reused): neither held nor compared.
    expect(hot.holds(9, name(4), 0)).toBe(false);
    expect(hot.compare(9, name(4), 0, page(3), 0)).toBeUndefined();
    // Keys above 2^32 (the store's fragments) are kept apart from the pages they alias in a set.
    hot.keep(2 ** 40 + 9, name(5), 0, page(5), 0);
    expect(hot.compare(2 ** 40 + 9, name(5), 0, page(5), 0)).toBe(true);
    expect(hot.compare(9, name(5), 0, page(5), 0)).toBeUndefined();
    expect(hot.compare(9, name(3), 0, page(3), 0)).toBe(true);
  });

  it('a limit of 0 keeps nothing', () => {
    const hot = new HotPages(SIZE, 0);
    hot.keep(1, name(1), 0, page(1), 0);
    expect(hot.take(1, name(1), 0, new Uint8Array(SIZE), 0)).toBe(false);
  });

  it('never serves wrong bytes and holds at most its limit (random keeps and takes)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 3 })), {
          maxLength: 300,
        }),
        fc.constantFrom(4, 8, 16),
        (ops, limit) => {
          const hot = new HotPages(SIZE, limit);
          // The model: what each page last held (its name seed); the cache may have dropped it.
          const model = new Map<number, number>();
          const into = new Uint8Array(SIZE);
          for (const [keep, p, v] of ops) {
            const seed = p * 4 + v;
            if (keep) {
              hot.keep(p, name(seed), 0, page(seed), 0);
              model.set(p, seed);
              continue;
            }
            // A compare first (with the right bytes and with other bytes), then a take.
            const held = hot.holds(p, name(seed), 0);
            const same = hot.compare(p, name(seed), 0, page(seed), 0);
            const other = hot.compare(p, name(seed), 0, page(seed + 1), 0);
            expect(same).toBe(held ? true : undefined);
            expect(other).toBe(held ? false : undefined);
            if (held) expect(model.get(p)).toBe(seed);
            const took = hot.take(p, name(seed), 0, into, 0);
            expect(took).toBe(held);
            if (took) expect(into).toEqual(page(seed));
          }
          let served = 0;
          for (const [p, seed] of model) if (hot.take(p, name(seed), 0, into, 0)) served++;
          expect(served).toBeLessThanOrEqual(limit);
        },
      ),
    );
  });
});
