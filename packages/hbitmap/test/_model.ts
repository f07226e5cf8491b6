// Test helpers: a naive model of an HBitmap (one boolean per granularity group, answers computed by
// linear scans over items), an invariant checker for the real structure, and a seeded PRNG.

import { randomInt, splitmix32 } from '@deja/test-helpers';
import { expect } from 'vitest';
import { levelSizes, popcount } from '../src/_internal';
import type { HBitmap } from '../src/hbitmap';

/** Checks every structural invariant of `hb`; throws (via expect) on the first broken one. */
export function checkInvariants(hb: HBitmap): void {
  const levels = hb._levels;
  const full = hb._full;
  const n = levels.length;
  expect(levels.map((l) => l.length)).toEqual(levelSizes(hb._size));
  expect(full.length).toBe(n - 1);
  expect(hb._bottom).toBe(levels[n - 1]);
  expect(levels[0]![0]! & 0x80000000).not.toBe(0);
  const b = hb._bottom;
  // Bits past the end are clear, the count is the number of set bits.
  let count = 0;
  for (let j = 0; j < b.length; j++) {
    count += popcount(b[j]!);
    for (let k = 0; k < 32; k++) {
      if (j * 32 + k >= hb._size && (b[j]! >>> k) & 1) throw new Error(`bit ${j * 32 + k} set past the end`);
    }
  }
  expect(hb._count).toBe(count);
  for (let i = 0; i < n - 1; i++) {
    const below = levels[i + 1]!;
    const fullBelow = i === n - 2 ? below : full[i + 1]!;
    const up = levels[i]!;
    const fu = full[i]!;
    expect(fu.length).toBe(up.length);
    for (let j = 0; j < up.length * 32; j++) {
      const bit = (up[j >>> 5]! >>> (j & 31)) & 1;
      const fbit = (fu[j >>> 5]! >>> (j & 31)) & 1;
      if (j < below.length) {
        if (bit !== (below[j] !== 0 ? 1 : 0))
          throw new Error(`level ${i} bit ${j} disagrees with word below`);
        if (fbit !== (fullBelow[j] === -1 ? 1 : 0))
          throw new Error(`full ${i} bit ${j} disagrees with word below`);
      } else {
        if (bit !== (i === 0 && j === 31 ? 1 : 0)) throw new Error(`level ${i} padding bit ${j} is ${bit}`);
        if (fbit !== 1) throw new Error(`full ${i} padding bit ${j} is clear`);
      }
    }
  }
}

/** A flat model: one boolean per group; every query is a linear scan over items. */
export class Model {
  bits: Uint8Array;
  readonly scale: number;
  constructor(
    public size: number,
    public granularity: number,
  ) {
    this.scale = 2 ** granularity;
    this.bits = new Uint8Array(Math.ceil(size / this.scale));
  }
  set(start: number, count: number): void {
    if (count === 0) return;
    const a = Math.floor(start / this.scale);
    const z = Math.floor((start + count - 1) / this.scale);
    this.bits.fill(1, a, z + 1);
  }
  reset(start: number, count: number): void {
    if (count === 0) return;
    const a = Math.floor(start / this.scale);
    const z = Math.floor((start + count - 1) / this.scale);
    this.bits.fill(0, a, z + 1);
  }
  resetAll(): void {
    this.bits.fill(0);
  }
  get(item: number): boolean {
    return this.bits[Math.floor(item / this.scale)] === 1;
  }
  count(): number {
    let c = 0;
    for (const v of this.bits) c += v;
    return c * this.scale;
  }
  truncate(size: number): void {
    const groups = Math.ceil(size / this.scale);
    const bits = new Uint8Array(groups);
    bits.set(this.bits.subarray(0, Math.min(groups, this.bits.length)));
    this.bits = bits;
    this.size = size;
  }
  /** Items in order: the first item of each set group. */
  items(first = 0): number[] {
    const out: number[] = [];
    for (let g = Math.floor(first / this.scale); g < this.bits.length; g++)
      if (this.bits[g]) out.push(g * this.scale);
    return out;
  }
  /** QEMU's test oracle: first item in [start, end) whose state differs from `state`, else -1. */
  private scan(start: number, count: number, dirty: boolean): number {
    if (start >= this.size || count === 0) return -1;
    const end = count > this.size - start ? this.size : start + count;
    for (let i = start; i < end; i++) if (this.get(i) === dirty) return i;
    return -1;
  }
  nextDirty(start: number, count = Number.POSITIVE_INFINITY): number {
    return this.scan(start, count, true);
  }
  nextZero(start: number, count = Number.POSITIVE_INFINITY): number {
    return this.scan(start, count, false);
  }
  nextDirtyArea(start: number, end: number, max: number): { start: number; count: number } | undefined {
    end = Math.min(end, this.size);
    let s = start;
    while (s < end && !this.get(s)) s++;
    if (s >= end) return undefined;
    let len = 1;
    while (s + len < end && len < max && this.get(s + len)) len++;
    return { start: s, count: len };
  }
}

/** Compares every observable answer of `hb` with the model (O(size)). */
export function checkAgainstModel(hb: HBitmap, m: Model): void {
  checkInvariants(hb);
  expect(hb.size).toBe(m.size);
  expect(hb.count()).toBe(m.count());
  expect(hb.empty()).toBe(m.count() === 0);
  const items = m.items();
  expect([...hb]).toEqual(items);
  // The batched walk gives the same items, whatever the batch size.
  for (const size of [1, 7, 64]) {
    const it = hb.iter(0);
    const out = new Float64Array(size);
    const got: number[] = [];
    for (let k = it.nextBatch(out); k > 0; k = it.nextBatch(out)) got.push(...out.subarray(0, k));
    expect(got).toEqual(items);
  }
}

/** splitmix32-style seeded PRNG returning integers in [0, n). */
export function rng(seed: number): (n: number) => number {
  const next = splitmix32(seed);
  return (n: number) => randomInt(next, n);
}
