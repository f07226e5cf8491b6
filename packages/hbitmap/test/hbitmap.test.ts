// Unit tests beyond QEMU's own: argument errors and their codes, iterators under concurrent resets
// and truncation, word-wise iteration, serialization bytes (a golden vector of QEMU's format) and the
// handling of bad padding bits, meta bitmaps (QEMU's 2019 meta tests and the partial-reset fix),
// merge across granularities, status, and positions far beyond 2^32.

import { describe, expect, it } from 'vitest';
import { HBitmapError } from '../src/errors';
import { HBitmap } from '../src/hbitmap';
import { checkAgainstModel, checkInvariants, Model, rng } from './_model';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('argument errors', () => {
  it('throw RangeError / TypeError / HBitmapError with stable codes', () => {
    const hb = new HBitmap(98, 2); // 25 groups of 4: items 0..99
    expect(() => new HBitmap(-1)).toThrow(RangeError);
    expect(codeOf(() => new HBitmap(1.5))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => new HBitmap(10, 64))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => new HBitmap(2 ** 53 + 2))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => new HBitmap(2 ** 38, 0))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => hb.get(99))).toBe(undefined); // inside the last, partial group (as QEMU)
    expect(codeOf(() => hb.get(100))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => hb.get(Number.NaN))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => hb.set(0, 101))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => hb.set(-1, 1))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => hb.set(0.5, 1))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => hb.reset(1, 4))).toBe('ERR_MISALIGNED');
    expect(codeOf(() => hb.reset(0, 3))).toBe('ERR_MISALIGNED');
    expect(codeOf(() => hb.reset(96, 2))).toBe(undefined); // ends at size: unaligned tail allowed
    expect(codeOf(() => hb.reset(96, 4))).toBe(undefined); // ends at size rounded up
    expect(codeOf(() => hb.reset(96, 8))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => hb.nextZero(-1))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => hb.nextDirty(0, -1))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => hb.nextDirtyArea(0, 10, 0))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => hb.status(0, 0))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => hb.status(50, 49))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => hb.iter(100))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => hb.truncate(-5))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => hb.createMeta(3))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => hb.freeMeta())).toBe('ERR_NOT_FOUND');
    hb.createMeta(4);
    expect(codeOf(() => hb.createMeta(4))).toBe('ERR_EXISTS');
    expect(() => hb.createMeta(4)).toThrow(HBitmapError);
    expect(codeOf(() => hb.serializePart('x' as unknown as Uint8Array, 0, 100))).toBe('ERR_INVALID_ARG_TYPE');
    expect(codeOf(() => hb.serializePart(new Uint8Array(4), 0, 100))).toBe('ERR_BUFFER_TOO_SMALL');
    expect(codeOf(() => hb.serializePart(new Uint8Array(8), 4, 94))).toBe('ERR_MISALIGNED');
    expect(codeOf(() => new HBitmap(1000).serializePart(new Uint8Array(64), 0, 100))).toBe('ERR_MISALIGNED');
    expect(new HBitmap(1000).serializePart(new Uint8Array(64), 0, 128)).toBe(16);
    const coarse = new HBitmap(2 ** 53, 58);
    expect(coarse.isSerializable()).toBe(false);
    expect(codeOf(() => coarse.serializationAlign())).toBe('ERR_NOT_SERIALIZABLE');
    expect(new HBitmap(1, 57).serializationAlign()).toBe(2 ** 63);
  });

  it('count 0 is a no-op, as in QEMU', () => {
    const hb = new HBitmap(10);
    hb.set(10, 0);
    hb.reset(3, 0);
    expect(hb.empty()).toBe(true);
    expect(hb.nextZero(0, 0)).toBe(-1);
    expect(hb.nextDirty(0, 0)).toBe(-1);
    expect(hb.serializationSize(0, 0)).toBe(0);
  });
});

describe('iteration', () => {
  it('next(false) does not advance; nextWord returns whole words', () => {
    const hb = new HBitmap(300);
    hb.set(5, 1);
    hb.set(40, 3);
    hb.set(299, 1);
    const it = hb.iter(0);
    expect(it.next(false)).toBe(5);
    expect(it.next(false)).toBe(5);
    expect(it.next()).toBe(5);
    expect(it.next()).toBe(40);
    const w = hb.iter(6);
    expect(w.nextWord()).toBe(1);
    expect(w.word).toBe(0b111 << 8);
    expect(w.nextWord()).toBe(9);
    expect(w.word).toBe((1 << 11) >>> 0);
    expect(w.nextWord()).toBe(-1);
    expect(w.word).toBe(0);
    const top = hb.iter(299);
    expect(top.nextWord()).toBe(9);
    expect(top.word).toBe(1 << 11);
  });

  it('never returns an item reset behind its back, and sees every item never touched', () => {
    const r = rng(7);
    for (let round = 0; round < 20; round++) {
      const size = 1 + r(70000);
      const hb = new HBitmap(size);
      const m = new Model(size, 0);
      for (let k = 0; k < 50; k++) {
        const s = r(size);
        const n = 1 + r(Math.min(5000, size - s));
        hb.set(s, n);
        m.set(s, n);
      }
      const initial = new Set(m.items());
      const it = hb.iter(0);
      const seen: number[] = [];
      for (let x = it.next(); x >= 0; x = it.next()) {
        if (!m.get(x)) throw new Error(`returned ${x}, which was reset`);
        seen.push(x);
        if (r(4) === 0) {
          const s = r(size);
          const n = 1 + r(Math.min(3000, size - s));
          hb.reset(s, n);
          m.reset(s, n);
        }
      }
      checkInvariants(hb);
      // Items set from the start and never reset were all visited, in increasing order.
      for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
      const seenSet = new Set(seen);
      for (const x of initial) if (m.get(x) && !seenSet.has(x)) throw new Error(`missed ${x}`);
    }
  });

  it('stays correct when the bitmap is truncated between calls', () => {
    const hb = new HBitmap(40000);
    hb.set(0, 40000);
    const it = hb.iter(0);
    for (let i = 0; i < 1000; i++) expect(it.next()).toBe(i);
    hb.truncate(1500); // fewer levels
    const rest: number[] = [];
    for (let x = it.next(); x >= 0; x = it.next()) rest.push(x);
    expect(rest).toEqual(Array.from({ length: 500 }, (_, i) => 1000 + i));
    hb.truncate(100000); // grow: more levels; exhausted iterator may resume
    hb.set(50000, 2);
    expect(it.next()).toBe(50000);
    expect(it.next()).toBe(50001);
    expect(it.next()).toBe(-1);
    const it2 = hb.iter(60000);
    hb.truncate(30000); // shrink below the iterator's position
    expect(it2.next()).toBe(-1);
    const it3 = hb.iter(0);
    hb.truncate(33);
    expect(it3.nextWord()).toBe(0);
    expect(it3.nextWord()).toBe(1);
    expect(it3.word).toBe(1);
    expect(it3.nextWord()).toBe(-1);
  });

  it('restarts from where it stood after a shrink past it and a grow (no repeats)', () => {
    // The repro: after 100 and 500, a shrink to 200 and a grow back to 1000 must not restart
    // near the start and return 100 again.
    const hb = new HBitmap(1000);
    hb.set(100, 1);
    hb.set(500, 1);
    const it = hb.iter(0);
    expect([it.next(), it.next()]).toEqual([100, 500]);
    hb.truncate(200);
    expect(it.next()).toBe(-1);
    hb.truncate(1000);
    expect(it.next()).toBe(-1);
    // Items set again past where it stood are found after the next relayout.
    hb.set(600, 1);
    hb.truncate(2000);
    expect(it.next()).toBe(600);
    expect(it.next()).toBe(-1);
    // The same with two shrinks in a row, a partly consumed word and nextBatch / nextWord.
    const hb2 = new HBitmap(5000, 1);
    hb2.set(0, 5000);
    const it2 = hb2.iter(2000);
    expect(it2.next()).toBe(2000);
    hb2.truncate(1000);
    hb2.truncate(300);
    expect(it2.next()).toBe(-1);
    hb2.truncate(4000);
    hb2.set(1900, 200); // groups 950..1049: 1900..2000 are at or before where it stood
    const out = new Float64Array(10);
    expect(it2.nextBatch(out)).toBe(10);
    expect(out[0]).toBe(2002);
    expect(it2.nextWord()).toBe(31); // the rest of word 31: groups 1011..1023
    expect(it2.nextWord()).toBe(32);
  });

  it('made on a size-0 bitmap, finds items 0..31 after the bitmap grows', () => {
    const hb = new HBitmap(0);
    const it = hb.iter(0);
    expect(it.next()).toBe(-1);
    hb.truncate(100);
    hb.set(0, 3);
    hb.set(40, 1);
    const seen: number[] = [];
    for (let x = it.next(); x >= 0; x = it.next()) seen.push(x);
    expect(seen).toEqual([0, 1, 2, 40]);
    const gran = new HBitmap(0, 2);
    const it2 = gran.iter(0);
    gran.truncate(64);
    gran.set(4, 4);
    expect([it2.next(), it2.next()]).toEqual([4, -1]);
  });

  it('never repeats or goes back across random truncates, and returns only set items', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const r = rng(seed);
      const granularity = r(3);
      const scale = 2 ** granularity;
      const groups = () => 1 + r(r(2) === 0 ? 64 : 3000);
      let size = groups() * scale;
      const hb = new HBitmap(size, granularity);
      for (let k = 0; k < 20; k++) {
        const s = r(size);
        hb.set(s, 1 + r(Math.min(400, size - s)));
      }
      const first = r(size);
      const initial = [...hb.items(0)].filter((x) => x >= Math.floor(first / scale) * scale);
      const gone = new Set<number>(); // groups reset or truncated away since the start
      const it = hb.iter(first);
      let last = -1;
      const seen = new Set<number>();
      for (let step = 0; step < 400; step++) {
        const op = r(10);
        if (op === 0) {
          const next = r(4) === 0 ? 0 : groups() * scale;
          for (let g = next / scale; g < size / scale; g++) gone.add(g);
          hb.truncate(next);
          size = next;
        } else if (op === 1 && size > 0) {
          const g = r(size / scale);
          const n = 1 + r(Math.min(50, size / scale - g));
          for (let k = g; k < g + n; k++) gone.add(k);
          hb.reset(g * scale, n * scale);
        } else {
          const x = it.next();
          if (x < 0) continue;
          if (x <= last) throw new Error(`seed ${seed}: ${x} after ${last}`);
          if (!hb.get(x)) throw new Error(`seed ${seed}: returned ${x}, which is not set`);
          last = x;
          seen.add(x);
        }
      }
      checkInvariants(hb);
      for (let x = it.next(); x >= 0; x = it.next()) {
        if (x <= last) throw new Error(`seed ${seed}: ${x} after ${last}`);
        last = x;
        seen.add(x);
      }
      // Items set from the start and never reset or truncated away were all visited.
      for (const x of initial) {
        if (!gone.has(x / scale) && !seen.has(x)) throw new Error(`seed ${seed}: missed ${x}`);
      }
    }
  });

  it('nextBatch re-checks the live word between batches and follows truncation', () => {
    const hb = new HBitmap(5000);
    hb.set(0, 5000);
    const it = hb.iter(10);
    const out = new Float64Array(100);
    expect(it.nextBatch(out)).toBe(100);
    expect(out[0]).toBe(10);
    expect(out[99]).toBe(109);
    hb.reset(110, 890); // reset ahead of the iterator: none of these may come back
    expect(it.nextBatch(out)).toBe(100);
    expect(out[0]).toBe(1000);
    hb.truncate(1150);
    expect(it.nextBatch(out)).toBe(50);
    expect(out[49]).toBe(1149);
    expect(it.nextBatch(out)).toBe(0);
  });

  it('may miss a set ahead of it, not only behind it (QEMU rule)', () => {
    // The iterator keeps, per upper level, the subtrees pending when it passed through that level:
    // a set in a subtree that was empty then is not seen, even past the iterator's position.
    const hb = new HBitmap(1 << 16);
    hb.set(0, 1);
    const it = hb.iter(0);
    expect(it.next()).toBe(0);
    hb.set(5000, 1); // ahead of the iterator, under upper-level bits that were clear
    expect(it.next()).toBe(-1);
    expect(hb.iter(1).next()).toBe(5000); // a new iterator sees it
    // Even a set in the bottom word it stands in, past its position, is missed: each step ANDs the
    // bits it saved with the live word, which drops resets but adds no sets.
    const hb2 = new HBitmap(1 << 16);
    hb2.set(0, 1);
    const it2 = hb2.iter(0);
    expect(it2.next()).toBe(0);
    hb2.set(7, 1);
    expect(it2.next()).toBe(-1); // its saved bits of word 0 no longer include bit 7
  });

  it('is iterable', () => {
    const hb = new HBitmap(16, 1);
    hb.set(0, 9);
    expect([...hb]).toEqual([0, 2, 4, 6, 8]);
    hb.reset(0, 4);
    expect([...hb]).toEqual([4, 6, 8]);
    hb.set(9, 2);
    expect([...hb]).toEqual([4, 6, 8, 10]);
    hb.reset(4, 6);
    expect([...hb.items(0)]).toEqual([10]);
  });
});

describe('serialization', () => {
  it('writes QEMU bytes: little-endian 64-bit words (golden vector) and hashes them as QEMU does', () => {
    const hb = new HBitmap(200);
    for (const b of [0, 63, 64, 127, 199]) hb.set(b, 1);
    const size = hb.serializationSize(0, 200);
    expect(size).toBe(32);
    const buf = new Uint8Array(size);
    expect(hb.serializePart(buf, 0, 200)).toBe(32);
    const hex = Buffer.from(buf).toString('hex');
    expect(hex).toBe(`0100000000000080${'0100000000000080'}${'0'.repeat(16)}8000000000000000`);
    expect(hb.sha256()).toBe('47af38b2c52e48e990501457fad4e5848917fcdb6b5de9d6de2eff2712cb65a7');
    // QEMU allocates at least one long (8 zero bytes); 65 bits take two (16 bytes).
    expect(new HBitmap(1).sha256()).toBe('af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc');
    expect(new HBitmap(65).sha256()).toBe('374708fff7719dd5979ec875d56cd2286f6d3cf7ec317a3b25632aab28ec37bb');
    const copy = new HBitmap(200);
    copy.deserializePart(buf, 0, 200);
    expect([...copy]).toEqual([0, 63, 64, 127, 199]);
    expect(copy.sha256()).toBe(hb.sha256());
  });

  it('serializes in aligned chunks at a granularity, and round-trips', () => {
    const hb = new HBitmap(5000, 3);
    const m = new Model(5000, 3);
    const r = rng(3);
    for (let k = 0; k < 40; k++) {
      const s = r(5000);
      const n = 1 + r(Math.min(300, 5000 - s));
      hb.set(s, n);
      m.set(s, n);
    }
    const align = hb.serializationAlign();
    expect(align).toBe(512);
    const copy = new HBitmap(5000, 3);
    for (let start = 0; start < 5000; start += 1024) {
      const count = Math.min(1024, 5000 - start);
      const buf = new Uint8Array(hb.serializationSize(start, count));
      hb.serializePart(buf, start, count);
      copy.deserializePart(buf, start, count, false);
    }
    // Deferred finish: the next operation rebuilds the levels.
    expect(copy._pending).toBe(true);
    expect(copy.count()).toBe(m.count());
    expect(copy._pending).toBe(false);
    checkAgainstModel(copy, m);
    expect(copy.sha256()).toBe(hb.sha256());
  });

  it('clears padding bits past the end, whatever the bytes say', () => {
    const hb = new HBitmap(70);
    const bytes = new Uint8Array(16).fill(0xff);
    hb.deserializePart(bytes, 0, 70);
    checkInvariants(hb);
    expect(hb.count()).toBe(70);
    expect(hb.nextZero(0)).toBe(-1);
    expect([...hb].at(-1)).toBe(69);
    const ones = new HBitmap(70);
    ones.deserializeOnes(64, 6);
    checkInvariants(ones);
    expect([...ones]).toEqual([64, 65, 66, 67, 68, 69]);
    ones.deserializeZeroes(64, 6, false);
    expect(ones.empty()).toBe(true);
    ones.deserializeOnes(0, 64, false);
    ones.deserializeFinish();
    checkInvariants(ones);
    expect(ones.count()).toBe(64);
    expect(ones.nextZero(0)).toBe(64);
  });
});

describe('meta bitmaps (QEMU 2019 test-hbitmap meta tests)', () => {
  function checkMeta(meta: HBitmap, size: number, start: number, count: number): void {
    const got: number[] = [];
    for (let i = 0; i < size; i++) if (meta.get(i) !== (i >= start && i < start + count)) got.push(i);
    expect(got).toEqual([]);
  }

  function metaCase(hb: HBitmap, start: number, count: number, cs: number, cc: number): void {
    const meta = hb.meta!;
    const size = hb.size;
    hb.resetAll();
    meta.resetAll();
    hb.reset(start, count); // unset -> unset: no mark
    expect(meta.count()).toBe(0);
    hb.set(start, count); // unset -> set: mark
    checkMeta(meta, size, cs, cc);
    meta.resetAll();
    hb.set(start, count); // set -> set: no mark
    expect(meta.count()).toBe(0);
    meta.resetAll();
    hb.reset(start, count); // set -> unset: mark
    checkMeta(meta, size, cs, cc);
  }

  for (const chunk of [8, 64, 4096]) {
    it(`marks whole chunks of ${chunk}`, () => {
      const size = chunk * 100;
      const hb = new HBitmap(size, 0);
      hb.createMeta(chunk);
      metaCase(hb, 0, 1, 0, chunk);
      metaCase(hb, 0, chunk, 0, chunk);
      metaCase(hb, chunk - 1, 1, 0, chunk);
      metaCase(hb, chunk - 1, 2, 0, chunk * 2);
      metaCase(hb, chunk - 1, chunk + 1, 0, chunk * 2);
      metaCase(hb, chunk - 1, chunk + 2, 0, chunk * 3);
      metaCase(hb, 7 * chunk - 1, chunk + 2, 6 * chunk, chunk * 3);
      metaCase(hb, size - 1, 1, size - chunk, chunk);
      metaCase(hb, 0, size, 0, size);
    });
  }

  it('meta_one: single items and runs at word and level boundaries', () => {
    const L1 = 64;
    const L2 = L1 * L1;
    const L3 = L2 * L1;
    const hb = new HBitmap(L3 * 2, 0);
    hb.createMeta(1);
    for (const off of [0, 1, L1 - 1, L1, L1 + 1, L2 - 1, L2, L2 + 1, L3 - 1, L3, L3 + 1]) {
      metaCase(hb, off, 1, off, 1);
      metaCase(hb, off, L1, off, L1);
      metaCase(hb, off, L2, off, L2);
    }
  });

  it('meta_zero', () => {
    const hb = new HBitmap(0, 0);
    const meta = hb.createMeta(1);
    expect(meta.count()).toBe(0);
    expect(meta.size).toBe(0);
  });

  it('marks a reset that clears bits without emptying the word (fixed from the seed)', () => {
    const hb = new HBitmap(1024);
    const meta = hb.createMeta(8);
    hb.set(0, 2);
    meta.resetAll();
    hb.reset(0, 1); // the word still holds bit 1: the seed's hb_reset_between reported no change
    expect([...meta]).toEqual([0]);
  });

  it('marks a set whose only changes are in partly set middle words (QEMU does not)', () => {
    // QEMU's hb_set_between counts a middle word as changed only when it was zero, and its end words
    // only through hb_set_elem: set(0, 192) over 64-bit words full, partial, full reports no change
    // and leaves the meta bitmap clear. This port marks the range whenever a bit was added.
    const hb = new HBitmap(256);
    const meta = hb.createMeta(1);
    hb.set(0, 64);
    hb.set(100, 1);
    hb.set(128, 64);
    meta.resetAll();
    hb.set(0, 192);
    expect(hb.count()).toBe(192);
    expect(meta.count()).toBe(192);
    expect(meta.nextDirtyArea(0)).toEqual({ start: 0, count: 192 });
    // The same in this port's own 32-bit words (full, partial, full), at a coarser meta chunk.
    const hb2 = new HBitmap(4096, 1);
    const meta2 = hb2.createMeta(32);
    hb2.set(0, 64);
    hb2.set(64, 10);
    hb2.set(128, 64);
    meta2.resetAll();
    hb2.set(0, 192);
    expect([...meta2]).toEqual([0, 64, 128]);
    // A set that changes nothing still marks nothing.
    meta2.resetAll();
    hb2.set(0, 192);
    expect(meta2.count()).toBe(0);
  });

  it('marks resetAll, merge and truncate changes; meta granularity adds log2(chunk)', () => {
    const hb = new HBitmap(1000, 1);
    const meta = hb.createMeta(16);
    expect(meta.granularity).toBe(5);
    hb.set(100, 1);
    hb.set(700, 1);
    meta.resetAll();
    hb.resetAll();
    expect([...meta]).toEqual([96, 672]);
    meta.resetAll();
    const other = new HBitmap(1000, 1);
    other.set(300, 4);
    expect(HBitmap.merge(hb, other, hb)).toBe(true);
    expect([...meta]).toEqual([288]);
    expect([...hb]).toEqual([300, 302]);
    meta.resetAll();
    hb.set(900, 10);
    meta.resetAll();
    hb.truncate(800);
    expect(meta.size).toBe(800);
    expect(meta.count()).toBe(0); // the marks past the new end went with the truncate
    expect(hb.nextDirty(800 - 1)).toBe(-1);
    hb.freeMeta();
    expect(hb.meta).toBeUndefined();
  });
});

describe('merge (QEMU 7.2)', () => {
  it('ORs same-granularity bitmaps into a third, or into one of them', () => {
    const a = new HBitmap(3000);
    const b = new HBitmap(3000);
    const r = new HBitmap(3000);
    r.set(2999, 1); // overwritten: R := A | B
    a.set(10, 100);
    b.set(50, 2000);
    expect(HBitmap.canMerge(a, b)).toBe(true);
    expect(HBitmap.merge(a, b, r)).toBe(true);
    checkInvariants(r);
    expect(r.nextDirtyArea(0)).toEqual({ start: 10, count: 2040 });
    expect(r.get(2999)).toBe(false);
    expect(HBitmap.merge(a, b, b)).toBe(true);
    expect(b.count()).toBe(2040);
    expect(HBitmap.merge(new HBitmap(3000), new HBitmap(3000), r)).toBe(true);
    expect(r.empty()).toBe(true);
  });

  it('merges across granularities through dirty areas', () => {
    const a = new HBitmap(4096, 0);
    const b = new HBitmap(4096, 4);
    a.set(3, 1);
    a.set(1000, 40);
    b.set(2000, 1);
    const r = new HBitmap(4096, 2);
    expect(HBitmap.merge(a, b, r)).toBe(true);
    checkInvariants(r);
    expect([...r]).toEqual([
      0, 1000, 1004, 1008, 1012, 1016, 1020, 1024, 1028, 1032, 1036, 2000, 2004, 2008, 2012,
    ]);
    // a and b share a granularity, result does not: QEMU's word-wise path would write out of
    // bounds; here it takes the dirty-area path.
    const c = new HBitmap(4096, 0);
    c.set(4095, 1);
    const coarse = new HBitmap(4096, 6);
    expect(HBitmap.merge(a, c, coarse)).toBe(true);
    expect([...coarse]).toEqual([0, 960, 1024, 4032]);
    expect(HBitmap.merge(a, new HBitmap(4095), a)).toBe(false);
  });
});

describe('status (QEMU 7.2 with the 2023 fix)', () => {
  it('reports a dirty run that ends inside the window as dirty', () => {
    const hb = new HBitmap(1000);
    hb.set(0, 10);
    hb.set(500, 10);
    expect(hb.status(0, 100)).toEqual({ dirty: true, count: 10 });
    expect(hb.status(10, 100)).toEqual({ dirty: false, count: 100 });
    expect(hb.status(10, 600)).toEqual({ dirty: false, count: 490 });
    expect(hb.status(505, 495)).toEqual({ dirty: true, count: 5 });
    const out = { dirty: false, count: 0 };
    expect(hb.status(0, 5, out)).toBe(out);
    expect(out).toEqual({ dirty: true, count: 5 });
  });
});

describe('large positions', () => {
  it('handles items far beyond 2^32 through granularity', () => {
    const size = 2 ** 45;
    const hb = new HBitmap(size, 20);
    expect(hb.groups).toBe(2 ** 25);
    hb.set(2 ** 40 + 5, 2 ** 21);
    expect(hb.nextDirty(0)).toBe(2 ** 40);
    expect(hb.nextDirty(2 ** 40 + 7)).toBe(2 ** 40 + 7);
    expect(hb.nextZero(2 ** 40)).toBe(2 ** 40 + 3 * 2 ** 20);
    expect(hb.count()).toBe(3 * 2 ** 20);
    expect([...hb]).toEqual([2 ** 40, 2 ** 40 + 2 ** 20, 2 ** 40 + 2 * 2 ** 20]);
    hb.set(size - 1, 1);
    expect(hb.nextDirtyArea(2 ** 41)).toEqual({ start: size - 2 ** 20, count: 2 ** 20 });
  });

  it('reaches 2^53 - 1', () => {
    const max = 2 ** 53;
    const hb = new HBitmap(max, 30);
    hb.set(max - 1, 1);
    expect(hb.get(max - 1)).toBe(true);
    expect(hb.nextDirty(0)).toBe(max - 2 ** 30);
    expect(hb.nextDirty(max - 2)).toBe(max - 2);
    expect(hb.nextZero(max - 2 ** 30)).toBe(-1);
    hb.reset(max - 2 ** 30, 2 ** 30);
    expect(hb.empty()).toBe(true);
  });
});

describe('allocate', () => {
  it('sets and returns the next clear item, with QEMU next-zero semantics', () => {
    const hb = new HBitmap(100, 2);
    const meta = hb.createMeta(4);
    expect(hb.allocate()).toBe(0);
    expect(hb.allocate()).toBe(4);
    expect(hb.allocate(5)).toBe(8);
    expect(hb.allocate(13)).toBe(13); // inside a clear group: start itself, the group is now set
    expect(hb.get(12)).toBe(true);
    expect(hb.count()).toBe(16);
    expect([...meta]).toEqual([0]); // 16 items per meta bit: 0..15
    hb.set(0, 100);
    expect(hb.allocate()).toBe(-1);
    hb.reset(96, 4);
    expect(hb.allocate(0, 96)).toBe(-1);
    expect(hb.allocate(0)).toBe(96);
    checkInvariants(hb);
  });
});

describe('next zero on long runs', () => {
  it('finds the zero after a set run crossing every level', () => {
    const hb = new HBitmap(3 * 2 ** 20 + 7);
    hb.set(0, hb.size);
    expect(hb.nextZero(0)).toBe(-1);
    for (const hole of [0, 31, 32, 1023, 1024, 32767, 32768, 2 ** 20, 3 * 2 ** 20 + 6]) {
      hb.reset(hole, 1);
      expect(hb.nextZero(0)).toBe(hole);
      expect(hb.nextZero(hole)).toBe(hole);
      expect(hb.nextZero(hole + 1)).toBe(-1);
      expect(hb.nextZero(0, hole)).toBe(-1);
      hb.set(hole, 1);
      checkInvariants(hb);
    }
  });
});
