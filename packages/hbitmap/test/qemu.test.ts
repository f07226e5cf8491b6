// The ground of QEMU's tests/unit/test-hbitmap.c, case by case: sizes and offsets at the word and
// level boundaries of a 64-bit host (L1 = 64, L2 = 64^2, L3 = 64^3, as QEMU's constants) and again at
// this port's own boundaries (L1 = 32). A flat model shadows every operation, as QEMU's shadow bitmap
// does, and the invariant checker runs after each one.

import { describe, expect, it } from 'vitest';
import { HBitmap } from '../src/hbitmap';
import { checkAgainstModel, checkInvariants, Model } from './_model';

const INT64_MAX = Number.POSITIVE_INFINITY;

/** QEMU's TestHBitmapData: the bitmap and its shadow. */
class Data {
  hb: HBitmap;
  m: Model;
  oldSize = 0;
  constructor(size: number, granularity: number) {
    this.hb = new HBitmap(size, granularity);
    this.m = new Model(size, granularity);
    this.check(0);
  }
  get size(): number {
    return this.m.size;
  }
  /** hbitmap_test_check: iteration from `first` matches the shadow; count when first is 0. */
  check(first: number): void {
    if (this.m.size === 0) return;
    expect([...this.hb.items(first)]).toEqual(this.m.items(first));
    if (first === 0) expect(this.hb.count()).toBe(this.m.count());
  }
  set(first: number, count: number): void {
    this.hb.set(first, count);
    this.m.set(first, count);
    checkInvariants(this.hb);
    this.check(0);
  }
  reset(first: number, count: number): void {
    this.hb.reset(first, count);
    this.m.reset(first, count);
    checkInvariants(this.hb);
    this.check(0);
  }
  resetAll(): void {
    this.hb.resetAll();
    this.m.resetAll();
    checkInvariants(this.hb);
    this.check(0);
  }
  /** hbitmap_test_check_get: get() agrees with the shadow everywhere. */
  checkGet(): void {
    let count = 0;
    for (let i = 0; i < this.size; i++) {
      const v = this.hb.get(i);
      if (v !== this.m.get(i)) throw new Error(`get(${i}) = ${v}`);
      if (v) count++;
    }
    if (this.hb.granularity === 0) expect(count).toBe(this.hb.count());
  }
  truncate(size: number): void {
    this.oldSize = this.size;
    this.hb.truncate(size);
    this.m.truncate(size);
    checkInvariants(this.hb);
  }
}

for (const L1 of [64, 32]) {
  const L2 = L1 * L1;
  const L3 = L2 * L1;

  describe(`QEMU test-hbitmap, L1 = ${L1}`, () => {
    it('/hbitmap/size/0', () => {
      const d = new Data(0, 0);
      expect(d.hb.count()).toBe(0);
      expect(d.hb.empty()).toBe(true);
      expect(d.hb.nextDirty(0)).toBe(-1);
      expect(d.hb.nextZero(0)).toBe(-1);
      expect(d.hb.iter(0).next()).toBe(-1);
    });

    it('/hbitmap/size/unaligned', () => {
      const d = new Data(L3 + 23, 0);
      d.set(0, 1);
      d.set(L3 + 22, 1);
    });

    it('/hbitmap/iter/empty', () => {
      const d = new Data(L1, 0);
      expect(d.hb.iter(0).next()).toBe(-1);
    });

    it('/hbitmap/iter/partial', () => {
      const d = new Data(L3, 0);
      d.set(0, L3);
      for (const first of [
        1,
        L1 - 1,
        L1,
        L1 * 2 - 1,
        L2 - 1,
        L2,
        L2 + 1,
        L2 + L1,
        L2 + L1 * 2 - 1,
        L2 * 2 - 1,
        L2 * 2,
        L2 * 2 + 1,
        L2 * 2 + L1,
        L2 * 2 + L1 * 2 - 1,
        L3 / 2,
      ]) {
        const it = d.hb.iter(first);
        expect(it.next()).toBe(first);
        let n = 1;
        let last = first;
        for (let x = it.next(); x >= 0; x = it.next()) {
          if (x !== last + 1) throw new Error(`iteration from ${first}: ${x} after ${last}`);
          last = x;
          n++;
        }
        expect(n).toBe(L3 - first);
      }
    });

    it('/hbitmap/iter/granularity', () => {
      const d = new Data(131072 << 7, 7);
      expect(d.hb.iter(0).next()).toBeLessThan(0);
      d.set(((L2 + L1 + 1) << 7) + 8, 8);
      let it = d.hb.iter(0);
      expect(it.next()).toBe((L2 + L1 + 1) << 7);
      expect(it.next()).toBeLessThan(0);
      expect(d.hb.iter((L2 + L1 + 2) << 7).next()).toBeLessThan(0);
      d.set((131072 << 7) - 8, 8);
      it = d.hb.iter(0);
      expect(it.next()).toBe((L2 + L1 + 1) << 7);
      expect(it.next()).toBe(131071 << 7);
      expect(it.next()).toBeLessThan(0);
      it = d.hb.iter((L2 + L1 + 2) << 7);
      expect(it.next()).toBe(131071 << 7);
      expect(it.next()).toBeLessThan(0);
    });

    it('/hbitmap/get/all', () => {
      const d = new Data(L3, 0);
      d.set(0, L3);
      d.checkGet();
    });

    it('/hbitmap/get/some', () => {
      const d = new Data(2 * L2, 0);
      for (const x of [10, L1 - 1, L1, L2 - 1, L2]) {
        d.set(x, 1);
        d.checkGet();
      }
    });

    it('/hbitmap/set/all, set/one, set/two-elem', () => {
      const a = new Data(L3, 0);
      a.set(0, L3);
      const b = new Data(2 * L2, 0);
      for (const x of [10, L1 - 1, L1, L2 - 1, L2]) b.set(x, 1);
      const c = new Data(2 * L2, 0);
      c.set(L1 - 1, 2);
      c.set(L1 * 2 - 1, 4);
      c.set(L1 * 4, L1 + 1);
      c.set(L1 * 8 - 1, L1 + 1);
      c.set(L2 - 1, 2);
      c.set(L2 + L1 - 1, 8);
      c.set(L2 + L1 * 4, L1 + 1);
      c.set(L2 + L1 * 8 - 1, L1 + 1);
    });

    it('/hbitmap/set/general', () => {
      const d = new Data(L3 * 2, 0);
      d.set(L1 - 1, L1 + 2);
      d.set(L1 * 3 - 1, L1 + 2);
      d.set(L1 * 5, L1 * 2 + 1);
      d.set(L1 * 8 - 1, L1 * 2 + 1);
      d.set(L2 - 1, L1 + 2);
      d.set(L2 + L1 * 2 - 1, L1 + 2);
      d.set(L2 + L1 * 4, L1 * 2 + 1);
      d.set(L2 + L1 * 7 - 1, L1 * 2 + 1);
      d.set(L2 * 2 - 1, L3 * 2 - L2 * 2);
    });

    it('/hbitmap/set/twice', () => {
      const d = new Data(L1 * 3, 0);
      d.set(0, L1 * 3);
      d.set(L1, 1);
    });

    it('/hbitmap/set/overlap', () => {
      const d = new Data(L3 * 2, 0);
      d.set(L1 - 1, L1 + 2);
      d.set(L1 * 2 - 1, L1 * 2 + 2);
      d.set(0, L1 * 3);
      d.set(L1 * 8 - 1, L2);
      d.set(L2, L1);
      d.set(L2 - L1 - 1, L1 * 8 + 2);
      d.set(L2, L3 - L2 + 1);
      d.set(L3 - L1, L1 * 3);
      d.set(L3 - 1, 3);
      d.set(L3 - 1, L2);
    });

    it('/hbitmap/reset/empty', () => {
      const d = new Data(L3, 0);
      d.reset(0, L3);
    });

    it('/hbitmap/reset/general', () => {
      const d = new Data(L3 * 2, 0);
      d.set(L1 - 1, L1 + 2);
      d.reset(L1 * 2 - 1, L1 * 2 + 2);
      d.set(0, L1 * 3);
      d.reset(L1 * 8 - 1, L2);
      d.set(L2, L1);
      d.reset(L2 - L1 - 1, L1 * 8 + 2);
      d.set(L2, L3 - L2 + 1);
      d.reset(L3 - L1, L1 * 3);
      d.set(L3 - 1, 3);
      d.reset(L3 - 1, L2);
      d.set(0, L3 * 2);
      d.reset(0, L1);
      d.reset(0, L2);
      d.reset(L3, L3);
      d.set(L3 / 2, L3);
    });

    it('/hbitmap/reset/all', () => {
      const d = new Data(L3 * 2, 0);
      for (const [a, n] of [
        [L1 - 1, L1 + 2],
        [0, L1 * 3],
        [L2, L1],
        [L2, L3 - L2 + 1],
        [L3 - 1, 3],
        [0, L3 * 2],
        [L3 / 2, L3],
      ] as const) {
        d.set(a, n);
        d.resetAll();
        expect(d.hb.empty()).toBe(true);
      }
    });

    it('/hbitmap/granularity', () => {
      const d = new Data(L1, 1);
      d.set(0, 1);
      expect(d.hb.count()).toBe(2);
      d.set(2, 1);
      expect(d.hb.count()).toBe(4);
      d.set(0, 3);
      expect(d.hb.count()).toBe(4);
      d.reset(0, 2);
      expect(d.hb.count()).toBe(2);
    });

    // hbitmap_test_truncate: boundary bits, truncate, check what survived.
    function truncateCase(size: number, diff: number, granularity: number): void {
      const d = new Data(size, granularity);
      d.set(0, 1);
      if (diff < 0) {
        d.set(size + diff - 1, 1);
        d.set(size + diff, 1);
      }
      d.set(size - 1, 1);
      if (granularity === 0) d.checkGet();
      d.truncate(size + diff);
      const keep = Math.min(d.size, d.oldSize);
      checkAgainstModel(d.hb, d.m);
      expect(d.hb.get(0)).toBe(true);
      expect(d.hb.get(keep - 1)).toBe(true);
      if (granularity === 0) d.checkGet();
      else expect(d.hb.count()).toBe(2 << granularity);
    }

    it('/hbitmap/truncate/nop, grow and shrink: negligible, tiny, small, medium, large', () => {
      truncateCase(L2, 0, 0);
      truncateCase(L2 - 1, 1, 1); // grow/negligible
      truncateCase(L2, -1, 1); // shrink/negligible
      truncateCase(L2 - 2, 1, 1); // grow/tiny
      truncateCase(L2 - 1, -1, 1); // shrink/tiny
      truncateCase(L2 + 1, 4, 0); // grow/small
      truncateCase(L2, -4, 0); // shrink/small
      truncateCase(L2 - 1, 4, 0); // grow/medium
      truncateCase(L2 + 1, -4, 0); // shrink/medium
      truncateCase(L2, 64, 0); // grow/large
      truncateCase(L2, -64, 0); // shrink/large
      truncateCase(L3, L3, 0); // grow across a level boundary
      truncateCase(L3 * 2, -L3 - 5, 0); // shrink across a level boundary
    });

    it('/hbitmap/serialize/align', () => {
      const d = new Data(L3 * 2, 3);
      expect(d.hb.isSerializable()).toBe(true);
      expect(d.hb.serializationAlign()).toBe(64 << 3);
    });

    const positions = [0, 1, L1 - 1, L1, L2 - 1, L2, L2 + 1, L3 - 1];

    it('/hbitmap/serialize/basic', () => {
      const d = new Data(L3, 0);
      const bufSize = d.hb.serializationSize(0, d.size);
      expect(bufSize).toBe(L3 / 8);
      const buf = new Uint8Array(bufSize);
      for (const pos of positions) {
        for (const n of positions) {
          const count = Math.min(n, L3 - pos);
          d.hb.resetAll();
          buf.fill(0);
          if (count) d.hb.set(pos, count);
          expect(d.hb.serializePart(buf, 0, d.size)).toBe(bufSize);
          for (let i = 0; i < d.size; i++) {
            const isSet = ((buf[i >>> 3]! >> (i & 7)) & 1) === 1;
            if (isSet !== (i >= pos && i < pos + count))
              throw new Error(`bit ${i} after set(${pos}, ${count})`);
          }
          d.hb.resetAll();
          d.hb.deserializePart(buf, 0, d.size, true);
          checkInvariants(d.hb);
          expect(d.hb.count()).toBe(count);
          expect(d.hb.nextDirtyArea(0)).toEqual(count ? { start: pos, count } : undefined);
        }
      }
    });

    it('/hbitmap/serialize/part', () => {
      const d = new Data(L3, 0);
      const bufSize = L2;
      const buf = new Uint8Array(bufSize);
      for (const p of positions) d.hb.set(p, 1);
      for (let i = 0; i < d.size; i += bufSize) {
        d.hb.serializePart(buf, i, bufSize);
        const want: number[] = [];
        const got: number[] = [];
        for (let j = 0; j < bufSize; j++) {
          if (((buf[j >>> 3]! >> (j & 7)) & 1) === 1) got.push(i + j);
          if (positions.includes(i + j)) want.push(i + j);
        }
        expect(got).toEqual(want);
      }
    });

    it('/hbitmap/serialize/zeroes', () => {
      const d = new Data(L3, 0);
      const minL1 = Math.max(L1, 64);
      const pos = [0, minL1, L2, L3 - minL1];
      for (const p of pos) d.hb.set(p, L1);
      for (let i = 0; i < pos.length; i++) {
        d.hb.deserializeZeroes(pos[i]!, minL1, true);
        checkInvariants(d.hb);
        expect(d.hb.iter(0).next()).toBe(i === pos.length - 1 ? -1 : pos[i + 1]);
      }
    });

    it('/hbitmap/iter/iter_and_reset', () => {
      const d = new Data(L1 * 2, 0);
      d.hb.set(0, d.size);
      const it = d.hb.iter(L1 - 1);
      expect(it.next()).toBe(L1 - 1);
      d.hb.resetAll();
      expect(it.next()).toBe(-1);
    });

    // test_hbitmap_next_x_check_range: next_zero and next_dirty against a scan of get().
    function nextX(d: Data, start: number, count = INT64_MAX): void {
      const nextZero = d.hb.nextZero(start, count);
      const nextDirty = d.hb.nextDirty(start, count);
      const end = start >= d.size || d.size - start < count ? d.size : start + count;
      const firstBit = d.hb.get(start);
      let next = start;
      while (next < end && d.hb.get(next) === firstBit) next++;
      if (next === end) next = -1;
      expect(nextDirty).toBe(firstBit ? start : next);
      expect(nextZero).toBe(firstBit ? next : start);
    }

    function nextXDo(granularity: number): void {
      const d = new Data(L3, granularity);
      nextX(d, 0);
      nextX(d, L3 - 1);
      nextX(d, 0, 1);
      nextX(d, L3 - 1, 1);
      d.hb.set(L2, 1);
      for (const s of [0, L2 - 1, L2, L2 + 1]) nextX(d, s);
      nextX(d, 0, 1);
      nextX(d, 0, L2);
      nextX(d, L2 - 1, 1);
      nextX(d, L2 - 1, 2);
      nextX(d, L2, 1);
      nextX(d, L2 + 1, 1);
      d.hb.set(L2 + 5, L1);
      for (const s of [0, L2 - L1, L2 + 1, L2 + 2, L2 + 5, L2 + L1 - 1, L2 + L1, L2 + L1 + 1]) nextX(d, s);
      nextX(d, L2 - 2, L1);
      nextX(d, L2, 4);
      nextX(d, L2, 6);
      nextX(d, L2 + 1, 3);
      nextX(d, L2 + 4, L1);
      nextX(d, L2 + 5, L1);
      nextX(d, L2 + 5 + L1 - 1, 1);
      nextX(d, L2 + 5 + L1, 1);
      nextX(d, L2 + 5 + L1 + 1, 1);
      d.hb.set(L2 * 2, L3 - L2 * 2);
      for (const s of [L2 * 2 - L1, L2 * 2 - 2, L2 * 2 - 1, L2 * 2, L2 * 2 + 1, L2 * 2 + L1, L3 - 1])
        nextX(d, s);
      nextX(d, L2 * 2 - L1, L1 + 1);
      nextX(d, L2 * 2, L2);
      d.hb.set(0, L3);
      nextX(d, 0);
    }

    it('/hbitmap/next_zero/next_x_0', () => nextXDo(0));
    it('/hbitmap/next_zero/next_x_4', () => nextXDo(4));

    it('/hbitmap/next_zero/next_x_after_truncate', () => {
      const d = new Data(L1, 0);
      d.truncate(L1 * 2);
      d.hb.set(0, L1);
      nextX(d, 0);
    });

    // test_hbitmap_next_dirty_area_check_limited: against a scan of get().
    function area(d: Data, offset: number, count: number, maxDirty = INT64_MAX): void {
      const got = d.hb.nextDirtyArea(offset, count === INT64_MAX ? INT64_MAX : offset + count, maxDirty);
      const end = offset > d.size || d.size - offset < count ? d.size : offset + count;
      let off2 = offset;
      while (off2 < end && !d.hb.get(off2)) off2++;
      let len2 = 1;
      while (off2 + len2 < end && len2 < maxDirty && d.hb.get(off2 + len2)) len2++;
      if (off2 < end) expect(got).toEqual({ start: off2, count: len2 });
      else expect(got).toBeUndefined();
    }

    function areaDo(granularity: number): void {
      const d = new Data(L3, granularity);
      area(d, 0, INT64_MAX);
      area(d, 0, 1);
      area(d, L3 - 1, 1);
      area(d, 0, INT64_MAX, 1);
      d.hb.set(L2, 1);
      area(d, 0, 1);
      area(d, 0, L2);
      area(d, 0, INT64_MAX);
      area(d, L2 - 1, INT64_MAX);
      area(d, L2 - 1, 1);
      area(d, L2 - 1, 2);
      area(d, L2 - 1, 3);
      area(d, L2, INT64_MAX);
      area(d, L2, 1);
      area(d, L2 + 1, 1);
      area(d, 0, INT64_MAX, 1);
      area(d, L2 - 1, 2, 1);
      d.hb.set(L2 + 5, L1);
      area(d, 0, INT64_MAX);
      area(d, L2 - 2, 8);
      area(d, L2 + 1, 5);
      area(d, L2 + 1, 3);
      area(d, L2 + 4, L1);
      area(d, L2 + 5, L1);
      area(d, L2 + 7, L1);
      area(d, L2 + L1, L1);
      area(d, L2, 0);
      area(d, L2 + 1, 0);
      area(d, L2 + 3, INT64_MAX, 3);
      area(d, L2 + 3, 7, 10);
      d.hb.set(L2 * 2, L3 - L2 * 2);
      area(d, 0, INT64_MAX);
      area(d, L2, INT64_MAX);
      area(d, L2 + 1, INT64_MAX);
      area(d, L2 + 5 + L1 - 1, INT64_MAX);
      area(d, L2 + 5 + L1, 5);
      area(d, L2 * 2 - L1, L1 + 1);
      area(d, L2 * 2, L2);
      area(d, L2 * 2 + 1, INT64_MAX, 5);
      area(d, L2 * 2 + 1, 10, 5);
      area(d, L2 * 2 + 1, 2, 5);
      d.hb.set(0, L3);
      area(d, 0, INT64_MAX);
    }

    it('/hbitmap/next_dirty_area/next_dirty_area_0', () => areaDo(0));
    it('/hbitmap/next_dirty_area/next_dirty_area_1', () => areaDo(1));
    it('/hbitmap/next_dirty_area/next_dirty_area_4', () => areaDo(4));

    it('/hbitmap/next_dirty_area/next_dirty_area_after_truncate', () => {
      const d = new Data(L1, 0);
      d.truncate(L1 * 2);
      d.hb.set(L1 + 1, 1);
      area(d, 0, INT64_MAX);
    });
  });
}
