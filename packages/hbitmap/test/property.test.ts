// Property tests: random operation sequences on an HBitmap and on the naive model, at sizes that are
// and are not multiples of the word size and that cross level boundaries (32, 1024, 32768 bits), at
// several granularities. The invariant checker runs after every step; every query is compared.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HBitmap } from '../src/hbitmap';
import { checkAgainstModel, checkInvariants, Model } from './_model';

type Op =
  | { t: 'set'; a: number; b: number }
  | { t: 'reset'; a: number; b: number }
  | { t: 'resetAll' }
  | { t: 'truncate'; a: number }
  | { t: 'allocate'; a: number; b: number }
  | { t: 'query'; a: number; b: number; c: number };

// Fractions in [0, 1] spread evenly (fc.double favours tiny values, which would leave most ranges empty).
const frac = fc.integer({ min: 0, max: 1 << 30 }).map((x) => x / 2 ** 30);

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('set' as const), a: frac, b: frac }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('reset' as const), a: frac, b: frac }) },
  { weight: 1, arbitrary: fc.constant({ t: 'resetAll' as const }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('allocate' as const), a: frac, b: frac }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('truncate' as const), a: frac.map((x) => 2 * x) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('query' as const), a: frac, b: frac, c: frac }) },
);

/** Maps a fraction in [0, 1] to a length skewed toward short ones (single bits, word-sized runs). */
function length(f: number, max: number): number {
  return Math.min(max, Math.floor(f ** 3 * (max + 1)));
}

function run(size: number, granularity: number, ops: Op[]): void {
  const hb = new HBitmap(size, granularity);
  const m = new Model(size, granularity);
  const scale = 2 ** granularity;
  checkInvariants(hb);
  for (const o of ops) {
    const cur = m.size;
    const limit = Math.ceil(cur / scale) * scale;
    switch (o.t) {
      case 'set': {
        if (limit === 0) break;
        const start = Math.min(limit - 1, Math.floor(o.a * limit));
        const count = length(o.b, limit - start);
        hb.set(start, count);
        m.set(start, count);
        break;
      }
      case 'reset': {
        // QEMU 7.2: group-aligned start, aligned count or a range ending at size.
        const groups = Math.ceil(cur / scale);
        if (groups === 0) break;
        const g = Math.min(groups - 1, Math.floor(o.a * groups));
        const start = g * scale;
        let count = length(o.b, groups - g) * scale;
        if (start + count > cur && o.b > 0.5) count = cur - start;
        hb.reset(start, count);
        m.reset(start, count);
        break;
      }
      case 'allocate': {
        if (cur === 0) break;
        const start = Math.min(cur - 1, Math.floor(o.a * cur));
        const count = o.b > 0.7 ? Number.POSITIVE_INFINITY : length(o.b, cur - start + 3);
        const z = m.nextZero(start, count);
        expect(hb.allocate(start, count)).toBe(z);
        if (z >= 0) m.set(z, 1);
        break;
      }
      case 'resetAll':
        hb.resetAll();
        m.resetAll();
        break;
      case 'truncate': {
        const next = Math.floor((o.a * size) / 2) * 2 + (o.a > 1.5 ? 1 : 0);
        hb.truncate(next);
        m.truncate(next);
        break;
      }
      case 'query': {
        if (cur === 0) break;
        const start = Math.min(cur - 1, Math.floor(o.a * cur));
        const count = o.b > 0.9 ? Number.POSITIVE_INFINITY : length(o.b, cur - start + 3);
        expect(hb.get(start)).toBe(m.get(start));
        expect(hb.nextZero(start, count)).toBe(m.nextZero(start, count));
        expect(hb.nextDirty(start, count)).toBe(m.nextDirty(start, count));
        const max = o.c > 0.5 ? Number.POSITIVE_INFINITY : 1 + length(o.c * 2, cur);
        const end = count === Number.POSITIVE_INFINITY ? count : start + count;
        expect(hb.nextDirtyArea(start, end, max)).toEqual(m.nextDirtyArea(start, end, max));
        if (start + count <= cur && count > 0) {
          const st = hb.status(start, count);
          const dirty = m.get(start);
          let run = 0;
          while (run < count && m.get(start + run) === dirty) run++;
          expect(st).toEqual({ dirty, count: run });
        }
        break;
      }
    }
    checkInvariants(hb);
    expect(hb.count()).toBe(m.count());
  }
  checkAgainstModel(hb, m);
}

const cases: [number, number][] = [
  [0, 0],
  [1, 0],
  [31, 0],
  [32, 0],
  [33, 0],
  [64, 0],
  [100, 0],
  [1023, 0],
  [1024, 0],
  [1057, 0],
  [33000, 0],
  [200, 1],
  [1000, 3],
  [4097, 2],
  [70000, 5],
];

describe('HBitmap against a flat model', () => {
  for (const [size, granularity] of cases) {
    it(`size ${size}, granularity ${granularity}`, () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 40 }), (ops) => run(size, granularity, ops)),
        { seed: 0x5eed + size + granularity, numRuns: size > 10000 ? 25 : 60 },
      );
    });
  }
});

describe('allocation refills holes through every level', () => {
  it('allocate returns the holes in order, then -1; invariants hold after each step', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40000 }),
        fc.array(frac, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 3 }),
        (size, fracs, granularity) => {
          const hb = new HBitmap(size, granularity);
          const scale = 2 ** granularity;
          hb.set(0, size);
          const groups = Math.ceil(size / scale);
          const holes = [...new Set(fracs.map((f) => Math.min(groups - 1, Math.floor(f * groups)) * scale))];
          holes.sort((a, b) => a - b);
          for (const h of holes) hb.reset(h, Math.min(scale, size - h));
          checkInvariants(hb);
          for (const h of holes) {
            expect(hb.nextZero(0)).toBe(h);
            expect(hb.allocate()).toBe(h);
            checkInvariants(hb);
          }
          expect(hb.allocate()).toBe(-1);
          expect(hb.count()).toBe(groups * scale);
        },
      ),
      { seed: 0xa110c, numRuns: 40 },
    );
  });
});

/** A bitmap of `size` items at granularity `g` with random ranges set, and its model. */
function randomPair(size: number, g: number, ranges: [number, number][]): [HBitmap, Model] {
  const hb = new HBitmap(size, g);
  const m = new Model(size, g);
  for (const [fa, fb] of ranges) {
    const start = Math.min(size - 1, Math.floor(fa * size));
    const count = length(fb, size - start);
    hb.set(start, count);
    m.set(start, count);
  }
  return [hb, m];
}

describe('merge against the model', () => {
  it('result group set iff an item of it is set in a or b, at any granularities, aliased or not', () => {
    const ranges = fc.array(fc.tuple(frac, frac), { maxLength: 8 });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.tuple(
          fc.integer({ min: 0, max: 4 }),
          fc.integer({ min: 0, max: 4 }),
          fc.integer({ min: 0, max: 4 }),
        ),
        ranges,
        ranges,
        fc.constantFrom('third', 'a', 'b'),
        (size, [ga, gb, gr], ra, rb, into) => {
          const [a, ma] = randomPair(size, ga, ra);
          const [b, mb] = randomPair(size, gb, rb);
          const result = into === 'a' ? a : into === 'b' ? b : new HBitmap(size, gr);
          const gres = result.granularity;
          const want = new Model(size, gres);
          for (let i = 0; i < size; i++) if (ma.get(i) || mb.get(i)) want.set(i, 1);
          expect(HBitmap.merge(a, b, result)).toBe(true);
          checkAgainstModel(result, want);
        },
      ),
      { seed: 0x3e26e, numRuns: 150 },
    );
  });
});

describe('serialization round trip', () => {
  it('chunked serialize / deserialize reproduces the bitmap and its sha256', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20000 }),
        fc.integer({ min: 0, max: 5 }),
        fc.array(fc.tuple(frac, frac), { maxLength: 8 }),
        fc.integer({ min: 1, max: 6 }),
        fc.boolean(),
        (size, g, ranges, chunkAligns, finishEach) => {
          const [hb, m] = size === 0 ? [new HBitmap(0, g), new Model(0, g)] : randomPair(size, g, ranges);
          const copy = new HBitmap(size, g);
          copy.set(0, size); // overwritten by the chunks
          const chunk = chunkAligns * hb.serializationAlign();
          for (let start = 0; start < size; start += chunk) {
            const count = Math.min(chunk, size - start);
            const buf = new Uint8Array(hb.serializationSize(start, count));
            expect(hb.serializePart(buf, start, count)).toBe(buf.length);
            copy.deserializePart(buf, start, count, finishEach);
          }
          // Without finish the levels are rebuilt by the first operation that needs them.
          expect(copy.empty()).toBe(m.count() === 0);
          if (size > 0) checkAgainstModel(copy, m);
          expect(copy.sha256()).toBe(hb.sha256());
        },
      ),
      { seed: 0x5e41, numRuns: 100 },
    );
  });
});

describe('deserialization with finish updates only the chunk, as a whole rebuild would', () => {
  type Load = { kind: 'part' | 'zeroes' | 'ones'; at: number; len: number; finish: boolean };
  const load: fc.Arbitrary<Load> = fc.record({
    kind: fc.constantFrom('part' as const, 'zeroes' as const, 'ones' as const),
    at: frac,
    len: frac,
    finish: fc.boolean(),
  });

  it('random chunk loads over a random bitmap match the model and a full rebuild, step by step', () => {
    fc.assert(
      fc.property(
        // Sizes cross one and two levels of 32-word blocks (1024 and 32768 bits) and the 2-level layout.
        fc.constantFrom(1, 100, 1000, 1024, 1057, 2048, 5000, 33000, 40000),
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.tuple(frac, frac), { maxLength: 8 }),
        fc.array(fc.tuple(frac, frac), { maxLength: 8 }),
        fc.array(load, { minLength: 1, maxLength: 8 }),
        (size, g, ra, rb, loads) => {
          const [hb, m] = randomPair(size, g, ra);
          const [src, ms] = randomPair(size, g, rb);
          const align = hb.serializationAlign();
          const chunks = Math.ceil(size / align);
          for (const l of loads) {
            const c0 = Math.min(chunks - 1, Math.floor(l.at * chunks));
            const n = 1 + Math.min(chunks - 1 - c0, Math.floor(l.len ** 2 * chunks));
            const start = c0 * align;
            const count = Math.min(n * align, size - start);
            if (l.kind === 'part') {
              const buf = new Uint8Array(src.serializationSize(start, count));
              src.serializePart(buf, start, count);
              hb.deserializePart(buf, start, count, l.finish);
              for (let i = start; i < start + count; i++) {
                if (ms.get(i)) m.set(i, 1);
                else m.reset(i, 1);
              }
            } else if (l.kind === 'zeroes') {
              hb.deserializeZeroes(start, count, l.finish);
              m.reset(start, count);
            } else {
              hb.deserializeOnes(start, count, l.finish);
              m.set(start, count);
            }
            if (l.finish) {
              // The levels are current: the invariant checker compares every upper bit, full bit,
              // padding bit and the count with the bottom level, and a whole rebuild changes nothing.
              expect(hb._pending).toBe(false);
              checkInvariants(hb);
              const levels = hb._levels.map((a) => a.slice());
              const full = hb._full.map((a) => a.slice());
              const count = hb._count;
              hb._rebuild();
              expect(hb._levels).toEqual(levels);
              expect(hb._full).toEqual(full);
              expect(hb._count).toBe(count);
            }
          }
          // After loads without finish, the first operation that needs the levels rebuilds them.
          expect(hb.count()).toBe(m.count());
          checkAgainstModel(hb, m);
        },
      ),
      { seed: 0xde5e1, numRuns: 150 },
    );
  });
});

describe('iteration against the model, with resets between steps', () => {
  // Each walk (next(), nextWord()) from a random first item over a random bitmap, resetting a random
  // range after some steps (QEMU's rule: concurrent resets are safe). Every item returned must be set
  // at that moment and increase; together they must include every group at or after first that is
  // still set at the end, and nothing that was not set at the start. Sizes with two to four levels,
  // so both the common step of the walk (the next bit of the level above the bottom) and the climb
  // through the higher levels run.
  const walkCases: [number, number][] = [
    [1000, 0],
    [1057, 0],
    [33000, 0],
    [70000, 0],
    [40000, 2],
  ];
  for (const [size, granularity] of walkCases) {
    for (const how of ['next', 'nextWord'] as const) {
      it(`${how}, size ${size}, granularity ${granularity}`, () => {
        const range = fc.record({ a: frac, b: frac });
        fc.assert(
          fc.property(
            fc.array(range, { maxLength: 30 }),
            frac,
            fc.array(fc.option(range, { freq: 3 }), { maxLength: 100 }),
            (sets, first, resets) => {
              const hb = new HBitmap(size, granularity);
              const m = new Model(size, granularity);
              const scale = 2 ** granularity;
              for (const { a, b } of sets) {
                const start = Math.floor(a * size);
                const count = Math.min(size - start, length(b, 4096));
                hb.set(start, count);
                m.set(start, count);
              }
              const from = Math.floor(first * (size - 1));
              const atStart = new Set(m.items(from));
              const got: number[] = [];
              const fails: string[] = [];
              const it = hb.iter(from);
              let k = 0;
              for (;;) {
                if (k > size + 64) {
                  fails.push('the walk does not end');
                  break;
                }
                const r = resets[k++ % Math.max(1, resets.length)];
                if (r !== undefined && r !== null) {
                  // Whole groups (a reset must be aligned to them unless it ends at the size).
                  const start = Math.floor((r.a * size) / scale) * scale;
                  const count = Math.min(size - start, (length(r.b, 256) + 1) * scale);
                  hb.reset(start, count);
                  m.reset(start, count);
                }
                let items: number[];
                if (how === 'next') {
                  const x = it.next();
                  if (x < 0) break;
                  items = [x];
                } else {
                  const w = it.nextWord();
                  if (w < 0) break;
                  items = [];
                  for (let bits = it.word; bits !== 0; bits = (bits & (bits - 1)) >>> 0) {
                    items.push((w * 32 + 31 - Math.clz32(bits & -bits)) * scale);
                  }
                  if (items.length === 0) fails.push(`empty word ${w}`);
                }
                for (const x of items) {
                  if (!m.get(x)) fails.push(`${x} returned while clear`);
                  if (got.length > 0 && x <= got[got.length - 1]!) fails.push(`${x} out of order`);
                  if (!atStart.has(x)) fails.push(`${x} was not set at the start`);
                  got.push(x);
                }
              }
              const returned = new Set(got);
              for (const x of m.items(from)) if (!returned.has(x)) fails.push(`${x} set but not returned`);
              expect(fails).toEqual([]);
              checkInvariants(hb);
            },
          ),
          { seed: 0x17e2 + size + granularity + (how === 'next' ? 0 : 1), numRuns: 30 },
        );
      });
    }
  }
});

describe('nextZero on a mostly full bitmap, against the model', () => {
  // nextZero scans the bottom words after the start (four loaded together, then up to twelve more)
  // before it reads the full tree: zeros placed 0..40 words after each other and near the end make
  // the answer fall in each of those steps, past them, and in the last words of the bitmap.
  it('finds every scattered zero from every start', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 0, max: 2 }),
        fc.array(fc.integer({ min: 0, max: 40 * 32 }), { minLength: 0, maxLength: 6 }),
        (bits, granularity, gaps) => {
          const scale = 2 ** granularity;
          const size = bits * scale;
          const hb = new HBitmap(size, granularity);
          const m = new Model(size, granularity);
          hb.set(0, size);
          m.set(0, size);
          let at = gaps.length > 0 ? (gaps[0]! * 7) % bits : 0;
          for (const gap of gaps) {
            at = (at + gap) % bits;
            hb.reset(at * scale, scale);
            m.reset(at * scale, scale);
          }
          for (let start = 0; start < size; start += start < 200 || size - start < 200 ? 1 : 7) {
            expect(hb.nextZero(start)).toBe(m.nextZero(start));
            expect(hb.nextZero(start, 100)).toBe(m.nextZero(start, 100));
          }
        },
      ),
      { seed: 0x2e40, numRuns: 200 },
    );
  });
});
