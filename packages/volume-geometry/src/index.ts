// @deja/volume-geometry: the layout of a UDS index volume (pages, chapters, sparse chapters,
// expiry, LVM remapping), memory-sized configurations and what they cost. Named re-exports only.

export { chaptersToExpire, hasSparseChapters, isChapterSparse, mapToPhysicalChapter } from './chapters';
export {
  type ConfigurationParameters,
  createConfiguration,
  DEFAULT_BYTES_PER_PAGE,
  DEFAULT_CACHE_CHAPTERS,
  DEFAULT_CHAPTERS_PER_VOLUME,
  DEFAULT_RECORD_PAGES_PER_CHAPTER,
  DEFAULT_RECORDS_PER_PAGE,
  DEFAULT_SPARSE_SAMPLE_RATE,
  DEFAULT_VOLUME_INDEX_MEAN_DELTA,
  decodeUdsMemorySize,
  encodeUdsMemorySize,
  type IndexConfiguration,
  MAX_MEMORY_GB,
  MAX_ZONES,
  type MemorySize,
  SMALL_RECORD_PAGES_PER_CHAPTER,
} from './configuration';
export {
  isVolumeGeometryError,
  VOLUME_GEOMETRY_ERROR_CODES,
  VolumeGeometryError,
  type VolumeGeometryErrorCode,
} from './errors';
export {
  BYTES_PER_RECORD,
  createGeometry,
  DEFAULT_CHAPTER_MEAN_DELTA,
  DEFAULT_CHAPTER_MEAN_DELTA_BITS,
  type GeometryParameters,
  type IndexGeometry,
  isReducedGeometry,
  isSparseGeometry,
  MAX_BYTES_PER_PAGE,
  MAX_CHAPTERS_PER_VOLUME,
  MAX_RECORD_PAGES_PER_CHAPTER,
  MAX_RECORDS_PER_CHAPTER,
  MIN_BYTES_PER_PAGE,
} from './geometry';
export {
  computeDedupWindow,
  computeIndexPageMapSaveSize,
  computeIndexSize,
  computeIndexStorageLayout,
  computeSavedOpenChapterSize,
  computeVolumeIndexLayout,
  computeVolumeIndexSaveBlocks,
  type IndexStorageLayout,
  UDS_BLOCK_SIZE,
  type VolumeIndexLayout,
  type VolumeSubIndexLayout,
} from './sizes';
