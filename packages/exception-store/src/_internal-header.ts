// The store's header page and its snapshot table pages. The header is the seed's disk_header
// (magic, valid, version, chunk size, root, snapshot mask, tree level) widened: the share-mask
// width and node fanout are format parameters, and a CRC-32 makes it self-validating. The table
// the seed's reviewer asks for ("a 'UUID -> snapid' translation ... stored in the on-disk header")
// maps each snapshot's name to its id (its bit in the share masks), in a chain of pages named by
// the header, so names survive reopen and no one has to hunt for a free id.

import { crc32 } from 'node:zlib';
import { getU64, MAX_CHUNK, MAX_MASK_WIDTH, setU64 } from './_internal-layout';
import { corrupt, ExceptionStoreError } from './errors';

/** The seed's SHARED_EXCEPTION_MAGIC. */
export const HEADER_MAGIC = 0x10161974;
/**
 * Format version (the seed's is 1; 2 stored every share mask in leaves as a full bitmap; 3 stores
 * them compactly, see _internal-leaf.ts). The header layout of 2 and 3 is the same.
 */
export const HEADER_VERSION = 3;
/** The previous format version, recognised to refuse it with ERR_UNSUPPORTED_VERSION. */
export const OLD_HEADER_VERSION = 2;
/** Bytes of the header's fixed fields, before the snapshot mask. */
export const HEADER_FIXED = 48;
/** Snapshot table page magic ('SNAP'). */
export const TABLE_MAGIC = 0x50414e53;
/** Bytes of a table page's header: magic u32, count u16, reserved u16, next u64, crc u32. */
export const TABLE_HEADER = 20;
/** Longest snapshot name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 64;

/** The header's fields in memory. */
export interface HeaderFields {
  valid: boolean;
  chunkSize: number;
  maskWidth: number;
  fanout: number;
  treeLevel: number;
  snapshotCount: number;
  root: number;
  /** First snapshot table page, or undefined when there are no snapshots. */
  table: number | undefined;
  mask: Uint32Array;
  /** Ids of deleted snapshots whose bits are still being cleared from the tree. */
  deleting: Uint32Array;
}

/** Encodes the header into a fresh payload of `payload` bytes. O(payload). */
export function encodeHeader(h: HeaderFields, payload: number): Uint8Array {
  const bytes = new Uint8Array(payload);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(0, HEADER_MAGIC, true);
  dv.setUint32(4, HEADER_VERSION, true);
  dv.setUint32(8, h.valid ? 1 : 0, true);
  dv.setUint32(12, h.chunkSize, true);
  dv.setUint32(16, h.maskWidth, true);
  dv.setUint32(20, h.fanout, true);
  dv.setUint32(24, h.treeLevel, true);
  dv.setUint32(28, h.snapshotCount, true);
  setU64(dv, 32, h.root);
  setU64(dv, 40, h.table === undefined ? 0 : h.table + 1);
  const words = h.mask.length;
  for (let k = 0; k < words; k++) {
    dv.setUint32(HEADER_FIXED + k * 4, h.mask[k] as number, true);
    dv.setUint32(HEADER_FIXED + (words + k) * 4, h.deleting[k] as number, true);
  }
  const crcAt = HEADER_FIXED + 2 * words * 4;
  dv.setUint32(crcAt, crc32(bytes.subarray(0, crcAt)), true);
  return bytes;
}

/**
 * Decodes and validates a header payload.
 *
 * @throws ExceptionStoreError `ERR_CORRUPT_DATA` naming `page` and the bad field.
 */
export function decodeHeader(bytes: Uint8Array, page: number): HeaderFields {
  if (bytes.length < HEADER_FIXED + 8)
    throw corrupt('header', page, `payload of ${bytes.length} bytes is too short`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== HEADER_MAGIC) throw corrupt('header', page, 'bad magic');
  const version = dv.getUint32(4, true);
  if (version !== HEADER_VERSION && version !== OLD_HEADER_VERSION)
    throw corrupt('header', page, `unknown version ${version}`);
  const maskWidth = dv.getUint32(16, true);
  if (maskWidth < 32 || maskWidth > MAX_MASK_WIDTH || maskWidth % 32 !== 0) {
    throw corrupt(
      'header',
      page,
      `share-mask width ${maskWidth} is not a multiple of 32 in [32, ${MAX_MASK_WIDTH}]`,
    );
  }
  const crcAt = HEADER_FIXED + maskWidth / 4;
  if (crcAt + 4 > bytes.length) throw corrupt('header', page, 'share mask overflows the page');
  if (dv.getUint32(crcAt, true) !== crc32(bytes.subarray(0, crcAt)))
    throw corrupt('header', page, 'checksum mismatch');
  if (version === OLD_HEADER_VERSION) {
    throw new ExceptionStoreError(
      'ERR_UNSUPPORTED_VERSION',
      `header at page ${page}: format version ${version} (full-width share masks in leaves) is not ` +
        `supported by this release, which reads version ${HEADER_VERSION}; copy the snapshots out with ` +
        'the release that wrote them',
    );
  }
  const valid = dv.getUint32(8, true);
  if (valid > 1) throw corrupt('header', page, `valid flag ${valid}`);
  const mask = new Uint32Array(maskWidth / 32);
  const deleting = new Uint32Array(maskWidth / 32);
  let bits = 0;
  for (let k = 0; k < mask.length; k++) {
    const w = dv.getUint32(HEADER_FIXED + k * 4, true);
    const d = dv.getUint32(HEADER_FIXED + (mask.length + k) * 4, true);
    if ((w & d) !== 0) throw corrupt('header', page, 'a snapshot is both active and being deleted');
    mask[k] = w;
    deleting[k] = d;
    for (let v = w; v !== 0; v &= v - 1) bits++;
  }
  const snapshotCount = dv.getUint32(28, true);
  if (snapshotCount !== bits)
    throw corrupt('header', page, `snapshot count ${snapshotCount} but ${bits} mask bits`);
  const tableRaw = getU64(dv, 40);
  const root = getU64(dv, 32);
  if (root > MAX_CHUNK || tableRaw > MAX_CHUNK) throw corrupt('header', page, 'page number beyond 2^53');
  if ((tableRaw === 0) !== (snapshotCount === 0))
    throw corrupt('header', page, 'snapshot table presence disagrees with the count');
  const treeLevel = dv.getUint32(24, true);
  if (treeLevel < 1 || treeLevel > 64) throw corrupt('header', page, `tree level ${treeLevel}`);
  return {
    valid: valid === 1,
    chunkSize: dv.getUint32(12, true),
    maskWidth,
    fanout: dv.getUint32(20, true),
    treeLevel,
    snapshotCount,
    root,
    table: tableRaw === 0 ? undefined : tableRaw - 1,
    mask,
    deleting,
  };
}

/** One snapshot: its name and its id (bit in the share masks). */
export interface TableEntry {
  readonly id: number;
  readonly name: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 bytes of a name. */
export function nameBytes(name: string): Uint8Array {
  return encoder.encode(name);
}

/** Splits the entries into page-sized groups (each entry: id u16, length u8, name). */
export function layoutTable(entries: readonly TableEntry[], payload: number): Uint8Array[][] {
  const pages: Uint8Array[][] = [];
  let current: Uint8Array[] = [];
  let used = TABLE_HEADER;
  for (const e of entries) {
    const name = nameBytes(e.name);
    const rec = new Uint8Array(3 + name.length);
    rec[0] = e.id & 0xff;
    rec[1] = e.id >>> 8;
    rec[2] = name.length;
    rec.set(name, 3);
    if (used + rec.length > payload) {
      pages.push(current);
      current = [];
      used = TABLE_HEADER;
    }
    current.push(rec);
    used += rec.length;
  }
  if (current.length > 0) pages.push(current);
  return pages;
}

/** Encodes one table page holding `records`, chained to `next` (or the end). */
export function encodeTablePage(
  records: readonly Uint8Array[],
  next: number | undefined,
  payload: number,
): Uint8Array {
  const bytes = new Uint8Array(payload);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(0, TABLE_MAGIC, true);
  dv.setUint16(4, records.length, true);
  setU64(dv, 8, next === undefined ? 0 : next + 1);
  let at = TABLE_HEADER;
  for (const r of records) {
    bytes.set(r, at);
    at += r.length;
  }
  dv.setUint32(16, crc32(bytes), true);
  return bytes;
}

/**
 * Decodes one table page.
 *
 * @returns its entries and the next page of the chain (undefined at the end).
 * @throws ExceptionStoreError `ERR_CORRUPT_DATA` naming `page`.
 */
export function decodeTablePage(
  bytes: Uint8Array,
  page: number,
  maskWidth: number,
): { entries: TableEntry[]; next: number | undefined } {
  if (bytes.length < TABLE_HEADER) throw corrupt('snapshot table', page, 'payload too short');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== TABLE_MAGIC) throw corrupt('snapshot table', page, 'bad magic');
  const stored = dv.getUint32(16, true);
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(16, 0, true);
  if (crc32(copy) !== stored) throw corrupt('snapshot table', page, 'checksum mismatch');
  const count = dv.getUint16(4, true);
  const nextRaw = getU64(dv, 8);
  if (nextRaw > MAX_CHUNK) throw corrupt('snapshot table', page, 'next page beyond 2^53');
  const entries: TableEntry[] = [];
  let at = TABLE_HEADER;
  for (let i = 0; i < count; i++) {
    if (at + 3 > bytes.length) throw corrupt('snapshot table', page, `entry ${i} runs past the page`);
    const id = dv.getUint16(at, true);
    const len = bytes[at + 2] as number;
    if (id >= maskWidth) throw corrupt('snapshot table', page, `entry ${i}: id ${id} outside the share mask`);
    if (len === 0 || len > MAX_NAME_BYTES || at + 3 + len > bytes.length) {
      throw corrupt('snapshot table', page, `entry ${i}: bad name length ${len}`);
    }
    let name: string;
    try {
      name = decoder.decode(bytes.subarray(at + 3, at + 3 + len));
    } catch (cause) {
      throw corrupt('snapshot table', page, `entry ${i}: name is not UTF-8 (${String(cause)})`);
    }
    entries.push({ id, name });
    at += 3 + len;
  }
  return { entries, next: nextRaw === 0 ? undefined : nextRaw - 1 };
}
