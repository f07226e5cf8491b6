// What a configuration costs: the volume index's shape and memory (uds_make_volume_index()), the
// bytes each save needs, the whole on-storage index size (uds_compute_index_size()), and the
// deduplication window. The volume index itself lives in a later package; its parameters are here
// because the index size depends on them and because they follow from the geometry alone.
//
// The in-memory figures (deltaIndexMemorySize, subIndexMemorySize, memorySize) reproduce the
// reference's accounting, which adds the sizes of its C structures on x86-64 (a delta zone is 128
// bytes, a delta list header plus its u64 offset 24 bytes, a volume sub-index with one zone 248
// bytes). They are estimates of a C process's memory, not of this port's; they are kept so that a
// configuration reports the same numbers as UDS.

import {
  computeCodingConstants,
  computeDeltaIndexSaveBytes,
  computeDeltaIndexSize,
  getZoneMemorySize,
} from '@deja/delta-index';
import { bitsPer } from './_internal';
import { type IndexConfiguration, MAX_ZONES } from './configuration';
import { VolumeGeometryError } from './errors';
import { BYTES_PER_RECORD, type IndexGeometry, isSparseGeometry } from './geometry';

/** The UDS block size used to lay out an index on storage. */
export const UDS_BLOCK_SIZE = 4096;
/** Saves kept on storage (two, used alternately). */
const MAX_SAVES = 2;
/** Volume index records per delta list. */
const VOLUME_INDEX_DELTA_LIST_SIZE = 256;

const OPEN_CHAPTER_MAGIC_BYTES = 5; // "ALBOC"
const OPEN_CHAPTER_VERSION_BYTES = 5; // "02.00"
const PAGE_MAP_MAGIC_BYTES = 8; // "ALBIPM02"
/** struct sub_index_data: magic[8], nonce, low and high chapter (u64), first list, list count (u32). */
const SUB_INDEX_DATA_BYTES = 40;
/** struct volume_index_data: magic[8], sparse sample rate (u32). */
const VOLUME_INDEX_DATA_BYTES = 12;
/** struct delta_list_save_info: tag, bit offset (u8), byte count (u16), index (u32). */
const DELTA_LIST_SAVE_INFO_BYTES = 8;
// The reference's C structure sizes (x86-64), used only for its in-memory accounting.
const DELTA_ZONE_STRUCT_BYTES = 128;
const DELTA_LIST_MEMORY_BYTES = 24;
const VOLUME_SUB_INDEX_STRUCT_BYTES = 184;
const VOLUME_SUB_INDEX_ZONE_STRUCT_BYTES = 64;

/** The shape and cost of one volume sub-index (the whole dense index, or a sparse index's half). */
export interface VolumeSubIndexLayout {
  /** Chapters this sub-index covers. */
  readonly chapterCount: number;
  /** Records per chapter this sub-index indexes. */
  readonly recordsPerChapter: number;
  /** Delta lists. */
  readonly listCount: number;
  /** Address bits taken from a name's volume-index bytes (20). */
  readonly addressBits: number;
  /** Bits of chapter number stored per entry (the payload). */
  readonly chapterBits: number;
  /** Mean delta of the delta coding (about 4080 for UDS configurations). */
  readonly meanDelta: number;
  /** Delta coding: bits of the fixed part of a key code. */
  readonly minBits: number;
  /** Delta coding: deltas below this use min_bits bits. */
  readonly minKeys: number;
  /** Delta coding: the unary step. */
  readonly incrKeys: number;
  /** Index zones. */
  readonly zoneCount: number;
  /** Expected bits of one chapter's entries (chapter_zone_bits with one zone). */
  readonly chapterSizeInBits: number;
  /** Expected bits per chapter per zone. */
  readonly chapterZoneBits: number;
  /** Delta memory requested: 106% of the expected size of a full index. */
  readonly memorySize: number;
  /** Delta memory of each zone, rounded up to 64 KiB. */
  readonly zoneMemoryBytes: number;
  /** Free bytes to keep: 5% of the expected size. */
  readonly targetFreeBytes: number;
  /** Fill level (bits per zone) at which early eviction starts. */
  readonly maxZoneBits: number;
  /** The delta index's memory, counting list headers. */
  readonly deltaIndexMemorySize: number;
  /** The whole sub-index's memory. */
  readonly subIndexMemorySize: number;
  /** Bytes one save of this sub-index needs. */
  readonly saveBytes: number;
}

/** The shape and cost of the volume index of a configuration. */
export interface VolumeIndexLayout {
  /** Sampling rate (0 for a dense index). */
  readonly sparseSampleRate: number;
  /** Index zones. */
  readonly zoneCount: number;
  /** The sub-index of dense chapters (the whole index when dense). */
  readonly nonHook: VolumeSubIndexLayout;
  /** The sub-index of sampled ("hook") names across all chapters; only for a sparse index. */
  readonly hook?: VolumeSubIndexLayout;
  /** Total memory of the volume index. */
  readonly memorySize: number;
  /** Bytes one save of the volume index needs. */
  readonly saveBytes: number;
}

function subIndexLayout(
  chapterCount: number,
  recordsPerChapter: number,
  meanDeltaOfConfig: number,
  zoneCount: number,
): VolumeSubIndexLayout {
  // Keep the number of delta lists when a volume is reduced by one chapter, so that the mapping
  // from name to delta list does not change. As in the reference, the test is on this
  // sub-index's own chapter count (odd means reduced).
  const roundedChapters = chapterCount + (chapterCount % 2);
  const deltaListRecords = recordsPerChapter * roundedChapters;
  const addressCount = meanDeltaOfConfig * VOLUME_INDEX_DELTA_LIST_SIZE;
  const listCount = Math.max(
    Math.floor(deltaListRecords / VOLUME_INDEX_DELTA_LIST_SIZE),
    MAX_ZONES * MAX_ZONES,
  );
  const addressBits = bitsPer(addressCount - 1);
  const chapterBits = bitsPer(roundedChapters - 1);
  if (listCount > 0xffff_ffff) {
    throw new VolumeGeometryError(
      'ERR_INVALID_CONFIGURATION',
      `a volume index of ${listCount} delta lists is too large`,
    );
  }
  if (addressBits > 31) {
    throw new VolumeGeometryError(
      'ERR_INVALID_CONFIGURATION',
      `a volume index needs ${addressBits} address bits`,
    );
  }
  // About 3.5 chapters' worth of stale entries accumulate in delta lists that a chapter never
  // touches; reserve 4 chapters per 1024 (at least 2).
  const invalidChapters = Math.max(Math.floor(roundedChapters / 256), 2);
  const chaptersInIndex = roundedChapters + invalidChapters;
  const entriesInIndex = recordsPerChapter * chaptersInIndex;
  const meanDelta = Math.floor((listCount * 2 ** addressBits) / entriesInIndex);
  const { minBits, minKeys, incrKeys } = computeCodingConstants(meanDelta);

  // Size the delta memory 6% above the expected size of a full index.
  const chapterSizeInBits = computeDeltaIndexSize(recordsPerChapter, meanDelta, chapterBits);
  const expectedIndexBytes = Math.floor((chapterSizeInBits * chaptersInIndex) / 8);
  const memorySize = Math.floor((expectedIndexBytes * 106) / 100);
  const targetFreeBytes = Math.floor(expectedIndexBytes / 20);

  // uds_initialize_delta_index(): lists are split evenly over the zones, the last zone taking
  // what remains; each zone's memory is rounded up to 64 KiB.
  const listsPerZone = Math.ceil(listCount / zoneCount);
  if (listCount <= (zoneCount - 1) * listsPerZone) {
    throw new VolumeGeometryError(
      'ERR_INVALID_CONFIGURATION',
      `${listCount} delta lists are not enough for ${zoneCount} zones`,
    );
  }
  const zoneMemoryBytes = getZoneMemorySize(zoneCount, memorySize);
  const deltaIndexMemorySize =
    zoneCount * (DELTA_ZONE_STRUCT_BYTES + zoneMemoryBytes) +
    (listCount + 2 * zoneCount) * DELTA_LIST_MEMORY_BYTES;
  const availableBytes = zoneCount * zoneMemoryBytes - targetFreeBytes;
  const maxZoneBits = Math.floor((availableBytes * 8) / zoneCount);
  const subIndexMemorySize =
    deltaIndexMemorySize +
    VOLUME_SUB_INDEX_STRUCT_BYTES +
    listCount * 8 +
    zoneCount * VOLUME_SUB_INDEX_ZONE_STRUCT_BYTES;
  const saveBytes = SUB_INDEX_DATA_BYTES + listCount * 8 + computeDeltaIndexSaveBytes(listCount, memorySize);

  return Object.freeze({
    chapterCount,
    recordsPerChapter,
    listCount,
    addressBits,
    chapterBits,
    meanDelta,
    minBits,
    minKeys,
    incrKeys,
    zoneCount,
    chapterSizeInBits,
    chapterZoneBits: Math.floor(chapterSizeInBits / zoneCount),
    memorySize,
    zoneMemoryBytes,
    targetFreeBytes,
    maxZoneBits,
    deltaIndexMemorySize,
    subIndexMemorySize,
    saveBytes,
  });
}

/**
 * Computes the volume index a configuration needs (the parameters uds_make_volume_index() derives,
 * and compute_volume_index_save_bytes()). A dense index has one sub-index over all chapters; a
 * sparse one splits into a non-hook sub-index (the dense chapters, records minus the sampled ones)
 * and a hook sub-index (the sampled names of every chapter).
 *
 * @param config - the index configuration
 * @returns the layout of each sub-index and the totals
 * @throws {@link VolumeGeometryError} `ERR_INVALID_CONFIGURATION` if the volume index cannot be built
 *   (too many lists, too few lists for the zones)
 * Cost: O(1).
 */
export function computeVolumeIndexLayout(config: IndexConfiguration): VolumeIndexLayout {
  const { geometry, zoneCount, volumeIndexMeanDelta } = config;
  if (!isSparseGeometry(geometry)) {
    const nonHook = subIndexLayout(
      geometry.chaptersPerVolume,
      geometry.recordsPerChapter,
      volumeIndexMeanDelta,
      zoneCount,
    );
    return Object.freeze({
      sparseSampleRate: 0,
      zoneCount,
      nonHook,
      memorySize: nonHook.subIndexMemorySize,
      saveBytes: nonHook.saveBytes,
    });
  }
  const rate = config.sparseSampleRate;
  if (!Number.isSafeInteger(rate) || rate < 1) {
    throw new VolumeGeometryError(
      'ERR_INVALID_CONFIGURATION',
      `a sparse index needs a sample rate >= 1, got ${rate}`,
    );
  }
  // split_configuration(): the hook sub-index holds the sampled records of every chapter, the
  // non-hook sub-index the other records of the dense chapters.
  const sampleRecords = Math.floor(geometry.recordsPerChapter / rate);
  const nonHook = subIndexLayout(
    geometry.denseChaptersPerVolume,
    geometry.recordsPerChapter - sampleRecords,
    volumeIndexMeanDelta,
    zoneCount,
  );
  const hook = subIndexLayout(geometry.chaptersPerVolume, sampleRecords, volumeIndexMeanDelta, zoneCount);
  return Object.freeze({
    sparseSampleRate: rate,
    zoneCount,
    nonHook,
    hook,
    memorySize: nonHook.subIndexMemorySize + hook.subIndexMemorySize,
    saveBytes: VOLUME_INDEX_DATA_BYTES + hook.saveBytes + nonHook.saveBytes,
  });
}

/**
 * Blocks reserved on storage for one save of the volume index
 * (uds_compute_volume_index_save_blocks()): the save bytes plus a guard list header, rounded up
 * to blocks, plus one block per possible zone.
 *
 * @param config - the index configuration
 * @param blockSize - the block size (default 4096)
 * @returns the number of blocks
 * @throws RangeError if blockSize is not a positive integer
 * Cost: O(1).
 */
export function computeVolumeIndexSaveBlocks(config: IndexConfiguration, blockSize = UDS_BLOCK_SIZE): number {
  checkBlockSize(blockSize);
  const bytes = computeVolumeIndexLayout(config).saveBytes + DELTA_LIST_SAVE_INFO_BYTES;
  return Math.ceil(bytes / blockSize) + MAX_ZONES;
}

/**
 * Bytes of a saved open chapter: magic "ALBOC", version "02.00", a u32 record count and a full
 * chapter of 32-byte records (uds_compute_saved_open_chapter_size()).
 *
 * @param geometry - the index geometry
 * @returns the byte count. O(1).
 */
export function computeSavedOpenChapterSize(geometry: IndexGeometry): number {
  return (
    OPEN_CHAPTER_MAGIC_BYTES + OPEN_CHAPTER_VERSION_BYTES + 4 + geometry.recordsPerChapter * BYTES_PER_RECORD
  );
}

/**
 * Bytes of a saved index page map: magic, a u64 and one u16 per index page but the last of each
 * chapter (uds_compute_index_page_map_save_size()).
 *
 * @param geometry - the index geometry
 * @returns the byte count. O(1).
 */
export function computeIndexPageMapSaveSize(geometry: IndexGeometry): number {
  return PAGE_MAP_MAGIC_BYTES + 8 + 2 * geometry.chaptersPerVolume * (geometry.indexPagesPerChapter - 1);
}

/** How an index is laid out on storage, in blocks (compute_sizes() of index-layout.c). */
export interface IndexStorageLayout {
  /** Block size (4096). */
  readonly blockSize: number;
  /** Blocks of the volume (chapters and its header page). */
  readonly volumeBlocks: number;
  /** Blocks of one volume index save. */
  readonly volumeIndexBlocks: number;
  /** Blocks of one index page map save. */
  readonly pageMapBlocks: number;
  /** Blocks of one open chapter save. */
  readonly openChapterBlocks: number;
  /** Blocks of one save region (a header block, the volume index, page map and open chapter). */
  readonly saveBlocks: number;
  /** Save regions (2). */
  readonly saveCount: number;
  /** Blocks of the sub-index region: the volume and every save region. */
  readonly subIndexBlocks: number;
  /** All blocks: three header blocks (header, config, seal) and the sub-index region. */
  readonly totalBlocks: number;
  /** Bytes of storage the whole index needs. */
  readonly totalBytes: number;
}

/**
 * Computes how much storage a configuration needs (uds_compute_index_size() and its compute_sizes()).
 * For 0.25 GB dense this is 2,781,704,192 bytes (about 2.6 GiB).
 *
 * @param config - the index configuration
 * @returns the storage layout in blocks, and `totalBytes`
 * @throws {@link VolumeGeometryError} `ERR_INVALID_CONFIGURATION` if the volume index cannot be built
 * Cost: O(1).
 */
export function computeIndexStorageLayout(config: IndexConfiguration): IndexStorageLayout {
  const blockSize = UDS_BLOCK_SIZE;
  const { geometry } = config;
  const volumeBlocks = Math.floor(geometry.bytesPerVolume / blockSize);
  const volumeIndexBlocks = computeVolumeIndexSaveBlocks(config, blockSize);
  const pageMapBlocks = Math.ceil(computeIndexPageMapSaveSize(geometry) / blockSize);
  const openChapterBlocks = Math.ceil(computeSavedOpenChapterSize(geometry) / blockSize);
  const saveBlocks = 1 + volumeIndexBlocks + pageMapBlocks + openChapterBlocks;
  const subIndexBlocks = volumeBlocks + MAX_SAVES * saveBlocks;
  const totalBlocks = 3 + subIndexBlocks;
  return Object.freeze({
    blockSize,
    volumeBlocks,
    volumeIndexBlocks,
    pageMapBlocks,
    openChapterBlocks,
    saveBlocks,
    saveCount: MAX_SAVES,
    subIndexBlocks,
    totalBlocks,
    totalBytes: totalBlocks * blockSize,
  });
}

/**
 * The bytes of storage an index of this configuration needs (uds_compute_index_size()).
 *
 * @param config - the index configuration
 * @returns the byte count
 * @throws {@link VolumeGeometryError} `ERR_INVALID_CONFIGURATION` if the volume index cannot be built
 * Cost: O(1).
 */
export function computeIndexSize(config: IndexConfiguration): number {
  return computeIndexStorageLayout(config).totalBytes;
}

/**
 * The deduplication window: how much data the index remembers, that is the records of the whole
 * volume times the size of the chunk each record names. 0.25 GB dense with 4 KiB chunks gives
 * 256 GiB; sparse gives ten times as much.
 *
 * @param geometry - the index geometry (or take it from a configuration)
 * @param chunkSize - bytes of data per record (default 4096)
 * @returns the window in bytes
 * @throws RangeError if chunkSize is not a positive integer
 * Cost: O(1).
 */
export function computeDedupWindow(geometry: IndexGeometry, chunkSize = 4096): number {
  checkBlockSize(chunkSize);
  return geometry.recordsPerVolume * chunkSize;
}

function checkBlockSize(size: number): void {
  if (typeof size !== 'number' || !Number.isSafeInteger(size))
    throw new TypeError(`size must be an integer, got ${size}`);
  if (size < 1) throw new RangeError(`size must be positive, got ${size}`);
}
