// B-tree leaves, as in the seed: a header, a map of (offset, rchunk) entries growing from the
// start, and the exception lists growing from the end of the page. Entry i's exceptions occupy
// bytes [map[i].offset, map[i+1].offset); a sentinel entry map[count] holds the end of the page.
// An exception is the share mask (maskWords little-endian u32 words) then the chunk (u64).
//
// Fixed from the seed: the map is binary-searched (`!!! binsearch goes here`); `base_chunk` is used
// properly (`!!! FIXME the code doesn't use the base_chunk properly`): rchunk = chunk - base_chunk,
// a split rebases the new leaf at its split point and a merge rebases into the surviving leaf, so
// chunk numbers up to 2^53 work with 32-bit rchunks; a split balances bytes, not exception counts
// ("Should split at middle of data instead of median exception").

import {
  type Geometry,
  getU64,
  LEAF_HEADER,
  LEAF_MAGIC,
  LEAF_VERSION,
  MAP_ENTRY,
  setU64,
} from './_internal-layout';

/** A page buffer: its page number, its payload bytes and a view on them. */
export interface PageBuf {
  readonly no: number;
  readonly bytes: Uint8Array;
  readonly dv: DataView;
}

/** Result of {@link addException}. */
export const ADD_OK = 0;
/** No room in the leaf: split it. */
export const ADD_NO_ROOM = 1;
/** The chunk is too far above the leaf's base_chunk for a 32-bit rchunk: start a new leaf. */
export const ADD_OUT_OF_RANGE = 2;

export function leafCount(dv: DataView): number {
  return dv.getUint32(4, true);
}

export function leafBase(dv: DataView): number {
  return getU64(dv, 8);
}

export function mapOffset(dv: DataView, i: number): number {
  return dv.getUint32(LEAF_HEADER + i * MAP_ENTRY, true);
}

export function mapRchunk(dv: DataView, i: number): number {
  return dv.getUint32(LEAF_HEADER + i * MAP_ENTRY + 4, true);
}

function setMap(dv: DataView, i: number, offset: number, rchunk: number): void {
  dv.setUint32(LEAF_HEADER + i * MAP_ENTRY, offset, true);
  dv.setUint32(LEAF_HEADER + i * MAP_ENTRY + 4, rchunk, true);
}

function setOffset(dv: DataView, i: number, offset: number): void {
  dv.setUint32(LEAF_HEADER + i * MAP_ENTRY, offset, true);
}

/** Formats `p` as an empty leaf whose rchunks count from `base` (the seed's init_leaf). */
export function initLeaf(p: PageBuf, g: Geometry, base: number): void {
  p.bytes.fill(0);
  p.dv.setUint16(0, LEAF_MAGIC, true);
  p.dv.setUint16(2, LEAF_VERSION, true);
  p.dv.setUint32(4, 0, true);
  setU64(p.dv, 8, base);
  setMap(p.dv, 0, g.payload, 0);
}

/** Free bytes between the end of the map (sentinel included) and the first exception. */
export function leafFreeSpace(dv: DataView): number {
  return mapOffset(dv, 0) - (LEAF_HEADER + (leafCount(dv) + 1) * MAP_ENTRY);
}

/** Bytes of map entries and exceptions a merge would move (the seed's leaf_payload). */
export function leafPayload(dv: DataView): number {
  const count = leafCount(dv);
  return count * MAP_ENTRY + (mapOffset(dv, count) - mapOffset(dv, 0));
}

/** Lowest map index whose rchunk is >= target, or count. O(log count). */
function lowerBound(dv: DataView, count: number, target: number): number {
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (mapRchunk(dv, mid) < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Map index of `chunk` in the leaf, or -1. O(log count). */
export function findChunk(dv: DataView, chunk: number): number {
  const target = chunk - leafBase(dv);
  if (target < 0 || target > 0xffffffff) return -1;
  const count = leafCount(dv);
  const i = lowerBound(dv, count, target);
  return i < count && mapRchunk(dv, i) === target ? i : -1;
}

/** The chunk of the exception at byte `pos`. */
export function exceptionChunk(dv: DataView, g: Geometry, pos: number): number {
  return getU64(dv, pos + g.maskWords * 4);
}

/** Replaces the chunk of the exception at byte `pos`. */
export function setExceptionChunk(dv: DataView, g: Geometry, pos: number, chunk: number): void {
  setU64(dv, pos + g.maskWords * 4, chunk);
}

/**
 * Whether every active snapshot already has an exception for `chunk`, so an origin write needs no
 * copy (the seed's origin_chunk_unique). O(log count + exceptions of the chunk x mask words).
 */
export function originChunkUnique(dv: DataView, g: Geometry, chunk: number, active: Uint32Array): boolean {
  const i = findChunk(dv, chunk);
  const w = g.maskWords;
  if (i < 0) {
    for (let k = 0; k < w; k++) if (active[k] !== 0) return false;
    return true;
  }
  const end = mapOffset(dv, i + 1);
  for (let k = 0; k < w; k++) {
    let using = 0;
    for (let p = mapOffset(dv, i); p < end; p += g.excSize) using |= dv.getUint32(p + k * 4, true);
    if ((~using & (active[k] as number)) !== 0) return false;
  }
  return true;
}

/**
 * Byte position of the exception of `chunk` that snapshot `snap` uses, or -1 (the snapshot reads
 * the origin). The first half of the seed's snapshot_chunk_unique. O(log count + list length).
 */
export function findSnapshotException(dv: DataView, g: Geometry, chunk: number, snap: number): number {
  const i = findChunk(dv, chunk);
  if (i < 0) return -1;
  const at = (snap >>> 5) * 4;
  const bit = (1 << (snap & 31)) >>> 0;
  const end = mapOffset(dv, i + 1);
  for (let p = mapOffset(dv, i); p < end; p += g.excSize)
    if ((dv.getUint32(p + at, true) & bit) !== 0) return p;
  return -1;
}

/**
 * Whether the exception at `pos` is used by snapshot `snap` alone, not counting the bits of
 * `ignore` (snapshots being deleted). O(mask words).
 */
export function exceptionUniqueTo(
  dv: DataView,
  g: Geometry,
  pos: number,
  snap: number,
  ignore?: Uint32Array,
): boolean {
  const word = snap >>> 5;
  const bit = (1 << (snap & 31)) >>> 0;
  for (let k = 0; k < g.maskWords; k++) {
    const s = ignore
      ? (dv.getUint32(pos + k * 4, true) & ~(ignore[k] as number)) >>> 0
      : dv.getUint32(pos + k * 4, true);
    if (k === word ? s !== bit : s !== 0) return false;
  }
  return true;
}

/**
 * Adds an exception for `chunk` pointing at `exception` (the seed's add_exception_to_leaf).
 * For the origin (`snap` = -1) the new exception is shared by every active snapshot that has none
 * for the chunk yet; for a snapshot, the snapshot's bit moves from the exception it shared to the
 * new one. O(page size) for the moves.
 *
 * @returns ADD_OK, ADD_NO_ROOM (split the leaf) or ADD_OUT_OF_RANGE (chunk - base_chunk >= 2^32).
 */
export function addException(
  p: PageBuf,
  g: Geometry,
  chunk: number,
  exception: number,
  snap: number,
  active: Uint32Array,
): number {
  const { dv, bytes } = p;
  const target = chunk - leafBase(dv);
  if (target < 0 || target > 0xffffffff) return ADD_OUT_OF_RANGE;
  const count = leafCount(dv);
  const w = g.maskWords;
  const e = g.excSize;
  const i = lowerBound(dv, count, target);
  const first = mapOffset(dv, 0);
  const mapTop = LEAF_HEADER + (count + 1) * MAP_ENTRY;
  const free = first - mapTop;
  const share = new Uint32Array(w);
  let ins: number;
  if (i === count || mapRchunk(dv, i) !== target) {
    if (free < e + MAP_ENTRY) return ADD_NO_ROOM;
    ins = mapOffset(dv, i);
    bytes.copyWithin(LEAF_HEADER + (i + 1) * MAP_ENTRY, LEAF_HEADER + i * MAP_ENTRY, mapTop);
    setMap(dv, i, ins, target);
    dv.setUint32(4, count + 1, true);
    if (snap < 0) share.set(active);
    else share[snap >>> 5] = (1 << (snap & 31)) >>> 0;
  } else {
    if (free < e) return ADD_NO_ROOM;
    ins = mapOffset(dv, i);
    const end = mapOffset(dv, i + 1);
    if (snap < 0) {
      for (let k = 0; k < w; k++) {
        let using = 0;
        for (let q = ins; q < end; q += e) using |= dv.getUint32(q + k * 4, true);
        share[k] = (~using & (active[k] as number)) >>> 0;
      }
    } else {
      const at = (snap >>> 5) * 4;
      const bit = (1 << (snap & 31)) >>> 0;
      for (let q = ins; q < end; q += e) {
        const s = dv.getUint32(q + at, true);
        if ((s & bit) !== 0) {
          dv.setUint32(q + at, (s & ~bit) >>> 0, true);
          break;
        }
      }
      share[snap >>> 5] = bit;
    }
  }
  // Exceptions grow toward the map: move every list before the insertion point down by one
  // exception, then write the new one just before the chunk's list (newest first).
  bytes.copyWithin(first - e, first, ins);
  ins -= e;
  for (let k = 0; k < w; k++) dv.setUint32(ins + k * 4, share[k] as number, true);
  setU64(dv, ins + w * 4, exception);
  for (let j = 0; j <= i; j++) setOffset(dv, j, mapOffset(dv, j) - e);
  return ADD_OK;
}

/**
 * Where to split a full leaf so that `chunk` can be added: balanced by bytes when the leaf has two
 * entries or more; with one entry, the entry and the new chunk go to different leaves.
 *
 * @returns the number of entries that stay (`nhead`) and the first chunk of the new leaf.
 */
export function chooseSplit(dv: DataView, chunk: number): { nhead: number; splitpoint: number } {
  const count = leafCount(dv);
  const base = leafBase(dv);
  if (count >= 2) {
    const total = leafPayload(dv);
    let nhead = 1;
    let bytes = MAP_ENTRY + mapOffset(dv, 1) - mapOffset(dv, 0);
    while (nhead < count - 1 && bytes * 2 < total) {
      bytes += MAP_ENTRY + mapOffset(dv, nhead + 1) - mapOffset(dv, nhead);
      nhead++;
    }
    return { nhead, splitpoint: base + mapRchunk(dv, nhead) };
  }
  const only = count === 1 ? base + mapRchunk(dv, 0) : -1;
  if (count === 1 && chunk < only) return { nhead: 0, splitpoint: only };
  return { nhead: count, splitpoint: chunk };
}

/**
 * Moves entries [nhead, count) of `src` to the empty page `dst`, which becomes a leaf based at
 * `splitpoint` (the seed's split_leaf, with the rebase the seed lacks). O(page size).
 */
export function splitLeaf(src: PageBuf, dst: PageBuf, g: Geometry, nhead: number, splitpoint: number): void {
  const sdv = src.dv;
  const count = leafCount(sdv);
  const base = leafBase(sdv);
  const ntail = count - nhead;
  const first = mapOffset(sdv, 0);
  const pt = mapOffset(sdv, nhead);
  const end = mapOffset(sdv, count);
  const tailsize = end - pt;
  initLeaf(dst, g, splitpoint);
  for (let k = 0; k < ntail; k++) {
    setMap(dst.dv, k, mapOffset(sdv, nhead + k), base + mapRchunk(sdv, nhead + k) - splitpoint);
  }
  setMap(dst.dv, ntail, end, 0);
  dst.dv.setUint32(4, ntail, true);
  dst.bytes.set(src.bytes.subarray(pt, end), pt);
  src.bytes.copyWithin(first + tailsize, first, pt);
  for (let k = 0; k <= nhead; k++) setOffset(sdv, k, mapOffset(sdv, k) + tailsize);
  setMap(sdv, nhead, end, 0);
  sdv.setUint32(4, nhead, true);
  src.bytes.fill(0, LEAF_HEADER + (nhead + 1) * MAP_ENTRY, first + tailsize);
}

/**
 * Merges `src` (the following leaf) into `dst` (the seed's merge_leaves), rebasing its rchunks.
 * O(page size).
 *
 * @returns false, changing nothing, if the entries do not fit or do not rebase into 32 bits.
 */
export function mergeLeaves(dst: PageBuf, src: PageBuf): boolean {
  const ddv = dst.dv;
  const sdv = src.dv;
  const nhead = leafCount(ddv);
  const ntail = leafCount(sdv);
  const base1 = leafBase(ddv);
  const base2 = leafBase(sdv);
  if (ntail > 0 && base2 + mapRchunk(sdv, ntail - 1) - base1 > 0xffffffff) return false;
  if (leafPayload(sdv) > leafFreeSpace(ddv)) return false;
  const s0 = mapOffset(sdv, 0);
  const tailsize = mapOffset(sdv, ntail) - s0;
  const phead = mapOffset(ddv, 0);
  const ptail = mapOffset(ddv, nhead);
  dst.bytes.copyWithin(phead - tailsize, phead, ptail);
  for (let i = 0; i <= nhead; i++) setOffset(ddv, i, mapOffset(ddv, i) - tailsize);
  dst.bytes.set(src.bytes.subarray(s0, s0 + tailsize), ptail - tailsize);
  for (let k = 0; k <= ntail; k++) {
    setMap(ddv, nhead + k, mapOffset(sdv, k), k < ntail ? base2 + mapRchunk(sdv, k) - base1 : 0);
  }
  ddv.setUint32(4, nhead + ntail, true);
  return true;
}

/**
 * Clears the bits of `mask` in every share mask of the leaf, drops exceptions no snapshot uses
 * (their chunks are pushed on `freed`) and map entries left without exceptions (the seed's
 * delete_snapshots_from_leaf). O(page size x mask words).
 *
 * @returns whether any share mask had a bit of `mask` (the leaf changed).
 */
export function deleteSnapshotsFromLeaf(
  p: PageBuf,
  g: Geometry,
  mask: Uint32Array,
  freed: number[],
): boolean {
  const { dv, bytes } = p;
  const count = leafCount(dv);
  const e = g.excSize;
  const w = g.maskWords;
  const end = mapOffset(dv, count);
  let dest = end;
  let pos = end;
  let changed = false;
  const freedBefore = freed.length;
  for (let i = count - 1; i >= 0; i--) {
    const start = mapOffset(dv, i);
    while (pos > start) {
      pos -= e;
      let any = 0;
      for (let k = 0; k < w; k++) {
        const s = dv.getUint32(pos + k * 4, true);
        const m = mask[k] as number;
        if ((s & m) !== 0) {
          changed = true;
          dv.setUint32(pos + k * 4, (s & ~m) >>> 0, true);
        }
        any |= s & ~m;
      }
      if (any !== 0) {
        dest -= e;
        if (dest !== pos) bytes.copyWithin(dest, pos, pos + e);
      } else {
        freed.push(getU64(dv, pos + w * 4));
      }
    }
    setOffset(dv, i, dest);
  }
  if (!changed && freed.length === freedBefore) return false;
  let d = 0;
  for (let i = 0; i < count; i++) {
    if (mapOffset(dv, i) !== mapOffset(dv, i + 1)) {
      if (d !== i) setMap(dv, d, mapOffset(dv, i), mapRchunk(dv, i));
      d++;
    }
  }
  setMap(dv, d, end, 0);
  dv.setUint32(4, d, true);
  bytes.fill(0, LEAF_HEADER + (d + 1) * MAP_ENTRY, dest);
  return true;
}
