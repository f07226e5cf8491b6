// B-tree leaves, as in the seed: a header, a map of (offset, rchunk) entries growing from the
// start, and the exception lists growing from the end of the page. Entry i's exceptions occupy
// bytes [map[i].offset, map[i+1].offset); a sentinel entry map[count] holds the end of the page.
// An exception is a tag byte, the chunk (u64) and the share mask, as a list of snapshot ids or a
// bitmap, whichever is shorter (format version 2; version 1 stored every mask as a full bitmap, so
// 4 KiB pages held at most 128 snapshots).
//
// Fixed from the seed: the map is binary-searched (`!!! binsearch goes here`); `base_chunk` is used
// properly (`!!! FIXME the code doesn't use the base_chunk properly`): rchunk = chunk - base_chunk,
// a split rebases the new leaf at its split point and a merge rebases into the surviving leaf, so
// chunk numbers up to 2^53 work with 32-bit rchunks; a split balances bytes, not exception counts
// ("Should split at middle of data instead of median exception").

import {
  EXC_HEAD,
  type Geometry,
  getU64,
  LEAF_HEADER,
  LEAF_MAGIC,
  LEAF_VERSION,
  MAP_ENTRY,
  maskEncodedBytes,
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

/**
 * Calls `visit(chunk, first, end)` for each chunk of a leaf, in key order: the chunk's exceptions
 * lie at offsets `first`, `first + excSize(...)`, ... below `end`. The one walk over a leaf's
 * entries that diff, exclusiveChunks and the checker share.
 */
export function forEachChunk(dv: DataView, visit: (chunk: number, first: number, end: number) => void): void {
  const count = leafCount(dv);
  const base = leafBase(dv);
  for (let i = 0; i < count; i++) visit(base + mapRchunk(dv, i), mapOffset(dv, i), mapOffset(dv, i + 1));
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

// ---- exceptions -------------------------------------------------------------------------------
//
// An exception is a tag byte, the exception chunk (u64) and the share mask, in one of two forms:
//   tag 0       the bitmap: maskWidth / 8 bytes (the mask's u32 words, little-endian);
//   tag n > 0   a list of the n snapshot ids using it, strictly increasing, u8 each when the width
//               is <= 256, else u16 little-endian.
// The encoder picks the list when it is strictly shorter and n <= 255, else the bitmap; the
// encoding is canonical and validation rejects any other. The masks of one chunk are disjoint, so
// its list is at most maskWidth x (9 + idBytes) bytes (worstListBytes in _internal-layout.ts).

/** Bytes of the exception at `pos`. O(1). */
export function excSize(dv: DataView, g: Geometry, pos: number): number {
  const tag = dv.getUint8(pos);
  return EXC_HEAD + (tag === 0 ? g.maskBytes : tag * g.idBytes);
}

/** The chunk of the exception at byte `pos`. */
export function exceptionChunk(dv: DataView, pos: number): number {
  return getU64(dv, pos + 1);
}

/** Replaces the chunk of the exception at byte `pos` (the size does not change). */
export function setExceptionChunk(dv: DataView, pos: number, chunk: number): void {
  setU64(dv, pos + 1, chunk);
}

/** The i-th id of a list-form mask at `pos`. */
function listId(dv: DataView, g: Geometry, pos: number, i: number): number {
  return g.idBytes === 1 ? dv.getUint8(pos + EXC_HEAD + i) : dv.getUint16(pos + EXC_HEAD + 2 * i, true);
}

/** Whether snapshot `snap` uses the exception at `pos`. O(ids) or O(1). */
export function excHas(dv: DataView, g: Geometry, pos: number, snap: number): boolean {
  const tag = dv.getUint8(pos);
  if (tag === 0) return ((dv.getUint8(pos + EXC_HEAD + (snap >>> 3)) >>> (snap & 7)) & 1) !== 0;
  for (let i = 0; i < tag; i++) {
    const id = listId(dv, g, pos, i);
    if (id >= snap) return id === snap;
  }
  return false;
}

/** ORs the share mask of the exception at `pos` into `acc` (maskWords words). O(mask). */
export function orMask(dv: DataView, g: Geometry, pos: number, acc: Uint32Array): void {
  const tag = dv.getUint8(pos);
  if (tag === 0) {
    for (let k = 0; k < g.maskWords; k++)
      acc[k] = ((acc[k] as number) | dv.getUint32(pos + EXC_HEAD + k * 4, true)) >>> 0;
    return;
  }
  for (let i = 0; i < tag; i++) {
    const id = listId(dv, g, pos, i);
    acc[id >>> 5] = ((acc[id >>> 5] as number) | (1 << (id & 31))) >>> 0;
  }
}

/** Whether the share mask of the exception at `pos` has a bit of `mask`. O(mask words) or O(ids). */
export function excIntersects(dv: DataView, g: Geometry, pos: number, mask: Uint32Array): boolean {
  const tag = dv.getUint8(pos);
  if (tag === 0) {
    for (let k = 0; k < g.maskWords; k++)
      if ((dv.getUint32(pos + EXC_HEAD + k * 4, true) & (mask[k] as number)) !== 0) return true;
    return false;
  }
  for (let i = 0; i < tag; i++) {
    const id = listId(dv, g, pos, i);
    if ((((mask[id >>> 5] as number) >>> (id & 31)) & 1) !== 0) return true;
  }
  return false;
}

/** Decodes the share mask of the exception at `pos` into `out`. O(mask). */
export function readMask(dv: DataView, g: Geometry, pos: number, out: Uint32Array): void {
  out.fill(0);
  orMask(dv, g, pos, out);
}

function popcount32(v: number): number {
  let x = v - ((v >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/**
 * Encodes an exception (tag, chunk, share mask in its shorter form) at `pos` of `dv`.
 * O(mask words + ids).
 *
 * @returns the bytes written.
 */
export function writeException(
  dv: DataView,
  g: Geometry,
  pos: number,
  mask: Uint32Array,
  chunk: number,
): number {
  let n = 0;
  for (let k = 0; k < g.maskWords; k++) n += popcount32(mask[k] as number);
  const bytes = maskEncodedBytes(g.maskWidth, n);
  setU64(dv, pos + 1, chunk);
  if (bytes === g.maskBytes) {
    dv.setUint8(pos, 0);
    for (let k = 0; k < g.maskWords; k++) dv.setUint32(pos + EXC_HEAD + k * 4, mask[k] as number, true);
  } else {
    dv.setUint8(pos, n);
    let at = pos + EXC_HEAD;
    for (let k = 0; k < g.maskWords; k++) {
      for (let v = mask[k] as number; v !== 0; v &= v - 1) {
        const id = k * 32 + (31 - Math.clz32(v & -v));
        if (g.idBytes === 1) dv.setUint8(at++, id);
        else {
          dv.setUint16(at, id, true);
          at += 2;
        }
      }
    }
  }
  return EXC_HEAD + bytes;
}

/**
 * Whether every active snapshot already has an exception for `chunk`, so an origin write needs no
 * copy (the seed's origin_chunk_unique). O(log count + the chunk's list).
 */
export function originChunkUnique(dv: DataView, g: Geometry, chunk: number, active: Uint32Array): boolean {
  const i = findChunk(dv, chunk);
  const w = g.maskWords;
  if (i < 0) {
    for (let k = 0; k < w; k++) if (active[k] !== 0) return false;
    return true;
  }
  const using = g.words;
  using.fill(0);
  const end = mapOffset(dv, i + 1);
  for (let p = mapOffset(dv, i); p < end; p += excSize(dv, g, p)) orMask(dv, g, p, using);
  for (let k = 0; k < w; k++) if ((~(using[k] as number) & (active[k] as number)) !== 0) return false;
  return true;
}

/**
 * Byte position of the exception of `chunk` that snapshot `snap` uses, or -1 (the snapshot reads
 * the origin). The first half of the seed's snapshot_chunk_unique. O(log count + list length).
 */
export function findSnapshotException(dv: DataView, g: Geometry, chunk: number, snap: number): number {
  const i = findChunk(dv, chunk);
  if (i < 0) return -1;
  const end = mapOffset(dv, i + 1);
  for (let p = mapOffset(dv, i); p < end; p += excSize(dv, g, p)) if (excHas(dv, g, p, snap)) return p;
  return -1;
}

/**
 * Whether the exception at `pos` is used by snapshot `snap` alone, not counting the bits of
 * `ignore` (snapshots being deleted). O(mask).
 */
export function exceptionUniqueTo(
  dv: DataView,
  g: Geometry,
  pos: number,
  snap: number,
  ignore?: Uint32Array,
): boolean {
  const tag = dv.getUint8(pos);
  if (tag === 1 && !ignore) return listId(dv, g, pos, 0) === snap;
  const s = g.words;
  readMask(dv, g, pos, s);
  const word = snap >>> 5;
  const bit = (1 << (snap & 31)) >>> 0;
  for (let k = 0; k < g.maskWords; k++) {
    const v = ignore ? ((s[k] as number) & ~(ignore[k] as number)) >>> 0 : (s[k] as number);
    if (k === word ? v !== bit : v !== 0) return false;
  }
  return true;
}

/**
 * Replaces the exception list of map entry `i` by `len` bytes of `g.scratch`, moving the lists
 * before it (lower in the page) by the size difference. With `insert`, a new map entry for
 * `rchunk` is first made at `i` with an empty list. The caller has checked the free space.
 */
function replaceList(p: PageBuf, g: Geometry, i: number, insert: boolean, rchunk: number, len: number): void {
  const { dv, bytes } = p;
  const count = leafCount(dv);
  if (insert) {
    const mapTop = LEAF_HEADER + (count + 1) * MAP_ENTRY;
    const at = mapOffset(dv, i);
    bytes.copyWithin(LEAF_HEADER + (i + 1) * MAP_ENTRY, LEAF_HEADER + i * MAP_ENTRY, mapTop);
    setMap(dv, i, at, rchunk);
    dv.setUint32(4, count + 1, true);
  }
  const first = mapOffset(dv, 0);
  const start = mapOffset(dv, i);
  const end = mapOffset(dv, i + 1);
  const delta = len - (end - start);
  if (delta !== 0) {
    bytes.copyWithin(first - delta, first, start);
    for (let j = 0; j <= i; j++) setOffset(dv, j, mapOffset(dv, j) - delta);
    if (delta < 0) bytes.fill(0, first, first - delta);
  }
  bytes.set(g.scratch.subarray(0, len), end - len);
}

/**
 * Adds an exception for `chunk` pointing at `exception` (the seed's add_exception_to_leaf).
 * For the origin (`snap` = -1) the new exception is shared by every active snapshot that has none
 * for the chunk yet; for a snapshot, the snapshot's bit moves from the exception it shared to the
 * new one (that exception's mask is re-encoded, never longer). The new exception goes first in the
 * chunk's list (newest first). The page is unchanged unless the result is ADD_OK.
 * O(page size) for the moves.
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
  const i = lowerBound(dv, count, target);
  const free = mapOffset(dv, 0) - (LEAF_HEADER + (count + 1) * MAP_ENTRY);
  const insert = i === count || mapRchunk(dv, i) !== target;
  const start = mapOffset(dv, i);
  const end = insert ? start : mapOffset(dv, i + 1);
  const share = g.words2;
  const sdv = g.scratchDv;
  share.fill(0);
  if (snap < 0) {
    // Shared by the active snapshots that no exception of the chunk serves yet.
    const using = g.words;
    using.fill(0);
    for (let q = start; q < end; q += excSize(dv, g, q)) orMask(dv, g, q, using);
    for (let k = 0; k < g.maskWords; k++) share[k] = (~(using[k] as number) & (active[k] as number)) >>> 0;
  } else {
    share[snap >>> 5] = (1 << (snap & 31)) >>> 0;
  }
  let len = writeException(sdv, g, 0, share, exception);
  if (snap < 0 || insert) {
    g.scratch.set(bytes.subarray(start, end), len);
    len += end - start;
  } else {
    // Move the snapshot's bit out of the exception it shared.
    let moved = false;
    for (let q = start; q < end; ) {
      const size = excSize(dv, g, q);
      if (!moved && excHas(dv, g, q, snap)) {
        moved = true;
        const m = g.words;
        readMask(dv, g, q, m);
        m[snap >>> 5] = ((m[snap >>> 5] as number) & ~(1 << (snap & 31))) >>> 0;
        len += writeException(sdv, g, len, m, exceptionChunk(dv, q));
      } else {
        g.scratch.set(bytes.subarray(q, q + size), len);
        len += size;
      }
      q += size;
    }
  }
  if (len - (end - start) + (insert ? MAP_ENTRY : 0) > free) return ADD_NO_ROOM;
  replaceList(p, g, i, insert, target, len);
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
 * Copies `n` bytes of `src` from `from` to `dst` at `at` (different buffers). A loop, not
 * `set(subarray(...))`: the copies here are a few bytes each and the view objects cost more
 * than the bytes (they were most of a snapshot deletion's leaf rewriting).
 */
function copyBytes(src: Uint8Array, from: number, n: number, dst: Uint8Array, at: number): void {
  for (let k = 0; k < n; k++) dst[at + k] = src[from + k] as number;
}

/**
 * Clears the bits of `mask` in every share mask of the leaf, drops exceptions no snapshot uses
 * (their chunks are pushed on `freed`) and map entries left without exceptions (the seed's
 * delete_snapshots_from_leaf). Masks are re-encoded (never longer) and the lists packed toward the
 * page end. O(page size x mask words).
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
  const w = g.maskWords;
  const end = mapOffset(dv, count);
  const s = g.words;
  const sdv = g.scratchDv;
  let changed = false;
  // Does any exception carry a bit of the mask? (Most leaves do not, for most deletions.)
  for (let q = mapOffset(dv, 0); q < end && !changed; q += excSize(dv, g, q))
    changed = excIntersects(dv, g, q, mask);
  if (!changed) return false;
  // Lists from the last to the first, each re-encoded into the scratch buffer, then written just
  // below the lists already packed at the page end (never below the list's own start).
  let dest = end;
  let stop = end; // the original end of list i (map[i + 1] is already rewritten)
  for (let i = count - 1; i >= 0; i--) {
    const start = mapOffset(dv, i);
    let len = 0;
    for (let q = start; q < stop; ) {
      const size = excSize(dv, g, q);
      if (!excIntersects(dv, g, q, mask)) {
        // untouched: copied as it is
        copyBytes(bytes, q, size, g.scratch, len);
        len += size;
        q += size;
        continue;
      }
      const tag = dv.getUint8(q);
      if (tag > 0) {
        // a list: keep the ids not in the mask (a shorter list is still the shorter form)
        let kept = 0;
        const at = len + EXC_HEAD;
        for (let j = 0; j < tag; j++) {
          const id = listId(dv, g, q, j);
          if ((((mask[id >>> 5] as number) >>> (id & 31)) & 1) !== 0) continue;
          if (g.idBytes === 1) sdv.setUint8(at + kept, id);
          else sdv.setUint16(at + 2 * kept, id, true);
          kept++;
        }
        if (kept === 0) freed.push(exceptionChunk(dv, q));
        else {
          sdv.setUint8(len, kept);
          copyBytes(bytes, q + 1, EXC_HEAD - 1, g.scratch, len + 1);
          len += EXC_HEAD + kept * g.idBytes;
        }
        q += size;
        continue;
      }
      // a bitmap: clear the bits in a copy; it stays a bitmap unless few bits are left (then it is
      // decoded and written as a list below)
      copyBytes(bytes, q, size, g.scratch, len);
      let n = 0;
      for (let k = 0; k < w; k++) {
        const at = len + EXC_HEAD + k * 4;
        const v = (sdv.getUint32(at, true) & ~(mask[k] as number)) >>> 0;
        sdv.setUint32(at, v, true);
        n += popcount32(v);
      }
      if (n > 0 && maskEncodedBytes(g.maskWidth, n) === g.maskBytes) {
        len += size;
        q += size;
        continue;
      }
      readMask(dv, g, q, s);
      let any = 0;
      for (let k = 0; k < w; k++) {
        s[k] = ((s[k] as number) & ~(mask[k] as number)) >>> 0;
        any |= s[k] as number;
      }
      if (any !== 0) len += writeException(sdv, g, len, s, exceptionChunk(dv, q));
      else freed.push(exceptionChunk(dv, q));
      q += size;
    }
    dest -= len;
    copyBytes(g.scratch, 0, len, bytes, dest);
    setOffset(dv, i, dest);
    stop = start;
  }
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
