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
//
// This file is the façade and the request path (argument checks aside, in _internal-options.ts);
// the rest lives by concern in _internal-page-reader.ts (seals, page cache, closed-chapter search),
// _internal-sparse-cache.ts, _internal-chapter-writer.ts and _internal-persistence.ts (save, load,
// rebuild).

import { randomInt } from 'node:crypto';
import {
  makeOpenChapterZones,
  OpenChapterIndex,
  type OpenChapterZone,
  RECORD_DATA_SIZE,
  RECORD_NAME_SIZE,
  RECORD_SIZE,
} from '@deja/chapter-index';
import type { Storage } from '@deja/storage';
import {
  chaptersToExpire,
  type GeometryParameters,
  type IndexConfiguration,
  type IndexGeometry,
  type MemorySize,
} from '@deja/volume-geometry';
import { writeChapter } from './_internal-chapter-writer';
import { checkBatch, checkBytes, checkCachePages, configurationFrom } from './_internal-options';
import { copy16, NEED_PAGE, PageReader } from './_internal-page-reader';
import { type IndexCounters, type IndexParts, loadIndex, writeSave } from './_internal-persistence';
import { isSparseChapter, SparseCache } from './_internal-sparse-cache';
import { replayZone } from './_internal-zone';
import { ZonePool } from './_internal-zone-pool';
import type { ZoneState } from './_internal-zone-worker';
import { DedupIndexError, fromStorageError, invalidArgument, invalidType, isDedupIndexError } from './errors';
import {
  computeStorageLayout,
  decodeSuperblock,
  encodeSuperblock,
  SAVE_HEADER_BYTES,
  type StorageLayout,
} from './layout';
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
  /**
   * Run each zone on its own worker thread (its volume index part and open chapter zone; the main
   * thread keeps the storage, the page cache and the chapter close). Dense indexes only.
   */
  readonly zoneWorkers?: boolean;
}

/** Options of {@link DedupIndex.open}. */
export interface DedupIndexOpenOptions {
  /** Pages held by the page cache, at least 2 (default as in {@link DedupIndexCreateOptions.cachePages}). */
  readonly cachePages?: number;
  /** As {@link DedupIndexCreateOptions.zoneWorkers} (not stored: each open chooses). */
  readonly zoneWorkers?: boolean;
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

/** Requests of a batch whose volume index memory is touched ahead, together. */
const PREFETCH = 16;

/**
 * Requests of a query batch looked at ahead of one that waits for a record page window, to read
 * their windows in the same storage call (see `PageReader.planWindow`).
 */
const LOOKAHEAD = 64;

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
  /**
   * The requests before this one had their volume index memory touched (see PREFETCH): kept across
   * the batch's waits, so that a batch resuming after a page read does not touch it again.
   */
  prefetched = 0;
  /** The requests before this one had their windows planned ahead (see LOOKAHEAD). */
  planned = 0;
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
  /**
   * The volume index. With zone workers the zones hold it: this thread has one only while it loads
   * (open) or saves (close), null in between.
   */
  #volumeIndex: VolumeIndex | null;
  /** Bytes the volume index allocates (its zones', with zone workers). */
  readonly #volumeIndexBytes: number;
  readonly #zones: OpenChapterZone[];
  readonly #chapterIndex: OpenChapterIndex;
  readonly #reader: PageReader;
  readonly #sparse: SparseCache;
  readonly #record = new VolumeIndexRecord();
  readonly #old = new Uint8Array(RECORD_DATA_SIZE);
  // The name and metadata of the batch request in progress, copied out of the batch's arrays.
  readonly #batchName = new Uint8Array(RECORD_NAME_SIZE);
  /** The name and volume index cursor of a request looked at ahead (see #planAhead). */
  readonly #aheadName = new Uint8Array(RECORD_NAME_SIZE);
  readonly #aheadRecord = new VolumeIndexRecord();
  readonly #batchMetadata = new Uint8Array(RECORD_DATA_SIZE);
  #newest = 0;
  #oldest = 0;
  #closeNeeded = false;
  #gate: Promise<void> | null = null;
  #closed = false;
  #failure: DedupIndexError | null = null;
  #saveSequence = 0;
  /** The zone workers (zoneWorkers: true), or null. */
  #pool: ZonePool | null = null;
  readonly #stats: IndexCounters = {
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
    const volumeIndex = new VolumeIndex(config);
    this.#volumeIndex = volumeIndex;
    this.#volumeIndexBytes = volumeIndex.memoryBytes;
    this.layout = computeStorageLayout(config, volumeIndex);
    this.#zones = makeOpenChapterZones(geometry, config.zoneCount);
    this.#chapterIndex = new OpenChapterIndex(geometry, nonce, { warn: () => {} });
    const pages = cachePages ?? Math.min(4096, Math.max(16, config.cacheChapters * geometry.pagesPerChapter));
    this.#reader = new PageReader(storage, geometry, this.layout, nonce, pages);
    this.#sparse = new SparseCache(this.#reader, config.cacheChapters);
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
    index.#volumeIndex!.setOpenChapter(0);
    if (options.zoneWorkers === true) await index.#startZones();
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
    if (options.zoneWorkers === true) await index.#startZones();
    return index;
  }

  /** @internal The zone workers, for tests (a crash test ends one). */
  get [Symbol.for('@deja/dedup-index.zoneWorkers')](): readonly import('node:worker_threads').Worker[] {
    return this.#pool?.workers ?? [];
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
    const vi = this.#volumeIndex?.getStats() ?? {
      entries: 0,
      collisions: 0,
      discards: 0,
      overflows: 0,
      earlyFlushes: 0,
      memoryBytes: this.#volumeIndexBytes,
      usedBits: 0,
    };
    let openRecords = 0;
    for (const zone of this.#zones) openRecords += zone.size;
    const pool = this.#pool;
    if (pool !== null) {
      openRecords = pool.openRecords;
      this.#countZones(pool);
      const z = pool.stats;
      [vi.entries, vi.collisions, vi.earlyFlushes, vi.usedBits, vi.overflows] = [
        z[0]!,
        z[1]!,
        z[2]!,
        z[3]!,
        z[4]!,
      ];
    }
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
      cacheHits: this.#reader.cache.hits,
      cacheMisses: this.#reader.cache.misses,
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
      badPages: this.#reader.badPageCount,
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
    const pool = this.#pool;
    if (pool !== null) {
      try {
        if (this.#failure === null) {
          await this.#pullZones(pool);
          await this.#save();
        }
      } finally {
        this.#volumeIndex = null;
        await pool.terminate();
      }
      return;
    }
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
    if (this.#pool !== null) {
      // A single request is a batch of one on the zone workers.
      return this.#submitMany(new Batch(kind, name, metadata, copied)).then(
        (results) => results[0],
        (error: unknown) => {
          throw error instanceof DedupIndexError && error.cause instanceof DedupIndexError
            ? error.cause
            : error;
        },
      );
    }
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
      this.#reader.release();
      return Promise.reject(error);
    }
    if (status !== WAIT && !this.#closeNeeded) {
      this.#reader.release();
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
    if (this.#pool !== null) {
      batch.own();
      const done = this.#runZones(this.#pool, batch);
      this.#hold(done);
      return done;
    }
    try {
      if (this.#runMany(batch)) return Promise.resolve(batch.results);
    } catch (error) {
      this.#reader.release();
      this.#reader.dropAhead();
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
  #runMany(batch: Batch, resume = false): boolean {
    const { kind, results } = batch;
    const name = this.#batchName;
    const metadata = batch.metadata === undefined ? undefined : this.#batchMetadata;
    const vi = this.#volumeIndex!;
    while (batch.next < results.length) {
      const i = batch.next;
      if (i >= batch.prefetched) {
        batch.prefetched = Math.min(results.length, i + PREFETCH);
        vi.prefetch(batch.names, i, batch.prefetched - i);
      }
      copy16(batch.names, i * RECORD_NAME_SIZE, name);
      if (metadata !== undefined) copy16(batch.metadata!, i * RECORD_DATA_SIZE, metadata);
      const status = resume ? this.#resumeQuery(name) : this.#execute(kind, name, metadata);
      resume = false;
      if (status === WAIT) {
        if (kind === Kind.Query && this.#reader.wantsWindow && vi.hook === null) this.#planAhead(batch, i);
        return false;
      }
      this.#reader.release();
      results[i] =
        kind === Kind.Delete ? status === FOUND : status === FOUND ? batch.keep(this.#old) : undefined;
      batch.next = i + 1;
      if (this.#closeNeeded) return false;
    }
    return true;
  }

  /**
   * Plan the record page windows of the requests after `i` (which waits for one), up to LOOKAHEAD
   * ahead, so that the next fetch reads them all in one storage call. Queries only (without refresh):
   * a query changes nothing a later one finds, so what a request finds now is what it will find.
   */
  #planAhead(batch: Batch, i: number): void {
    const end = Math.min(batch.results.length, i + 1 + LOOKAHEAD);
    const start = Math.max(i + 1, batch.planned);
    if (start >= end) return;
    batch.planned = end;
    const vi = this.#volumeIndex!;
    const reader = this.#reader;
    const name = this.#aheadName;
    const newest = this.#newest;
    for (let j = start; j < end; j++) {
      // The volume index memory of the next requests, touched together (see PREFETCH).
      if ((j - start) % PREFETCH === 0) vi.prefetch(batch.names, j, Math.min(PREFETCH, end - j));
      copy16(batch.names, j * RECORD_NAME_SIZE, name);
      const chapter = vi.peekChapter(name, this.#aheadRecord);
      if (chapter >= 0 && chapter !== newest) reader.planWindow(name, chapter);
    }
  }

  /** The rest of a batch that waits: read the page or close the chapter, and run on. */
  async #finishMany(batch: Batch): Promise<Outcome[]> {
    try {
      let resume = false;
      do {
        if (this.#closeNeeded) await this.#closeFullChapter();
        else {
          resume = this.#canResume(batch.kind);
          await this.#reader.fetch();
        }
      } while (!this.#runMany(batch, resume));
    } catch (error) {
      throw batchError(error, batch);
    } finally {
      this.#reader.release();
      this.#reader.dropAhead();
    }
    return batch.results;
  }

  /**
   * A batch on the zone workers: the requests up to the first one that could fill a zone, on all
   * zones at once; then the chapter close if a zone filled; and so on.
   */
  async #runZones(pool: ZonePool, batch: Batch): Promise<Outcome[]> {
    const { kind, results, names, metadata } = batch;
    const n = results.length;
    const zones = pool.zonesOf(names);
    const answers = { status: new Uint8Array(n), found: new Uint8Array(n * RECORD_DATA_SIZE) };
    try {
      while (batch.next < n) {
        const first = batch.next;
        const end = pool.cut(zones, first);
        const full = await pool.run(kind, names, metadata, zones, first, end, this.#closedSearch, answers);
        for (let i = first; i < end; i++) {
          const found = answers.status[i] === FOUND;
          results[i] =
            kind === Kind.Delete
              ? found
              : found
                ? batch.keep(answers.found.subarray(i * RECORD_DATA_SIZE, (i + 1) * RECORD_DATA_SIZE))
                : undefined;
          batch.next = i + 1;
        }
        if (full) await this.#closeZoneChapter(pool);
      }
    } catch (error) {
      // The zones ran ahead of each other: what ran is unknown, so the index fails.
      this.#failure ??=
        error instanceof DedupIndexError
          ? error
          : new DedupIndexError('ERR_IO', 'a zone failed', { cause: error });
      throw batchError(this.#failure, batch);
    }
    return results;
  }

  /**
   * A search of a closed chapter for a zone worker, reading pages as needed. A damaged page is
   * skipped (it is counted in badPages and never read again): with the zones running ahead of each
   * other there is no one request to report it to.
   */
  readonly #closedSearch = async (name: Uint8Array, chapter: number, out: Uint8Array): Promise<boolean> => {
    try {
      for (;;) {
        const result = this.#reader.searchClosed(name, chapter, out);
        if (result !== NEED_PAGE) return result;
        try {
          await this.#reader.fetch();
        } catch (error) {
          if (isDedupIndexError(error, 'ERR_CORRUPT_DATA')) return false;
          throw error;
        }
      }
    } finally {
      this.#reader.release();
    }
  };

  /** Close the chapter a zone worker filled: its zones' records, written as #closeChapter writes them. */
  async #closeZoneChapter(pool: ZonePool): Promise<void> {
    // The zones' records, replayed into this thread's (otherwise unused) open chapter zones: memory
    // already touched, where new zones cost their first touch at every close.
    await pool.dumpZones(this.#zones);
    const zones = this.#zones;
    try {
      await writeChapter(this.#reader, zones, this.#chapterIndex, this.#newest, this.#stats);
    } catch (error) {
      this.#failure = fromStorageError(`writing chapter ${this.#newest}`, error);
      throw this.#failure;
    }
    this.#stats.chaptersWritten++;
    this.#openChapter(this.#newest + 1);
    pool.openChapter(this.#newest, true);
  }

  /** Start the zone workers with the state of this index (a new one, or one just loaded). */
  async #startZones(): Promise<void> {
    const vi = this.#volumeIndex!;
    if (vi.hook !== null) throw invalidArgument('zoneWorkers needs a dense index');
    const pool = new ZonePool(this.config);
    this.#pool = pool;
    const sub = vi.nonHook;
    const streams = sub.delta.save();
    const states: ZoneState[] = this.#zones.map((zone, z) => {
      const first = z * sub.listsPerZone;
      const size = zone.size;
      return {
        stream: streams[z]!,
        low: sub.low[z]!,
        high: sub.high[z]!,
        earlyFlushes: sub.earlyFlushes[z]!,
        flushChapters: sub.flushChapters.slice(first, Math.min(first + sub.listsPerZone, sub.listCount)),
        records: zone._records.slice(0, (size + 1) * RECORD_SIZE),
        deleted: zone._deleted.slice(0, size + 1),
        size,
      };
    });
    try {
      await pool.importZones(states, this.#newest);
    } catch (error) {
      await pool.terminate();
      throw error;
    }
    const s = this.#stats;
    pool.counters.set([
      s.postsFound,
      s.postsNotFound,
      s.updatesFound,
      s.updatesNotFound,
      s.queriesFound,
      s.queriesNotFound,
      s.deletesFound,
      s.deletesNotFound,
    ]);
    // The zones hold the volume index and the open chapter from now on: this thread drops its volume
    // index (a new one is filled from the zones for a save).
    this.#volumeIndex = null;
    for (const zone of this.#zones) zone.reset();
  }

  /** The zones' state into this thread's volume index and open chapter zones, for a save. */
  async #pullZones(pool: ZonePool): Promise<void> {
    const states = await pool.exportZones();
    const vi = new VolumeIndex(this.config);
    this.#volumeIndex = vi;
    const sub = vi.nonHook;
    sub.delta.restore(states.map((state) => state.stream));
    states.forEach((state, z) => {
      sub.low[z] = state.low;
      sub.high[z] = state.high;
      sub.earlyFlushes[z] = state.earlyFlushes;
      sub.flushChapters.set(state.flushChapters, z * sub.listsPerZone);
      replayZone(this.#zones[z]!, state.records, state.deleted, state.size);
    });
    vi.overflows = pool.stats[4]!;
    this.#countZones(pool);
  }

  /** The zones' request counters into this index's statistics. */
  #countZones(pool: ZonePool): void {
    const c = pool.counters;
    const s = this.#stats;
    [s.postsFound, s.postsNotFound, s.updatesFound, s.updatesNotFound] = [c[0]!, c[1]!, c[2]!, c[3]!];
    [s.queriesFound, s.queriesNotFound, s.deletesFound, s.deletesNotFound] = [c[4]!, c[5]!, c[6]!, c[7]!];
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
        const resume = this.#canResume(kind);
        await this.#reader.fetch();
        status = resume ? this.#resumeQuery(name) : this.#execute(kind, name, metadata);
      }
    } finally {
      this.#reader.release();
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
    const vi = this.#volumeIndex!;
    const newest = this.#newest;
    const old = this.#old;
    const record = vi.lookup(name, this.#record);
    // Sparse triage: a sampled name found in a sparse chapter brings that chapter into the sparse cache.
    if (
      record.isFound &&
      record.sub === vi.hook &&
      record.virtualChapter !== newest &&
      isSparseChapter(this.geometry, newest, record.virtualChapter) &&
      this.#sparse.cacheChapter(record.virtualChapter) === NEED_PAGE
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
        const result = this.#sparse.search(name, newest, old);
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

  /**
   * Whether a request of `kind` that waits for the window the reader wants can finish with
   * {@link #resumeQuery} once it is read: a query (no refresh) of a dense index, whose search of a
   * closed chapter asked for it. Running such a query again would repeat its lookups, changing
   * nothing but the index page's LRU place (which resumeWindow does), then answer from the window.
   */
  #canResume(kind: Kind): boolean {
    return (
      kind === Kind.Query &&
      this.#volumeIndex !== null &&
      this.#volumeIndex.hook === null &&
      this.#reader.canResume
    );
  }

  /** Finish a query that waited for a window (see #canResume), as running it again would. */
  #resumeQuery(name: Uint8Array): Status {
    const result = this.#reader.resumeWindow(name, this.#old);
    if (result === NEED_PAGE) return WAIT;
    return this.#answer(Kind.Query, result);
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
    return this.#reader.searchClosed(name, chapter, out);
  }

  // ---- closing chapters ----------------------------------------------------------------------

  /**
   * Close the open chapter (open_next_chapter and the chapter writer, in _internal-chapter-writer.ts):
   * write it to its physical slot with its seal, open the next chapter and expire what the geometry
   * says. O(records per chapter) plus the writes.
   */
  async #closeChapter(): Promise<void> {
    await writeChapter(this.#reader, this.#zones, this.#chapterIndex, this.#newest, this.#stats);
    this.#stats.chaptersWritten++;
    for (const zone of this.#zones) zone.reset();
    this.#openChapter(this.#newest + 1);
  }

  /** Move to a new open chapter: the volume index window and the expiry count. */
  #openChapter(chapter: number): void {
    this.#newest = chapter;
    this.#volumeIndex?.setOpenChapter(chapter);
    const expire = chaptersToExpire(this.geometry, chapter);
    this.#oldest += expire;
    this.#stats.chaptersExpired += expire;
  }

  // ---- save, load (_internal-persistence.ts) -----------------------------------------------

  /** The parts a save holds or a rebuild fills. */
  #parts(): IndexParts {
    // With zone workers, only while loading (before the zones start) or saving (after #pullZones).
    const volumeIndex = this.#volumeIndex!;
    return { reader: this.#reader, volumeIndex, zones: this.#zones, record: this.#record };
  }

  /** Save into the next save slot (see writeSave). */
  async #save(): Promise<void> {
    this.#saveSequence++;
    await writeSave(this.#parts(), this.#newest, this.#oldest, this.#stats, this.#saveSequence);
  }

  /** Open: seals, then the newest valid save, or a rebuild and the next chapter; the saves invalidated. */
  async #load(): Promise<void> {
    const state = await loadIndex(this.#parts(), this.#stats);
    this.#saveSequence = state.sequence;
    this.#oldest = state.oldest;
    if (state.rebuilt) this.#openChapter(state.newest);
    else this.#newest = state.newest;
  }
}
