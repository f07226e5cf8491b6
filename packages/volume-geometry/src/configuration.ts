// Index configurations sized by memory, as UDS offers them (dm-vdo config.c): 0.25, 0.5 or 0.75 GB
// with 64, 128 or 192 record pages per chapter and 1024 chapters, or a whole number of GB with
// 256 record pages per chapter and 1024 chapters per GB. A sparse index has ten times the chapters,
// 95% of them sparse. A reduced index (a volume converted to LVM) has one chapter less.

import { checkInteger } from './_internal';
import { VolumeGeometryError } from './errors';
import { BYTES_PER_RECORD, createGeometry, type IndexGeometry } from './geometry';

/** Records on a default 32 KiB page. */
export const DEFAULT_RECORDS_PER_PAGE = 1024;
/** The default page size, 32 KiB. */
export const DEFAULT_BYTES_PER_PAGE = BYTES_PER_RECORD * DEFAULT_RECORDS_PER_PAGE;
/** Chapters per volume for each GB of memory (and for the small configurations). */
export const DEFAULT_CHAPTERS_PER_VOLUME = 1024;
/** Record pages per chapter in whole-GB configurations. */
export const DEFAULT_RECORD_PAGES_PER_CHAPTER = 256;
/** Record pages per chapter of the 0.25 GB configuration (0.5 and 0.75 GB take 2x and 3x). */
export const SMALL_RECORD_PAGES_PER_CHAPTER = 64;
/** The largest whole-GB memory configuration. */
export const MAX_MEMORY_GB = 1024;
/** Chapters cached in memory by default. */
export const DEFAULT_CACHE_CHAPTERS = 7;
/** Mean delta of the volume index. */
export const DEFAULT_VOLUME_INDEX_MEAN_DELTA = 4096;
/** One name in 32 is sampled (kept in the volume index for sparse chapters). */
export const DEFAULT_SPARSE_SAMPLE_RATE = 32;
/** The most index zones UDS supports. */
export const MAX_ZONES = 16;

/** UDS's encoding of memory sizes in `uds_parameters.memory_size`. */
const UDS_MEMORY_CONFIG_256MB = -256;
const UDS_MEMORY_CONFIG_512MB = -512;
const UDS_MEMORY_CONFIG_768MB = -768;
const UDS_MEMORY_CONFIG_REDUCED = 0x1000;

/** A memory size in GB: 0.25, 0.5, 0.75, or a whole number from 1 to 1024. */
export type MemorySize = number;

/** The inputs of {@link createConfiguration}. */
export interface ConfigurationParameters {
  /** Memory for the volume index, in GB: 0.25, 0.5, 0.75 or an integer 1..1024. */
  readonly memorySize: MemorySize;
  /** Sparse index: ten times the chapters and the window, 95% of chapters sparse (default false). */
  readonly sparse?: boolean;
  /** Reduced (LVM-converted) volume: one chapter less (default false). */
  readonly reduced?: boolean;
  /** Index zones, 1..16 (default 1). Affects only the volume index's memory split. */
  readonly zoneCount?: number;
  /** The LVM-remapped virtual chapter of a reduced volume (default 0). */
  readonly remappedVirtual?: number;
  /** The physical chapter it was moved to (default 0). */
  readonly remappedPhysical?: number;
}

/** An index configuration: the geometry and the settings the rest of the index uses. */
export interface IndexConfiguration {
  /** The volume geometry. */
  readonly geometry: IndexGeometry;
  /** The memory size in GB the configuration was made from. */
  readonly memorySize: MemorySize;
  /** Whether the index is sparse. */
  readonly sparse: boolean;
  /** Whether the volume is reduced (one chapter less). */
  readonly reduced: boolean;
  /** Chapters cached in memory (7). */
  readonly cacheChapters: number;
  /** Mean delta of the volume index (4096). */
  readonly volumeIndexMeanDelta: number;
  /** Sampling rate for sparse chapters: 32 for a sparse index, 0 for a dense one. */
  readonly sparseSampleRate: number;
  /** Index zones. */
  readonly zoneCount: number;
}

interface ChapterShape {
  recordPagesPerChapter: number;
  baseChapters: number;
}

function shapeFor(memorySize: MemorySize): ChapterShape {
  if (typeof memorySize !== 'number' || Number.isNaN(memorySize)) {
    throw new TypeError(`memorySize must be a number of GB, got ${String(memorySize)}`);
  }
  const baseChapters = DEFAULT_CHAPTERS_PER_VOLUME;
  if (memorySize === 0.25) return { recordPagesPerChapter: SMALL_RECORD_PAGES_PER_CHAPTER, baseChapters };
  if (memorySize === 0.5) return { recordPagesPerChapter: 2 * SMALL_RECORD_PAGES_PER_CHAPTER, baseChapters };
  if (memorySize === 0.75) return { recordPagesPerChapter: 3 * SMALL_RECORD_PAGES_PER_CHAPTER, baseChapters };
  if (Number.isInteger(memorySize) && memorySize >= 1 && memorySize <= MAX_MEMORY_GB) {
    return {
      recordPagesPerChapter: DEFAULT_RECORD_PAGES_PER_CHAPTER,
      baseChapters: memorySize * DEFAULT_CHAPTERS_PER_VOLUME,
    };
  }
  throw new VolumeGeometryError(
    'ERR_INVALID_MEMORY_SIZE',
    `memorySize must be 0.25, 0.5, 0.75 or a whole number of GB from 1 to ${MAX_MEMORY_GB}, got ${memorySize}`,
  );
}

/**
 * Builds an index configuration from a memory size (port of uds_make_configuration() and its
 * compute_memory_sizes()). 0.25 GB dense gives 1024 chapters of 64 record pages (a 256 GiB
 * deduplication window for 4 KiB chunks); each whole GB gives 1024 chapters of 256 record pages.
 *
 * @param params - memory size in GB, sparse, reduced, zone count and the optional LVM remapping
 * @returns a frozen {@link IndexConfiguration}
 * @throws TypeError if a parameter has the wrong type
 * @throws {@link VolumeGeometryError} `ERR_INVALID_MEMORY_SIZE` for an unsupported memory size,
 *   `ERR_INVALID_CONFIGURATION` for a zone count outside 1..16, `ERR_INVALID_GEOMETRY` for a bad
 *   remapping
 * Cost: O(1).
 */
export function createConfiguration(params: ConfigurationParameters): IndexConfiguration {
  if (typeof params !== 'object' || params === null) {
    throw new TypeError('createConfiguration() needs a parameters object');
  }
  const sparse = params.sparse ?? false;
  const reduced = params.reduced ?? false;
  if (typeof sparse !== 'boolean') throw new TypeError('sparse must be a boolean');
  if (typeof reduced !== 'boolean') throw new TypeError('reduced must be a boolean');
  const zoneCount = checkInteger(
    'ERR_INVALID_CONFIGURATION',
    'zoneCount',
    params.zoneCount ?? 1,
    1,
    MAX_ZONES,
  );
  const { recordPagesPerChapter, baseChapters } = shapeFor(params.memorySize);

  let chapters = baseChapters;
  let sparseChapters = 0;
  if (sparse) {
    // Make 95% of chapters sparse, allowing 10x more records.
    sparseChapters = Math.floor((19 * baseChapters) / 2);
    chapters *= 10;
  }
  if (reduced) chapters -= 1;

  const geometry = createGeometry({
    bytesPerPage: DEFAULT_BYTES_PER_PAGE,
    recordPagesPerChapter,
    chaptersPerVolume: chapters,
    sparseChaptersPerVolume: sparseChapters,
    remappedVirtual: params.remappedVirtual ?? 0,
    remappedPhysical: params.remappedPhysical ?? 0,
  });
  return Object.freeze({
    geometry,
    memorySize: params.memorySize,
    sparse,
    reduced,
    cacheChapters: DEFAULT_CACHE_CHAPTERS,
    volumeIndexMeanDelta: DEFAULT_VOLUME_INDEX_MEAN_DELTA,
    sparseSampleRate: sparse ? DEFAULT_SPARSE_SAMPLE_RATE : 0,
    zoneCount,
  });
}

/**
 * Decodes UDS's `memory_size` parameter: -256, -512 and -768 for 0.25, 0.5 and 0.75 GB, 1..1024 for
 * whole GB, and the same plus 4096 (0x1000; -1280, -1536, -1792 for the small ones) for a reduced
 * volume.
 *
 * @param code - the uds_parameters.memory_size value
 * @returns the memory size in GB and whether the volume is reduced
 * @throws {@link VolumeGeometryError} `ERR_INVALID_MEMORY_SIZE` if the code names no configuration
 * Cost: O(1).
 */
export function decodeUdsMemorySize(code: number): { memorySize: MemorySize; reduced: boolean } {
  if (typeof code !== 'number' || !Number.isSafeInteger(code)) {
    throw new TypeError(`memory size code must be an integer, got ${String(code)}`);
  }
  const fraction = (c: number): MemorySize | undefined =>
    c === UDS_MEMORY_CONFIG_256MB
      ? 0.25
      : c === UDS_MEMORY_CONFIG_512MB
        ? 0.5
        : c === UDS_MEMORY_CONFIG_768MB
          ? 0.75
          : undefined;
  const whole = (c: number): MemorySize | undefined => (c >= 1 && c <= MAX_MEMORY_GB ? c : undefined);
  const plain = fraction(code) ?? whole(code);
  if (plain !== undefined) return { memorySize: plain, reduced: false };
  // Reduced: whole sizes add 0x1000, the fractions subtract 1024 (-1280, -1536, -1792).
  const reduced = whole(code - UDS_MEMORY_CONFIG_REDUCED) ?? fraction(code + UDS_MEMORY_CONFIG_REDUCED / 4);
  if (reduced !== undefined) return { memorySize: reduced, reduced: true };
  throw new VolumeGeometryError('ERR_INVALID_MEMORY_SIZE', `${code} is not a UDS memory size`);
}

/**
 * Encodes a memory size as UDS's `memory_size` parameter (the inverse of {@link decodeUdsMemorySize}).
 *
 * @param memorySize - 0.25, 0.5, 0.75 or 1..1024 GB
 * @param reduced - whether the volume is reduced
 * @returns the uds_parameters.memory_size value
 * @throws {@link VolumeGeometryError} `ERR_INVALID_MEMORY_SIZE` for an unsupported size
 * Cost: O(1).
 */
export function encodeUdsMemorySize(memorySize: MemorySize, reduced = false): number {
  shapeFor(memorySize);
  const base = memorySize < 1 ? -Math.round(memorySize * 1024) : memorySize;
  if (!reduced) return base;
  return memorySize < 1 ? base - UDS_MEMORY_CONFIG_REDUCED / 4 : base + UDS_MEMORY_CONFIG_REDUCED;
}
