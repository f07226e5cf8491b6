// Where an index lives on its storage, and the small records that describe it: the superblock
// (configuration and nonce), one seal per physical chapter (which virtual chapter the slot holds, a
// CRC-32 and a count or page-map entry per page), and the headers of the two save slots.
//
//   page 0                 superblock (in the volume's header page, as UDS keeps its volume header)
//   seal region            chaptersPerVolume seals of `sealBytes` (a multiple of 512), page-aligned
//   volume                 chaptersPerVolume chapters of pagesPerChapter pages: index pages first,
//                          then record pages (as the reference lays a chapter out)
//   save slot 0, save slot 1   each a 512-byte header and a body of framed parts
//
// The reference has no checksums on chapter pages; this port seals each chapter so that a torn or
// stale page is recognised (CRC mismatch) and skipped, never searched.

import {
  computeSavedOpenChapterSize,
  createGeometry,
  type IndexConfiguration,
  type IndexGeometry,
} from '@deja/volume-geometry';
import { FRAME_HEADER_BYTES, frame, Reader, roundUp, unframe, Writer } from './_format';
import { corrupt } from './errors';
import type { VolumeIndex } from './volume-index';

/** Magic and version of the superblock. */
export const SUPERBLOCK_MAGIC = 'DJDEDUP1';
export const SUPERBLOCK_VERSION = 1;
/** Magic and version of a chapter seal. */
export const SEAL_MAGIC = 'DJCHSEAL';
export const SEAL_VERSION = 1;
/** Magic and version of a save slot header. */
export const SAVE_HEADER_MAGIC = 'DJSAVEHD';
export const SAVE_VERSION = 1;
/** Bytes reserved for a save header (one sector, written atomically by a disk). */
export const SAVE_HEADER_BYTES = 512;

/** Byte offsets of every region, from a configuration. */
export interface StorageLayout {
  /** The page size. */
  readonly bytesPerPage: number;
  /** Index and record pages per chapter. */
  readonly pagesPerChapter: number;
  /** Where the seals start (page 1). */
  readonly sealOffset: number;
  /** Bytes per seal, a multiple of 512. */
  readonly sealBytes: number;
  /** Where the chapters start (page-aligned). */
  readonly volumeOffset: number;
  /** Where save slot 0 starts (4096-aligned); slot 1 follows it. */
  readonly saveOffset: number;
  /** Bytes per save slot (header and body). */
  readonly slotBytes: number;
  /** Bytes of the whole index when its volume is full and both slots hold saves. */
  readonly totalBytes: number;
}

/**
 * Compute where each region lives. The save slots are sized for the largest save the volume index
 * can produce (its delta memory, list sizes and flush marks, plus a full open chapter and page map).
 * @param config - the index configuration
 * @param volumeIndex - the volume index built for it
 * @returns the frozen layout. O(1).
 */
export function computeStorageLayout(config: IndexConfiguration, volumeIndex: VolumeIndex): StorageLayout {
  const g = config.geometry;
  const P = g.bytesPerPage;
  const pagesPerChapter = g.pagesPerChapter;
  const sealBytes = roundUp(FRAME_HEADER_BYTES + 40 + 8 * pagesPerChapter, 512);
  const sealOffset = P;
  const volumeOffset = roundUp(sealOffset + g.chaptersPerVolume * sealBytes, P);
  const saveOffset = roundUp(volumeOffset + g.chaptersPerVolume * pagesPerChapter * P, 4096);
  let bound = 1024;
  for (const sub of volumeIndex.hook === null
    ? [volumeIndex.nonHook]
    : [volumeIndex.nonHook, volumeIndex.hook]) {
    const zones = sub.zoneCount;
    bound += 64 + 24 * zones + 26 * sub.listCount + zones * (sub.delta.zoneMemorySize + 128);
  }
  bound += computeSavedOpenChapterSize(g) + 64;
  bound += 64 + 4 * g.chaptersPerVolume * g.indexPagesPerChapter;
  bound += 4 * FRAME_HEADER_BYTES + 512;
  const slotBytes = roundUp(SAVE_HEADER_BYTES + bound, 4096);
  return Object.freeze({
    bytesPerPage: P,
    pagesPerChapter,
    sealOffset,
    sealBytes,
    volumeOffset,
    saveOffset,
    slotBytes,
    totalBytes: saveOffset + 2 * slotBytes,
  });
}

/** The byte offset of page `page` of physical chapter `physical`. */
export function pageOffset(layout: StorageLayout, physical: number, page: number): number {
  return layout.volumeOffset + (physical * layout.pagesPerChapter + page) * layout.bytesPerPage;
}

/** What the superblock records. */
export interface Superblock {
  readonly config: IndexConfiguration;
  readonly nonce: number;
}

/** Encode the superblock: the configuration's inputs and the nonce. O(1). */
export function encodeSuperblock(config: IndexConfiguration, nonce: number): Uint8Array {
  const g = config.geometry;
  const w = new Writer();
  w.u32(g.bytesPerPage);
  w.u32(g.recordPagesPerChapter);
  w.u32(g.chaptersPerVolume);
  w.u32(g.sparseChaptersPerVolume);
  w.u64(g.remappedVirtual);
  w.u32(g.remappedPhysical);
  w.u32(config.sparseSampleRate);
  w.u32(config.zoneCount);
  w.u32(config.volumeIndexMeanDelta);
  w.u32(config.cacheChapters);
  w.u32(Math.round(config.memorySize * 4));
  w.u32((config.sparse ? 1 : 0) | (config.reduced ? 2 : 0));
  w.u64(nonce);
  return frame(SUPERBLOCK_MAGIC, SUPERBLOCK_VERSION, w.finish());
}

/**
 * Decode and validate a superblock.
 * @throws DedupIndexError ERR_CORRUPT_DATA / ERR_UNSUPPORTED_VERSION; ERR_CORRUPT_DATA also when the
 *   recorded geometry is invalid
 */
export function decodeSuperblock(bytes: Uint8Array): Superblock {
  const { payload } = unframe(bytes, 0, SUPERBLOCK_MAGIC, SUPERBLOCK_VERSION, 'superblock');
  const r = new Reader(payload, 'superblock');
  const bytesPerPage = r.u32();
  const recordPagesPerChapter = r.u32();
  const chaptersPerVolume = r.u32();
  const sparseChaptersPerVolume = r.u32();
  const remappedVirtual = r.u64();
  const remappedPhysical = r.u32();
  const sparseSampleRate = r.u32();
  const zoneCount = r.u32();
  const volumeIndexMeanDelta = r.u32();
  const cacheChapters = r.u32();
  const memorySize = r.u32() / 4;
  const flags = r.u32();
  const nonce = r.u64();
  let geometry: IndexGeometry;
  try {
    geometry = createGeometry({
      bytesPerPage,
      recordPagesPerChapter,
      chaptersPerVolume,
      sparseChaptersPerVolume,
      remappedVirtual,
      remappedPhysical,
    });
  } catch (error) {
    throw corrupt(`superblock: the recorded geometry is invalid`, error);
  }
  if (zoneCount < 1 || zoneCount > 16 || (sparseChaptersPerVolume > 0 && sparseSampleRate < 1)) {
    throw corrupt(`superblock: zone count ${zoneCount} or sample rate ${sparseSampleRate} out of range`);
  }
  const config: IndexConfiguration = Object.freeze({
    geometry,
    memorySize,
    sparse: (flags & 1) !== 0,
    reduced: (flags & 2) !== 0,
    cacheChapters,
    volumeIndexMeanDelta,
    sparseSampleRate: sparseChaptersPerVolume > 0 ? sparseSampleRate : 0,
    zoneCount,
  });
  return { config, nonce };
}

/** The seal of a chapter, as kept in memory and on storage. */
export interface ChapterSeal {
  readonly physical: number;
  readonly virtual: number;
  /** CRC-32 of each page: index pages, then record pages. */
  readonly crcs: Uint32Array;
  /** Per index page, one past its last delta list (the index page map entries, plus one). */
  readonly listEnds: Uint32Array;
  /** Records on each record page. */
  readonly counts: Uint32Array;
}

/** Encode a chapter seal. O(pages). */
export function encodeSeal(seal: ChapterSeal, nonce: number, sealBytes: number): Uint8Array {
  const w = new Writer();
  w.u32(seal.physical);
  w.u64(seal.virtual);
  w.u64(nonce);
  w.u32(seal.listEnds.length);
  w.u32(seal.counts.length);
  for (const crc of seal.crcs) w.u32(crc);
  for (const end of seal.listEnds) w.u32(end);
  for (const count of seal.counts) w.u32(count);
  const framed = frame(SEAL_MAGIC, SEAL_VERSION, w.finish());
  const out = new Uint8Array(sealBytes);
  out.set(framed);
  return out;
}

/**
 * Decode a seal and check it against the geometry and nonce: the right physical slot, page counts,
 * page map entries that increase within the chapter's lists, record counts within a page.
 * @returns the seal, or undefined for a never-written (all-zero) seal
 * @throws DedupIndexError ERR_CORRUPT_DATA for anything else that does not check
 */
export function decodeSeal(
  bytes: Uint8Array,
  geometry: IndexGeometry,
  physical: number,
  nonce: number,
): ChapterSeal | undefined {
  if (bytes.every((b) => b === 0)) return undefined;
  const what = `seal of physical chapter ${physical}`;
  const { payload } = unframe(bytes, 0, SEAL_MAGIC, SEAL_VERSION, what);
  const r = new Reader(payload, what);
  const slot = r.u32();
  const virtual = r.u64();
  const sealNonce = r.u64();
  const indexPages = r.u32();
  const recordPages = r.u32();
  if (slot !== physical) throw corrupt(`${what}: records slot ${slot}`);
  if (sealNonce !== nonce) throw corrupt(`${what}: nonce ${sealNonce} is not this index's (${nonce})`);
  if (indexPages !== geometry.indexPagesPerChapter || recordPages !== geometry.recordPagesPerChapter) {
    throw corrupt(`${what}: ${indexPages} index and ${recordPages} record pages do not match the geometry`);
  }
  const crcs = new Uint32Array(indexPages + recordPages);
  for (let i = 0; i < crcs.length; i++) crcs[i] = r.u32();
  const listEnds = new Uint32Array(indexPages);
  let previous = 0;
  for (let i = 0; i < indexPages; i++) {
    const end = r.u32();
    if (end < previous || end > geometry.deltaListsPerChapter) {
      throw corrupt(`${what}: index page ${i} ends before delta list ${end}, out of order or range`);
    }
    listEnds[i] = end;
    previous = end;
  }
  const counts = new Uint32Array(recordPages);
  for (let i = 0; i < recordPages; i++) {
    const count = r.u32();
    if (count > geometry.recordsPerPage) throw corrupt(`${what}: record page ${i} claims ${count} records`);
    counts[i] = count;
  }
  return { physical, virtual, crcs, listEnds, counts };
}

/** Encode a save slot header: sequence number, nonce, body length and CRC. */
export function encodeSaveHeader(sequence: number, nonce: number, body: Uint8Array, crc: number): Uint8Array {
  const w = new Writer();
  w.u64(sequence);
  w.u64(nonce);
  w.u64(body.length);
  w.u32(crc);
  const out = new Uint8Array(SAVE_HEADER_BYTES);
  out.set(frame(SAVE_HEADER_MAGIC, SAVE_VERSION, w.finish()));
  return out;
}

/** A decoded save header. */
export interface SaveHeader {
  readonly sequence: number;
  readonly length: number;
  readonly crc: number;
}

/**
 * Decode a save header.
 * @returns undefined for an empty (invalidated) slot
 * @throws DedupIndexError ERR_CORRUPT_DATA for a damaged header or another index's nonce
 */
export function decodeSaveHeader(bytes: Uint8Array, nonce: number, slot: number): SaveHeader | undefined {
  if (bytes.every((b) => b === 0)) return undefined;
  const what = `save slot ${slot} header`;
  const { payload } = unframe(bytes, 0, SAVE_HEADER_MAGIC, SAVE_VERSION, what);
  const r = new Reader(payload, what);
  const sequence = r.u64();
  const saveNonce = r.u64();
  const length = r.u64();
  const crc = r.u32();
  if (saveNonce !== nonce) throw corrupt(`${what}: nonce ${saveNonce} is not this index's`);
  return { sequence, length, crc };
}
