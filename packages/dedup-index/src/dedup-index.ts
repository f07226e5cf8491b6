// The deduplication index (the reference's index.c, volume.c and index-layout.c, not in the seeds;
// assembled from @deja/delta-index, @deja/volume-geometry and @deja/chapter-index): "have I seen a
// chunk with this name, and where did I put it?" in a few bytes of memory per chunk.
//
// A request finds the name's volume index entry (a hint: the virtual chapter of the newest record
// whose name has the same address), then the record itself: in the open chapter (memory) or in a
// closed chapter on storage, through the index page map (which index page holds the name's delta
// list), that chapter index page (which record page), and the record page (a binary search). Pages
// go through an LRU cache. When a zone of the open chapter fills, the chapter closes: its index
// pages and sorted record pages are written to its physical slot with a seal (CRC per page), the
// next chapter opens, and the oldest chapter expires once the volume is full.
//
// Requests run one at a time in call order. A request that finds everything in memory completes
// synchronously (its promise is already resolved); one that needs a page reads it and runs again,
// and one that fills the open chapter writes the chapter before it resolves. Requests called
// meanwhile wait their turn, on copies of their name and metadata. A request keeps every page and
// window it read until it completes, so it progresses whatever pages it needs. A batch (postMany,
// ...) runs its requests one after the other as one request, with one argument check and one
// promise for all of them.
//
// Persistence: close() flushes the chapters written, saves the volume index, the open chapter, the
// page map and the counters into one of two save slots and flushes again; open() loads the newest
// valid save and invalidates the saves before any change, so a later crash cannot load a stale one. Without a valid save, open() rebuilds
// the volume index by replaying the sealed chapters on storage, oldest first (newest wins); the
// records of the open chapter at the crash are lost, which only costs deduplication.

import { randomInt } from 'node:crypto';
import {
  ChapterIndexPage,
  type ClosedChapter,
  chapterDeltaListOf,
  closeOpenChapter,
  loadOpenChapter,
  makeOpenChapterZones,
  OpenChapterIndex,
  type OpenChapterZone,
  RECORD_DATA_SIZE,
  RECORD_NAME_SIZE,
  RECORD_SIZE,
  saveOpenChapter,
} from '@deja/chapter-index';
import type { Storage } from '@deja/storage';
import {
  chaptersToExpire,
  createConfiguration,
  createGeometry,
  type GeometryParameters,
  type IndexConfiguration,
  type IndexGeometry,
  isChapterSparse,
  isSparseGeometry,
  type MemorySize,
  mapToPhysicalChapter,
} from '@deja/volume-geometry';
import { crc32, frame, Reader, unframe, Writer } from './_format';
import { corrupt, DedupIndexError, fromStorageError, invalidArgument, invalidType } from './errors';
import {
  type ChapterSeal,
  computeStorageLayout,
  decodeSaveHeader,
  decodeSeal,
  decodeSuperblock,
  encodeSaveHeader,
  encodeSeal,
  encodeSuperblock,
  pageOffset,
  SAVE_HEADER_BYTES,
  type StorageLayout,
} from './layout';
import { type CachedPage, PageCache } from './page-cache';
import {
  encodeRecordPage,
  nameKey,
  searchRecordPage,
  searchRecordWindow,
  WINDOW_MISSED,
} from './record-page';
import { VolumeIndex, VolumeIndexRecord } from './volume-index';

/** How to size a new index: a memory configuration, or a custom geometry (for tests and small indexes). */
export interface DedupIndexCreateOptions {
  /** A configuration from createConfiguration() of @deja/volume-geometry. */
  readonly configuration?: IndexConfiguration;
  /** Shorthand for a memory configuration: 0.25, 0.5, 0.75 or 1..1024 GB. */
  readonly memorySize?: MemorySize;
  /** With memorySize: a sparse index (ten times the chapters, 95% sparse). */
  readonly sparse?: boolean;
  /** A custom geometry instead of a memory configuration. */
  readonly geometry?: GeometryParameters;
  /** Index zones, 1..16 (default 1; with a configuration, the configuration's). */
  readonly zoneCount?: number;
  /** With a custom sparse geometry: one name in this many is sampled (default 32). */
  readonly sparseSampleRate?: number;
  /** The volume nonce written into every page (default: random). A non-negative safe integer. */
  readonly nonce?: number;
  /**
   * Pages held by the page cache, an integer of at least 2 (default: the configuration's cached
   * chapters' worth, at least 16 and at most 4096).
   */
  readonly cachePages?: number;
}

/** Options of {@link DedupIndex.open}. */
export interface DedupIndexOpenOptions {
  /** Pages held by the page cache, at least 2 (default as in {@link DedupIndexCreateOptions.cachePages}). */
  readonly cachePages?: number;
}

/** Statistics of an index (uds_index_stats, plus what this port adds). */
export interface DedupIndexStats {
  /** Entries in the volume index (records it can find), collision entries included. */
  entries: number;
  /** Collision entries in the volume index. */
  collisions: number;
  /**
   * Records in the open chapter, deleted ones included: a deleted record keeps its place until the
   * chapter closes. A save keeps only live records, so after close() and open() the deleted ones no
   * longer count (nor take places).
   */
  openChapterRecords: number;
  /** The open chapter's virtual number. */
  openChapter: number;
  /** Chapters closed and written to storage. */
  chaptersWritten: number;
  /** Chapters expired (the volume was full). */
  chaptersExpired: number;
  /** Chapters the volume index expired early for lack of memory. */
  earlyFlushes: number;
  /** Bytes of memory the volume index allocated. */
  volumeIndexBytes: number;
  /**
   * Bits its delta lists use. Divided by `entries` it is the cost of an entry only near full density:
   * on nearly empty lists the deltas are longer (see the README's performance section).
   */
  volumeIndexUsedBits: number;
  /** volumeIndexBytes / recordsPerVolume: the memory cost of a record in a full index. */
  bytesPerRecord: number;
  /** Bytes of storage the index occupies when its volume is full. */
  storageBytes: number;
  /** Page cache lookups that found their page, and those that read storage. */
  cacheHits: number;
  cacheMisses: number;
  /** Posts that found an earlier record, and those that did not. */
  postsFound: number;
  postsNotFound: number;
  /** Updates of a name that was found, and of a new one. */
  updatesFound: number;
  updatesNotFound: number;
  /** Queries (both kinds) that found the name, and those that did not. */
  queriesFound: number;
  queriesNotFound: number;
  /** Deletes that removed a record, and those that found nothing. */
  deletesFound: number;
  deletesNotFound: number;
  /** Volume index entries dropped (delta list or zone memory full), each counted once. */
  overflows: number;
  /** Chapter index entries dropped when a chapter closed (list overflow or packing). */
  chapterIndexDrops: number;
  /** Pages found damaged (bad checksum or structure), skipped since. */
  badPages: number;
  /** Whether open() rebuilt the volume index from the chapters (no valid save). */
  rebuilt: boolean;
  /** Chapters replayed by that rebuild. */
  chaptersReplayed: number;
}

const enum Kind {
  Post = 0,
  Update = 1,
  Query = 2,
  QueryRefresh = 3,
  Delete = 4,
}

/** Returned by a request that needs a page from storage first. */
const NEED_PAGE = Symbol('need page');

/**
 * Records read around a name's expected place when a verified record page is not cached: 128
 * records (4 KiB) instead of the whole 32 KiB page. Names are hashes, so a name's place on a page
 * of n sorted records is within sqrt(n)/2 records of the interpolated one on average; a window
 * that does not bracket the name (rare) falls back to reading the whole page.
 */
const WINDOW_RECORDS = 128;
/** A request's result: the metadata found (post, update, query) or whether a delete found the name. */
type Outcome = Uint8Array | undefined | boolean;

/**
 * What `#execute` reports: the name was not found, it was found (its metadata is in `#old`), or
 * the request needs a page from storage first and has changed nothing yet.
 */
type Status = 0 | 1 | 2;
const NOT_FOUND = 0;
const FOUND = 1;
const WAIT = 2;

/** Records `first`.. of a record page of `chapter`, read for the request in progress. */
interface RecordWindow {
  readonly chapter: number;
  readonly first: number;
  readonly bytes: Uint8Array;
}

const PART_VOLUME_INDEX = 'DJVOLIDX';
const PART_OPEN_CHAPTER = 'DJOPENCH';
const PART_PAGE_MAP = 'DJPGMAP1';
const PART_COUNTERS = 'DJCOUNTS';
const PART_VERSION = 1;
const NO_CHAPTER = -1;
/** The counters a save holds after the newest and oldest chapters, each a u64, in this order. */
const SAVED_COUNTERS = [
  'chaptersWritten',
  'chaptersExpired',
  'postsFound',
  'postsNotFound',
  'updatesFound',
  'updatesNotFound',
  'queriesFound',
  'queriesNotFound',
  'deletesFound',
  'deletesNotFound',
  'chapterIndexDrops',
] as const;

function checkBytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalidType(`${what} must be a Uint8Array`);
  if (value.length !== RECORD_NAME_SIZE)
    throw invalidArgument(`${what} must be 16 bytes, got ${value.length}`);
  return value;
}

/** The number of 16-byte entries in a batch argument. */
function checkBatch(value: unknown, what: string): number {
  if (!(value instanceof Uint8Array)) throw invalidType(`${what} must be a Uint8Array`);
  if (value.length % RECORD_NAME_SIZE !== 0) {
    throw invalidArgument(`${what} must be a multiple of 16 bytes, got ${value.length}`);
  }
  return value.length / RECORD_NAME_SIZE;
}

/** Copy the 16 bytes at `from` of `source` into `out` (no subarray allocated). */
function copy16(source: Uint8Array, from: number, out: Uint8Array): void {
  for (let i = 0; i < 16; i++) out[i] = source[from + i]!;
}

/** Records of metadata per result buffer of a batch: found metadata are views of 4 KiB buffers. */
const RESULT_CHUNK_RECORDS = 256;

/** A batch request in progress: its arguments, the next request to run and the results so far. */
class Batch {
  readonly kind: Kind;
  names: Uint8Array;
  metadata: Uint8Array | undefined;
  /** Whether names and metadata are the index's own copies. */
  copied: boolean;
  /** The next request to run (the ones before it completed). */
  next = 0;
  readonly results: Outcome[];
  #chunk: Uint8Array | null = null;
  #used = 0;

  constructor(kind: Kind, names: Uint8Array, metadata: Uint8Array | undefined, copied: boolean) {
    this.kind = kind;
    this.names = names;
    this.metadata = metadata;
    this.copied = copied;
    this.results = new Array<Outcome>(names.length / RECORD_NAME_SIZE);
  }

  /** A copy of `metadata`, in a buffer shared with other results of the batch. */
  keep(metadata: Uint8Array): Uint8Array {
    let chunk = this.#chunk;
    if (chunk === null || this.#used === chunk.length) {
      const left = this.results.length - this.next;
      chunk = new Uint8Array(Math.min(left, RESULT_CHUNK_RECORDS) * RECORD_DATA_SIZE);
      this.#chunk = chunk;
      this.#used = 0;
    }
    const at = this.#used;
    chunk.set(metadata, at);
    this.#used = at + RECORD_DATA_SIZE;
    return chunk.subarray(at, at + RECORD_DATA_SIZE);
  }

  /** Take copies of the caller's arrays before the batch first waits. */
  own(): void {
    if (this.copied) return;
    this.names = this.names.slice();
    this.metadata = this.metadata?.slice();
    this.copied = true;
  }
}

/** The page cache size: unset (the default), or an integer of at least 2 pages. */
function checkCachePages(value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number') throw invalidType(`cachePages must be a number, got ${typeof value}`);
  if (!Number.isSafeInteger(value) || value < 2) {
    throw invalidArgument(`cachePages must be an integer of at least 2, got ${value}`);
  }
}

/**
 * The error a batch rejects with when its request `batch.next` failed: one of the same code naming
 * that request (`batchIndex`), the original as `cause`. Other errors (wrong use) pass unchanged.
 */
function batchError(error: unknown, batch: Batch): unknown {
  if (!(error instanceof DedupIndexError)) return error;
  const count = batch.results.length;
  return new DedupIndexError(error.code, `request ${batch.next} of a batch of ${count}: ${error.message}`, {
    cause: error,
    batchIndex: batch.next,
  });
}

function configurationFrom(options: DedupIndexCreateOptions): IndexConfiguration {
  if (options.configuration !== undefined) return options.configuration;
  if (options.geometry !== undefined) {
    const geometry = createGeometry(options.geometry);
    const zoneCount = options.zoneCount ?? 1;
    if (!Number.isInteger(zoneCount) || zoneCount < 1 || zoneCount > 16) {
      throw invalidArgument(`zoneCount must be an integer in [1, 16], got ${zoneCount}`);
    }
    const sparse = isSparseGeometry(geometry);
    const rate = options.sparseSampleRate ?? 32;
    if (!Number.isInteger(rate) || rate < 1 || rate > 65536) {
      throw invalidArgument(`sparseSampleRate must be an integer in [1, 65536], got ${rate}`);
    }
    return Object.freeze({
      geometry,
      memorySize: 0,
      sparse,
      reduced: geometry.chaptersPerVolume % 2 === 1,
      cacheChapters: 7,
      volumeIndexMeanDelta: 4096,
      sparseSampleRate: sparse ? rate : 0,
      zoneCount,
    });
  }
  if (options.memorySize === undefined) {
    throw invalidType('create() needs a configuration, a memorySize or a geometry');
  }
  return createConfiguration({
    memorySize: options.memorySize,
    sparse: options.sparse ?? false,
    zoneCount: options.zoneCount ?? 1,
  });
}

/**
 * A UDS-style deduplication index on a storage adapter. Make one with {@link DedupIndex.create} or
 * {@link DedupIndex.open}; names and metadata are 16-byte Uint8Arrays.
 *
 * @example
 * ```ts
 * const index = await DedupIndex.create(new MemoryStorage(), { memorySize: 0.25 });
 * await index.post(name, location);   // undefined: new
 * await index.post(name, other);      // a copy of `location`: seen before
 * await index.close();                // saves; DedupIndex.open(storage) loads it back
 * ```
 */
export class DedupIndex {
  /** The configuration. */
  readonly config: IndexConfiguration;
  /** The geometry (config.geometry). */
  readonly geometry: IndexGeometry;
  /** Where each region lives on storage. */
  readonly layout: StorageLayout;
  /** The volume nonce. */
  readonly nonce: number;
  readonly #storage: Storage;
  readonly #volumeIndex: VolumeIndex;
  readonly #zones: OpenChapterZone[];
  readonly #chapterIndex: OpenChapterIndex;
  readonly #cache: PageCache;
  readonly #record = new VolumeIndexRecord();
  readonly #old = new Uint8Array(RECORD_DATA_SIZE);
  // The name and metadata of the batch request in progress, copied out of the batch's arrays.
  readonly #batchName = new Uint8Array(RECORD_NAME_SIZE);
  readonly #batchMetadata = new Uint8Array(RECORD_DATA_SIZE);
  // Seals: the virtual chapter in each physical slot (NO_CHAPTER if none), then per page.
  readonly #slotChapter: Float64Array;
  readonly #crcs: Uint32Array;
  readonly #listEnds: Uint32Array;
  readonly #counts: Uint32Array;
  readonly #badPages: Uint8Array;
  // Pages whose checksum matched once since their chapter was written or the index opened: a page
  // on storage changes only when its slot is rewritten, so a re-read after eviction skips the CRC.
  readonly #verified: Uint8Array;
  // The first four name bytes (big-endian) of each record page's first and last record, noted when
  // the page is loaded whole: they steer a window read of a verified page that is not cached.
  readonly #pageLow: Uint32Array;
  readonly #pageHigh: Uint32Array;
  // #wantFirst >= 0 asks #fetch for a window of the wanted record page starting at that record.
  #wantFirst = -1;
  // Pages, and windows of record pages, read for the request in progress, keyed by page: kept until
  // it completes, so that every read adds something the request keeps and it always progresses,
  // however many pages it needs (a sparse-cache search may need a window in each cached chapter).
  readonly #fetched = new Map<number, CachedPage>();
  readonly #windows = new Map<number, RecordWindow>();
  // The sparse cache: chapters whose index pages are all held, most recent last.
  readonly #sparseCache: { chapter: number; pages: (ChapterIndexPage | null)[] }[] = [];
  #wantKey = -1;
  #wantChapter = -1;
  #newest = 0;
  #oldest = 0;
  #closeNeeded = false;
  #gate: Promise<void> | null = null;
  #closed = false;
  #failure: DedupIndexError | null = null;
  #saveSequence = 0;
  /** A lower bound of the storage's size, to read past its end as zeros (a crash may have cut it short). */
  #knownSize = 0;
  readonly #stats = {
    chaptersWritten: 0,
    chaptersExpired: 0,
    postsFound: 0,
    postsNotFound: 0,
    updatesFound: 0,
    updatesNotFound: 0,
    queriesFound: 0,
    queriesNotFound: 0,
    deletesFound: 0,
    deletesNotFound: 0,
    chapterIndexDrops: 0,
    badPages: 0,
    rebuilt: false,
    chaptersReplayed: 0,
  };

  private constructor(storage: Storage, config: IndexConfiguration, nonce: number, cachePages?: number) {
    const geometry = config.geometry;
    if (geometry.deltaListsPerChapter > 0xffff) {
      throw invalidArgument(
        `a chapter of ${geometry.deltaListsPerChapter} delta lists is too large for the page map`,
      );
    }
    this.config = config;
    this.geometry = geometry;
    this.nonce = nonce;
    this.#storage = storage;
    this.#volumeIndex = new VolumeIndex(config);
    this.layout = computeStorageLayout(config, this.#volumeIndex);
    this.#zones = makeOpenChapterZones(geometry, config.zoneCount);
    this.#chapterIndex = new OpenChapterIndex(geometry, nonce, { warn: () => {} });
    const pages = cachePages ?? Math.min(4096, Math.max(16, config.cacheChapters * geometry.pagesPerChapter));
    this.#cache = new PageCache(pages);
    const chapters = geometry.chaptersPerVolume;
    this.#slotChapter = new Float64Array(chapters).fill(NO_CHAPTER);
    this.#crcs = new Uint32Array(chapters * geometry.pagesPerChapter);
    this.#listEnds = new Uint32Array(chapters * geometry.indexPagesPerChapter);
    this.#counts = new Uint32Array(chapters * geometry.recordPagesPerChapter);
    this.#badPages = new Uint8Array(chapters * geometry.pagesPerChapter);
    this.#verified = new Uint8Array(chapters * geometry.pagesPerChapter);
    this.#pageLow = new Uint32Array(chapters * geometry.recordPagesPerChapter);
    this.#pageHigh = new Uint32Array(chapters * geometry.recordPagesPerChapter);
  }

  /**
   * Create an empty index on `storage`, overwriting whatever the index's regions held, and flush.
   *
   * @param storage - the storage adapter (not closed by the index)
   * @param options - the size: a configuration, a memorySize, or a custom geometry
   * @returns the open index
   * @throws TypeError (ERR_INVALID_ARG_TYPE) / RangeError (ERR_INVALID_ARGUMENT) for bad options
   *   (`cachePages` below 2, `zoneCount` outside 1..16, ...); VolumeGeometryError for an impossible
   *   geometry; DedupIndexError ERR_IO (ERR_NO_SPACE, ERR_READ_ONLY, ERR_CLOSED) when the storage fails,
   *   with its error as `cause`
   * Cost: O(volume index memory) to allocate, O(chapters) bytes written.
   */
  static async create(storage: Storage, options: DedupIndexCreateOptions): Promise<DedupIndex> {
    if (typeof options !== 'object' || options === null) throw invalidType('create() needs options');
    checkCachePages(options.cachePages);
    const config = configurationFrom(options);
    const nonce = options.nonce ?? randomInt(1, 2 ** 47);
    if (!Number.isSafeInteger(nonce) || nonce < 0)
      throw invalidArgument(`nonce must be a safe integer, got ${nonce}`);
    const index = new DedupIndex(storage, config, nonce, options.cachePages);
    const { layout } = index;
    try {
      const superblock = new Uint8Array(layout.bytesPerPage);
      superblock.set(encodeSuperblock(config, nonce));
      const writes = [
        { offset: 0, data: superblock },
        {
          offset: layout.sealOffset,
          data: new Uint8Array(config.geometry.chaptersPerVolume * layout.sealBytes),
        },
      ];
      // Saves of an index that was there before must not load: clear their headers, if the store
      // reaches that far (a fresh store is not grown to its full size at once).
      if ((await storage.size()) > layout.saveOffset) {
        writes.push({ offset: layout.saveOffset, data: new Uint8Array(SAVE_HEADER_BYTES) });
        writes.push({
          offset: layout.saveOffset + layout.slotBytes,
          data: new Uint8Array(SAVE_HEADER_BYTES),
        });
      }
      await storage.writev(writes);
      await storage.flush();
    } catch (error) {
      throw fromStorageError('creating the index', error);
    }
    index.#volumeIndex.setOpenChapter(0);
    return index;
  }

  /**
   * Open the index on `storage`: load its last save, or rebuild the volume index from the chapters
   * when there is no valid save (after a crash). Invalidates the save and flushes before returning.
   *
   * @param storage - the storage adapter holding an index
   * @param options - the page cache size
   * @returns the open index
   * @throws RangeError (ERR_INVALID_ARGUMENT) for `cachePages` below 2; DedupIndexError ERR_NOT_FOUND
   *   (no superblock), ERR_CORRUPT_DATA / ERR_UNSUPPORTED_VERSION (bad superblock), ERR_IO (and the
   *   other storage concepts) when the storage fails
   * Cost: O(chapters) seal reads; a rebuild reads every chapter in the window.
   */
  static async open(storage: Storage, options: DedupIndexOpenOptions = {}): Promise<DedupIndex> {
    checkCachePages(options.cachePages);
    let head: Uint8Array;
    try {
      const size = await storage.size();
      if (size < 128) throw new DedupIndexError('ERR_NOT_FOUND', `the storage holds ${size} bytes, no index`);
      head = await storage.read(0, Math.min(size, 4096));
    } catch (error) {
      throw fromStorageError('reading the superblock', error);
    }
    if (head.subarray(0, 8).every((b) => b === 0)) {
      throw new DedupIndexError('ERR_NOT_FOUND', 'the storage holds no index superblock');
    }
    const { config, nonce } = decodeSuperblock(head);
    const index = new DedupIndex(storage, config, nonce, options.cachePages);
    await index.#load();
    return index;
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Post a record (UDS_POST): if a record with this name is known, return a copy of its metadata and
   * refresh it into the open chapter; otherwise remember `metadata` for the name.
   *
   * @param name - the 16-byte record name
   * @param metadata - 16 bytes to remember (Deja stores a chunk address)
   * @returns the earlier metadata, or undefined for a new name
   * @throws TypeError (ERR_INVALID_ARG_TYPE) / RangeError (ERR_INVALID_ARGUMENT) for bad arguments;
   *   DedupIndexError ERR_CLOSED, ERR_IO (a storage failure), ERR_CORRUPT_DATA (a damaged page, reported once and
   *   skipped afterwards)
   * Cost: O(1) expected in memory; one or two page reads on a cache miss; a chapter write when the
   * open chapter fills.
   */
  post(name: Uint8Array, metadata: Uint8Array): Promise<Uint8Array | undefined> {
    return this.#request(Kind.Post, name, metadata) as Promise<Uint8Array | undefined>;
  }

  /**
   * Set new metadata for a name (UDS_UPDATE), whether or not it was known.
   * @returns the earlier metadata, or undefined
   * @throws as {@link post}
   */
  update(name: Uint8Array, metadata: Uint8Array): Promise<Uint8Array | undefined> {
    return this.#request(Kind.Update, name, metadata) as Promise<Uint8Array | undefined>;
  }

  /**
   * Look a name up. Without `refresh` nothing changes (UDS_QUERY_NO_UPDATE); with it a record found
   * in a closed chapter is copied into the open chapter so that it lives longer (UDS_QUERY).
   * @param name - the 16-byte record name
   * @param options - `refresh: true` for UDS_QUERY
   * @returns the metadata, or undefined
   * @throws as {@link post}
   */
  query(name: Uint8Array, options?: { refresh?: boolean }): Promise<Uint8Array | undefined> {
    const kind = options?.refresh === true ? Kind.QueryRefresh : Kind.Query;
    return this.#request(kind, name, undefined) as Promise<Uint8Array | undefined>;
  }

  /**
   * Forget a name (UDS_DELETE): remove its volume index entry, and its record if it is in the open
   * chapter (a record in a closed chapter stays on storage until the chapter expires).
   * @returns true if a record was found and removed
   * @throws as {@link post}
   */
  delete(name: Uint8Array): Promise<boolean> {
    return this.#request(Kind.Delete, name, undefined) as Promise<boolean>;
  }

  /**
   * Post many records in one call: the same as {@link post} of each name in order, with the
   * per-request costs (argument checks, promise, copies) paid once per batch. The batch runs as one
   * request: requests called meanwhile wait for all of it, and it works on the arrays as they are at
   * the call (copies, if it has to wait).
   *
   * @param names - n record names back to back (n × 16 bytes)
   * @param metadata - n metadata back to back (n × 16 bytes), the i-th for the i-th name
   * @returns per name, in order, the earlier metadata (a 16-byte view of a buffer shared with other
   *   results of this batch, never reused by the index) or undefined for a new name
   * @throws TypeError (ERR_INVALID_ARG_TYPE) / RangeError (ERR_INVALID_ARGUMENT) for arrays that are not
   *   Uint8Arrays of a multiple of 16 bytes, or of different lengths; DedupIndexError ERR_CLOSED,
   *   ERR_IO, ERR_CORRUPT_DATA as {@link post}: a request that fails stops the batch, which
   *   rejects with an error of the same code whose `batchIndex` is that request's position and whose
   *   `cause` is the original error (the requests before it took effect, those after it did not run)
   * Cost: that of n posts, less about one promise and two copies per name.
   */
  postMany(names: Uint8Array, metadata: Uint8Array): Promise<(Uint8Array | undefined)[]> {
    return this.#requestMany(Kind.Post, names, metadata) as Promise<(Uint8Array | undefined)[]>;
  }

  /**
   * {@link update} of many names in one call; see {@link postMany} for the batch's rules.
   * @param names - n record names back to back (n × 16 bytes)
   * @param metadata - n metadata back to back (n × 16 bytes)
   * @returns per name, in order, the earlier metadata or undefined
   * @throws as {@link postMany}
   */
  updateMany(names: Uint8Array, metadata: Uint8Array): Promise<(Uint8Array | undefined)[]> {
    return this.#requestMany(Kind.Update, names, metadata) as Promise<(Uint8Array | undefined)[]>;
  }

  /**
   * {@link query} of many names in one call; see {@link postMany} for the batch's rules.
   * @param names - n record names back to back (n × 16 bytes)
   * @param options - `refresh: true` for UDS_QUERY
   * @returns per name, in order, its metadata or undefined
   * @throws as {@link postMany}
   */
  queryMany(names: Uint8Array, options?: { refresh?: boolean }): Promise<(Uint8Array | undefined)[]> {
    const kind = options?.refresh === true ? Kind.QueryRefresh : Kind.Query;
    return this.#requestMany(kind, names, undefined) as Promise<(Uint8Array | undefined)[]>;
  }

  /**
   * {@link delete} of many names in one call; see {@link postMany} for the batch's rules.
   * @param names - n record names back to back (n × 16 bytes)
   * @returns per name, in order, whether a record was found and removed
   * @throws as {@link postMany}
   */
  deleteMany(names: Uint8Array): Promise<boolean[]> {
    return this.#requestMany(Kind.Delete, names, undefined) as Promise<boolean[]>;
  }

  /**
   * Statistics. O(volume index lists).
   * @returns a fresh object
   */
  getStats(): DedupIndexStats {
    const vi = this.#volumeIndex.getStats();
    let openRecords = 0;
    for (const zone of this.#zones) openRecords += zone.size;
    return {
      entries: vi.entries,
      collisions: vi.collisions,
      openChapterRecords: openRecords,
      openChapter: this.#newest,
      chaptersWritten: this.#stats.chaptersWritten,
      chaptersExpired: this.#stats.chaptersExpired,
      earlyFlushes: vi.earlyFlushes,
      volumeIndexBytes: vi.memoryBytes,
      volumeIndexUsedBits: vi.usedBits,
      bytesPerRecord: vi.memoryBytes / this.geometry.recordsPerVolume,
      storageBytes: this.layout.totalBytes,
      cacheHits: this.#cache.hits,
      cacheMisses: this.#cache.misses,
      postsFound: this.#stats.postsFound,
      postsNotFound: this.#stats.postsNotFound,
      updatesFound: this.#stats.updatesFound,
      updatesNotFound: this.#stats.updatesNotFound,
      queriesFound: this.#stats.queriesFound,
      queriesNotFound: this.#stats.queriesNotFound,
      deletesFound: this.#stats.deletesFound,
      deletesNotFound: this.#stats.deletesNotFound,
      overflows: vi.overflows,
      chapterIndexDrops: this.#stats.chapterIndexDrops,
      badPages: this.#stats.badPages,
      rebuilt: this.#stats.rebuilt,
      chaptersReplayed: this.#stats.chaptersReplayed,
    };
  }

  /**
   * Wait for the requests in progress, flush the chapters written, save the index into a save slot
   * and flush again; later requests reject with ERR_CLOSED. The storage adapter stays open (the caller owns it). After a failure
   * of the storage nothing is saved: the next open rebuilds. Calling close() again is harmless.
   * @throws DedupIndexError ERR_IO (ERR_NO_SPACE, ...) when the save cannot be written
   * Cost: O(volume index memory).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#gate !== null) await this.#gate;
    this.#closed = true;
    if (this.#failure !== null) return;
    await this.#save();
  }

  /**
   * Close the index, as {@link close}: `await using index = await DedupIndex.open(storage)` closes it
   * at the end of the block (before the storage, when the storage was declared first).
   * @throws DedupIndexError as {@link close}
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- requests ----------------------------------------------------------------------------

  #request(kind: Kind, name: Uint8Array, metadata: Uint8Array | undefined): Promise<Outcome> {
    try {
      checkBytes(name, 'name');
      if (metadata !== undefined) checkBytes(metadata, 'metadata');
      else if (kind === Kind.Post || kind === Kind.Update) checkBytes(metadata, 'metadata');
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#submit(kind, name, metadata);
  }

  /**
   * Run a request now, or after the one in progress. A request that waits (queued, or reading a
   * page) works on copies of the caller's arrays, taken before the caller can change them; one that
   * completes synchronously needs none (the open chapter copies what it keeps).
   */
  #submit(kind: Kind, name: Uint8Array, metadata: Uint8Array | undefined, copied = false): Promise<Outcome> {
    if (this.#gate !== null) {
      const ownName = copied ? name : name.slice();
      const ownMetadata = copied ? metadata : metadata?.slice();
      return this.#gate.then(() => this.#submit(kind, ownName, ownMetadata, true));
    }
    if (this.#closed) return Promise.reject(new DedupIndexError('ERR_CLOSED', 'the index is closed'));
    if (this.#failure !== null) return Promise.reject(this.#failure);
    let status: Status;
    try {
      status = this.#execute(kind, name, metadata);
    } catch (error) {
      this.#release();
      return Promise.reject(error);
    }
    if (status !== WAIT && !this.#closeNeeded) {
      this.#release();
      return Promise.resolve(this.#outcome(kind, status));
    }
    const done =
      copied || status !== WAIT
        ? this.#finish(kind, name, metadata, status)
        : this.#finish(kind, name.slice(), metadata?.slice(), status);
    this.#hold(done);
    return done;
  }

  #requestMany(kind: Kind, names: Uint8Array, metadata: Uint8Array | undefined): Promise<Outcome[]> {
    try {
      const count = checkBatch(names, 'names');
      if (kind === Kind.Post || kind === Kind.Update) {
        const given = checkBatch(metadata, 'metadata');
        if (given !== count) {
          throw invalidArgument(`${count} names need ${count} metadata, got ${given}`);
        }
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#submitMany(new Batch(kind, names, metadata, false));
  }

  /** Run a batch now, or after the request in progress (on copies of the caller's arrays). */
  #submitMany(batch: Batch): Promise<Outcome[]> {
    if (this.#gate !== null) {
      batch.own();
      return this.#gate.then(() => this.#submitMany(batch));
    }
    if (this.#closed) return Promise.reject(new DedupIndexError('ERR_CLOSED', 'the index is closed'));
    if (this.#failure !== null) return Promise.reject(this.#failure);
    try {
      if (this.#runMany(batch)) return Promise.resolve(batch.results);
    } catch (error) {
      this.#release();
      return Promise.reject(batchError(error, batch));
    }
    batch.own();
    const done = this.#finishMany(batch);
    this.#hold(done);
    return done;
  }

  /**
   * Run the requests of a batch from `batch.next` on, synchronously, until one needs a page (it
   * stays next) or fills the open chapter (it completes).
   * @returns true when the whole batch completed
   */
  #runMany(batch: Batch): boolean {
    const { kind, results } = batch;
    const name = this.#batchName;
    const metadata = batch.metadata === undefined ? undefined : this.#batchMetadata;
    while (batch.next < results.length) {
      const i = batch.next;
      copy16(batch.names, i * RECORD_NAME_SIZE, name);
      if (metadata !== undefined) copy16(batch.metadata!, i * RECORD_DATA_SIZE, metadata);
      const status = this.#execute(kind, name, metadata);
      if (status === WAIT) return false;
      this.#release();
      results[i] =
        kind === Kind.Delete ? status === FOUND : status === FOUND ? batch.keep(this.#old) : undefined;
      batch.next = i + 1;
      if (this.#closeNeeded) return false;
    }
    return true;
  }

  /** The rest of a batch that waits: read the page or close the chapter, and run on. */
  async #finishMany(batch: Batch): Promise<Outcome[]> {
    try {
      do {
        if (this.#closeNeeded) await this.#closeFullChapter();
        else await this.#fetch(this.#wantKey, this.#wantChapter);
      } while (!this.#runMany(batch));
    } catch (error) {
      throw batchError(error, batch);
    } finally {
      this.#release();
    }
    return batch.results;
  }

  /** Make later requests wait until `done` settles. */
  #hold(done: Promise<unknown>): void {
    const gate: Promise<void> = done.then(
      () => undefined,
      () => undefined,
    );
    const clear = gate.then(() => {
      if (this.#gate === clear) this.#gate = null;
    });
    this.#gate = clear;
  }

  async #finish(
    kind: Kind,
    name: Uint8Array,
    metadata: Uint8Array | undefined,
    first: Status,
  ): Promise<Outcome> {
    let status = first;
    try {
      while (status === WAIT) {
        await this.#fetch(this.#wantKey, this.#wantChapter);
        status = this.#execute(kind, name, metadata);
      }
    } finally {
      this.#release();
    }
    // Copy the metadata found before a chapter close runs other code.
    const outcome = this.#outcome(kind, status);
    if (this.#closeNeeded) await this.#closeFullChapter();
    return outcome;
  }

  /** Close the chapter a request filled; a failure fails every later request. */
  async #closeFullChapter(): Promise<void> {
    this.#closeNeeded = false;
    try {
      await this.#closeChapter();
    } catch (error) {
      this.#failure = fromStorageError(`writing chapter ${this.#newest}`, error);
      throw this.#failure;
    }
  }

  /** Drop the pages and the window read for the request that just completed. */
  #release(): void {
    // Map.clear() allocates a new table even when empty: most requests read nothing.
    if (this.#fetched.size > 0) this.#fetched.clear();
    if (this.#windows.size > 0) this.#windows.clear();
  }

  /** Count a request's result in the statistics. */
  #count(kind: Kind, found: boolean): void {
    const s = this.#stats;
    if (kind === Kind.Post) found ? s.postsFound++ : s.postsNotFound++;
    else if (kind === Kind.Update) found ? s.updatesFound++ : s.updatesNotFound++;
    else if (kind === Kind.Delete) found ? s.deletesFound++ : s.deletesNotFound++;
    else found ? s.queriesFound++ : s.queriesNotFound++;
  }

  /**
   * One request, synchronously (search_index_zone and remove_from_index_zone of index.c). Every
   * lookup comes before every change, so a request that returns NEED_PAGE has changed nothing but
   * the volume index's lazy flushing, and can run again once the page is cached.
   */
  #execute(kind: Kind, name: Uint8Array, metadata: Uint8Array | undefined): Status {
    const vi = this.#volumeIndex;
    const newest = this.#newest;
    const old = this.#old;
    const record = vi.lookup(name, this.#record);
    // Sparse triage: a sampled name found in a sparse chapter brings that chapter into the sparse cache.
    if (
      record.isFound &&
      record.sub === vi.hook &&
      record.virtualChapter !== newest &&
      this.#isSparse(record.virtualChapter) &&
      this.#cacheSparseChapter(record.virtualChapter) === NEED_PAGE
    ) {
      return WAIT;
    }
    let found = false;
    if (record.isFound) {
      const result = this.#searchChapter(name, record.virtualChapter, record.zone, old);
      if (result === NEED_PAGE) return WAIT;
      found = result;
    }
    if (kind === Kind.Delete) {
      if (!record.isFound || (!record.isCollision && !found)) {
        this.#count(kind, false);
        return NOT_FOUND;
      }
      const chapter = record.virtualChapter;
      vi.remove(record);
      if (chapter === newest) this.#zones[record.zone]!.remove(name);
      this.#count(kind, true);
      return FOUND;
    }
    // A collision entry whose record is not in its chapter: the record overflowed a chapter index.
    const overflowRecord = record.isFound && record.isCollision && !found;
    if (found || overflowRecord) {
      if (kind === Kind.Query || (kind === Kind.QueryRefresh && overflowRecord)) {
        return this.#answer(kind, found);
      }
      if (record.virtualChapter !== newest) vi.setChapter(record, newest);
      else if (kind !== Kind.Update) return this.#answer(kind, found);
    } else {
      if (vi.hook !== null && !vi.isSample(name)) {
        const result = this.#searchSparseCache(name, old);
        if (result === NEED_PAGE) return WAIT;
        found = result;
      }
      if (kind === Kind.Query || (kind === Kind.QueryRefresh && !found)) return this.#answer(kind, found);
      // A delta list overflow drops the record: the request still succeeds.
      if (!vi.put(record, newest)) return this.#answer(kind, found);
    }
    const data = !found || kind === Kind.Update ? metadata! : old;
    if (this.#zones[record.zone]!.put(name, data) === 0) this.#closeNeeded = true;
    return this.#answer(kind, found);
  }

  /** Count the request and return its status (the metadata found is in #old). */
  #answer(kind: Kind, found: boolean): Status {
    this.#count(kind, found);
    return found ? FOUND : NOT_FOUND;
  }

  /** A single request's result: a copy of the metadata found, or whether a delete found the name. */
  #outcome(kind: Kind, status: Status): Outcome {
    if (kind === Kind.Delete) return status === FOUND;
    return status === FOUND ? this.#old.slice() : undefined;
  }

  /**
   * Find a name's record in a chapter (get_record_from_zone): the open chapter, or a closed one on
   * storage. Fills `out` with the metadata.
   * @returns whether it was found, or NEED_PAGE
   */
  #searchChapter(
    name: Uint8Array,
    chapter: number,
    zone: number,
    out: Uint8Array,
  ): boolean | typeof NEED_PAGE {
    if (chapter === this.#newest) return this.#zones[zone]!.search(name, out) !== undefined;
    const physical = mapToPhysicalChapter(this.geometry, chapter);
    if (this.#slotChapter[physical] !== chapter) return false;
    const indexPageNumber = this.#indexPageFor(name, physical);
    const page = this.#indexPage(physical, indexPageNumber, chapter);
    if (page === NEED_PAGE) return NEED_PAGE;
    if (page === null) return false;
    return this.#searchWithIndexPage(name, page, physical, chapter, out);
  }

  #searchWithIndexPage(
    name: Uint8Array,
    page: ChapterIndexPage,
    physical: number,
    chapter: number,
    out: Uint8Array,
  ): boolean | typeof NEED_PAGE {
    const list = chapterDeltaListOf(name, this.geometry);
    if (list < page.lowestListNumber || list > page.highestListNumber) return false;
    const recordPageNumber = page.search(name);
    if (recordPageNumber === undefined) return false;
    const bytes = this.#recordPage(physical, recordPageNumber, chapter);
    if (bytes === null) return false;
    const g = this.geometry;
    const slot = physical * g.recordPagesPerChapter + recordPageNumber;
    const count = this.#counts[slot]!;
    if (bytes === NEED_PAGE) {
      // A page whose checksum matched since its chapter was written: read only a window of it.
      const key = this.#wantKey;
      if (this.#verified[key] === 0 || count === 0) return NEED_PAGE;
      const window = this.#windows.get(key);
      if (window === undefined || window.chapter !== chapter) {
        const records = Math.min(WINDOW_RECORDS, count);
        const low = this.#pageLow[slot]!;
        const span = this.#pageHigh[slot]! - low + 1;
        const guess = Math.floor(((nameKey(name) - low) / span) * count);
        this.#wantFirst = Math.max(0, Math.min(count - records, guess - (records >>> 1)));
        return NEED_PAGE;
      }
      const at = searchRecordWindow(window.bytes, window.first, count, name);
      // A window that does not bracket the name: #cachedPage asked for the whole page.
      if (at === WINDOW_MISSED) return NEED_PAGE;
      if (at < 0) return false;
      copy16(window.bytes, at, out);
      return true;
    }
    const at = searchRecordPage(bytes, count, name);
    if (at < 0) return false;
    copy16(bytes, at, out);
    return true;
  }

  /** The index page of a chapter that holds a name's delta list (uds_find_index_page_number). */
  #indexPageFor(name: Uint8Array, physical: number): number {
    const list = chapterDeltaListOf(name, this.geometry);
    const pages = this.geometry.indexPagesPerChapter;
    const base = physical * pages;
    for (let p = 0; p < pages - 1; p++) if (list < this.#listEnds[base + p]!) return p;
    return pages - 1;
  }

  /** A cached page, or NEED_PAGE after noting which page to read; null for a known-bad page. */
  #cachedPage(key: number, chapter: number): CachedPage | null | typeof NEED_PAGE {
    if (this.#badPages[key] === 1) return null;
    // Most requests read nothing: skip the Map lookup then.
    const pinned = this.#fetched.size === 0 ? undefined : this.#fetched.get(key);
    if (pinned !== undefined) return pinned;
    const page = this.#cache.get(key, chapter);
    if (page !== undefined) {
      this.#cache.hits++;
      return page;
    }
    this.#wantKey = key;
    this.#wantChapter = chapter;
    this.#wantFirst = -1;
    return NEED_PAGE;
  }

  #indexPage(physical: number, page: number, chapter: number): ChapterIndexPage | null | typeof NEED_PAGE {
    return this.#cachedPage(physical * this.geometry.pagesPerChapter + page, chapter) as
      | ChapterIndexPage
      | null
      | typeof NEED_PAGE;
  }

  #recordPage(physical: number, page: number, chapter: number): Uint8Array | null | typeof NEED_PAGE {
    const key = physical * this.geometry.pagesPerChapter + this.geometry.indexPagesPerChapter + page;
    return this.#cachedPage(key, chapter) as Uint8Array | null | typeof NEED_PAGE;
  }

  /**
   * Read page `key` of `chapter`, check it against the seal, and cache it.
   * @throws DedupIndexError ERR_CORRUPT_DATA (the page is marked bad first) or ERR_IO (a storage failure)
   */
  async #fetch(key: number, chapter: number): Promise<void> {
    const g = this.geometry;
    const physical = Math.floor(key / g.pagesPerChapter);
    const page = key % g.pagesPerChapter;
    this.#cache.misses++;
    const first = this.#wantFirst;
    this.#wantFirst = -1;
    let bytes: Uint8Array;
    try {
      if (first >= 0) {
        const slot = physical * g.recordPagesPerChapter + page - g.indexPagesPerChapter;
        const records = Math.min(WINDOW_RECORDS, this.#counts[slot]!);
        const offset = pageOffset(this.layout, physical, page) + first * RECORD_SIZE;
        this.#windows.set(key, {
          chapter,
          first,
          bytes: await this.#readRange(offset, records * RECORD_SIZE),
        });
        return;
      }
      bytes = await this.#readRange(pageOffset(this.layout, physical, page), g.bytesPerPage);
    } catch (error) {
      throw fromStorageError(`reading page ${page} of chapter ${chapter}`, error);
    }
    const value = this.#checkPage(bytes, physical, page, chapter);
    this.#cache.set(key, chapter, value);
    this.#fetched.set(key, value);
  }

  /** Validate a page read from storage; marks it bad and throws ERR_CORRUPT_DATA when it fails. */
  #checkPage(bytes: Uint8Array, physical: number, page: number, chapter: number): CachedPage {
    const g = this.geometry;
    const key = physical * g.pagesPerChapter + page;
    const where = `page ${page} of chapter ${chapter} (physical chapter ${physical})`;
    const bad = (message: string, cause?: unknown): DedupIndexError => {
      if (this.#badPages[key] === 0) this.#stats.badPages++;
      this.#badPages[key] = 1;
      this.#cache.delete(key);
      return corrupt(`${where}: ${message}`, cause);
    };
    if (this.#verified[key] === 0) {
      if (crc32(bytes) !== this.#crcs[key]) throw bad('checksum mismatch');
      this.#verified[key] = 1;
    }
    if (page >= g.indexPagesPerChapter) {
      const slot = physical * g.recordPagesPerChapter + page - g.indexPagesPerChapter;
      const count = this.#counts[slot]!;
      if (count > 0) {
        this.#pageLow[slot] = nameKey(bytes);
        this.#pageHigh[slot] = nameKey(bytes.subarray((count - 1) * RECORD_SIZE));
      }
      return bytes;
    }
    let opened: ChapterIndexPage;
    try {
      opened = ChapterIndexPage.open(bytes, g, this.nonce);
    } catch (error) {
      throw bad('not a valid chapter index page', error);
    }
    if (opened.virtualChapterNumber !== BigInt(chapter)) {
      throw bad(`holds chapter ${opened.virtualChapterNumber}`);
    }
    return opened;
  }

  /**
   * Read `length` bytes at `offset`; bytes past the end of the storage read as zeros (a chapter or
   * save whose writes a crash cut short then fails its checksum instead of the read failing).
   */
  async #readRange(offset: number, length: number): Promise<Uint8Array> {
    if (offset + length > this.#knownSize) this.#knownSize = await this.#storage.size();
    if (offset + length <= this.#knownSize) return this.#storage.read(offset, length);
    const out = new Uint8Array(length);
    if (offset < this.#knownSize) out.set(await this.#storage.read(offset, this.#knownSize - offset));
    return out;
  }

  // ---- sparse chapters ---------------------------------------------------------------------

  #isSparse(chapter: number): boolean {
    const oldest = Math.max(0, this.#newest - this.geometry.chaptersPerVolume + 1);
    return chapter >= oldest && isChapterSparse(this.geometry, oldest, this.#newest, chapter);
  }

  /**
   * A sampled name's chapter, when sparse, joins the sparse cache with all of its index pages
   * (uds_update_sparse_cache). The least recently used chapter leaves when the cache is full.
   */
  #cacheSparseChapter(chapter: number): null | typeof NEED_PAGE {
    const cache = this.#sparseCache;
    const at = cache.findIndex((entry) => entry.chapter === chapter);
    if (at >= 0) {
      cache.push(cache.splice(at, 1)[0]!);
      return null;
    }
    const physical = mapToPhysicalChapter(this.geometry, chapter);
    if (this.#slotChapter[physical] !== chapter) return null;
    const pages: (ChapterIndexPage | null)[] = [];
    for (let p = 0; p < this.geometry.indexPagesPerChapter; p++) {
      const page = this.#indexPage(physical, p, chapter);
      if (page === NEED_PAGE) return NEED_PAGE;
      pages.push(page);
    }
    if (cache.length >= Math.max(1, this.config.cacheChapters)) cache.shift();
    cache.push({ chapter, pages });
    return null;
  }

  /** Search the sparse cache's chapters, newest first, for a name the volume index does not know. */
  #searchSparseCache(name: Uint8Array, out: Uint8Array): boolean | typeof NEED_PAGE {
    const cache = this.#sparseCache;
    const oldest = Math.max(0, this.#newest - this.geometry.chaptersPerVolume + 1);
    for (let i = cache.length - 1; i >= 0; i--) {
      const { chapter, pages } = cache[i]!;
      const physical = mapToPhysicalChapter(this.geometry, chapter);
      if (chapter < oldest || this.#slotChapter[physical] !== chapter) {
        cache.splice(i, 1);
        continue;
      }
      const page = pages[this.#indexPageFor(name, physical)];
      if (page === null || page === undefined) continue;
      const result = this.#searchWithIndexPage(name, page, physical, chapter, out);
      if (result !== false) return result;
    }
    return false;
  }

  // ---- closing chapters ----------------------------------------------------------------------

  /**
   * Close the open chapter (open_next_chapter and the chapter writer): build its index pages and
   * sorted record pages, write them and the seal to its physical slot, open the next chapter and
   * expire what the geometry says. O(records per chapter) plus the writes.
   */
  async #closeChapter(): Promise<void> {
    const g = this.geometry;
    const chapter = this.#newest;
    const closed = closeOpenChapter(this.#zones, this.#chapterIndex, chapter);
    this.#stats.chapterIndexDrops += closed.overflowCount + closed.packing.entriesRemoved;
    const recordPages = this.#buildRecordPages(closed);
    const physical = mapToPhysicalChapter(g, chapter);
    const crcs = new Uint32Array(g.pagesPerChapter);
    const listEnds = new Uint32Array(g.indexPagesPerChapter);
    closed.indexPages.forEach((page, p) => {
      crcs[p] = crc32(page);
      listEnds[p] = closed.packing.lastLists[p]! + 1;
    });
    recordPages.pages.forEach((page, p) => {
      crcs[g.indexPagesPerChapter + p] = crc32(page);
    });
    const seal: ChapterSeal = { physical, virtual: chapter, crcs, listEnds, counts: recordPages.counts };
    // Forget the slot's previous chapter before its pages change.
    this.#forgetSlot(physical);
    const writes = [...closed.indexPages, ...recordPages.pages].map((data, p) => ({
      offset: pageOffset(this.layout, physical, p),
      data,
    }));
    writes.push({
      offset: this.layout.sealOffset + physical * this.layout.sealBytes,
      data: encodeSeal(seal, this.nonce, this.layout.sealBytes),
    });
    await this.#storage.writev(writes);
    this.#installSeal(seal);
    this.#stats.chaptersWritten++;
    for (const zone of this.#zones) zone.reset();
    this.#openChapter(chapter + 1);
  }

  /** Move to a new open chapter: the volume index window and the expiry count. */
  #openChapter(chapter: number): void {
    this.#newest = chapter;
    this.#volumeIndex.setOpenChapter(chapter);
    const expire = chaptersToExpire(this.geometry, chapter);
    this.#oldest += expire;
    this.#stats.chaptersExpired += expire;
  }

  /**
   * The record pages of a closed chapter: each of closeOpenChapter's record pages with its fill
   * copies left out (its `liveRecords` flags), the live records sorted by name.
   */
  #buildRecordPages(closed: ClosedChapter): { pages: Uint8Array[]; counts: Uint32Array } {
    const g = this.geometry;
    const perPage = g.recordsPerPage;
    const { liveRecords, recordPages } = closed;
    const offsets = new Uint32Array(perPage);
    const pages: Uint8Array[] = [];
    const counts = new Uint32Array(g.recordPagesPerChapter);
    for (let p = 0; p < g.recordPagesPerChapter; p++) {
      let count = 0;
      const first = p * perPage;
      for (let r = 0; r < perPage; r++) {
        if (liveRecords[first + r] === 1) offsets[count++] = r * RECORD_SIZE;
      }
      const page = new Uint8Array(g.bytesPerPage);
      encodeRecordPage(page, recordPages[p]!, offsets, count);
      pages.push(page);
      counts[p] = count;
    }
    return { pages, counts };
  }

  #forgetSlot(physical: number): void {
    const g = this.geometry;
    this.#slotChapter[physical] = NO_CHAPTER;
    for (let p = 0; p < g.pagesPerChapter; p++) {
      const key = physical * g.pagesPerChapter + p;
      this.#cache.delete(key);
      this.#badPages[key] = 0;
      this.#verified[key] = 0;
    }
  }

  #installSeal(seal: ChapterSeal): void {
    const g = this.geometry;
    const { physical } = seal;
    this.#slotChapter[physical] = seal.virtual;
    this.#crcs.set(seal.crcs, physical * g.pagesPerChapter);
    this.#listEnds.set(seal.listEnds, physical * g.indexPagesPerChapter);
    this.#counts.set(seal.counts, physical * g.recordPagesPerChapter);
  }

  // ---- save, load, rebuild -----------------------------------------------------------------

  /**
   * Flush the chapters written since the last flush, then write a save into the next slot and flush
   * again: a save that loads never stands over chapter pages that did not reach the medium.
   */
  async #save(): Promise<void> {
    const g = this.geometry;
    const counters = new Writer();
    counters.u64(this.#newest);
    counters.u64(this.#oldest);
    for (const counter of SAVED_COUNTERS) counters.u64(this.#stats[counter]);
    const pageMap = new Writer();
    pageMap.bytes(new TextEncoder().encode('ALBIPM02'));
    pageMap.u64(this.#newest);
    for (let c = 0; c < g.chaptersPerVolume; c++) {
      const chapter = this.#slotChapter[c]!;
      pageMap.u64(chapter === NO_CHAPTER ? 0 : chapter + 1);
      for (let p = 0; p < g.indexPagesPerChapter; p++)
        pageMap.u32(this.#listEnds[c * g.indexPagesPerChapter + p]!);
    }
    const parts = [
      frame(PART_VOLUME_INDEX, PART_VERSION, this.#volumeIndex.save()),
      frame(PART_OPEN_CHAPTER, PART_VERSION, saveOpenChapter(this.#zones)),
      frame(PART_PAGE_MAP, PART_VERSION, pageMap.finish()),
      frame(PART_COUNTERS, PART_VERSION, counters.finish()),
    ];
    const length = parts.reduce((sum, part) => sum + part.length, 0);
    if (SAVE_HEADER_BYTES + length > this.layout.slotBytes) {
      throw new DedupIndexError('ERR_NO_SPACE', `a save of ${length} bytes does not fit its slot`);
    }
    const body = new Uint8Array(length);
    let at = 0;
    for (const part of parts) {
      body.set(part, at);
      at += part.length;
    }
    this.#saveSequence++;
    const slot = this.#saveSequence % 2;
    const base = this.layout.saveOffset + slot * this.layout.slotBytes;
    try {
      await this.#storage.flush();
    } catch (error) {
      throw fromStorageError('flushing the chapters before the save', error);
    }
    try {
      await this.#storage.writev([
        { offset: base + SAVE_HEADER_BYTES, data: body },
        { offset: base, data: encodeSaveHeader(this.#saveSequence, this.nonce, body, crc32(body)) },
      ]);
      await this.#storage.flush();
    } catch (error) {
      throw fromStorageError('writing the save', error);
    }
  }

  /** Open: seals, then the newest valid save, or a rebuild; then invalidate the saves. */
  async #load(): Promise<void> {
    const g = this.geometry;
    const { layout } = this;
    let sealBytes: Uint8Array;
    let headers: Uint8Array[];
    try {
      sealBytes = await this.#readRange(layout.sealOffset, g.chaptersPerVolume * layout.sealBytes);
      headers = [
        await this.#readRange(layout.saveOffset, SAVE_HEADER_BYTES),
        await this.#readRange(layout.saveOffset + layout.slotBytes, SAVE_HEADER_BYTES),
      ];
    } catch (error) {
      throw fromStorageError('reading the seals and save headers', error);
    }
    for (let c = 0; c < g.chaptersPerVolume; c++) {
      let seal: ChapterSeal | undefined;
      try {
        seal = decodeSeal(
          sealBytes.subarray(c * layout.sealBytes, (c + 1) * layout.sealBytes),
          g,
          c,
          this.nonce,
        );
      } catch {
        seal = undefined; // a torn or stale seal: the slot holds no usable chapter
      }
      if (seal !== undefined && mapToPhysicalChapter(g, seal.virtual) === c) this.#installSeal(seal);
    }
    const candidates: { slot: number; sequence: number; length: number; crc: number }[] = [];
    headers.forEach((bytes, slot) => {
      try {
        const header = decodeSaveHeader(bytes, this.nonce, slot);
        if (header !== undefined) candidates.push({ slot, ...header });
      } catch {
        // A damaged header: that slot holds no save.
      }
    });
    candidates.sort((a, b) => b.sequence - a.sequence);
    let loaded = false;
    for (const candidate of candidates) {
      if (candidate.length > layout.slotBytes - SAVE_HEADER_BYTES) continue;
      try {
        const body = await this.#readRange(
          layout.saveOffset + candidate.slot * layout.slotBytes + SAVE_HEADER_BYTES,
          candidate.length,
        );
        if (crc32(body) !== candidate.crc) continue;
        this.#restore(body);
        this.#saveSequence = candidate.sequence;
        loaded = true;
        break;
      } catch (error) {
        // A failure of the storage stops the open; a save whose bytes do not check does not.
        if (!(error instanceof DedupIndexError)) throw fromStorageError('reading a save', error);
        if (error.code !== 'ERR_CORRUPT_DATA' && error.code !== 'ERR_UNSUPPORTED_VERSION') throw error;
        // A save that does not check: try the other one, or rebuild.
      }
    }
    if (!loaded) await this.#rebuild();
    try {
      const zero = new Uint8Array(SAVE_HEADER_BYTES);
      await this.#storage.writev([
        { offset: layout.saveOffset, data: zero },
        { offset: layout.saveOffset + layout.slotBytes, data: zero },
      ]);
      await this.#storage.flush();
    } catch (error) {
      throw fromStorageError('invalidating the save', error);
    }
  }

  /** Restore a save body; throws ERR_CORRUPT_DATA on any inconsistency (the caller then rebuilds). */
  #restore(body: Uint8Array): void {
    const g = this.geometry;
    const vi = unframe(body, 0, PART_VOLUME_INDEX, PART_VERSION, 'volume index save');
    const oc = unframe(body, vi.end, PART_OPEN_CHAPTER, PART_VERSION, 'open chapter save');
    const pm = unframe(body, oc.end, PART_PAGE_MAP, PART_VERSION, 'page map save');
    const ct = unframe(body, pm.end, PART_COUNTERS, PART_VERSION, 'counters save');
    const counters = new Reader(ct.payload, 'counters save');
    const newest = counters.u64();
    const oldest = counters.u64();
    const values: number[] = [];
    for (let i = 0; i < SAVED_COUNTERS.length; i++) values.push(counters.u64());
    const map = new Reader(pm.payload, 'page map save');
    if (new TextDecoder('latin1').decode(map.bytesOf(8)) !== 'ALBIPM02' || map.u64() !== newest) {
      throw corrupt('page map save: bad magic or chapter');
    }
    for (let c = 0; c < g.chaptersPerVolume; c++) {
      const stored = map.u64() - 1;
      const sealed = this.#slotChapter[c]!;
      // A seal of a chapter that had expired when the index was saved (a rebuild forgets those).
      if (stored === NO_CHAPTER && sealed !== NO_CHAPTER && sealed < newest - g.chaptersPerVolume + 1) {
        this.#forgetSlot(c);
      } else if (stored !== sealed) {
        throw corrupt(
          `page map save: physical chapter ${c} holds chapter ${stored}, its seal says ${this.#slotChapter[c]}`,
        );
      }
      for (let p = 0; p < g.indexPagesPerChapter; p++) {
        if (map.u32() !== this.#listEnds[c * g.indexPagesPerChapter + p]) {
          throw corrupt(`page map save: index page ${p} of physical chapter ${c} differs from its seal`);
        }
      }
    }
    this.#volumeIndex.restore(vi.payload);
    try {
      loadOpenChapter(oc.payload, this.#zones, { zoneOf: (name) => this.#volumeIndex.zoneOf(name) });
    } catch (error) {
      this.#volumeIndex.reset();
      throw corrupt('open chapter save: does not load', error);
    }
    this.#newest = newest;
    this.#oldest = oldest;
    SAVED_COUNTERS.forEach((counter, i) => {
      this.#stats[counter] = values[i]!;
    });
    // Chapters the save does not know (newer than its open chapter) cannot be in its window.
    for (let c = 0; c < g.chaptersPerVolume; c++) {
      if (this.#slotChapter[c]! >= newest) this.#forgetSlot(c);
    }
  }

  /**
   * Rebuild the volume index from the sealed chapters (replay_volume): the newest sealed chapter
   * fixes the window; each chapter in it is replayed oldest first; pages whose checksum fails are
   * skipped. The next chapter opens empty.
   */
  async #rebuild(): Promise<void> {
    const g = this.geometry;
    const vi = this.#volumeIndex;
    vi.reset();
    for (const zone of this.#zones) zone.reset();
    this.#stats.rebuilt = true;
    let newestClosed = -1;
    for (const chapter of this.#slotChapter) if (chapter > newestClosed) newestClosed = chapter;
    const first = Math.max(0, newestClosed - g.chaptersPerVolume + 2);
    for (let c = 0; c < g.chaptersPerVolume; c++) {
      const chapter = this.#slotChapter[c]!;
      if (chapter !== NO_CHAPTER && chapter < first) this.#forgetSlot(c);
    }
    for (let chapter = first; chapter <= newestClosed; chapter++) {
      const physical = mapToPhysicalChapter(g, chapter);
      if (this.#slotChapter[physical] !== chapter) continue;
      vi.setOpenChapter(chapter);
      this.#newest = chapter;
      await this.#replayChapter(chapter, physical, first, newestClosed);
      this.#stats.chaptersReplayed++;
    }
    this.#oldest = first;
    this.#stats.chaptersWritten = newestClosed + 1;
    this.#stats.chaptersExpired = Math.max(0, first);
    this.#openChapter(newestClosed + 1);
  }

  async #replayChapter(chapter: number, physical: number, first: number, last: number): Promise<void> {
    const g = this.geometry;
    const vi = this.#volumeIndex;
    let pages: Uint8Array[];
    try {
      const start = pageOffset(this.layout, physical, 0);
      const all = await this.#readRange(start, g.pagesPerChapter * g.bytesPerPage);
      pages = Array.from({ length: g.pagesPerChapter }, (_, p) =>
        all.subarray(p * g.bytesPerPage, (p + 1) * g.bytesPerPage),
      );
    } catch (error) {
      throw fromStorageError(`reading chapter ${chapter}`, error);
    }
    // Validate every page; damaged ones are marked bad and skipped.
    for (let p = 0; p < g.pagesPerChapter; p++) {
      try {
        const value = this.#checkPage(pages[p]!, physical, p, chapter);
        if (p < g.indexPagesPerChapter) this.#cache.set(physical * g.pagesPerChapter + p, chapter, value);
      } catch (error) {
        if (!(error instanceof DedupIndexError)) throw error;
      }
    }
    const willBeSparse = isChapterSparse(g, first, last + 1, chapter);
    const record = this.#record;
    for (let rp = 0; rp < g.recordPagesPerChapter; rp++) {
      const key = physical * g.pagesPerChapter + g.indexPagesPerChapter + rp;
      if (this.#badPages[key] === 1) continue;
      const page = pages[g.indexPagesPerChapter + rp]!;
      const count = this.#counts[physical * g.recordPagesPerChapter + rp]!;
      for (let r = 0; r < count; r++) {
        const name = page.subarray(r * RECORD_SIZE, r * RECORD_SIZE + RECORD_NAME_SIZE);
        // replay_record: sparse chapters keep only sampled names.
        if (willBeSparse && !vi.isSample(name)) continue;
        // A name whose index page is damaged could never be found: do not index it.
        if (this.#badPages[physical * g.pagesPerChapter + this.#indexPageFor(name, physical)] === 1) continue;
        vi.lookup(name, record);
        let update = false;
        if (record.isFound) {
          if (record.isCollision) {
            if (record.virtualChapter === chapter) continue;
            update = true;
          } else if (record.virtualChapter !== chapter) {
            // The entry may be another name's: look for this name in that chapter.
            update = await this.#hasRecord(name, record.virtualChapter);
            vi.lookup(name, record);
          }
        }
        if (update) vi.setChapter(record, chapter);
        else vi.put(record, chapter);
      }
    }
  }

  /** Whether a closed chapter holds a name (uds_search_volume_page_cache_for_rebuild). */
  async #hasRecord(name: Uint8Array, chapter: number): Promise<boolean> {
    const zone = this.#volumeIndex.zoneOf(name);
    const out = new Uint8Array(RECORD_DATA_SIZE);
    try {
      for (;;) {
        const result = this.#searchChapter(name, chapter, zone, out);
        if (result !== NEED_PAGE) return result;
        try {
          await this.#fetch(this.#wantKey, this.#wantChapter);
        } catch (error) {
          if (error instanceof DedupIndexError && error.code === 'ERR_CORRUPT_DATA') continue;
          throw error;
        }
      }
    } finally {
      this.#release();
    }
  }
}
