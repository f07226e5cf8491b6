// On-page layout of the B-tree (nodes and leaves), shared by the tree code, the invariant checker
// and the tests. Everything is little-endian. A 64-bit field is two 32-bit halves (low first);
// values stay below 2^53 (documented bound), so they are plain numbers.

/** Leaf magic, as in the seed (`leaf->magic = 0x1eaf`). */
export const LEAF_MAGIC = 0x1eaf;
/** Leaf format version. */
export const LEAF_VERSION = 1;
/** Bytes of the leaf header: magic u16, version u16, count u32, base_chunk u64. */
export const LEAF_HEADER = 16;
/** Bytes of one leaf map entry: offset u32, rchunk u32. */
export const MAP_ENTRY = 8;

/** Node magic (the seed's node has none; a node is told from a leaf by it). */
export const NODE_MAGIC = 0xb7ee;
/** Bytes of the node header: magic u16, level u16, count u32. */
export const NODE_HEADER = 8;
/** Bytes of one node entry: key u64, child page u64. */
export const NODE_ENTRY = 16;

/** 2^32, to combine two 32-bit halves. */
export const TWO32 = 0x1_0000_0000;
/** The largest chunk or page number the format stores (numbers stay exact in a double). */
export const MAX_CHUNK = Number.MAX_SAFE_INTEGER;

/** Geometry derived from the format parameters, fixed when the store is created. */
export interface Geometry {
  /** Usable bytes of a B-tree page (the page layer's metadata payload). */
  readonly payload: number;
  /** Share-mask width in bits (a multiple of 32). */
  readonly maskWidth: number;
  /** Share-mask width in 32-bit words. */
  readonly maskWords: number;
  /** Bytes of one exception: the share mask, then the chunk (u64). */
  readonly excSize: number;
  /** Maximum entries of a node (the fanout). */
  readonly fanout: number;
}

/** Reads an unsigned 64-bit little-endian value known to be below 2^53. */
export function getU64(dv: DataView, at: number): number {
  return dv.getUint32(at, true) + dv.getUint32(at + 4, true) * TWO32;
}

/** Writes a number below 2^53 as an unsigned 64-bit little-endian value. */
export function setU64(dv: DataView, at: number, value: number): void {
  dv.setUint32(at, value >>> 0, true);
  dv.setUint32(at + 4, Math.floor(value / TWO32), true);
}

/** The largest fanout a node page of `payload` bytes holds. */
export function nodeCapacity(payload: number): number {
  return Math.floor((payload - NODE_HEADER) / NODE_ENTRY);
}

/**
 * Whether a leaf of `payload` bytes can hold one chunk with an exception for every snapshot
 * (`maskWidth` exceptions, the worst case of one chunk's list) plus the map entry and sentinel.
 */
export function leafHoldsWorstCase(payload: number, maskWidth: number): boolean {
  const excSize = maskWidth / 8 + 8;
  return LEAF_HEADER + 2 * MAP_ENTRY + maskWidth * excSize <= payload;
}
