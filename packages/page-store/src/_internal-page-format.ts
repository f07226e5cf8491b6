// The on-disk format of the page layer (PageStore), version 2: the 32-byte header every metadata
// page carries, the space-map tags (free, data, metadata never written, metadata written by
// transaction t), the superblock, the space-map, data-list and commit pages of the redo journal, and
// the encoding
// of the named roots, the page count and the user data. Kept apart from the logic so the README's format tables have
// one place to match. Everything is little-endian; checksums are CRC-32 (zlib's, native in Node).
//
// Header (every page the layer writes, 32 bytes):
//
//   0  u32 crc32 of bytes [4, pageSize)
//   4  u16 magic 0x4a44 ('DJ')
//   6  u8  kind (KIND_*)
//   7  u8  format version (FORMAT_VERSION)
//   8  u32 page: the page's home (physical page number); for data-list and commit pages, the slot's
//          page; for a superblock, its slot (0, 1)
//  12  u32 generation: bumped at every writable open, so journal pages of an older run never replay
//  16  u32 txn low, 20 u32 txn high: the transaction that wrote the page
//  24  u32 aux: the journal slot for data-list and commit pages; the slot number (0/1) for a superblock
//  28  u32 reserved (0)

import { crc32 } from 'node:zlib';
import { corrupt } from './errors';

/** Bytes of the header at the start of every page the layer formats. */
export const HEADER_SIZE = 32;
/** The header magic, 'DJ' little-endian. */
export const PAGE_MAGIC = 0x4a44;
/**
 * The format version this code reads and writes. Version 2: space-map pages interleaved with the
 * user pages they describe (the store can grow), the page kind in every space-map entry, the page
 * count in every commit page. Version 1 was never released; it is refused.
 */
export const FORMAT_VERSION = 2;

export const KIND_SUPERBLOCK = 1;
export const KIND_META = 2;
export const KIND_SPACE_MAP = 3;
export const KIND_DATA_LIST = 4;
export const KIND_COMMIT = 5;

/**
 * Bytes of a superblock, whatever the page size: one 512-byte sector, so a superblock write is
 * atomic on a disk and both slots (bytes 0 and 512) sit at offsets that do not depend on the page
 * size — no page can pose as a superblock.
 */
export const SUPERBLOCK_SIZE = 512;

/** Named root slots kept in the superblock and in every commit page. */
export const MAX_ROOTS = 8;
/** Bytes of a root name (UTF-8), at most. */
export const ROOT_NAME_SIZE = 16;
/** Offset of the u32 page count inside the payload of a superblock or commit page. */
export const PAGE_COUNT_OFFSET = 16;
/** Offset of the state (roots, user data) inside the payload of a superblock or commit page. */
export const STATE_OFFSET = 64;
const ROOT_SLOT_SIZE = ROOT_NAME_SIZE + 4;
const USER_DATA_LENGTH_OFFSET = STATE_OFFSET + MAX_ROOTS * ROOT_SLOT_SIZE;
const USER_DATA_OFFSET = USER_DATA_LENGTH_OFFSET + 2;
/** Payload bytes before the user data: `userDataSize = SUPERBLOCK_SIZE - HEADER_SIZE - STATE_FIXED`. */
export const STATE_FIXED = USER_DATA_OFFSET;
/** "No page" in a root slot. */
const NO_PAGE = 0xffffffff;

/** Bytes of one space-map entry: u32 reference count, u32 tag (the kind; for metadata, its writer). */
export const SPACE_MAP_ENTRY_SIZE = 8;
/** Bytes of one data-list entry: u32 user page, u32 crc32 of its contents. */
export const DATA_LIST_ENTRY_SIZE = 8;

/** The decoded header of a page. */
export interface PageHeader {
  readonly kind: number;
  readonly version: number;
  readonly page: number;
  readonly generation: number;
  readonly txn: number;
  readonly aux: number;
}

/** The state a superblock or commit page carries: the page count, named roots and the user data. */
export interface StoreState {
  /** User pages in the store at this state (it grows with transactions). */
  readonly pageCount: number;
  readonly roots: ReadonlyMap<string, number>;
  readonly userData: Uint8Array;
}

/** A DataView over a whole page. */
export function viewOf(page: Uint8Array): DataView {
  return new DataView(page.buffer, page.byteOffset, page.byteLength);
}

/** Space-map tag of a free page. */
export const TAG_FREE = 0;
/** Space-map tag of a data page (raw bytes, never read as metadata). */
export const TAG_DATA = 1;
/** Space-map tag of a metadata page allocated and never written (reads as zeros). */
export const TAG_META_EMPTY = 2;

/**
 * The space-map tag of a metadata page written by transaction `txn`: 3 .. 2^32 - 1, so it ties the
 * page to the transaction that wrote it (a stale or misdirected copy fails the match) and never
 * collides with the three tags above.
 */
export function metaTag(txn: number): number {
  return (txn % 0xfffffffd) + 3;
}

/** Writes the header (and the checksum over the whole page, so call it last). */
export function sealPage(
  page: Uint8Array,
  kind: number,
  home: number,
  generation: number,
  txn: number,
  aux = 0,
): Uint8Array {
  const view = viewOf(page);
  view.setUint16(4, PAGE_MAGIC, true);
  view.setUint8(6, kind);
  view.setUint8(7, FORMAT_VERSION);
  view.setUint32(8, home, true);
  view.setUint32(12, generation, true);
  view.setUint32(16, txn >>> 0, true);
  view.setUint32(20, Math.floor(txn / 2 ** 32), true);
  view.setUint32(24, aux, true);
  view.setUint32(28, 0, true);
  view.setUint32(0, crc32(page.subarray(4)), true);
  return page;
}

/** The checksum stored in a sealed page (its identity in the journal's commit chain). */
export function pageChecksum(page: Uint8Array): number {
  return viewOf(page).getUint32(0, true);
}

/**
 * Decodes a header if the page is intact (magic and checksum hold); `undefined` otherwise. The
 * version is returned, not checked: the caller decides between corrupt and unsupported.
 */
export function readHeader(page: Uint8Array): PageHeader | undefined {
  const view = viewOf(page);
  if (view.getUint16(4, true) !== PAGE_MAGIC) return undefined;
  if (view.getUint32(0, true) !== crc32(page.subarray(4))) return undefined;
  return {
    kind: view.getUint8(6),
    version: view.getUint8(7),
    page: view.getUint32(8, true),
    generation: view.getUint32(12, true),
    txn: view.getUint32(16, true) + view.getUint32(20, true) * 2 ** 32,
    aux: view.getUint32(24, true),
  };
}

/** Writes `state` into the payload area of a superblock or commit page. */
export function encodeState(page: Uint8Array, state: StoreState): void {
  const view = viewOf(page);
  const base = HEADER_SIZE;
  let slot = 0;
  const encoder = new TextEncoder();
  for (const [name, root] of state.roots) {
    const at = base + STATE_OFFSET + slot * ROOT_SLOT_SIZE;
    page.fill(0, at, at + ROOT_NAME_SIZE);
    encoder.encodeInto(name, page.subarray(at, at + ROOT_NAME_SIZE));
    view.setUint32(at + ROOT_NAME_SIZE, root, true);
    slot++;
  }
  for (; slot < MAX_ROOTS; slot++) {
    const at = base + STATE_OFFSET + slot * ROOT_SLOT_SIZE;
    page.fill(0, at, at + ROOT_NAME_SIZE);
    view.setUint32(at + ROOT_NAME_SIZE, NO_PAGE, true);
  }
  view.setUint16(base + USER_DATA_LENGTH_OFFSET, state.userData.length, true);
  page.set(state.userData, base + USER_DATA_OFFSET);
  view.setUint32(base + PAGE_COUNT_OFFSET, state.pageCount, true);
}

/**
 * Reads the state back; throws ERR_CORRUPT_DATA for impossible values (the page checksum held,
 * so this means a bug or a forged page, never a torn one).
 */
export function decodeState(page: Uint8Array, where: string, maxPageCount: number): StoreState {
  const view = viewOf(page);
  const base = HEADER_SIZE;
  const pageCount = view.getUint32(base + PAGE_COUNT_OFFSET, true);
  if (pageCount < 1 || pageCount > maxPageCount) {
    throw corrupt(`${where}: page count ${pageCount} outside [1, ${maxPageCount}]`);
  }
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const roots = new Map<string, number>();
  for (let slot = 0; slot < MAX_ROOTS; slot++) {
    const at = base + STATE_OFFSET + slot * ROOT_SLOT_SIZE;
    const raw = page.subarray(at, at + ROOT_NAME_SIZE);
    const end = raw.indexOf(0);
    const nameBytes = end < 0 ? raw : raw.subarray(0, end);
    const root = view.getUint32(at + ROOT_NAME_SIZE, true);
    if (nameBytes.length === 0) continue;
    if (root >= pageCount) throw corrupt(`${where}: root slot ${slot} names page ${root} of ${pageCount}`);
    roots.set(decoder.decode(nameBytes), root);
  }
  const length = view.getUint16(base + USER_DATA_LENGTH_OFFSET, true);
  if (base + USER_DATA_OFFSET + length > page.length) {
    throw corrupt(`${where}: user data length ${length} passes the page end`);
  }
  const userData = page.slice(base + USER_DATA_OFFSET, base + USER_DATA_OFFSET + length);
  return { pageCount, roots, userData };
}

/** Reads a 53-bit number stored as two u32 halves. */
export function getU53(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
}

/** Writes a number up to 2^53 as two u32 halves. */
export function setU53(view: DataView, at: number, value: number): void {
  view.setUint32(at, value >>> 0, true);
  view.setUint32(at + 4, Math.floor(value / 2 ** 32), true);
}
