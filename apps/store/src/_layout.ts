// The store's own records in the page layer: the header page (root slot 'deja') and the snapshot
// table (a chain of metadata pages). Everything else it keeps is a RadixArray (see _meta.ts) or
// belongs to the exception store (root slot 'exception-store').

import type { RadixRoot } from './_meta';
import { StoreError } from './errors';

/** Root slot of the header page. */
export const HEADER_ROOT = 'deja';
/** Root slot of the exception store. */
export const EXCEPTIONS_ROOT = 'exception-store';

export const HEADER_MAGIC = 0x54534a44; // 'DJST'
export const HEADER_VERSION = 1;
/**
 * Format version of a compressed store's header: its references name fragments (page x 16 +
 * state), which a reader of version 1 would take for pages, so it must refuse the store.
 */
export const HEADER_VERSION_PACKED = 2;
const TABLE_MAGIC = 0x4e534a44; // 'DJSN'

/** The header page's fields. */
export interface Header {
  chunkSize: number;
  /** Default of the verify option (flag bit 0). */
  verify: boolean;
  /** Live volume size in bytes. */
  size: number;
  created: number;
  blockMap: RadixRoot;
  names: RadixRoot;
  dirty: RadixRoot;
  /** The physical chunk of zeros exceptions point to for "this version had zeros here". */
  zeroPage: number;
  /** First snapshot-table page, or -1. */
  table: number;
  /** Live chunks that map a physical chunk (not unmapped). */
  mapped: number;
  /** Data chunks allocated (distinct stored chunks, the zero chunk excluded). */
  dataChunks: number;
  /** The dedup index's sizing: records it should hold, and whether it is sparse. */
  indexRecords: number;
  indexSparse: boolean;
  /**
   * Whether `indexRecords` was chosen by the user (flag bit 1): otherwise it follows the volume's
   * size (twice its chunks, at least 65,536), and the index is rebuilt larger when the volume
   * grows past it.
   */
  indexFixed: boolean;
  /**
   * Compressed stores (flag bit 2): fragments a snapshot deletion released are still being
   * released; a store opened with it set counts fragment references again.
   */
  releasesPending: boolean;
  /** The codec's id (0 off, 1 deflate, 2 zstd) and level, fixed at creation. */
  codec: number;
  codecLevel: number;
  /**
   * Compressed stores: the fragment table, a radix array keyed by fragment reference (page x 16
   * + slot + 1) whose 24-byte items are the fragment's name, reference count and length.
   */
  fragments: RadixRoot;
  /** Compressed stores: data pages in use (raw chunks and packed pages; the zero chunk excluded). */
  dataPages: number;
  /** Compressed stores: packed pages in use. */
  packedPages: number;
  /** Compressed stores: bytes that dead fragments hold inside live packed pages. */
  deadBytes: number;
}

function u53(dv: DataView, off: number): number {
  return dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 2 ** 32;
}
function setU53(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, v % 2 ** 32, true);
  dv.setUint32(off + 4, Math.floor(v / 2 ** 32), true);
}
function root(dv: DataView, off: number): RadixRoot {
  return { root: dv.getUint32(off, true) - 1, height: dv.getUint32(off + 4, true) };
}
function setRoot(dv: DataView, off: number, r: RadixRoot): void {
  dv.setUint32(off, r.root + 1, true);
  dv.setUint32(off + 4, r.height, true);
}

/** Encodes the header into a metadata payload. */
export function encodeHeader(h: Header, payload: number): Uint8Array {
  const buf = new Uint8Array(payload);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, HEADER_MAGIC, true);
  dv.setUint32(4, h.codec === 0 ? HEADER_VERSION : HEADER_VERSION_PACKED, true);
  dv.setUint32(8, h.chunkSize, true);
  dv.setUint32(12, (h.verify ? 1 : 0) | (h.indexFixed ? 2 : 0) | (h.releasesPending ? 4 : 0), true);
  setU53(dv, 16, h.size);
  dv.setFloat64(24, h.created, true);
  setRoot(dv, 32, h.blockMap);
  setRoot(dv, 40, h.names);
  setRoot(dv, 48, h.dirty);
  dv.setUint32(56, h.zeroPage, true);
  dv.setUint32(60, h.table + 1, true);
  setU53(dv, 64, h.mapped);
  setU53(dv, 72, h.dataChunks);
  setU53(dv, 80, h.indexRecords);
  dv.setUint32(88, h.indexSparse ? 1 : 0, true);
  buf[92] = h.codec;
  buf[93] = h.codecLevel;
  setRoot(dv, 96, h.fragments);
  setU53(dv, 104, h.dataPages);
  setU53(dv, 112, h.packedPages);
  setU53(dv, 120, h.deadBytes);
  return buf;
}

/**
 * Decodes and checks the header.
 * @throws StoreError `ERR_CORRUPT_DATA`, `ERR_UNSUPPORTED_VERSION`.
 */
export function decodeHeader(buf: Uint8Array, page: number, pageSize: number, where: string): Header {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const bad = (what: string) => new StoreError('ERR_CORRUPT_DATA', `${where}: header page ${page}: ${what}`);
  if (buf.length < 128 || dv.getUint32(0, true) !== HEADER_MAGIC) throw bad('bad magic');
  const version = dv.getUint32(4, true);
  if (version !== HEADER_VERSION && version !== HEADER_VERSION_PACKED) {
    throw new StoreError(
      'ERR_UNSUPPORTED_VERSION',
      `${where}: header page ${page}: format version ${version}`,
    );
  }
  const h: Header = {
    chunkSize: dv.getUint32(8, true),
    verify: (dv.getUint32(12, true) & 1) === 1,
    indexFixed: (dv.getUint32(12, true) & 2) === 2,
    releasesPending: (dv.getUint32(12, true) & 4) === 4,
    size: u53(dv, 16),
    created: dv.getFloat64(24, true),
    blockMap: root(dv, 32),
    names: root(dv, 40),
    dirty: root(dv, 48),
    zeroPage: dv.getUint32(56, true),
    table: dv.getUint32(60, true) - 1,
    mapped: u53(dv, 64),
    dataChunks: u53(dv, 72),
    indexRecords: u53(dv, 80),
    indexSparse: dv.getUint32(88, true) === 1,
    codec: version === HEADER_VERSION ? 0 : (buf[92] as number),
    codecLevel: version === HEADER_VERSION ? 0 : (buf[93] as number),
    fragments: version === HEADER_VERSION ? { root: -1, height: 1 } : root(dv, 96),
    dataPages: version === HEADER_VERSION ? 0 : u53(dv, 104),
    packedPages: version === HEADER_VERSION ? 0 : u53(dv, 112),
    deadBytes: version === HEADER_VERSION ? 0 : u53(dv, 120),
  };
  if (version === HEADER_VERSION_PACKED && h.codec === 0) throw bad('a compressed store without a codec');
  if (h.chunkSize !== pageSize) throw bad(`chunk size ${h.chunkSize} is not the page size ${pageSize}`);
  for (const r of [h.blockMap, h.names, h.dirty, h.fragments]) {
    if (r.height < 1 || r.height > 32) throw bad(`radix height ${r.height}`);
  }
  if (!Number.isFinite(h.created) || h.mapped > Math.ceil(h.size / h.chunkSize))
    throw bad('counters out of range');
  return h;
}

/** A snapshot's record in the store's table (the exception store holds its id and share bit). */
export interface SnapshotRecord {
  name: string;
  /** Creation time, ms since the epoch. */
  created: number;
  /** The volume size when it was taken, bytes. */
  size: number;
}

/** Serializes the snapshot table. */
export function encodeTable(records: SnapshotRecord[]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  let total = 8;
  for (const r of records) {
    const name = enc.encode(r.name);
    const rec = new Uint8Array(1 + name.length + 16);
    rec[0] = name.length;
    rec.set(name, 1);
    const dv = new DataView(rec.buffer);
    dv.setFloat64(1 + name.length, r.created, true);
    setU53(dv, 9 + name.length, r.size);
    parts.push(rec);
    total += rec.length;
  }
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, TABLE_MAGIC, true);
  dv.setUint32(4, records.length, true);
  let off = 8;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** @throws StoreError `ERR_CORRUPT_DATA`. */
export function decodeTable(bytes: Uint8Array, where: string): SnapshotRecord[] {
  const bad = (what: string) => new StoreError('ERR_CORRUPT_DATA', `${where}: snapshot table: ${what}`);
  if (bytes.length < 8) throw bad('truncated');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== TABLE_MAGIC) throw bad('bad magic');
  const count = dv.getUint32(4, true);
  const dec = new TextDecoder('utf-8', { fatal: true });
  const out: SnapshotRecord[] = [];
  let off = 8;
  for (let i = 0; i < count; i++) {
    const n = bytes[off];
    if (n === undefined || n === 0 || off + 1 + n + 16 > bytes.length) throw bad(`entry ${i} truncated`);
    let name: string;
    try {
      name = dec.decode(bytes.subarray(off + 1, off + 1 + n));
    } catch {
      throw bad(`entry ${i}: name is not UTF-8`);
    }
    out.push({ name, created: dv.getFloat64(off + 1 + n, true), size: u53(dv, off + 9 + n) });
    off += 1 + n + 16;
  }
  return out;
}

/**
 * Blob chains: a byte string over metadata pages, each page `u32 next page + 1, u32 length`
 * then bytes. Used for the snapshot table.
 */
export const CHAIN_HEADER = 8;
