// On-page layout of the B-tree (nodes and leaves), shared by the tree code, the invariant checker
// and the tests. Everything is little-endian. A 64-bit field is two 32-bit halves (low first);
// values stay below 2^53 (documented bound), so they are plain numbers.

/** Leaf magic, as in the seed (`leaf->magic = 0x1eaf`). */
export const LEAF_MAGIC = 0x1eaf;
/** Leaf format version (1: fixed-width share masks; 2: compact masks, see _internal-leaf.ts). */
export const LEAF_VERSION = 2;
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

/** Bytes of an exception before its share mask: the tag (u8), then the chunk (u64). */
export const EXC_HEAD = 9;
/** Most snapshot ids a list-form share mask holds (the tag byte counts them). */
export const MAX_LIST_IDS = 255;
/** The widest share mask the format allows (snapshot ids are u16 in the name table). */
export const MAX_MASK_WIDTH = 16384;

/** Geometry derived from the format parameters, fixed when the store is created. */
export interface Geometry {
  /** Usable bytes of a B-tree page (the page layer's metadata payload). */
  readonly payload: number;
  /** Share-mask width in bits (a multiple of 32). */
  readonly maskWidth: number;
  /** Share-mask width in 32-bit words. */
  readonly maskWords: number;
  /** Bytes of a bitmap-form share mask (maskWidth / 8). */
  readonly maskBytes: number;
  /** Bytes of one snapshot id in a list-form share mask: 1 when maskWidth <= 256, else 2. */
  readonly idBytes: number;
  /** Maximum entries of a node (the fanout). */
  readonly fanout: number;
  /** Scratch words (decoded masks); contents are meaningless between calls. */
  readonly words: Uint32Array;
  /** Scratch words (a second mask). */
  readonly words2: Uint32Array;
  /** Scratch bytes for re-encoding one chunk's exception list (payload bytes). */
  readonly scratch: Uint8Array;
  /** A view on {@link Geometry.scratch}. */
  readonly scratchDv: DataView;
}

/** Builds the geometry of a store with these format parameters. */
export function makeGeometry(payload: number, maskWidth: number, fanout: number): Geometry {
  const scratch = new Uint8Array(payload);
  return {
    payload,
    maskWidth,
    maskWords: maskWidth / 32,
    maskBytes: maskWidth / 8,
    idBytes: idBytesFor(maskWidth),
    fanout,
    words: new Uint32Array(maskWidth / 32),
    words2: new Uint32Array(maskWidth / 32),
    scratch,
    scratchDv: new DataView(scratch.buffer),
  };
}

/** Bytes of one snapshot id in a list-form mask of `maskWidth` bits. */
export function idBytesFor(maskWidth: number): number {
  return maskWidth <= 256 ? 1 : 2;
}

/**
 * Bytes of the share mask of an exception used by `n` snapshots (n >= 1): a list of ids when
 * that is shorter than the bitmap and the tag can count it, else the bitmap.
 */
export function maskEncodedBytes(maskWidth: number, n: number): number {
  const list = n * idBytesFor(maskWidth);
  return n <= MAX_LIST_IDS && list < maskWidth / 8 ? list : maskWidth / 8;
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
 * The largest exception list one chunk can have with `maskWidth`-bit masks. The masks of one
 * chunk are disjoint (a snapshot reads one copy), so they hold at most maskWidth bits in all. An
 * exception with n bits costs EXC_HEAD + maskEncodedBytes(n) <= n x (EXC_HEAD + idBytes) bytes:
 * for n <= 255 the list form is at most n x idBytes; above, the bitmap (maskWidth / 8 bytes) is at
 * most 256 x (EXC_HEAD + idBytes) - EXC_HEAD for every width up to MAX_MASK_WIDTH (2,048 <= 2,807).
 * So the worst case is one single-snapshot exception per snapshot: maskWidth x (9 + idBytes).
 */
export function worstListBytes(maskWidth: number): number {
  return maskWidth * (EXC_HEAD + idBytesFor(maskWidth));
}

/**
 * Whether a leaf of `payload` bytes can hold one chunk's worst-case exception list
 * ({@link worstListBytes}) plus the header, the map entry and the sentinel, so an insert into a
 * leaf holding only that chunk never fails.
 */
export function leafHoldsWorstCase(payload: number, maskWidth: number): boolean {
  return LEAF_HEADER + 2 * MAP_ENTRY + worstListBytes(maskWidth) <= payload;
}

/**
 * The widest share mask (a multiple of 32, at most MAX_MASK_WIDTH) whose worst case fits a leaf of
 * `payload` bytes, or 0 when not even 32 fits.
 */
export function largestMaskWidth(payload: number): number {
  let w = 0;
  for (let c = 32; c <= MAX_MASK_WIDTH; c += 32) if (leafHoldsWorstCase(payload, c)) w = c;
  return w;
}
