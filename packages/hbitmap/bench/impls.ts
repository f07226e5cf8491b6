// The bitmaps the benchmark compares, behind one small interface over items with a granularity:
// this package's HBitmap, a flat Uint32Array bitmap (word scans, as QEMU's next-zero does), and
// CRoaring through the native `roaring` package (over groups: item >> granularity fits in 32 bits).

import roaring from 'roaring';
import { HBitmap } from '../src/index';

/** What every contender offers the workloads. Positions are items; ranges round to groups. */
export interface Contender {
  readonly name: string;
  set(start: number, count: number): void;
  reset(start: number, count: number): void;
  /** Visits every set group; returns how many. */
  iterate(): number;
  /** First clear item at or after start, or -1. */
  nextZero(start: number): number;
  /** Sets the first clear item at or after start and returns it, or -1. */
  allocate(start: number): number;
  /** First dirty area at or after start: writes [start, count] into out and returns true. */
  nextDirtyArea(start: number, out: number[]): boolean;
  count(): number;
  clear(): void;
  serialize(): Uint8Array;
  deserialize(bytes: Uint8Array): void;
  /** Bytes held by the structure. */
  memory(): number;
}

export class HBitmapContender implements Contender {
  readonly name = 'HBitmap';
  readonly hb: HBitmap;
  private readonly area = { start: 0, count: 0 };
  constructor(size: number, granularity: number) {
    this.hb = new HBitmap(size, granularity);
  }
  set(start: number, count: number): void {
    this.hb.set(start, count);
  }
  reset(start: number, count: number): void {
    this.hb.reset(start, count);
  }
  private readonly batch = new Float64Array(1024);
  /** The fastest walk: word-wise (nextWord), the caller taking bits out of each word. */
  iterate(): number {
    return this.iterateWords();
  }
  /** Batched walk: nextBatch into a reused buffer. */
  iterateBatch(): number {
    const it = this.hb.iter(0);
    const out = this.batch;
    let n = 0;
    let sum = 0;
    for (let k = it.nextBatch(out); k > 0; k = it.nextBatch(out)) {
      for (let i = 0; i < k; i++) sum += out[i]!;
      n += k;
    }
    sink(sum);
    return n;
  }
  /**
   * Word-wise walk (nextWord), the caller taking bits out of each word as the C driver does
   * (lowest set bit, its index, next bit). At granularity 0 with items below 2^31 the items are
   * folded into an int32 sink by XOR: a double sum converts and adds in floating point for every bit,
   * and an int32 sum overflows in V8's feedback and becomes one (see the README).
   */
  iterateWords(): number {
    const it = this.hb.iter(0);
    const g = this.hb.granularity;
    const scale = 2 ** g;
    let n = 0;
    let sum = 0;
    let isum = 0;
    for (let w = it.nextWord(); w >= 0; w = it.nextWord()) {
      let x = it.word | 0;
      if (g === 0 && w < 0x3ffffff) {
        const b31 = w * 32 + 31;
        for (; x !== 0; x &= x - 1) {
          isum ^= b31 - Math.clz32(x & -x);
          n = (n + 1) | 0;
        }
      } else {
        const base = w * 32;
        for (; x !== 0; x &= x - 1) {
          sum += (base + 31 - Math.clz32(x & -x)) * scale;
          n++;
        }
      }
    }
    sink(sum + isum);
    return n;
  }
  iterateNext(): number {
    const it = this.hb.iter(0);
    let n = 0;
    let sum = 0;
    for (let x = it.next(); x >= 0; x = it.next()) {
      sum += x;
      n++;
    }
    sink(sum);
    return n;
  }
  nextZero(start: number): number {
    return this.hb.nextZero(start);
  }
  allocate(start: number): number {
    return this.hb.allocate(start);
  }
  nextDirtyArea(start: number, out: number[]): boolean {
    const a = this.hb.nextDirtyArea(start, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, this.area);
    if (a === undefined) return false;
    out[0] = a.start;
    out[1] = a.count;
    return true;
  }
  count(): number {
    return this.hb.count();
  }
  clear(): void {
    this.hb.resetAll();
  }
  serialize(): Uint8Array {
    const size = this.hb.size;
    const buf = new Uint8Array(this.hb.serializationSize(0, size));
    this.hb.serializePart(buf, 0, size);
    return buf;
  }
  deserialize(bytes: Uint8Array): void {
    this.hb.deserializePart(bytes, 0, this.hb.size, true);
  }
  memory(): number {
    let bytes = 0;
    for (const l of this.hb._levels) bytes += l.byteLength;
    for (const l of this.hb._full) bytes += l.byteLength;
    return bytes;
  }
}

/** Keeps iteration results observable so the JIT cannot drop the work. */
export let sinkValue = 0;
function sink(x: number): void {
  sinkValue += x;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** A flat bitmap of groups in a Uint32Array; searches scan word by word. */
export class FlatContender implements Contender {
  readonly name = 'flat Uint32Array';
  readonly words: Uint32Array;
  private readonly inv: number;
  private readonly scale: number;
  private readonly groups: number;
  constructor(size: number, granularity: number) {
    this.scale = 2 ** granularity;
    this.inv = 2 ** -granularity;
    this.groups = Math.ceil(size * this.inv);
    this.words = new Uint32Array(Math.ceil(this.groups / 32));
  }
  private range(start: number, count: number, value: boolean): void {
    const a = Math.floor(start * this.inv);
    const z = Math.floor((start + count - 1) * this.inv);
    const w = this.words;
    const wa = a >>> 5;
    const wz = z >>> 5;
    const ma = -1 << (a & 31);
    const mz = -1 >>> (31 - (z & 31));
    if (wa === wz) {
      w[wa] = value ? w[wa]! | (ma & mz) : w[wa]! & ~(ma & mz);
      return;
    }
    w[wa] = value ? w[wa]! | ma : w[wa]! & ~ma;
    w.fill(value ? 0xffffffff : 0, wa + 1, wz);
    w[wz] = value ? w[wz]! | mz : w[wz]! & ~mz;
  }
  set(start: number, count: number): void {
    this.range(start, count, true);
  }
  reset(start: number, count: number): void {
    this.range(start, count, false);
  }
  iterate(): number {
    // The same bit extraction as HBitmapContender.iterateWords.
    const w = this.words;
    const scale = this.scale;
    let n = 0;
    let sum = 0;
    let isum = 0;
    for (let i = 0; i < w.length; i++) {
      let x = w[i]! | 0;
      if (scale === 1 && i < 0x3ffffff) {
        const b31 = i * 32 + 31;
        for (; x !== 0; x &= x - 1) {
          isum ^= b31 - Math.clz32(x & -x);
          n = (n + 1) | 0;
        }
      } else {
        for (; x !== 0; x &= x - 1) {
          sum += (i * 32 + 31 - Math.clz32(x & -x)) * scale;
          n++;
        }
      }
    }
    sink(sum + isum);
    return n;
  }

  private findZero(g: number): number {
    const w = this.words;
    let i = g >>> 5;
    let x = ~w[i]! & (-1 << (g & 31));
    while (x === 0) {
      if (++i >= w.length) return -1;
      x = ~w[i]!;
    }
    const r = i * 32 + 31 - Math.clz32(x & -x);
    return r < this.groups ? r : -1;
  }
  private findSet(g: number): number {
    const w = this.words;
    let i = g >>> 5;
    let x = w[i]! & (-1 << (g & 31));
    while (x === 0) {
      if (++i >= w.length) return -1;
      x = w[i]! | 0;
    }
    return i * 32 + 31 - Math.clz32(x & -x);
  }
  nextZero(start: number): number {
    const g = this.findZero(Math.floor(start * this.inv));
    return g < 0 ? -1 : Math.max(start, g * this.scale);
  }
  allocate(start: number): number {
    const g = this.findZero(Math.floor(start * this.inv));
    if (g < 0) return -1;
    this.words[g >>> 5] = this.words[g >>> 5]! | (1 << (g & 31));
    return Math.max(start, g * this.scale);
  }
  nextDirtyArea(start: number, out: number[]): boolean {
    const g = this.findSet(Math.floor(start * this.inv));
    if (g < 0) return false;
    const z = this.findZero(g);
    out[0] = Math.max(start, g * this.scale);
    out[1] = (z < 0 ? this.groups : z) * this.scale - out[0];
    return true;
  }
  count(): number {
    const w = this.words;
    let n = 0;
    for (let i = 0; i < w.length; i++) n += popcount(w[i]!);
    return n * this.scale;
  }
  clear(): void {
    this.words.fill(0);
  }
  serialize(): Uint8Array {
    return new Uint8Array(this.words.buffer.slice(0));
  }
  deserialize(bytes: Uint8Array): void {
    new Uint8Array(this.words.buffer).set(bytes);
  }
  memory(): number {
    return this.words.byteLength;
  }
}

/** CRoaring (native) over groups. Next zero gallops and bisects with rangeCardinality. */
export class RoaringContender implements Contender {
  readonly name = 'roaring (CRoaring)';
  bm = new roaring.RoaringBitmap32();
  private readonly inv: number;
  private readonly scale: number;
  private readonly groups: number;
  constructor(size: number, granularity: number) {
    this.scale = 2 ** granularity;
    this.inv = 2 ** -granularity;
    this.groups = Math.ceil(size * this.inv);
  }
  set(start: number, count: number): void {
    this.bm.addRange(Math.floor(start * this.inv), Math.floor((start + count - 1) * this.inv) + 1);
  }
  reset(start: number, count: number): void {
    this.bm.removeRange(Math.floor(start * this.inv), Math.floor((start + count - 1) * this.inv) + 1);
  }
  iterate(): number {
    let n = 0;
    let sum = 0;
    for (const v of this.bm) {
      sum += v * this.scale;
      n++;
    }
    sink(sum);
    return n;
  }
  private findZero(g: number): number {
    const bm = this.bm;
    if (g >= this.groups) return -1;
    if (!bm.has(g)) return g;
    // Gallop: [g, g + step) fully set while the cardinality matches, then bisect.
    let step = 1;
    while (g + step < this.groups && bm.rangeCardinality(g, g + step + 1) === step + 1) step *= 2;
    let lo = g + Math.floor(step / 2); // [g, lo] is known set
    let hi = Math.min(g + step, this.groups); // hi is clear (or the end)
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (bm.rangeCardinality(g, mid + 1) === mid + 1 - g) lo = mid;
      else hi = mid;
    }
    return hi < this.groups ? hi : -1;
  }
  nextZero(start: number): number {
    const g = this.findZero(Math.floor(start * this.inv));
    return g < 0 ? -1 : Math.max(start, g * this.scale);
  }
  allocate(start: number): number {
    const g = this.findZero(Math.floor(start * this.inv));
    if (g < 0) return -1;
    this.bm.add(g);
    return Math.max(start, g * this.scale);
  }
  nextDirtyArea(start: number, out: number[]): boolean {
    const g0 = Math.floor(start * this.inv);
    const g = this.bm.select(g0 === 0 ? 0 : this.bm.rank(g0 - 1));
    if (g === undefined) return false;
    const z = this.findZero(g);
    out[0] = Math.max(start, g * this.scale);
    out[1] = (z < 0 ? this.groups : z) * this.scale - out[0];
    return true;
  }
  count(): number {
    return this.bm.size * this.scale;
  }
  clear(): void {
    this.bm.clear();
  }
  serialize(): Uint8Array {
    return this.bm.serialize('portable');
  }
  deserialize(bytes: Uint8Array): void {
    this.bm = roaring.RoaringBitmap32.deserialize(bytes, 'portable');
  }
  memory(): number {
    return this.bm.getSerializationSizeInBytes('croaring');
  }
}
