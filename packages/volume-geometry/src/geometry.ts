// The index geometry: how a UDS index volume is cut into pages and chapters. Four parameters
// (bytes per page, record pages per chapter, chapters per volume, sparse chapters per volume) and
// two constants (32-byte records, 16-bit chapter mean delta) determine everything else; this file
// derives the rest exactly as dm-vdo's uds_make_index_geometry() does.
//
// From the seed (uds-geometry-excerpt.txt): an index volume holds a fixed number of chapters, each
// made of record pages (1024 records of 32 bytes on a 32 KiB page) and index pages (the chapter
// index, a delta index mapping a record name to its record page). The newest chapters are dense
// (every record indexed in the volume index); a sparse volume keeps 95% of its chapters sparse
// (only sampled names indexed), for ten times the deduplication window. A volume converted to LVM
// loses physical chapter 0 (the "reduced" geometry, with an odd chapter count) and may have moved
// one virtual chapter to another physical slot (remapped_virtual / remapped_physical).

import { computeDeltaIndexSize, getDeltaIndexPageCount } from '@deja/delta-index';
import { bitsPer, checkInteger } from './_internal';
import { VolumeGeometryError } from './errors';

/** Bytes in one index record: a 16-byte record name and 16 bytes of metadata. */
export const BYTES_PER_RECORD = 32;
/** log2 of the chapter index's mean delta. */
export const DEFAULT_CHAPTER_MEAN_DELTA_BITS = 16;
/** The chapter index's mean delta (65536). */
export const DEFAULT_CHAPTER_MEAN_DELTA = 1 << DEFAULT_CHAPTER_MEAN_DELTA_BITS;
/** Open chapter record numbers are 23-bit fields, so a chapter holds fewer than 2^23 records. */
export const MAX_RECORDS_PER_CHAPTER = (1 << 23) - 1;
/** Chapter index page offsets are 19-bit bit offsets, so a page is at most 64 KiB. */
export const MAX_BYTES_PER_PAGE = 65536;
/** The smallest page this port accepts (4 records, and room for an index page's header). */
export const MIN_BYTES_PER_PAGE = 128;
/** Record pages are numbered in the chapter index with 16-bit values; 65535 means "no entry". */
export const MAX_RECORD_PAGES_PER_CHAPTER = 65535;
/** Chapters per volume are a u32 in the reference. */
export const MAX_CHAPTERS_PER_VOLUME = 0xffff_ffff;

/** Bits of an immutable delta list header (one 19-bit offset) and of an index page header. */
const IMMUTABLE_HEADER_BITS = 19;
const DELTA_PAGE_HEADER_BYTES = 20;

/** The inputs of {@link createGeometry}. */
export interface GeometryParameters {
  /** Bytes per page: a multiple of 32 in [128, 65536] (UDS uses 32768). */
  readonly bytesPerPage: number;
  /** Record pages per chapter, >= 1. */
  readonly recordPagesPerChapter: number;
  /** Chapters per volume, >= 1 (odd means a reduced, LVM-converted volume). */
  readonly chaptersPerVolume: number;
  /** Sparse chapters per volume, less than chaptersPerVolume (default 0). */
  readonly sparseChaptersPerVolume?: number;
  /** The virtual chapter moved by the LVM conversion (default 0). */
  readonly remappedVirtual?: number;
  /** The physical chapter it was moved to, less than chaptersPerVolume (default 0: none). */
  readonly remappedPhysical?: number;
}

/**
 * A complete index geometry: the inputs and every derived field of dm-vdo's
 * `struct index_geometry`. Objects returned by {@link createGeometry} are frozen.
 */
export interface IndexGeometry {
  /** Bytes in a page (record or index page). */
  readonly bytesPerPage: number;
  /** Records on a record page (bytesPerPage / 32). */
  readonly recordsPerPage: number;
  /** Record pages in a chapter. */
  readonly recordPagesPerChapter: number;
  /** Records in a chapter (recordsPerPage * recordPagesPerChapter). */
  readonly recordsPerChapter: number;
  /** Chapters in the volume. */
  readonly chaptersPerVolume: number;
  /** Sparse chapters in the volume. */
  readonly sparseChaptersPerVolume: number;
  /** Dense chapters in the volume (chapters - sparse). */
  readonly denseChaptersPerVolume: number;
  /** Records in the whole volume. */
  readonly recordsPerVolume: number;
  /** log2 of the number of delta lists in a chapter index (about one list per 64 records). */
  readonly chapterDeltaListBits: number;
  /** Delta lists in a chapter index (2^chapterDeltaListBits). */
  readonly deltaListsPerChapter: number;
  /** Mean delta of the chapter index (65536). */
  readonly chapterMeanDelta: number;
  /** Payload bits of a chapter index entry: bits to hold a record page number. */
  readonly chapterPayloadBits: number;
  /** Address bits of a chapter index key. */
  readonly chapterAddressBits: number;
  /** Index pages per chapter, reserved for the chapter index. */
  readonly indexPagesPerChapter: number;
  /** Pages per chapter (index + record pages). */
  readonly pagesPerChapter: number;
  /** Pages in the volume, not counting the header page. */
  readonly pagesPerVolume: number;
  /** Bytes in the volume, including the one header page. */
  readonly bytesPerVolume: number;
  /** The virtual chapter moved by an LVM conversion (0 if none). */
  readonly remappedVirtual: number;
  /** The physical chapter it now lives in (0 if none). */
  readonly remappedPhysical: number;
}

/**
 * Builds an index geometry from its parameters and derives every other field (port of
 * uds_make_index_geometry()).
 *
 * @param params - page size, record pages per chapter, chapters and sparse chapters per volume,
 *   and the optional LVM remapping
 * @returns a frozen {@link IndexGeometry}
 * @throws TypeError if a parameter is not a safe integer
 * @throws {@link VolumeGeometryError} `ERR_INVALID_GEOMETRY` if a parameter is out of range or the
 *   combination cannot be laid out (a page too small for one delta list, too many records)
 * Cost: O(1).
 */
export function createGeometry(params: GeometryParameters): IndexGeometry {
  if (typeof params !== 'object' || params === null) {
    throw new TypeError('createGeometry() needs a parameters object');
  }
  const code = 'ERR_INVALID_GEOMETRY';
  const bytesPerPage = checkInteger(
    code,
    'bytesPerPage',
    params.bytesPerPage,
    MIN_BYTES_PER_PAGE,
    MAX_BYTES_PER_PAGE,
  );
  if (bytesPerPage % BYTES_PER_RECORD !== 0) {
    throw new VolumeGeometryError(code, `bytesPerPage must be a multiple of 32, got ${bytesPerPage}`);
  }
  const recordPagesPerChapter = checkInteger(
    code,
    'recordPagesPerChapter',
    params.recordPagesPerChapter,
    1,
    MAX_RECORD_PAGES_PER_CHAPTER,
  );
  const chaptersPerVolume = checkInteger(
    code,
    'chaptersPerVolume',
    params.chaptersPerVolume,
    1,
    MAX_CHAPTERS_PER_VOLUME,
  );
  const sparseChaptersPerVolume = checkInteger(
    code,
    'sparseChaptersPerVolume',
    params.sparseChaptersPerVolume ?? 0,
    0,
    chaptersPerVolume - 1,
  );
  const remappedVirtual = checkInteger(
    code,
    'remappedVirtual',
    params.remappedVirtual ?? 0,
    0,
    Number.MAX_SAFE_INTEGER,
  );
  const remappedPhysical = checkInteger(
    code,
    'remappedPhysical',
    params.remappedPhysical ?? 0,
    0,
    chaptersPerVolume - 1,
  );

  const recordsPerPage = bytesPerPage / BYTES_PER_RECORD;
  const recordsPerChapter = recordsPerPage * recordPagesPerChapter;
  if (recordsPerChapter > MAX_RECORDS_PER_CHAPTER) {
    throw new VolumeGeometryError(
      code,
      `a chapter of ${recordPagesPerChapter} pages of ${recordsPerPage} records holds ${recordsPerChapter} records; the limit is ${MAX_RECORDS_PER_CHAPTER}`,
    );
  }
  const denseChaptersPerVolume = chaptersPerVolume - sparseChaptersPerVolume;
  const recordsPerVolume = recordsPerChapter * chaptersPerVolume;

  const chapterMeanDelta = DEFAULT_CHAPTER_MEAN_DELTA;
  const chapterPayloadBits = bitsPer(recordPagesPerChapter - 1);
  // One delta list for every 64 records; the "| 077" keeps the subtraction from underflowing.
  const chapterDeltaListBits = bitsPer((recordsPerChapter - 1) | 0o77) - 6;
  const deltaListsPerChapter = 2 ** chapterDeltaListBits;
  // Enough address bits to reach the desired mean delta.
  const chapterAddressBits =
    DEFAULT_CHAPTER_MEAN_DELTA_BITS - chapterDeltaListBits + bitsPer(recordsPerChapter - 1);

  // uds_get_delta_index_page_count() works in unsigned arithmetic; refuse pages on which even one
  // average delta list does not fit rather than let the usable bit count go negative.
  const bitsPerDeltaList = Math.floor(
    computeDeltaIndexSize(recordsPerChapter, chapterMeanDelta, chapterPayloadBits) / deltaListsPerChapter,
  );
  const usableBits = (bytesPerPage - DELTA_PAGE_HEADER_BYTES) * 8 - IMMUTABLE_HEADER_BITS - bitsPerDeltaList;
  if (usableBits <= 0) {
    throw new VolumeGeometryError(
      code,
      `a page of ${bytesPerPage} bytes cannot hold a chapter index delta list of about ${bitsPerDeltaList} bits`,
    );
  }
  const indexPagesPerChapter = getDeltaIndexPageCount(
    recordsPerChapter,
    deltaListsPerChapter,
    chapterMeanDelta,
    chapterPayloadBits,
    bytesPerPage,
  );
  const pagesPerChapter = indexPagesPerChapter + recordPagesPerChapter;
  const pagesPerVolume = pagesPerChapter * chaptersPerVolume;
  const bytesPerVolume = bytesPerPage * (pagesPerVolume + 1);
  if (!Number.isSafeInteger(bytesPerVolume)) {
    throw new VolumeGeometryError(code, `a volume of ${pagesPerVolume} pages is too large`);
  }

  return Object.freeze({
    bytesPerPage,
    recordsPerPage,
    recordPagesPerChapter,
    recordsPerChapter,
    chaptersPerVolume,
    sparseChaptersPerVolume,
    denseChaptersPerVolume,
    recordsPerVolume,
    chapterDeltaListBits,
    deltaListsPerChapter,
    chapterMeanDelta,
    chapterPayloadBits,
    chapterAddressBits,
    indexPagesPerChapter,
    pagesPerChapter,
    pagesPerVolume,
    bytesPerVolume,
    remappedVirtual,
    remappedPhysical,
  });
}

/**
 * Whether the geometry has sparse chapters (uds_is_sparse_index_geometry()).
 *
 * @param geometry - the index geometry
 * @returns true if sparseChaptersPerVolume > 0. O(1).
 */
export function isSparseGeometry(geometry: IndexGeometry): boolean {
  return geometry.sparseChaptersPerVolume > 0;
}

/**
 * Whether the geometry is reduced: converted to LVM, which removed one chapter, so the chapter
 * count is odd (uds_is_reduced_index_geometry()).
 *
 * @param geometry - the index geometry
 * @returns true if chaptersPerVolume is odd. O(1).
 */
export function isReducedGeometry(geometry: IndexGeometry): boolean {
  return geometry.chaptersPerVolume % 2 === 1;
}
