// Packed pages: VDO's compressed blocks for the store (issue 15; not wired into the store yet).
//
// A chunk whose compressed form (a *fragment*) is small enough is not given a data page of its
// own: up to 14 fragments share one chunk-sized data page, as dm-vdo's packer puts up to 14
// compressed fragments into one 4 KiB block (dm-vdo's packer.c and compressed_block_header in
// encodings.h; not among the repository's seeds). A fragment is named by (page, slot); the page is
// free when no slot is referenced.
//
// The page opens with a directory that is validated before any fragment is handed to a codec:
//
//   offset  size  field
//   0       1     magic 0xd7
//   1       1     format version (1)
//   2       1     codec id (the store header's codec; 0 'off' never appears in a packed page)
//   3       1     fragment count n, 1..14
//   4       4     CRC-32 (zlib's) of bytes 0..3 and of the n entries below
//   8       4n    per slot k: u16 offset, u16 length (little-endian)
//   8+4n    ...   the fragments, in slot order, back to back; the rest of the page is ignored
//
// A valid directory has: the magic, version 1, the expected codec, 1 <= n <= 14, the CRC, every
// length >= 1, slot 0 at 8+4n, each slot starting where the one before it ends (so no overlap and
// no gap), and the last one ending inside the page. Offsets are redundant with the lengths on
// purpose: they make a damaged directory visible even without the CRC, and let a reader take one
// slot without summing the others. Damage inside a fragment's bytes is for the codec to notice
// (it fails, or inflates to the wrong size: both ERR_CORRUPT_DATA naming the slot); what it
// cannot notice gives other bytes of the right size, which the store's content name (the hash of
// the uncompressed chunk, checked on every read with verifyReads) refuses.
//
// PagePacker decides which fragment goes where: online best fit over a few open pages, in the
// manner of VDO's packer bins (the fragment goes to the open page with the least room that still
// takes it; with none, the fullest open page is closed and a fresh one opened).

import { crc32 } from 'node:zlib';
import { type ChunkCodec, zstdFrameContentSize } from './_codec';
import { StoreError } from './errors';

/** First byte of a packed page. */
export const PACKED_MAGIC = 0xd7;
/** Format version of the packed page. */
export const PACKED_VERSION = 1;
/** Most fragments in one packed page (VDO's VDO_MAX_COMPRESSION_SLOTS). */
export const MAX_FRAGMENTS = 14;
/** Bytes of the fixed part of the directory (magic, version, codec, count, CRC-32). */
export const PACKED_HEADER_BYTES = 8;
/** Bytes of the directory per fragment (u16 offset, u16 length). */
export const PACKED_ENTRY_BYTES = 4;

/**
 * The largest fragment a packed page of `chunkSize` bytes holds (alone in it).
 * @param chunkSize - the store's chunk size (512..65536).
 * @returns `chunkSize - 12`.
 */
export function maxFragmentBytes(chunkSize: number): number {
  return chunkSize - PACKED_HEADER_BYTES - PACKED_ENTRY_BYTES;
}

function checkChunkSize(chunkSize: number): void {
  if (
    !Number.isInteger(chunkSize) ||
    chunkSize < 512 ||
    chunkSize > 65536 ||
    (chunkSize & (chunkSize - 1)) !== 0
  ) {
    throw new RangeError(`chunk size ${chunkSize}: a power of two from 512 to 65536`);
  }
}

/** Bytes of a packed page holding fragments of these lengths (directory included). */
export function packedBytes(lengths: readonly number[]): number {
  let sum = PACKED_HEADER_BYTES + PACKED_ENTRY_BYTES * lengths.length;
  for (const n of lengths) sum += n;
  return sum;
}

/** One page's worth of fragments, as PagePacker closed it. */
export interface PagePlan<T> {
  /** The caller's items, in slot order (slot k holds items[k]). */
  readonly items: T[];
  /** Their fragment lengths, in slot order. */
  readonly lengths: number[];
}

interface OpenPage<T> {
  items: T[];
  lengths: number[];
  used: number;
}

/**
 * Online best-fit packing of fragments into packed pages, with a bounded number of open pages
 * (VDO's bins). O(bins) per fragment.
 */
export class PagePacker<T> {
  readonly #chunkSize: number;
  readonly #bins: number;
  #open: OpenPage<T>[] = [];

  /**
   * @param chunkSize - the page size (the store's chunk size, 512..65536).
   * @param options - `bins`: pages kept open at once (default 16; more packs tighter, holds more).
   * @throws RangeError for a chunk size out of range or bins < 1.
   */
  constructor(chunkSize: number, options: { bins?: number } = {}) {
    checkChunkSize(chunkSize);
    const bins = options.bins ?? 16;
    if (!Number.isInteger(bins) || bins < 1)
      throw new RangeError(`bins must be a positive integer, got ${bins}`);
    this.#chunkSize = chunkSize;
    this.#bins = bins;
  }

  /** Pages open now (at most `bins`). */
  get openPages(): number {
    return this.#open.length;
  }

  /** Fragments waiting in open pages. */
  get pending(): number {
    let n = 0;
    for (const p of this.#open) n += p.items.length;
    return n;
  }

  /**
   * Places one fragment. Returns the pages this closed (full ones, or the fullest open page when
   * nothing open had room and every bin was taken): write those now; the rest wait.
   * @param item - the caller's handle for the fragment (returned in the plan).
   * @param length - its compressed length, 1..maxFragmentBytes(chunkSize).
   * @throws RangeError for a length that no page can hold.
   */
  add(item: T, length: number): PagePlan<T>[] {
    if (!Number.isInteger(length) || length < 1 || length > maxFragmentBytes(this.#chunkSize)) {
      throw new RangeError(`fragment length ${length} out of range 1..${maxFragmentBytes(this.#chunkSize)}`);
    }
    const need = length + PACKED_ENTRY_BYTES;
    let best: OpenPage<T> | undefined;
    for (const p of this.#open) {
      if (p.items.length >= MAX_FRAGMENTS || p.used + need > this.#chunkSize) continue;
      if (best === undefined || p.used > best.used) best = p;
    }
    const closed: PagePlan<T>[] = [];
    if (best === undefined) {
      if (this.#open.length >= this.#bins) {
        let fullest = 0;
        for (let i = 1; i < this.#open.length; i++) {
          if ((this.#open[i] as OpenPage<T>).used > (this.#open[fullest] as OpenPage<T>).used) fullest = i;
        }
        const [p] = this.#open.splice(fullest, 1) as [OpenPage<T>];
        closed.push({ items: p.items, lengths: p.lengths });
      }
      best = { items: [], lengths: [], used: PACKED_HEADER_BYTES };
      this.#open.push(best);
    }
    best.items.push(item);
    best.lengths.push(length);
    best.used += need;
    // A page that cannot take even the smallest fragment (1 byte) or has 14 is done.
    if (best.items.length >= MAX_FRAGMENTS || best.used + PACKED_ENTRY_BYTES + 1 > this.#chunkSize) {
      this.#open.splice(this.#open.indexOf(best), 1);
      closed.push({ items: best.items, lengths: best.lengths });
    }
    return closed;
  }

  /** Closes every open page (at the end of a batch or a flush); the packer is empty after. */
  flush(): PagePlan<T>[] {
    const out = this.#open.map((p) => ({ items: p.items, lengths: p.lengths }));
    this.#open = [];
    return out;
  }
}

/**
 * Lays fragments out as one packed page.
 * @param fragments - 1..14 fragments, in slot order, each 1..65535 bytes.
 * @param chunkSize - the page size.
 * @param codecId - the codec's id (1..255).
 * @returns a new page of `chunkSize` bytes (the tail after the last fragment is zeros). O(page).
 * @throws RangeError when the fragments do not fit or the arguments are out of range.
 */
export function encodePackedPage(
  fragments: readonly Uint8Array[],
  chunkSize: number,
  codecId: number,
): Uint8Array {
  const n = fragments.length;
  if (n < 1 || n > MAX_FRAGMENTS)
    throw new RangeError(`a packed page holds 1..${MAX_FRAGMENTS} fragments, got ${n}`);
  if (!Number.isInteger(codecId) || codecId < 1 || codecId > 255) throw new RangeError(`codec id ${codecId}`);
  checkChunkSize(chunkSize);
  const lengths = fragments.map((f) => f.length);
  if (lengths.some((l) => l < 1 || l > 65535)) throw new RangeError('fragment lengths must be 1..65535');
  if (packedBytes(lengths) > chunkSize) {
    throw new RangeError(`fragments of ${packedBytes(lengths)} bytes do not fit a ${chunkSize}-byte page`);
  }
  const page = new Uint8Array(chunkSize);
  const dv = new DataView(page.buffer);
  page[0] = PACKED_MAGIC;
  page[1] = PACKED_VERSION;
  page[2] = codecId;
  page[3] = n;
  let at = PACKED_HEADER_BYTES + PACKED_ENTRY_BYTES * n;
  for (let k = 0; k < n; k++) {
    const f = fragments[k] as Uint8Array;
    dv.setUint16(PACKED_HEADER_BYTES + 4 * k, at, true);
    dv.setUint16(PACKED_HEADER_BYTES + 4 * k + 2, f.length, true);
    page.set(f, at);
    at += f.length;
  }
  dv.setUint32(4, directoryCrc(page, n), true);
  return page;
}

function directoryCrc(page: Uint8Array, n: number): number {
  const head = crc32(page.subarray(0, 4));
  return crc32(page.subarray(PACKED_HEADER_BYTES, PACKED_HEADER_BYTES + PACKED_ENTRY_BYTES * n), head) >>> 0;
}

/** A validated packed page directory. */
export interface PackedDirectory {
  readonly codecId: number;
  readonly count: number;
  /** Byte offset of each slot's fragment in the page. */
  readonly offsets: readonly number[];
  /** Byte length of each slot's fragment. */
  readonly lengths: readonly number[];
}

function corrupt(where: string, slot: number | undefined, what: string): StoreError {
  const s = slot === undefined ? '' : `, fragment ${slot}`;
  return new StoreError('ERR_CORRUPT_DATA', `${where}${s}: packed page ${what}`);
}

/**
 * Reads and validates a packed page's directory (see the format above).
 * @param page - the page's bytes.
 * @param chunkSize - the store's chunk size: the page must be exactly that long.
 * @param codecId - the codec the store was created with.
 * @param where - names the page in errors ("data.deja page 1234").
 * @param slot - the fragment the caller is after, named in errors.
 * @returns the directory. O(count).
 * @throws StoreError `ERR_CORRUPT_DATA` (naming `where` and `slot`) for any violation.
 */
export function decodePackedDirectory(
  page: Uint8Array,
  chunkSize: number,
  codecId: number,
  where: string,
  slot?: number,
): PackedDirectory {
  if (page.length !== chunkSize) throw corrupt(where, slot, `of ${page.length} bytes, not ${chunkSize}`);
  if (page[0] !== PACKED_MAGIC) throw corrupt(where, slot, `magic 0x${(page[0] as number).toString(16)}`);
  if (page[1] !== PACKED_VERSION) throw corrupt(where, slot, `version ${page[1]}`);
  if (page[2] !== codecId) throw corrupt(where, slot, `codec id ${page[2]}, the store's is ${codecId}`);
  const n = page[3] as number;
  if (n < 1 || n > MAX_FRAGMENTS) throw corrupt(where, slot, `fragment count ${n}`);
  const dirEnd = PACKED_HEADER_BYTES + PACKED_ENTRY_BYTES * n;
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  if (dv.getUint32(4, true) !== directoryCrc(page, n))
    throw corrupt(where, slot, 'directory checksum mismatch');
  const offsets: number[] = [];
  const lengths: number[] = [];
  let at = dirEnd;
  for (let k = 0; k < n; k++) {
    const off = dv.getUint16(PACKED_HEADER_BYTES + 4 * k, true);
    const len = dv.getUint16(PACKED_HEADER_BYTES + 4 * k + 2, true);
    if (off !== at) throw corrupt(where, slot, `entry ${k}: offset ${off}, expected ${at}`);
    if (len < 1 || off + len > page.length) throw corrupt(where, slot, `entry ${k}: length ${len} at ${off}`);
    offsets.push(off);
    lengths.push(len);
    at = off + len;
  }
  return { codecId: page[2] as number, count: n, offsets, lengths };
}

/**
 * Where fragment `slot` of a packed page lies: its directory checked, and for zstd, that the
 * frame header declares a whole chunk (so a decompressor allocates no more). For callers that
 * decompress elsewhere (on a worker).
 * @throws StoreError `ERR_CORRUPT_DATA` naming `where` and the fragment.
 */
export function locatePackedFragment(
  page: Uint8Array,
  slot: number,
  codec: ChunkCodec,
  chunkSize: number,
  where: string,
): { offset: number; length: number } {
  const dir = decodePackedDirectory(page, chunkSize, codec.id, where, slot);
  if (!Number.isInteger(slot) || slot < 0 || slot >= dir.count) {
    throw corrupt(where, slot, `has ${dir.count} fragments, no slot ${slot}`);
  }
  const offset = dir.offsets[slot] as number;
  const length = dir.lengths[slot] as number;
  if (codec.id === 2) {
    const declared = zstdFrameContentSize(page.subarray(offset, offset + length));
    if (declared !== chunkSize) {
      throw fragmentRefused(
        where,
        slot,
        codec.name,
        `the frame header declares ${declared ?? 'no valid'} content size, not ${chunkSize}`,
      );
    }
  }
  return { offset, length };
}

/** ERR_CORRUPT_DATA for a fragment its codec does not decompress to a whole chunk. */
export function fragmentRefused(
  where: string,
  slot: number,
  codec: string,
  why: string,
  cause?: unknown,
): StoreError {
  return new StoreError(
    'ERR_CORRUPT_DATA',
    `${where}, fragment ${slot}: ${codec} refused it (${why})`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Fragment `slot` of a packed page, decompressed and checked to be exactly one chunk.
 * @param page - the packed page, `chunkSize` bytes.
 * @param slot - 0..count-1.
 * @param codec - the store's codec.
 * @param chunkSize - the store's chunk size.
 * @param where - names the page in errors ("data.deja page 1234").
 * @returns the chunk, `chunkSize` bytes. O(chunk).
 * @throws StoreError `ERR_CORRUPT_DATA` naming `where` and the slot: a bad directory, a slot past
 *   the count, a fragment the codec refuses or that inflates to another size.
 */
export function readPackedFragment(
  page: Uint8Array,
  slot: number,
  codec: ChunkCodec,
  chunkSize: number,
  where: string,
): Uint8Array {
  const { offset, length } = locatePackedFragment(page, slot, codec, chunkSize, where);
  let out: Uint8Array;
  try {
    out = codec.decompress(page.subarray(offset, offset + length), chunkSize);
  } catch (e) {
    throw fragmentRefused(where, slot, codec.name, e instanceof Error ? e.message : String(e), e);
  }
  if (out.length !== chunkSize)
    throw corrupt(where, slot, `fragment inflates to ${out.length} bytes, not ${chunkSize}`);
  return out;
}
