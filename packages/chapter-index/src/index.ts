// @deja/chapter-index: record names, the open chapter (zones, close, save/load), the open chapter
// index and closed chapter index pages (ports of dm-vdo's open-chapter.c, chapter-index.c and
// hash-utils.h). Named re-exports only.

export { ChapterIndexPage } from './chapter-index-page';
export {
  CHAPTER_INDEX_ERROR_CODES,
  ChapterIndexError,
  type ChapterIndexErrorCode,
  isChapterIndexError,
} from './errors';
export {
  type ClosedChapter,
  closeOpenChapter,
  collateOpenChapter,
  type LoadOpenChapterOptions,
  type LoadOpenChapterResult,
  loadOpenChapter,
  makeOpenChapterZones,
  OPEN_CHAPTER_MAGIC,
  OPEN_CHAPTER_VERSION,
  saveOpenChapter,
  volumeIndexZoneOf,
  type ZoneOf,
} from './open-chapter';
export {
  NO_CHAPTER_INDEX_ENTRY,
  OpenChapterIndex,
  type OpenChapterIndexOptions,
  type PackedChapterIndex,
  type PackPageResult,
} from './open-chapter-index';
export { LOAD_RATIO, OPEN_CHAPTER_RECORD_NUMBER_BITS, OpenChapterZone } from './open-chapter-zone';
export {
  CHAPTER_INDEX_BYTES_COUNT,
  CHAPTER_INDEX_BYTES_OFFSET,
  type ChapterAddressing,
  chapterDeltaAddressOf,
  chapterDeltaListOf,
  checkName,
  extractChapterIndexBytes,
  extractSamplingBytes,
  extractVolumeIndexBytes,
  nameToHashSlot,
  RECORD_DATA_SIZE,
  RECORD_NAME_SIZE,
  RECORD_SIZE,
  SAMPLE_BYTES_COUNT,
  SAMPLE_BYTES_OFFSET,
  VOLUME_INDEX_BYTES_COUNT,
  VOLUME_INDEX_BYTES_OFFSET,
  volumeIndexListAt,
  volumeIndexListOf,
} from './record-name';
