// The deduplicating snapshot store: one page layer (`@deja/storage`'s PageStore, page size =
// chunk size) holds the chunks as data pages, with their reference counts in its space map, and
// the metadata as metadata pages: the header, the block map of the live volume, the name table,
// the dirty bitmap, the snapshot table and the exception store of `@deja/exception-store`. A
// dedup index (`@deja/dedup-index`) on a storage of its own gives advice: it is never trusted
// blindly, and the store opens and rebuilds it when it is lost.
//
// How a chunk write flows (DESIGN: "How a write flows"): an all-zero chunk maps to "unmapped";
// otherwise the chunk's content name (SHA-256/128) is posted to the index with a freshly
// allocated physical chunk. Advice of an earlier chunk is taken only if that chunk is still live,
// still carries the name and (with verify) has the same bytes; then it gains a reference and the
// fresh chunk goes back unused. Otherwise the fresh chunk is written and named. Before the block
// map changes, snapshots that still share the old content get an exception that keeps a reference
// to the old physical chunk: copy-on-write without a copy.

import { DedupIndex } from '@deja/dedup-index';
import {
  type AllocationRequest,
  type ExceptionAllocator,
  ExceptionStore,
  maxMaskWidth,
  type PageTransactionLike,
} from '@deja/exception-store';
import { HBitmap } from '@deja/hbitmap';
import { PageStore, type PageTransaction } from '@deja/page-store';
import type { Storage } from '@deja/storage';
import { FileStorage } from '@deja/storage-file';
import { type ChunkCodec, deflateCodec, loadCodec, zstdCodec } from './_codec';
import { chainPages, createIndex, openLocation, readChain, writeChain } from './_files';
import { isZero, NAME_BYTES, nameOf, sameBytes } from './_hash';
import { type BatchNames, type HashPool, hashBatch } from './_hash-pool';
import { HotPages } from './_hot';
import {
  decodeHeader,
  decodeTable,
  EXCEPTIONS_ROOT,
  encodeHeader,
  encodeTable,
  HEADER_ROOT,
  type Header,
  type SnapshotRecord,
} from './_layout';
import { getU32, type LeafSlot, MetaCache, type MetaHost, RadixArray, setU32 } from './_meta';
import {
  decodePackedDirectory,
  encodePackedPage,
  fragmentRefused,
  locatePackedFragment,
  MAX_FRAGMENTS,
  PagePacker,
  readPackedFragment,
} from './_packed';
import {
  checkRange,
  checkSize,
  checkSnapshotName,
  checkVersion,
  isRefusal,
  type RawChunks,
  sameHeader,
  settle,
  uncheckedChunks,
  verifyBatch,
} from './_util';
import { StoreError, wrapError } from './errors';
import {
  type CheckProblem,
  type CheckReport,
  type CompactReport,
  DATA_FILE,
  type Extent,
  LIVE,
  type LongOptions,
  MAX_CHUNK,
  MIN_CHUNK,
  type Range,
  type RecoveryReport,
  type SnapshotInfo,
  type SnapshotUsage,
  type StoreCreateOptions,
  type StoreLocation,
  type StoreOpenOptions,
  type StoreStats,
} from './types';
import { Volume } from './volume';

interface SnapState extends SnapshotRecord {}

/** A little-endian u16 of `buf` at `off`. */
function getU16(buf: Uint8Array, off: number): number {
  return (buf[off] as number) | ((buf[off + 1] as number) << 8);
}

/** Stores a little-endian u16 into `buf` at `off`. */
function setU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
}

/** Copies the name at `src[si..]` to `dst[di..]` (no view made). */
function copyName(dst: Uint8Array, di: number, src: Uint8Array, si: number): void {
  for (let i = 0; i < NAME_BYTES; i++) dst[di + i] = src[si + i] as number;
}

/**
 * The names and 16-byte index metadata of the batch entries `rows` (indexes into `names` and
 * `metas`), packed side by side for one batch request to the index.
 */
function pickRows(names: Uint8Array, metas: Uint8Array, rows: number[]): [Uint8Array, Uint8Array] {
  const n = new Uint8Array(rows.length * NAME_BYTES);
  const m = new Uint8Array(rows.length * 16);
  for (let i = 0; i < rows.length; i++) {
    const j = rows[i] as number;
    copyName(n, i * NAME_BYTES, names, j * NAME_BYTES);
    m.set(metas.subarray(j * 16, j * 16 + 16), i * 16);
  }
  return [n, m];
}

/** Whether the 16-byte names at `a[ai]` and `b[bi]` are equal. */
function sameName(a: Uint8Array, ai: number, b: Uint8Array, bi: number): boolean {
  for (let i = 0; i < NAME_BYTES; i += 4) if (getU32(a, ai + i) !== getU32(b, bi + i)) return false;
  return true;
}

/** Records of a dedup index sized by the volume: twice its chunks, at least 65,536. */
function defaultIndexRecords(chunks: number): number {
  return Math.max(65536, 2 * chunks);
}

/** Data written between two write-backs (PageStore.writeBack) during long writes. */
const WRITE_BACK_BYTES = 32 << 20;

/** Bytes of a fragment-table item: name (16), reference count (u32), length (u16), spare (u16). */
const FRAG_BYTES = 24;
/** Offsets of the count and the length in a fragment-table item. */
const FRAG_COUNT = 16;
const FRAG_LENGTH = 20;
/** Dead share of the packed pages' bytes past which deleting a snapshot also compacts. */
const AUTO_COMPACT = 0.5;
/** Pages a compressed store can address: a reference (page x 16 + state) + 1 fits a u32. */
const MAX_PACKED_PAGES = 2 ** 28 - 1;

/** The codec a store is created with, from its options. */
async function codecFor(options: StoreCreateOptions): Promise<ChunkCodec | undefined> {
  const c = options.compression ?? 'off';
  if (c === 'off') {
    if (options.compressionLevel !== undefined)
      throw new RangeError('compressionLevel needs a compression other than off');
    return undefined;
  }
  if (c === 'zstd') return zstdCodec(options.compressionLevel ?? 1);
  if (c === 'deflate') return deflateCodec(options.compressionLevel ?? 1);
  throw new RangeError(`compression must be 'off', 'zstd' or 'deflate', got ${String(c)}`);
}

/** Whole chunks a batched write takes at a time (one dedup-index request per batch). */
const BATCH_CHUNKS = 256;
/** Bytes of checked pages a store keeps for later reads (see Store.#hot). */
const HOT_BYTES = 4 * 1024 * 1024;
/** Where fragments' keys start in {@link Store.#hot} (above any page number). */
const HOT_FRAGMENT = 2 ** 40;

/** Allocator handed to the exception store: copy-on-write keeps a reference, never copies. */
class ReferenceAllocator implements ExceptionAllocator {
  staged = -1;
  /** Set once the store exists (the exception store is opened before it). */
  store: Store | undefined;
  async allocate(txn: PageTransactionLike, request: AllocationRequest): Promise<number> {
    if (request.kind === 'snapshot') {
      const p = this.staged;
      if (p < 0) throw new StoreError('ERR_INVALID_STATE', 'internal: no staged chunk for a snapshot write');
      this.staged = -1;
      return p;
    }
    return (this.store as Store)._originChunkForCopy(txn, request.chunk);
  }
  release(txn: PageTransactionLike, chunk: number): Promise<void> {
    return (this.store as Store)._releaseForExceptions(txn, chunk);
  }
}

/**
 * A deduplicating snapshot store. Every method returning a promise rejects (never throws) with
 * {@link StoreError}, `TypeError` or `RangeError`. Operations run one at a time in call order.
 */
export class Store {
  readonly chunkSize: number;
  /** The page layer's `dataWrites` at the last write-back (#maybeCommit). */
  #writtenBack = 0;
  readonly #pages: PageStore;
  readonly #indexStorage: Storage | undefined;
  #index: DedupIndex | undefined;
  readonly #ex: ExceptionStore;
  readonly #alloc: ReferenceAllocator;
  readonly #cache: MetaCache;
  readonly #blockMap: RadixArray;
  readonly #names: RadixArray;
  /**
   * Compressed stores: the fragment table, keyed by fragment reference (page x 16 + slot + 1):
   * per fragment its name (16 bytes), reference count (u32) and length (u16).
   */
  readonly #frags: RadixArray;
  /** The store's codec; undefined when compression is off. */
  readonly #codec: ChunkCodec | undefined;
  /**
   * Whether references name fragments: in a compressed store a reference is page x 16 + state
   * (0: the whole page is the chunk, 1..14: fragment state - 1 of a packed page); otherwise a
   * reference is the page.
   */
  readonly #packed: boolean;
  /** The reference of the zero chunk exceptions point to for "zeros here". */
  readonly #zeroRef: number;
  /**
   * Fragments the exception store released in its own transactions (a snapshot deletion), to be
   * released in the store's once it is done (see _releaseForExceptions).
   */
  #deferred: number[] = [];
  /**
   * Chunks checked against their names, a chunk many places share mostly: pages read with no
   * neighbour in their read, and stored chunks a write's dedup advice named and whose bytes it
   * compared. A later read takes them from here, and a later write's advice compares with them,
   * when the store still gives them that name (a freed and reused page has another): neither
   * read nor hashed again. Least recently used first, in one slab of at most {@link HOT_BYTES}.
   */
  #hot: HotPages | undefined;
  /** The dirty map on disk (radix pages of bits, written with every commit). */
  readonly #dirty: RadixArray;
  /**
   * The same bits in memory: an hbitmap (one bit per live chunk), for O(1) tests on the write path
   * and fast iteration. Its size only grows (to the most chunks the volume had).
   */
  #dirtyBits: HBitmap;
  #header: Header;
  #committedHeader: Header;
  #snapshots: SnapState[];
  #tableDirty = false;
  #tx: PageTransaction | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #failed: unknown;
  /** Compare bytes before sharing a chunk the index suggests. */
  verify: boolean;
  /** Check every chunk read against its content name (default true). */
  verifyReads: boolean;
  readonly #where: string;

  private constructor(
    pages: PageStore,
    ex: ExceptionStore,
    alloc: ReferenceAllocator,
    header: Header,
    table: SnapshotRecord[],
    indexStorage: Storage | undefined,
    index: DedupIndex | undefined,
    cachePages: number,
    verify: boolean,
    where: string,
    codec: ChunkCodec | undefined,
  ) {
    this.#pages = pages;
    this.#ex = ex;
    this.#alloc = alloc;
    this.#header = header;
    this.#committedHeader = { ...header };
    this.#snapshots = table;
    this.#indexStorage = indexStorage;
    this.#index = index;
    this.chunkSize = header.chunkSize;
    this.verify = verify;
    this.verifyReads = true;
    this.#where = where;
    this.#codec = codec;
    this.#packed = codec !== undefined;
    this.#zeroRef = this.#packed ? header.zeroPage * 16 : header.zeroPage;
    const host: MetaHost = {
      payload: pages.metaPayloadSize,
      read: (page) => (this.#tx ? this.#tx.readMeta(page) : pages.readMeta(page)),
      write: (page, payload) => this.#txn().writeMeta(page, payload),
      allocate: () => this.#txn().allocate('meta'),
      free: (page) => this.#txn().decRef(page),
    };
    this.#cache = new MetaCache(host, cachePages);
    this.#blockMap = new RadixArray(this.#cache, 4, header.blockMap);
    this.#names = new RadixArray(this.#cache, NAME_BYTES, header.names);
    this.#dirty = new RadixArray(this.#cache, 1, header.dirty);
    this.#frags = new RadixArray(this.#cache, FRAG_BYTES, header.fragments);
    this.#dirtyBits = new HBitmap(Math.max(1, Math.ceil(header.size / header.chunkSize)));
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /**
   * Creates an empty store.
   *
   * @param location - a directory (created if missing; it must not hold a store), or storage
   *   adapters: `data` for the page layer, `index` for the dedup index (omit it to run without).
   * @throws StoreError `ERR_EXISTS`, `ERR_LOCKED`, `ERR_IO`; RangeError for bad options.
   */
  static async create(location: StoreLocation, options: StoreCreateOptions): Promise<Store> {
    const chunkSize = options.chunkSize ?? 4096;
    if (
      !Number.isInteger(chunkSize) ||
      chunkSize < MIN_CHUNK ||
      chunkSize > MAX_CHUNK ||
      (chunkSize & (chunkSize - 1)) !== 0
    ) {
      throw new RangeError(
        `chunkSize must be a power of two from ${MIN_CHUNK} to ${MAX_CHUNK}, got ${chunkSize}`,
      );
    }
    checkSize(options.size, 'size');
    const cachePages = options.cachePages ?? 1024;
    const codec = await codecFor(options);
    const { data, index, where, owned } = await openLocation(location, true);
    try {
      const pages = await PageStore.create(data, {
        pageSize: chunkSize,
        ...(options.initialPages !== undefined ? { pageCount: options.initialPages } : { pageCount: 16 }),
        ...(options.journalPages !== undefined ? { journalPages: options.journalPages } : {}),
        cachePages: Math.max(64, cachePages >>> 2),
      });
      const widthLimit = maxMaskWidth(pages.metaPayloadSize);
      const maskWidth = options.maxSnapshots ?? Math.min(256, widthLimit);
      if (!Number.isInteger(maskWidth) || maskWidth < 32 || maskWidth % 32 !== 0 || maskWidth > widthLimit) {
        throw new RangeError(
          `maxSnapshots must be a multiple of 32 from 32 to ${widthLimit} with ${chunkSize}-byte chunks, got ${maskWidth}`,
        );
      }
      const chunks = Math.ceil(options.size / chunkSize);
      const indexRecords = options.index?.records ?? defaultIndexRecords(chunks);
      if (!Number.isSafeInteger(indexRecords) || indexRecords < 256)
        throw new RangeError(`index.records must be an integer of at least 256, got ${indexRecords}`);
      // The exception store commits first; the header, committed last, marks a complete store
      // (a crash before it leaves none: open says ERR_NOT_FOUND, create again).
      const alloc = new ReferenceAllocator();
      const ex = await ExceptionStore.create(pages, {
        maskWidth,
        root: EXCEPTIONS_ROOT,
        allocator: alloc,
        cachePages: Math.max(64, cachePages),
      });
      const tx = pages.begin();
      const zeroPage = await tx.allocate('data');
      await tx.writeData(zeroPage, new Uint8Array(chunkSize));
      const headerPage = await tx.allocate('meta');
      const header: Header = {
        chunkSize,
        verify: options.verify ?? true,
        size: options.size,
        created: Date.now(),
        blockMap: { root: -1, height: 1 },
        names: { root: -1, height: 1 },
        dirty: { root: -1, height: 1 },
        zeroPage,
        table: -1,
        mapped: 0,
        dataChunks: 0,
        indexRecords,
        indexSparse: options.index?.sparse ?? false,
        indexFixed: options.index?.records !== undefined,
        releasesPending: false,
        codec: codec?.id ?? 0,
        codecLevel: codec ? (options.compressionLevel ?? 1) : 0,
        fragments: { root: -1, height: 1 },
        dataPages: 0,
        packedPages: 0,
        deadBytes: 0,
      };
      tx.writeMeta(headerPage, encodeHeader(header, pages.metaPayloadSize));
      tx.setRoot(HEADER_ROOT, headerPage);
      await tx.commit();
      const dedup = index ? await createIndex(index, header) : undefined;
      const store = new Store(
        pages,
        ex,
        alloc,
        header,
        [],
        index,
        dedup,
        cachePages,
        header.verify,
        where,
        codec,
      );
      alloc.store = store;
      store.#owned = owned;
      return store;
    } catch (e) {
      if (owned) {
        await data.close().catch(() => {});
        await index?.close().catch(() => {});
      }
      throw wrapError(e, `create ${where}`);
    }
  }

  /**
   * Opens a store at its last completed flush (recovering from a crash if needed). A lost or
   * damaged dedup index is rebuilt from the stored chunks' names.
   *
   * @throws StoreError `ERR_NOT_FOUND`, `ERR_LOCKED`, `ERR_CORRUPT_DATA` (naming file and page),
   *   `ERR_UNSUPPORTED_VERSION`, `ERR_IO`.
   */
  static async open(location: StoreLocation, options: StoreOpenOptions = {}): Promise<Store> {
    const cachePages = options.cachePages ?? 1024;
    const readOnly = options.readOnly === true;
    const { data, index, where, owned } = await openLocation(location, false, readOnly);
    let pages: PageStore | undefined;
    try {
      pages = await PageStore.open(data, { cachePages: Math.max(64, cachePages >>> 2) });
      const headerPage = pages.getRoot(HEADER_ROOT);
      if (headerPage === undefined) {
        throw new StoreError(
          'ERR_NOT_FOUND',
          `${where}: no store (no header: its creation did not complete; create it again)`,
        );
      }
      const header = decodeHeader(await pages.readMeta(headerPage), headerPage, pages.pageSize, where);
      const table = header.table >= 0 ? decodeTable(await readChain(pages, header.table), where) : [];
      let codec: ChunkCodec | undefined;
      if (header.codec !== 0) {
        codec = await loadCodec(header.codec, header.codecLevel).catch(() => undefined);
        if (codec === undefined)
          throw new StoreError(
            'ERR_UNSUPPORTED_VERSION',
            `${where}: compressed with codec ${header.codec} (level ${header.codecLevel}), which this version does not know`,
          );
      }
      const alloc = new ReferenceAllocator();
      const ex = await ExceptionStore.open(pages, {
        root: EXCEPTIONS_ROOT,
        allocator: alloc,
        cachePages: Math.max(64, cachePages),
        finishDeletes: false,
      });
      const store = new Store(
        pages,
        ex,
        alloc,
        header,
        table,
        index,
        undefined,
        cachePages,
        options.verify ?? header.verify,
        where,
        codec,
      );
      alloc.store = store;
      store.#owned = owned;
      store.verifyReads = options.verifyReads ?? true;
      store.#readOnly = readOnly || data.readOnly;
      await store.#finishOpen();
      return store;
    } catch (e) {
      if (pages) await pages.close().catch(() => {});
      if (owned) {
        await data.close().catch(() => {});
        await index?.close().catch(() => {});
      }
      throw wrapError(e, `open ${where}`);
    }
  }

  async #finishOpen(): Promise<void> {
    await this.#loadDirty();
    if (this.#readOnly) {
      // Nothing is written: a deletion a crash interrupted stays for the next writer to finish;
      // the table just hides what the exception store no longer has.
      const known = new Set(this.#ex.snapshots().map((s) => s.name));
      this.#snapshots = this.#snapshots.filter((s) => known.has(s.name));
      return;
    }
    // A deletion a crash interrupted: finish it in the exception store's own transactions, then
    // drop the snapshots the exception store no longer has from our table.
    await this.#ex.finishDeletes();
    if (this.#ex.dirty) await this.#ex.commit();
    await this.#applyDeferred();
    const known = new Set(this.#ex.snapshots().map((s) => s.name));
    const before = this.#snapshots.length;
    this.#snapshots = this.#snapshots.filter((s) => known.has(s.name));
    const interrupted = this.#snapshots.length !== before;
    if (interrupted || this.#header.releasesPending) {
      // A crash hit between the exception store's deletion and our table's commit, or while
      // fragments it released were being released here: those still count references that no
      // longer exist (space kept, never wrong bytes). Count them again from the references.
      this.#tableDirty ||= interrupted;
      // The flag stays set (and is committed with each step) until the counters are right again.
      this.#header.releasesPending = this.#packed;
      if (this.#packed) await this.#fixFragmentLeaks();
      await this.#recountData();
      await this.#scrubNames();
      this.#header.releasesPending = false;
      await this.#commit();
    }
    // The dedup index is opened when a write first needs advice: a command that only snapshots,
    // deletes, rolls back or checks never loads it, nor saves it at close.
    this.#indexPending = this.#indexStorage !== undefined;
  }

  /** Whether the dedup index still waits to be opened (see #ensureIndex). */
  #indexPending = false;

  /** Opens the dedup index if it waits to be (rebuilding it when it is lost or damaged). */
  async #ensureIndex(): Promise<void> {
    if (!this.#indexPending) return;
    this.#indexPending = false;
    try {
      this.#index = await DedupIndex.open(this.#indexStorage as Storage);
    } catch {
      this.#index = undefined;
    }
    if (!this.#index) await this.#rebuildIndex();
  }

  /**
   * What opening found in the page layer's journal: transactions replayed and, if any, the one it
   * had to drop and why. A crash never costs a flushed write; damage to the medium after a flush
   * can cost the last flushed transaction, and then `dropped` says so (show it to the user).
   */
  get recovery(): RecoveryReport {
    return this.#pages.recovery;
  }

  /** Whether the store was opened read-only (mutations reject with `ERR_READ_ONLY`). */
  get readOnly(): boolean {
    return this.#readOnly;
  }
  #readOnly = false;
  /** Whether the store closes its storages (it opened them, or they were handed over). */
  #owned = false;

  /**
   * @internal Counts the operations that may have changed a version (every mutation, finished or
   * failed): a server that caches what it read of the store drops its cache when it moves.
   */
  get _generation(): number {
    return this.#generation;
  }
  #generation = 0;

  /** Whether the store is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The live volume's size in bytes. */
  get size(): number {
    return this.#header.size;
  }

  /** Most snapshots at once. */
  get maxSnapshots(): number {
    return this.#ex.maxSnapshots;
  }

  /**
   * Makes every acknowledged write durable, in the live volume and every snapshot (one atomic
   * commit of the page layer).
   */
  flush(): Promise<void> {
    return this.#run(false, () => this.#commit());
  }

  /**
   * Flushes, saves the dedup index and closes every file. Idempotent. With `discard: true` it
   * does not flush: what the last flush did not cover is dropped (the store reopens at that
   * flush), as after Ctrl-C.
   */
  close(options: { discard?: boolean } = {}): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#enqueue(async () => {
      if (this.#closed) return;
      let error: unknown;
      // A clean close leaves no journal on the medium (see PageStore.close).
      let checkpoint = false;
      if (options.discard === true) {
        // Drop what the last flush did not cover: the store stays at that flush.
        if (this.#exAttached) await this.#ex.detachTransaction('abort').catch(() => {});
        this.#exAttached = false;
        this.#tx?.abort();
        this.#tx = undefined;
      } else if (this.#failed === undefined && !this.#readOnly) {
        try {
          await this.#commit();
          checkpoint = true;
        } catch (e) {
          error = e;
        }
      }
      this.#closed = true;
      this.#hot = undefined;
      await this.#index?.close().catch((e) => {
        error ??= e;
      });
      await this.#ex.close().catch(() => {});
      await this.#pages.close({ checkpoint }).catch((e) => {
        error ??= e;
      });
      // What the store opened (a directory's files, or adapters handed over), it closes; adapters
      // the caller kept stay open for the caller.
      if (this.#owned) {
        await this.#indexStorage?.close().catch(() => {});
        await this.#pages.storage.close().catch((e) => {
          error ??= e;
        });
      }
      if (error !== undefined) throw wrapError(error, `close ${this.#where}`);
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- volumes --------------------------------------------------------------------------------

  /**
   * A version as a volume: `LIVE` for the live volume or a snapshot's name. Every version reads,
   * writes, discards and flushes the same way.
   *
   * @throws StoreError `ERR_NOT_FOUND` (at the first operation) for an unknown snapshot.
   */
  volume(version: string = LIVE): Volume {
    checkVersion(version);
    return new Volume(this, version);
  }

  /** Reads `length` bytes of the live volume at `offset`. */
  read(offset: number, length: number): Promise<Uint8Array> {
    return this.volume(LIVE).read(offset, length);
  }

  /** Writes `data` into the live volume at `offset` (any alignment). */
  write(offset: number, data: Uint8Array): Promise<void> {
    return this.volume(LIVE).write(offset, data);
  }

  /** Unmaps a range of the live volume: it reads back as zeros, and its chunks are freed. */
  discard(offset: number, length: number): Promise<void> {
    return this.volume(LIVE).discard(offset, length);
  }

  /** @internal */
  _read(version: string, offset: number, length: number): Promise<Uint8Array> {
    return this.#run(false, async () => {
      const size = this.#versionSize(version);
      checkRange(offset, length, size, version);
      const cs = this.chunkSize;
      const first = Math.floor(offset / cs);
      const raw = await this.#readRaw(version, first, Math.ceil((offset + length) / cs) - first);
      if (this.verifyReads) {
        verifyBatch(raw, hashBatch(raw.bytes, cs, uncheckedChunks(raw)), first, this.#where);
        this._keepChecked(raw);
      }
      const from = offset - first * cs;
      return from === 0 && length === raw.bytes.length ? raw.bytes : raw.bytes.slice(from, from + length);
    });
  }

  /**
   * @internal Chunks `first .. first + count - 1` of a version, unverified, with the names they
   * must have: for callers that verify on a HashPool (export, NBD). `into` (at least `count`
   * chunks; a shared buffer, say) receives the bytes instead of a new array; with `fill` false
   * the unmapped chunks' bytes in it are left as they were (a caller that skips them).
   */
  _readRaw(
    version: string,
    first: number,
    count: number,
    into?: Uint8Array,
    fill = true,
    deferFragments = false,
  ): Promise<RawChunks> {
    return this.#run(false, async () => {
      const size = this.#versionSize(version);
      const cs = this.chunkSize;
      checkRange(first * cs, Math.min(count * cs, Math.max(0, size - first * cs)), size, version);
      const need = (deferFragments ? 2 : 1) * count * cs;
      if (into !== undefined && into.length < need)
        throw new RangeError(`_readRaw: ${into.length} bytes cannot take ${count} chunks`);
      return this.#readRaw(version, first, count, into, fill, deferFragments && into !== undefined);
    });
  }

  /**
   * Chunks `first .. first + count - 1` of a version: every mapping resolved first (from cached
   * metadata pages without a promise per chunk when they can), then the chunks read in one
   * batch (neighbours on the medium read together).
   */
  async #readRaw(
    version: string,
    first: number,
    count: number,
    into?: Uint8Array,
    fill = true,
    deferFragments = false,
  ): Promise<RawChunks> {
    const cs = this.chunkSize;
    const bytes = into ?? new Uint8Array(count * cs);
    const names = new Uint8Array(count * NAME_BYTES);
    const physical: number[] = new Array(count).fill(-1);
    const checked = new Uint8Array(count);
    const pages: number[] = [];
    const at: number[] = [];
    const frags: number[] = [];
    const fragAt: number[] = [];
    const pageCount = this.#pageCount();
    const live = version === LIVE;
    for (let i = 0; i < count; i++) {
      const chunk = first + i;
      let ref: number;
      const ex = live ? undefined : this.#ex.lookupCached(version, chunk);
      if (ex === null) {
        ref = await this.#resolve(version, chunk);
      } else if (ex !== undefined) {
        ref = ex === this.#zeroRef ? -1 : ex;
      } else {
        const slot = this.#blockMap.peekLeaf(chunk);
        ref = slot === null ? await this.#liveChunk(chunk) : slot ? getU32(slot.buf, slot.off) - 1 : -1;
      }
      if (ref < 0) {
        if (into !== undefined && fill) bytes.fill(0, i * cs, (i + 1) * cs);
        continue;
      }
      const page = this.#pageOf(ref);
      if (page >= pageCount) {
        throw new StoreError(
          'ERR_CORRUPT_DATA',
          `${this.#where}: chunk ${chunk} maps page ${page}, past the end of ${DATA_FILE}`,
        );
      }
      physical[i] = page;
      const o = i * NAME_BYTES;
      const slot = this.#peekName(ref);
      if (slot === null) {
        names.set(await this.#nameAt(ref), o);
      } else if (slot) {
        const { buf, off } = slot;
        for (let k = 0; k < NAME_BYTES; k++) names[o + k] = buf[off + k] as number;
      }
      if (this.#hot !== undefined && !this.#isFrag(ref) && this.#hot.take(page, names, o, bytes, i * cs)) {
        checked[i] = 1;
        continue;
      }
      if (this.#isFrag(ref)) {
        frags.push(ref);
        fragAt.push(i * cs);
      } else {
        pages.push(page);
        at.push(i * cs);
      }
    }
    if (pages.length > 0) {
      await (this.#tx ? this.#tx.readDataMany(pages, bytes, at) : this.#pages.readDataMany(pages, bytes, at));
    }
    let unpack: { jobs: Int32Array; refs: number[] } | undefined;
    if (frags.length > 0) {
      if (deferFragments)
        unpack = { jobs: await this.#readFragments(frags, bytes, fragAt, count * cs), refs: frags };
      else await this.#readFragments(frags, bytes, fragAt);
    }
    // Pages read alone (no neighbour in this read) may be kept once checked: see keepChecked.
    const alone = new Uint8Array(count);
    if (pages.length > 0) {
      const set = new Set(pages);
      for (let j = 0; j < pages.length; j++) {
        const p = pages[j] as number;
        if (!set.has(p - 1) && !set.has(p + 1)) alone[(at[j] as number) / cs] = 1;
      }
    }
    return { bytes, names, physical, checked, alone, ...(unpack ? { unpack } : {}) };
  }

  /** @internal The codec of a compressed store (undefined: not compressed). */
  get _codec(): ChunkCodec | undefined {
    return this.#codec;
  }

  /** @internal The error for a fragment that does not decompress (see RawChunks.unpack). */
  _fragmentError(ref: number, why: string): StoreError {
    return fragmentRefused(
      `${this.#where}: ${DATA_FILE} page ${ref >>> 4}`,
      (ref & 15) - 1,
      this.#codec?.name ?? 'off',
      why,
    );
  }

  /**
   * @internal Keeps the pages `raw` read alone, once the caller has checked them against their
   * names (callers that do not check never call it: the cache holds checked bytes only), so
   * later reads of them cost neither a read nor a hash. O(chunks kept).
   */
  _keepChecked(raw: RawChunks): void {
    if (this.#closed) return;
    const cs = this.chunkSize;
    for (let i = 0; i < raw.alone.length; i++) {
      if (raw.alone[i] !== 1) continue;
      this.#hot ??= new HotPages(cs, Math.floor(HOT_BYTES / cs));
      this.#hot.keep(raw.physical[i] as number, raw.names, i * NAME_BYTES, raw.bytes, i * cs);
    }
  }

  /**
   * @internal Writes (or with no data, discards); resolves to the chunks whose content changed.
   * `hashed` carries the names of the whole chunks of `data` (from a HashPool), when the caller
   * hashed them already: `hashed.names` 16 bytes and `hashed.zero` one flag per chunk of
   * `data`, which must then start on a chunk boundary. `pool`: in a compressed store, its
   * workers compress two thirds of each batch's new chunks.
   */
  _write(
    version: string,
    offset: number,
    data: Uint8Array | undefined,
    length: number,
    hashed?: BatchNames,
    pool?: HashPool,
  ): Promise<number> {
    return this.#run(true, async () => {
      const size = this.#versionSize(version);
      checkRange(offset, length, size, version);
      if (data !== undefined) await this.#ensureIndex();
      const cs = this.chunkSize;
      // A compressed store packs what goes through the batched path: whole chunks of the live
      // volume, named first (one at a time they would each take a page of their own).
      // `hashed` names the whole chunks of data from `named` on.
      let named = offset;
      if (hashed === undefined && data !== undefined && this.#packed && version === LIVE) {
        const lead = (cs - (offset % cs)) % cs;
        const whole = Math.floor((length - Math.min(lead, length)) / cs);
        if (whole > 0) {
          hashed = hashBatch(data.subarray(lead, lead + whole * cs), cs);
          named = offset + lead;
        }
      }
      let pos = offset;
      const end = offset + length;
      let changed = 0;
      // Data pages are written without waiting for each (the storage keeps call order, so a
      // later read sees them); the batch is awaited every so often and at the end.
      const writes: Promise<void>[] = [];
      try {
        while (pos < end) {
          const chunk = Math.floor(pos / cs);
          const inChunk = pos - chunk * cs;
          const n = Math.min(cs - inChunk, end - pos);
          let content: Uint8Array | undefined;
          let known: { name: Uint8Array | undefined } | undefined;
          if (version === LIVE && hashed && data && n === cs && this.#index) {
            // The import path: whole chunks with names known, many at a time.
            const i = (pos - named) / cs;
            // A compressed store's batch touches more metadata pages: a small journal takes fewer chunks.
            const batch = this.#packed
              ? Math.max(16, Math.min(BATCH_CHUNKS, this.#pages.journalPages >> 2))
              : BATCH_CHUNKS;
            const count = Math.min(Math.floor((end - pos) / cs), batch);
            changed += await this.#writeLiveBatch(
              chunk,
              data.subarray(pos - offset, pos - offset + count * cs),
              hashed,
              i,
              count,
              writes,
              pool,
            );
            pos += count * cs;
            await settle(writes);
            await this.#maybeCommit(writes);
            continue;
          }
          if (n === cs) {
            content = data?.subarray(pos - offset, pos - offset + n);
            if (hashed) {
              const i = (pos - named) / cs;
              known = {
                name:
                  hashed.zero[i] === 1
                    ? undefined
                    : hashed.names.subarray(i * NAME_BYTES, (i + 1) * NAME_BYTES),
              };
            }
          } else {
            // Read-modify-write of a partial chunk.
            const phys = await this.#resolve(version, chunk);
            content = phys >= 0 ? (await this.#readChunk(phys, chunk)).slice() : new Uint8Array(cs);
            if (data) content.set(data.subarray(pos - offset, pos - offset + n), inChunk);
            else content.fill(0, inChunk, inChunk + n);
          }
          if (await this.#writeChunk(version, chunk, content, known, writes)) changed++;
          pos += n;
          if (writes.length >= 256) await settle(writes);
          await this.#maybeCommit(writes);
        }
      } finally {
        await settle(writes);
      }
      return changed;
    });
  }

  /**
   * @internal Grows the page layer ahead of `chunks` new chunks (an import of a known size), so
   * it grows once instead of doubling step by step (each growth costs a flush).
   */
  _reserve(chunks: number): Promise<void> {
    return this.#run(true, async () => {
      const tx = this.#txn();
      const used = tx.pageCount - this.#pages.freePageCount();
      // Only a first import into a nearly empty store knows it needs about that many pages;
      // a later one mostly rewrites chunks it has, and doubling growth covers the rest.
      if (used > chunks / 8) return;
      // Metadata comes on top: names (1/250 of the chunks), block map (1/1000), slack.
      const want = used + chunks + Math.ceil(chunks / 64) + 64;
      if (want > tx.pageCount) await tx.grow(want);
    });
  }

  /** @internal */
  _allocation(version: string, offset: number, length: number): Promise<Extent[]> {
    return this.#run(false, async () => {
      const size = this.#versionSize(version);
      checkRange(offset, length, size, version);
      const out: Extent[] = [];
      const cs = this.chunkSize;
      let pos = offset;
      const end = offset + length;
      while (pos < end) {
        const chunk = Math.floor(pos / cs);
        const n = Math.min((chunk + 1) * cs, end) - pos;
        // The live volume's mapping from cached block-map pages without a promise per chunk.
        const slot = version === LIVE ? this.#blockMap.peekLeaf(chunk) : null;
        const zero =
          slot === null
            ? (await this.#resolve(version, chunk)) < 0
            : slot === undefined || getU32(slot.buf, slot.off) === 0;
        const last = out[out.length - 1];
        if (last && last.zero === zero) (last as { length: number }).length += n;
        else out.push({ offset: pos, length: n, zero });
        pos += n;
      }
      return out;
    });
  }

  /** @internal */
  _flush(): Promise<void> {
    return this.flush();
  }

  /** @internal */
  _size(version: string): number {
    return this.#versionSize(version);
  }

  /**
   * Grows (or shrinks) the live volume. Shrinking unmaps the chunks past the new end (snapshots
   * keep theirs); growing adds zeros.
   */
  resize(size: number): Promise<void> {
    return this.#run(true, async () => {
      checkSize(size, 'size');
      await this.#resize(size);
    });
  }

  // ---- snapshots ------------------------------------------------------------------------------

  /**
   * Takes a snapshot of the live volume as it is now (every write called before it is in it) and
   * flushes. O(1) in the volume's size.
   *
   * @throws StoreError `ERR_EXISTS`, `ERR_TOO_MANY_SNAPSHOTS`.
   */
  createSnapshot(name: string): Promise<SnapshotInfo> {
    return this.#run(true, async () => {
      checkSnapshotName(name);
      if (this.#find(name)) throw new StoreError('ERR_EXISTS', `snapshot '${name}' already exists`);
      await this.#ensureTx();
      await this.#ex.createSnapshot(name);
      const record: SnapState = { name, created: Date.now(), size: this.#header.size };
      this.#snapshots.push(record);
      this.#tableDirty = true;
      // Changes are now counted from this snapshot.
      await this.#dirty.clear();
      this.#dirtyBits.resetAll();
      await this.#commit();
      return { ...record };
    });
  }

  /** The snapshots, oldest first. */
  listSnapshots(): SnapshotInfo[] {
    this.#checkOpen();
    return this.#snapshots.map((s) => ({ name: s.name, created: s.created, size: s.size }));
  }

  /**
   * What each snapshot holds alone (freed by deleting it) and holds as its own copy but shares
   * with other snapshots. O(exception-store leaves) per snapshot.
   */
  snapshotUsage(name: string): Promise<SnapshotUsage> {
    return this.#run(false, async () => {
      this.#snap(name);
      const { exceptions } = await this.#ex.exclusiveChunks(name);
      const perPhys = new Map<number, number>();
      for (const p of exceptions) perPhys.set(p, (perPhys.get(p) ?? 0) + 1);
      let exclusive = 0;
      let shared = 0;
      for (const [ref, n] of perPhys) {
        if (ref === this.#zeroRef) continue;
        // A fragment counts its compressed length (what its death gives back, once its page goes).
        const bytes = this.#isFrag(ref) ? await this.#fragLength(ref) : this.chunkSize;
        if ((await this.#refsOf(ref)) === n) exclusive += bytes;
        else shared += bytes;
      }
      return { name, exclusiveBytes: exclusive, sharedBytes: shared };
    });
  }

  /**
   * Deletes a snapshot and frees, at once, every chunk only it held. Flushes first.
   *
   * @returns the bytes freed.
   * @throws StoreError `ERR_NOT_FOUND`.
   */
  deleteSnapshot(name: string): Promise<number> {
    return this.#run(true, async () => {
      this.#snap(name);
      await this.#commit();
      const freeBefore = this.#pages.freePageCount();
      await this.#ex.deleteSnapshot(name);
      if (this.#ex.dirty) await this.#ex.commit();
      // The exception store committed its own transactions; our table follows in ours. The
      // counters followed every release (#freed, #release), so nothing is recounted: a recount
      // walked the block map, the names and the whole exception tree, 80-100 ms of a 1 GiB
      // volume's deletion. (check() compares the counters with a recount.)
      this.#snapshots = this.#snapshots.filter((s) => s.name !== name);
      this.#tableDirty = true;
      await this.#applyDeferred();
      await this.#commit();
      // A compressed store compacts on its own once half its packed pages' bytes are dead.
      const h = this.#header;
      if (this.#packed && h.deadBytes >= AUTO_COMPACT * h.packedPages * this.chunkSize && h.deadBytes > 0)
        await this.#compact(0.25, {});
      const freed = this.#pages.freePageCount() - freeBefore;
      return Math.max(0, freed) * this.chunkSize;
    });
  }

  /**
   * Rolls the live volume back to a snapshot (the snapshot stays, as with `zfs rollback`); the
   * live volume's current content is gone unless snapshotted first. Flushes. O(chunks the
   * snapshot holds its own copy of).
   */
  rollback(name: string): Promise<void> {
    return this.#run(true, async () => {
      const snap = this.#snap(name);
      const chunks = await this.#ex.diff(name, null);
      if (snap.size > this.#header.size) await this.#resize(snap.size);
      for (const chunk of chunks) {
        if (chunk * this.chunkSize >= snap.size) continue;
        const ref = (await this.#ex.lookup(name, chunk)) as number;
        const target = ref === this.#zeroRef ? -1 : ref;
        if (target >= 0) await this.#incRef(target);
        await this.#setLive(chunk, target);
        await this.#maybeCommit();
      }
      if (snap.size < this.#header.size) await this.#resize(snap.size);
      await this.#commit();
    });
  }

  // ---- diffs ----------------------------------------------------------------------------------

  /**
   * The byte ranges where two versions differ (LIVE or snapshot names), sorted and merged, in one
   * pass over the exception store. Ranges past the smaller version's end count as changed.
   */
  diff(a: string, b: string): Promise<Range[]> {
    return this.#run(false, async () => {
      const chunks = await this.#diffChunks(a, b);
      return this.#toRanges(chunks, Math.max(this.#versionSize(a), this.#versionSize(b)));
    });
  }

  /** The live volume's ranges written since the newest snapshot (from the dirty map). */
  changedSinceSnapshot(): Promise<Range[]> {
    return this.#run(false, async () => {
      const chunks: number[] = [];
      const limit = Math.ceil(this.#header.size / this.chunkSize);
      for (let c = this.#dirtyBits.nextDirty(0); c >= 0 && c < limit; c = this.#dirtyBits.nextDirty(c + 1)) {
        chunks.push(c);
      }
      return this.#toRanges(chunks, this.#header.size);
    });
  }

  async #diffChunks(a: string, b: string): Promise<number[]> {
    checkVersion(a);
    checkVersion(b);
    const sa = this.#versionSize(a);
    const sb = this.#versionSize(b);
    if (a === b) return [];
    // Past the smaller version's end everything counts as changed, from the chunk holding its end.
    const minChunks =
      sa === sb ? Math.ceil(sa / this.chunkSize) : Math.floor(Math.min(sa, sb) / this.chunkSize);
    const maxChunks = Math.ceil(Math.max(sa, sb) / this.chunkSize);
    const out: number[] = [];
    if (a !== LIVE || b !== LIVE) {
      const candidates = await this.#ex.diff(a === LIVE ? null : a, b === LIVE ? null : b);
      for (const c of candidates) {
        if (c >= minChunks) break;
        const pa = await this.#resolve(a, c);
        const pb = await this.#resolve(b, c);
        if (pa !== pb) out.push(c);
      }
    }
    for (let c = minChunks; c < maxChunks; c++) out.push(c);
    return out;
  }

  #toRanges(chunks: number[], size: number): Range[] {
    const out: { offset: number; length: number }[] = [];
    const cs = this.chunkSize;
    for (const c of chunks) {
      const offset = c * cs;
      const length = Math.min(cs, size - offset);
      if (length <= 0) continue;
      const last = out[out.length - 1];
      if (last && last.offset + last.length === offset) last.length += length;
      else out.push({ offset, length });
    }
    return out;
  }

  // ---- stats and check ------------------------------------------------------------------------

  /** Space and dedup figures. O(snapshots) (no scan). */
  stats(): Promise<StoreStats> {
    return this.#run(false, async () => {
      const h = this.#header;
      const cs = this.chunkSize;
      const usedPages = this.#pages.pageCount - this.#pages.freePageCount();
      const dataPages = this.#packed ? h.dataPages : h.dataChunks;
      const metaPages = Math.max(0, usedPages - dataPages - 1);
      if (!this.#readOnly) await this.#ensureIndex();
      // The index file is sparse (its chapters are laid out ahead): a local file counts the
      // blocks it holds, other storage its length.
      const indexFile = this.#indexStorage;
      const indexBytes =
        indexFile === undefined
          ? 0
          : indexFile instanceof FileStorage
            ? indexFile.allocatedBytes()
            : await indexFile.size();
      const dataBytes = dataPages * cs;
      const metadataBytes = metaPages * cs + indexBytes;
      const totalChunks = Math.ceil(h.size / cs);
      const idx = this.#index?.getStats();
      return {
        chunkSize: cs,
        logicalBytes: h.size,
        zeroChunks: totalChunks - h.mapped,
        mappedChunks: h.mapped,
        distinctChunks: h.dataChunks,
        dataBytes,
        metadataBytes,
        storedBytes: dataBytes + metadataBytes,
        dedupRatio: dataBytes === 0 ? 0 : (h.mapped * cs) / dataBytes,
        indexBytesPerRecord: idx ? idx.bytesPerRecord : 0,
        indexRecords: idx ? (this.#index?.geometry.recordsPerVolume ?? h.indexRecords) : h.indexRecords,
        indexSparse: idx ? (this.#index?.geometry.sparseChaptersPerVolume ?? 0) > 0 : h.indexSparse,
        snapshots: this.#snapshots.length,
        indexAvailable: this.#index !== undefined,
        compression: this.#codec?.name ?? 'off',
        packedPages: h.packedPages,
        deadFragmentBytes: h.deadBytes,
      };
    });
  }

  /**
   * Checks the whole store: every reference count equals the references to its chunk (live block
   * map and exceptions), no page leaked, every structure's invariants, the counters; with
   * `data: true` every chunk's bytes against its name. With `repair: true` it fixes reference
   * counts and leaks and rebuilds the dedup index. Flushes first.
   */
  check(options: { data?: boolean; repair?: boolean } & LongOptions = {}): Promise<CheckReport> {
    return this.#run(options.repair === true, () => this.#check(options));
  }

  async #check(options: { data?: boolean; repair?: boolean } & LongOptions): Promise<CheckReport> {
    await this.#commit();
    const problems: CheckProblem[] = [];
    const h = this.#header;
    const cs = this.chunkSize;
    const pageCount = this.#pages.pageCount;
    /** References found, per reference (a page, or in a compressed store page x 16 + state). */
    const refs = new Map<number, number>();
    const meta = new Set<number>();
    const add = (ref: number) => refs.set(ref, (refs.get(ref) ?? 0) + 1);
    const headerPage = this.#pages.getRoot(HEADER_ROOT) as number;
    meta.add(headerPage);
    // Live block map.
    const chunks = Math.ceil(h.size / cs);
    let mapped = 0;
    await this.#blockMap.forEachLeaf((first, buf) => {
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (let i = 0; i < this.#blockMap.perLeaf; i++) {
        const v = dv.getUint32(i * 4, true);
        if (v === 0) continue;
        const chunk = first + i;
        if (chunk >= chunks) {
          problems.push({
            kind: 'structure',
            message: `block map maps chunk ${chunk} past the volume's end`,
          });
          continue;
        }
        mapped++;
        const page = this.#pageOf(v - 1);
        if (page >= pageCount)
          problems.push({
            kind: 'dangling',
            message: `chunk ${chunk} maps page ${page}, past the end`,
            page,
          });
        else add(v - 1);
      }
    });
    if (mapped !== h.mapped)
      problems.push({
        kind: 'counter',
        message: `header counts ${h.mapped} mapped chunks, the block map has ${mapped}`,
      });
    for (const tree of [this.#blockMap, this.#names, this.#dirty, this.#frags])
      for (const p of await tree.pages()) meta.add(p);
    if (h.table >= 0) for (const p of await chainPages(this.#pages, h.table)) meta.add(p);
    // Exceptions.
    try {
      const report = await this.#ex.check({ uniqueChunks: false });
      for (const p of report.metaPages) meta.add(p);
      for (const r of report.exceptionChunks) add(r);
      for (const r of report.pendingReleases) add(r);
    } catch (e) {
      problems.push({ kind: 'structure', message: `exception store: ${(e as Error).message}` });
    }
    add(this.#zeroRef);
    // Fragments: every reference to one must find it live, with that many references counted.
    const fragFixes: { ref: number; count: number }[] = [];
    const packed = new Map<number, number>(); // packed page -> live fragments referenced
    let liveFragments = 0;
    let deadBytes = 0;
    if (this.#packed) {
      const items = new Map<number, { count: number; length: number }>();
      const frags = this.#frags;
      await frags.forEachLeaf((first, buf) => {
        for (let i = 0; i < frags.perLeaf; i++) {
          const off = i * FRAG_BYTES;
          const count = getU32(buf, off + FRAG_COUNT);
          const length = getU16(buf, off + FRAG_LENGTH);
          if (count !== 0 || length !== 0) items.set(first + i, { count, length });
        }
      });
      for (const [ref, n] of refs) {
        if (!this.#isFrag(ref)) continue;
        const item = items.get(ref);
        const where = `fragment ${(ref & 15) - 1} of page ${ref >>> 4}`;
        if (item === undefined || item.count === 0)
          problems.push({
            kind: 'dangling',
            message: `${where} is referenced ${n} times but free`,
            page: ref >>> 4,
          });
        else if (item.count !== n)
          problems.push({
            kind: 'refcount',
            message: `${where} counts ${item.count} references, ${n} exist`,
            page: ref >>> 4,
          });
        if (item === undefined || item.count !== n) fragFixes.push({ ref, count: n });
        liveFragments++;
        packed.set(ref >>> 4, (packed.get(ref >>> 4) ?? 0) + 1);
      }
      for (const [ref, item] of items) {
        if (item.count > 0 && !refs.has(ref)) {
          problems.push({
            kind: 'leak',
            message: `fragment ${(ref & 15) - 1} of page ${ref >>> 4} counts ${item.count} references but nothing refers to it`,
            page: ref >>> 4,
          });
          fragFixes.push({ ref, count: 0 });
        }
        if (!refs.has(ref) && packed.has(ref >>> 4)) deadBytes += item.length;
      }
    }
    /** What each page's count must be: a raw chunk's references; a packed page's live fragments. */
    const expectedOf = (p: number): number =>
      meta.has(p) ? 1 : (packed.get(p) ?? refs.get(this.#rawRef(p)) ?? 0);
    // Every page.
    let dataPages = 0;
    let rawChunks = 0;
    const fixes: { page: number; delta: number }[] = [];
    for (let p = 0; p < pageCount; p++) {
      const rc = this.#pages.refCount(p);
      const expected = expectedOf(p);
      if (!meta.has(p) && expected > 0 && p !== h.zeroPage) {
        dataPages++;
        if (!packed.has(p)) rawChunks++;
      }
      if (rc === expected) continue;
      if (meta.has(p) && (refs.has(this.#rawRef(p)) || packed.has(p))) {
        problems.push({ kind: 'structure', message: `page ${p} is both metadata and a data chunk`, page: p });
        continue;
      }
      if (expected === 0)
        problems.push({
          kind: 'leak',
          message: `page ${p} has ${rc} references but nothing refers to it`,
          page: p,
        });
      else if (rc === 0)
        problems.push({
          kind: 'dangling',
          message: `page ${p} is referenced ${expected} times but free`,
          page: p,
        });
      else
        problems.push({
          kind: 'refcount',
          message: `page ${p} counts ${rc} references, ${expected} exist`,
          page: p,
        });
      if (rc > 0 || expected === 0) fixes.push({ page: p, delta: expected - rc });
    }
    const dataChunks = rawChunks + liveFragments;
    const counters: [string, number, number][] = [['data chunks', h.dataChunks, dataChunks]];
    if (this.#packed)
      counters.push(
        ['data pages', h.dataPages, dataPages],
        ['packed pages', h.packedPages, packed.size],
        ['dead fragment bytes', h.deadBytes, deadBytes],
      );
    for (const [what, has, is] of counters)
      if (has !== is)
        problems.push({ kind: 'counter', message: `header counts ${has} ${what}, ${is} are referenced` });
    // Names and data.
    let verified = 0;
    if (options.data) {
      let done = 0;
      const total = refs.size;
      const byPage = new Map<number, number[]>();
      const fail = (page: number, what: string) => problems.push({ kind: 'data', message: what, page });
      for (const ref of refs.keys()) {
        if (options.signal?.aborted) throw new StoreError('ERR_ABORTED', 'check aborted');
        const p = this.#pageOf(ref);
        if (ref !== this.#zeroRef && p < pageCount && this.#pages.refCount(p) > 0) {
          if (this.#isFrag(ref)) {
            const list = byPage.get(p);
            if (list) list.push(ref);
            else byPage.set(p, [ref]);
          } else {
            const bytes = await this.#pages.readData(p);
            if (!sameBytes(nameOf(bytes), await this.#nameAt(ref)))
              fail(p, `chunk at page ${p}: its bytes do not match its name`);
            verified++;
          }
        }
        done++;
        if ((done & 1023) === 0) options.onProgress?.({ bytes: done * cs, total: total * cs });
      }
      // Packed pages: the directory, then every live fragment decompressed against its name.
      for (const [p, list] of byPage) {
        if (options.signal?.aborted) throw new StoreError('ERR_ABORTED', 'check aborted');
        const page = await this.#pages.readData(p);
        const where = `${this.#where}: ${DATA_FILE} page ${p}`;
        try {
          decodePackedDirectory(page, cs, (this.#codec as ChunkCodec).id, where);
        } catch (e) {
          fail(p, (e as Error).message);
          continue;
        }
        for (const ref of list) {
          try {
            const bytes = readPackedFragment(page, (ref & 15) - 1, this.#codec as ChunkCodec, cs, where);
            if (!sameBytes(nameOf(bytes), await this.#nameAt(ref)))
              fail(p, `fragment ${(ref & 15) - 1} of page ${p}: its bytes do not match its name`);
          } catch (e) {
            fail(p, (e as Error).message);
          }
          verified++;
        }
      }
    }
    let repaired = 0;
    if (
      options.repair &&
      (fixes.length > 0 || fragFixes.length > 0 || problems.some((q) => q.kind === 'counter'))
    ) {
      const tx = this.#txn();
      for (const f of fixes) {
        for (let k = 0; k < f.delta; k++) tx.incRef(f.page);
        for (let k = 0; k > f.delta; k--) tx.decRef(f.page);
        repaired++;
      }
      for (const f of fragFixes) {
        const slot = (await this.#frags.leaf(f.ref, true)) as LeafSlot;
        setU32(slot.buf, slot.off + FRAG_COUNT, f.count);
        if (f.count === 0) slot.buf.fill(0, slot.off, slot.off + NAME_BYTES);
        this.#frags.markDirty(slot.page);
        repaired++;
      }
      this.#header.mapped = mapped;
      this.#header.dataChunks = dataChunks;
      if (this.#packed) {
        this.#header.dataPages = dataPages;
        this.#header.packedPages = packed.size;
        this.#header.deadBytes = deadBytes;
      }
      await this.#commit();
      await this.#rebuildIndex();
      repaired++;
    }
    return {
      ok: problems.length === 0,
      problems,
      chunksVerified: verified,
      repaired,
      recovery: this.#pages.recovery,
    };
  }

  // ---- compaction (compressed stores) ---------------------------------------------------------

  /**
   * Gives back the space dead fragments hold: packed pages where at least `minDead` of the page
   * (a fraction, default 0.25) is dead have their live fragments copied as they are (no
   * recompression) into new packed pages, every reference to them (block map, exceptions, the
   * dedup index) rewritten, and the old pages freed. Each batch of pages is one commit, so a
   * crash leaves either the old pages referenced or the new ones, never both nor neither.
   * Flushes first. A store without compression has nothing to compact.
   *
   * @returns pages read and written, fragments moved and bytes given back.
   */
  compact(options: { minDead?: number } & LongOptions = {}): Promise<CompactReport> {
    return this.#run(true, async () => {
      const minDead = options.minDead ?? 0.25;
      if (!(minDead > 0 && minDead <= 1)) throw new RangeError(`minDead must be in (0, 1], got ${minDead}`);
      return this.#compact(minDead, options);
    });
  }

  async #compact(minDead: number, options: LongOptions): Promise<CompactReport> {
    const report = { pagesCompacted: 0, pagesWritten: 0, fragmentsMoved: 0, bytesFreed: 0 };
    await this.#commit();
    if (!this.#packed) return report;
    const cs = this.chunkSize;
    const codec = this.#codec as ChunkCodec;
    // Every packed page with its dead bytes and live fragments, from the fragment table.
    const frags = this.#frags;
    const dead = new Map<number, number>();
    const live = new Map<number, number>();
    await frags.forEachLeaf((first, buf) => {
      for (let i = 0; i < frags.perLeaf; i++) {
        const off = i * FRAG_BYTES;
        const length = getU16(buf, off + FRAG_LENGTH);
        if (length === 0) continue;
        const page = (first + i) >>> 4;
        if (getU32(buf, off + FRAG_COUNT) > 0) live.set(page, (live.get(page) ?? 0) + 1);
        else dead.set(page, (dead.get(page) ?? 0) + length);
      }
    });
    const candidates = [...dead]
      .filter(([, bytes]) => bytes >= minDead * cs)
      .sort((a, b) => b[1] - a[1])
      .map(([page]) => page);
    // Batches small enough for one commit: the block map and exception leaves they dirty.
    const perBatch = Math.max(16, Math.floor(this.#pages.journalPages / 16));
    let done = 0;
    for (let at = 0; at < candidates.length; ) {
      if (options.signal?.aborted) throw new StoreError('ERR_ABORTED', 'compaction aborted');
      const batch: number[] = [];
      let moving = 0;
      while (
        at < candidates.length &&
        (batch.length === 0 || moving + (live.get(candidates[at] as number) ?? 0) <= perBatch)
      ) {
        const page = candidates[at++] as number;
        batch.push(page);
        moving += live.get(page) ?? 0;
      }
      const r = await this.#compactBatch(batch, codec);
      report.pagesCompacted += batch.length;
      report.pagesWritten += r.written;
      report.fragmentsMoved += r.moved;
      report.bytesFreed += (batch.length - r.written) * cs;
      done += batch.length;
      options.onProgress?.({ bytes: done * cs, total: candidates.length * cs });
    }
    return report;
  }

  /** Compacts packed pages `old` in one commit; the pages written and fragments moved. */
  async #compactBatch(old: number[], codec: ChunkCodec): Promise<{ written: number; moved: number }> {
    const cs = this.chunkSize;
    const tx = this.#txn();
    const bytes = await tx.readDataMany(old);
    // The live fragments, as they are.
    interface Moving {
      from: number;
      name: Uint8Array;
      count: number;
      fragment: Uint8Array;
    }
    const moving: Moving[] = [];
    for (let q = 0; q < old.length; q++) {
      const page = old[q] as number;
      const image = bytes.subarray(q * cs, (q + 1) * cs);
      const dir = decodePackedDirectory(image, cs, codec.id, `${this.#where}: ${DATA_FILE} page ${page}`);
      for (let slot = 0; slot < dir.count; slot++) {
        const ref = page * 16 + slot + 1;
        const item = await this.#frags.leaf(ref, false);
        if (!item) continue;
        const count = getU32(item.buf, item.off + FRAG_COUNT);
        const length = getU16(item.buf, item.off + FRAG_LENGTH);
        if (length !== dir.lengths[slot])
          throw new StoreError(
            'ERR_CORRUPT_DATA',
            `${this.#where}: ${DATA_FILE} page ${page}, fragment ${slot}: ${dir.lengths[slot]} bytes, the fragment table says ${length}`,
          );
        if (count === 0) continue;
        const off = dir.offsets[slot] as number;
        moving.push({
          from: ref,
          name: item.buf.slice(item.off, item.off + NAME_BYTES),
          count,
          fragment: image.slice(off, off + length),
        });
      }
    }
    // New pages through a packer.
    const packer = new PagePacker<number>(cs);
    const plans: { items: number[] }[] = [];
    moving.forEach((m, i) => {
      for (const p of packer.add(i, m.fragment.length)) plans.push(p);
    });
    for (const p of packer.flush()) plans.push(p);
    const pages = plans.length > 0 ? await tx.allocateMany('data', plans.length) : [];
    const buf = new Uint8Array(plans.length * cs);
    const to = new Map<number, number>();
    for (let q = 0; q < plans.length; q++) {
      const items = (plans[q] as { items: number[] }).items;
      const page = pages[q] as number;
      this.#checkAddressable(page);
      buf.set(
        encodePackedPage(
          items.map((i) => (moving[i] as Moving).fragment),
          cs,
          codec.id,
        ),
        q * cs,
      );
      for (let slot = 0; slot < items.length; slot++) {
        const m = moving[items[slot] as number] as Moving;
        const ref = page * 16 + slot + 1;
        to.set(m.from, ref);
        const item = (await this.#frags.leaf(ref, true)) as LeafSlot;
        item.buf.set(m.name, item.off);
        setU32(item.buf, item.off + FRAG_COUNT, m.count);
        setU16(item.buf, item.off + FRAG_LENGTH, m.fragment.length);
        this.#frags.markDirty(item.page);
      }
      for (let slot = 1; slot < items.length; slot++) tx.incRef(page);
    }
    if (plans.length > 0) await tx.writeDataMany(pages, buf);
    // Every reference moves: the block map, the exceptions, the index.
    const map = this.#blockMap;
    await map.forEachLeaf((_first, leaf, page) => {
      let changed = false;
      for (let i = 0; i < map.perLeaf; i++) {
        const v = getU32(leaf, i * 4);
        if (v === 0) continue;
        const moved = to.get(v - 1);
        if (moved === undefined) continue;
        setU32(leaf, i * 4, moved + 1);
        changed = true;
      }
      if (changed) map.markDirty(page);
    });
    await this.#ensureTx();
    await this.#ex.remapChunks((c) => to.get(c));
    // The old pages: their items go, their live fragments' counts with them; each page is free.
    const h = this.#header;
    for (const page of old) {
      for (let s = 1; s <= MAX_FRAGMENTS; s++) {
        const item = await this.#frags.leaf(page * 16 + s, false);
        if (!item) continue;
        if (getU32(item.buf, item.off + FRAG_COUNT) === 0)
          h.deadBytes -= getU16(item.buf, item.off + FRAG_LENGTH);
        else tx.decRef(page);
        item.buf.fill(0, item.off, item.off + FRAG_BYTES);
        this.#frags.markDirty(item.page);
      }
      if (tx.refCount(page) !== 0)
        throw new StoreError(
          'ERR_CORRUPT_DATA',
          `${this.#where}: packed page ${page} counts more references than live fragments`,
        );
    }
    h.packedPages += plans.length - old.length;
    h.dataPages += plans.length - old.length;
    if (this.#index && moving.length > 0) {
      const n2 = new Uint8Array(moving.length * NAME_BYTES);
      const m2 = new Uint8Array(moving.length * 16);
      const dv = new DataView(m2.buffer);
      moving.forEach((m, i) => {
        n2.set(m.name, i * NAME_BYTES);
        dv.setUint32(i * 16, to.get(m.from) as number, true);
      });
      try {
        await this.#index.updateMany(n2, m2);
      } catch {
        this.#index = undefined;
      }
    }
    await this.#commit();
    return { written: plans.length, moved: moving.length };
  }

  // ---- the write path -------------------------------------------------------------------------

  /**
   * Writes one whole chunk of a version; whether its content changed. `known` carries its name
   * when the caller hashed it already (undefined name: all zeros); data-page writes go into
   * `writes` unawaited.
   */
  async #writeChunk(
    version: string,
    chunk: number,
    content: Uint8Array | undefined,
    known: { name: Uint8Array | undefined } | undefined,
    writes: Promise<void>[],
  ): Promise<boolean> {
    const zero = known ? known.name === undefined : content === undefined || isZero(content);
    if (version === LIVE) {
      if (zero) return this.#setLive(chunk, -1);
      const data = content as Uint8Array;
      const name = known?.name ?? nameOf(data);
      // Rewriting a chunk with the content it already has costs nothing.
      const old = await this.#liveChunk(chunk);
      if (old >= 0 && sameBytes(await this.#nameAt(old), name)) return false;
      const phys = await this.#store(data, name, writes);
      return this.#setLive(chunk, phys);
    }
    // A snapshot: its own exception, with a reference to the stored (or zero) chunk.
    let phys: number;
    const current = await this.#resolve(version, chunk);
    if (zero) {
      if (current < 0) return false;
      phys = this.#zeroRef;
      this.#txn().incRef(this.#header.zeroPage);
    } else {
      const data = content as Uint8Array;
      const name = known?.name ?? nameOf(data);
      if (current >= 0 && sameBytes(await this.#nameAt(current), name)) return false;
      phys = await this.#store(data, name, writes);
    }
    await this.#ensureTx();
    this.#alloc.staged = phys;
    try {
      await this.#ex.prepareSnapshotWrite(version, chunk);
    } finally {
      this.#alloc.staged = -1;
    }
    return true;
  }

  /**
   * Writes `count` whole chunks of the live volume from `first`, their names known (`hashed`, from
   * position `at`), with one batch request to the dedup index: unchanged chunks cost nothing, zero
   * chunks unmap, the others take verified advice or a new chunk. Same effect as one #writeChunk
   * per chunk, in order.
   * @returns the chunks whose content changed.
   */
  async #writeLiveBatch(
    first: number,
    data: Uint8Array,
    hashed: BatchNames,
    at: number,
    count: number,
    writes: Promise<void>[],
    pool?: HashPool,
  ): Promise<number> {
    const cs = this.chunkSize;
    const tx = this.#txn();
    let changed = 0;
    // 1. Zero chunks unmap; unchanged chunks are done; the rest need a physical chunk.
    const need: number[] = [];
    for (let k = 0; k < count; k++) {
      const chunk = first + k;
      if (hashed.zero[at + k] === 1) {
        // Already unmapped (the common case of a later version): nothing to do, and no promise.
        const slot = this.#blockMap.peekLeaf(chunk);
        if (slot === undefined || (slot !== null && getU32(slot.buf, slot.off) === 0)) continue;
        if (await this.#setLive(chunk, -1)) changed++;
        continue;
      }
      // The common case of a later version, an unchanged chunk, without a promise or an
      // allocation when the metadata pages are cached.
      const at16 = (at + k) * NAME_BYTES;
      const mapSlot = this.#blockMap.peekLeaf(chunk);
      const old =
        mapSlot === null ? await this.#liveChunk(chunk) : mapSlot ? getU32(mapSlot.buf, mapSlot.off) - 1 : -1;
      if (old >= 0) {
        const nameSlot = this.#peekName(old);
        const same =
          nameSlot === null
            ? sameBytes(await this.#nameAt(old), hashed.names.subarray(at16, at16 + NAME_BYTES))
            : nameSlot !== undefined && sameName(nameSlot.buf, nameSlot.off, hashed.names, at16);
        if (same) continue;
      }
      need.push(k);
    }
    if (need.length === 0) return changed;
    // 2. The index's advice for each name, and a fresh chunk for each name it did not know.
    const names = new Uint8Array(need.length * NAME_BYTES);
    const metas = new Uint8Array(need.length * 16);
    const metaView = new DataView(metas.buffer);
    for (let j = 0; j < need.length; j++)
      copyName(names, j * NAME_BYTES, hashed.names, (at + (need[j] as number)) * NAME_BYTES);
    let advice: (Uint8Array | undefined)[] = [];
    // Per name, its fresh chunk's page (-1: none yet).
    let fresh: number[];
    if (this.#packed) {
      // A fresh chunk for each, and one batch post of (name, fresh chunk).
      fresh = await tx.allocateMany('data', need.length);
      for (let j = 0; j < need.length; j++)
        metaView.setUint32(j * 16, this.#rawRef(fresh[j] as number), true);
      try {
        advice = await (this.#index as DedupIndex).postMany(names, metas);
      } catch {
        this.#index = undefined;
      }
    } else {
      // A batch query first (refreshing what it finds, as a post does), then fresh chunks for
      // the names the index did not know only, in one run of pages, and one batch post of
      // those. With a fresh chunk for every name, each duplicate's went back and left a hole:
      // a first import of a VM-like image wrote 2.5 pages per system call into a data file
      // twice the size of its data.
      try {
        advice = await (this.#index as DedupIndex).queryMany(names, { refresh: true });
      } catch {
        this.#index = undefined;
      }
      // The names the index did not know, each once: a name again later in the batch will
      // share the first one's fresh chunk (its advice, below).
      const absent: number[] = [];
      const again: number[] = []; // pairs (j, the first j with that name)
      const firstOf = new Map<number, number>(); // the name's first 6 bytes -> its first j
      const nameView = new DataView(names.buffer, names.byteOffset, names.byteLength);
      for (let j = 0; j < need.length; j++) {
        if (advice[j] !== undefined) continue;
        const key = nameView.getUint32(j * NAME_BYTES) * 65536 + nameView.getUint16(j * NAME_BYTES + 4);
        const before = firstOf.get(key);
        if (before !== undefined && sameName(names, before * NAME_BYTES, names, j * NAME_BYTES)) {
          again.push(j, before);
          continue;
        }
        if (before === undefined) firstOf.set(key, j);
        absent.push(j);
      }
      const pages = await tx.allocateMany('data', absent.length);
      fresh = new Array<number>(need.length).fill(-1);
      for (let i = 0; i < absent.length; i++) {
        const j = absent[i] as number;
        fresh[j] = pages[i] as number;
        metaView.setUint32(j * 16, this.#rawRef(pages[i] as number), true);
      }
      for (let i = 0; i < again.length; i += 2) {
        const before = again[i + 1] as number;
        advice[again[i] as number] = metas.subarray(before * 16, before * 16 + 16);
      }
      if (this.#index !== undefined && absent.length > 0) {
        try {
          const posted = await this.#index.postMany(...pickRows(names, metas, absent));
          // A name twice in the batch: from its second time on, the index knows its first.
          for (let i = 0; i < absent.length; i++)
            if (posted[i] !== undefined) advice[absent[i] as number] = posted[i];
        } catch {
          this.#index = undefined;
        }
      }
    }
    // 3. In order: verified advice is shared (the fresh chunk goes back), else the fresh chunk is
    // written and named; refused advice is corrected in the index afterwards.
    const fixes: number[] = [];
    // New chunks are written together at the end, in one writev; until then a later chunk of the
    // batch that the index points at one of them compares against its bytes here.
    const pending = new Map<number, Uint8Array>();
    // The stored chunks the advice names are read in one batch up front (verify compares bytes):
    // a data page's bytes never change while it is live, and whether it still is, and still
    // carries the name, is checked again at its turn below.
    if (this.verify) {
      const freshRefs = new Set<number>();
      for (const p of fresh) if (p >= 0) freshRefs.add(this.#rawRef(p));
      const want: number[] = [];
      const wantFrags: number[] = [];
      const seen = new Set<number>();
      const pageCount = this.#pageCount();
      for (let j = 0; j < advice.length; j++) {
        const earlier = advice[j];
        if (earlier === undefined) continue;
        const cand = getU32(earlier, 0);
        const page = this.#pageOf(cand);
        if (seen.has(cand) || freshRefs.has(cand) || cand === this.#zeroRef || page >= pageCount) continue;
        if (tx.refCount(page) <= 0) continue;
        seen.add(cand);
        // Kept checked under this name: #usable compares with the kept bytes, no read.
        if (this.#hot?.holds(this.#hotKey(cand), names, j * NAME_BYTES)) continue;
        if (this.#isFrag(cand)) wantFrags.push(cand);
        else want.push(cand);
      }
      if (want.length > 0) {
        const got = await tx.readDataMany(want.map((r) => this.#pageOf(r)));
        for (let i = 0; i < want.length; i++)
          pending.set(want[i] as number, got.subarray(i * cs, (i + 1) * cs));
      }
      if (wantFrags.length > 0) {
        const got = new Uint8Array(wantFrags.length * cs);
        // A damaged fragment is not prefetched: #usable reads it again and refuses it.
        const ok = await this.#readFragments(
          wantFrags,
          got,
          wantFrags.map((_, i) => i * cs),
        ).then(
          () => true,
          () => false,
        );
        if (ok)
          for (let i = 0; i < wantFrags.length; i++)
            pending.set(wantFrags[i] as number, got.subarray(i * cs, (i + 1) * cs));
      }
    }
    if (this.#packed) {
      return (
        changed +
        (await this.#placePacked(first, data, need, names, metas, fresh, advice, pending, writes, pool))
      );
    }
    const newPages: number[] = [];
    const newAt: number[] = [];
    // Their CRC-32s when the worker that named them computed them (else the page layer does).
    const crcs = hashed.crcs;
    const newCrcs: number[] | undefined = crcs === undefined ? undefined : [];
    // Refused advice -> the entry of this batch stored in its place: a later entry with the same
    // name and the same refused advice shares that one instead.
    const storedFor = new Map<number, number>();
    for (let j = 0; j < need.length; j++) {
      const k = need[j] as number;
      const bytes = data.subarray(k * cs, (k + 1) * cs);
      let page = fresh[j] as number;
      const earlier = advice[j];
      let phys = page;
      if (earlier !== undefined) {
        let cand = getU32(earlier, 0);
        const instead = storedFor.get(cand);
        if (instead !== undefined && sameName(names, instead * NAME_BYTES, names, j * NAME_BYTES))
          cand = this.#rawRef(fresh[instead] as number);
        if (
          this.#usableSync(cand, names, j * NAME_BYTES, bytes, pending) ??
          (await this.#usableRead(cand, names.subarray(j * NAME_BYTES, (j + 1) * NAME_BYTES), bytes, pending))
        ) {
          if (page >= 0) tx.decRef(page);
          tx.incRef(cand);
          phys = cand;
        } else {
          // Refused advice: the chunk is stored anew, and the index corrected afterwards.
          storedFor.set(getU32(earlier, 0), j);
          if (page < 0) {
            page = await tx.allocate('data');
            fresh[j] = page;
            metaView.setUint32(j * 16, this.#rawRef(page), true);
          }
          phys = page;
          fixes.push(j);
        }
      }
      if (phys === page) {
        pending.set(page, bytes);
        newPages.push(page);
        newAt.push(k * cs);
        newCrcs?.push((crcs as Uint32Array)[at + k] as number);
        if (!this.#storedSync(page, names, j * NAME_BYTES))
          await this.#stored(page, names.subarray(j * NAME_BYTES, (j + 1) * NAME_BYTES));
      }
      const set = this.#setLiveSync(first + k, phys);
      if (set === undefined ? await this.#setLive(first + k, phys) : set) changed++;
    }
    if (newPages.length > 0) {
      // Written from where they are in the caller's buffer (kept until `writes` settle).
      writes.push(tx.writeDataMany(newPages, data, newAt, newCrcs));
    }
    if (fixes.length > 0 && this.#index) {
      try {
        await this.#index.updateMany(...pickRows(names, metas, fixes));
      } catch {
        this.#index = undefined;
      }
    }
    return changed;
  }

  /**
   * Step 3 of #writeLiveBatch in a compressed store. In order: verified advice is shared, and a
   * later chunk of the batch with the same content as a new one shares it; the new chunks are
   * then compressed (two thirds on a worker of `pool`, when it has one, the rest here) and placed: a
   * fragment goes to a PagePacker, a chunk that does not shrink enough is written whole into its
   * fresh page. Then the packer's pages are written (a page holding a single fragment is written
   * whole instead), the fragments named and counted, the block map set, and the index told where
   * each new chunk went. No fragment waits past its batch.
   * @returns the chunks whose content changed.
   */
  async #placePacked(
    first: number,
    data: Uint8Array,
    need: number[],
    names: Uint8Array,
    metas: Uint8Array,
    fresh: number[],
    advice: (Uint8Array | undefined)[],
    pending: Map<number, Uint8Array>,
    writes: Promise<void>[],
    pool: HashPool | undefined,
  ): Promise<number> {
    const cs = this.chunkSize;
    const tx = this.#txn();
    const codec = this.#codec as ChunkCodec;
    const n = need.length;
    const nameOfJ = (j: number) => names.subarray(j * NAME_BYTES, (j + 1) * NAME_BYTES);
    /** Per chunk of `need`: its reference once known. */
    const refOf = new Array<number>(n).fill(-1);
    /** Per chunk sharing a new chunk of the batch: that chunk's position (else -1). */
    const sameAs = new Array<number>(n).fill(-1);
    /** Per new chunk: references beyond its own (later chunks of the batch that share it). */
    const extra = new Array<number>(n).fill(0);
    /** A new chunk's fresh page (raw reference) -> its position, for advice that names it. */
    const owner = new Map<number, number>();
    /** New chunks whose advice was refused: their index entry must name where they went. */
    const refused = new Set<number>();
    /** The new chunks, in order. */
    const fresh16: number[] = [];
    // 1. In order: share what can be shared.
    for (let j = 0; j < n; j++) {
      const k = need[j] as number;
      const name = nameOfJ(j);
      const bytes = data.subarray(k * cs, (k + 1) * cs);
      const page = fresh[j] as number;
      this.#checkAddressable(page);
      const earlier = advice[j];
      if (earlier !== undefined) {
        const cand = getU32(earlier, 0);
        const o = owner.get(cand);
        if (o !== undefined) {
          const ko = need[o] as number;
          if (
            sameName(names, o * NAME_BYTES, name, 0) &&
            (!this.verify || sameBytes(data.subarray(ko * cs, (ko + 1) * cs), bytes))
          ) {
            tx.decRef(page);
            extra[o] = (extra[o] as number) + 1;
            sameAs[j] = o;
            continue;
          }
        } else if (await this.#usable(cand, name, bytes, pending)) {
          tx.decRef(page);
          await this.#incRef(cand);
          refOf[j] = cand;
          continue;
        }
        refused.add(j);
      }
      owner.set(page * 16, j);
      fresh16.push(j);
    }
    // 2. The new chunks compressed: two thirds on a worker (it only hashes besides), the rest
    // here (the index, the metadata and the reads are this thread's), at once.
    const offsets = fresh16.map((j) => (need[j] as number) * cs);
    let fragments: (Uint8Array | undefined)[];
    if (pool?.compresses(codec) && offsets.length >= 8) {
      const share = Math.ceil((offsets.length * 2) / 3);
      const remote = pool.compress(data, cs, offsets.slice(0, share), codec);
      const local = offsets.slice(share).map((o) => codec.compress(data.subarray(o, o + cs)));
      fragments = (await remote).concat(local);
    } else {
      fragments = offsets.map((o) => codec.compress(data.subarray(o, o + cs)));
    }
    // 3. Placed: whole into the fresh page, or a fragment into the packer.
    const packer = new PagePacker<number>(cs);
    const plans: { items: number[] }[] = [];
    const fragOf = new Map<number, Uint8Array>();
    const newPages: number[] = [];
    const newAt: number[] = [];
    /** A new chunk stored whole at `page`, with its references. */
    const whole = async (j: number, page: number) => {
      refOf[j] = page * 16;
      newPages.push(page);
      newAt.push((need[j] as number) * cs);
      await this.#stored(page * 16, nameOfJ(j));
      for (let e = 0; e < (extra[j] as number); e++) tx.incRef(page);
    };
    for (let x = 0; x < fresh16.length; x++) {
      const j = fresh16[x] as number;
      const fragment = fragments[x];
      if (fragment === undefined) {
        await whole(j, fresh[j] as number);
        continue;
      }
      // The fresh page goes back: the fragment takes a place in a packed page instead.
      tx.decRef(fresh[j] as number);
      fragOf.set(j, fragment);
      for (const plan of packer.add(j, fragment.length)) plans.push(plan);
    }
    for (const plan of packer.flush()) plans.push(plan);
    if (plans.length > 0) {
      const pages = await tx.allocateMany('data', plans.length);
      const packed: number[] = [];
      const packedAt: number[] = [];
      const buf = new Uint8Array(plans.length * cs);
      for (let q = 0; q < plans.length; q++) {
        const items = (plans[q] as { items: number[] }).items;
        const page = pages[q] as number;
        this.#checkAddressable(page);
        if (items.length === 1) {
          // Alone in its page: stored whole (no space saved, a decompression avoided).
          await whole(items[0] as number, page);
          continue;
        }
        buf.set(
          encodePackedPage(
            items.map((j) => fragOf.get(j) as Uint8Array),
            cs,
            codec.id,
          ),
          q * cs,
        );
        packed.push(page);
        packedAt.push(q * cs);
        for (let slot = 0; slot < items.length; slot++) {
          const j = items[slot] as number;
          refOf[j] = page * 16 + slot + 1;
          const length = (fragOf.get(j) as Uint8Array).length;
          await this.#storedFragment(refOf[j] as number, nameOfJ(j), 1 + (extra[j] as number), length);
        }
        // The page counts its live fragments.
        for (let slot = 1; slot < items.length; slot++) tx.incRef(page);
        this.#header.packedPages++;
        this.#header.dataPages++;
      }
      if (packed.length > 0) writes.push(tx.writeDataMany(packed, buf, packedAt));
    }
    if (newPages.length > 0) writes.push(tx.writeDataMany(newPages, data, newAt));
    // 4. The block map, in order.
    let changed = 0;
    for (let j = 0; j < n; j++) {
      const target = sameAs[j] !== -1 ? (refOf[sameAs[j] as number] as number) : (refOf[j] as number);
      const chunk = first + (need[j] as number);
      const set = this.#setLiveSync(chunk, target);
      if (set === undefined ? await this.#setLive(chunk, target) : set) changed++;
    }
    // The index had each new chunk at its fresh page: tell it where the others went.
    const told = fresh16.filter((j) => refused.has(j) || refOf[j] !== (fresh[j] as number) * 16);
    if (told.length > 0 && this.#index) {
      const n2 = new Uint8Array(told.length * NAME_BYTES);
      const m2 = new Uint8Array(told.length * 16);
      const dv = new DataView(m2.buffer);
      told.forEach((j, x) => {
        n2.set(nameOfJ(j), x * NAME_BYTES);
        m2.set(metas.subarray(j * 16, (j + 1) * 16), x * 16);
        dv.setUint32(x * 16, refOf[j] as number, true);
      });
      try {
        await this.#index.updateMany(n2, m2);
      } catch {
        this.#index = undefined;
      }
    }
    return changed;
  }

  /** A fragment's compressed length (0 when it has no item). */
  async #fragLength(ref: number): Promise<number> {
    const slot = await this.#frags.leaf(ref, false);
    return slot ? getU16(slot.buf, slot.off + FRAG_LENGTH) : 0;
  }

  /**
   * A physical chunk holding `data`, with one reference for the caller: an existing one the index
   * points to (live, same name, same bytes when verifying), or a new one.
   */
  async #store(data: Uint8Array, name: Uint8Array, writes?: Promise<void>[]): Promise<number> {
    const tx = this.#txn();
    const fresh = await tx.allocate('data');
    this.#checkAddressable(fresh);
    const meta = new Uint8Array(16);
    new DataView(meta.buffer).setUint32(0, this.#rawRef(fresh), true);
    let earlier: Uint8Array | undefined;
    if (this.#index) {
      try {
        earlier = await this.#index.post(name, meta);
      } catch {
        // The index is advice; a failing index is dropped until the next open rebuilds it.
        this.#index = undefined;
      }
    }
    if (earlier !== undefined) {
      const cand = new DataView(earlier.buffer, earlier.byteOffset, 16).getUint32(0, true);
      if (await this.#usable(cand, name, data)) {
        tx.decRef(fresh);
        await this.#incRef(cand);
        return cand;
      }
      try {
        await this.#index?.update(name, meta);
      } catch {
        this.#index = undefined;
      }
    }
    const written = tx.writeData(fresh, data);
    if (writes) writes.push(written);
    else await written;
    const ref = this.#rawRef(fresh);
    await this.#stored(ref, name);
    return ref;
  }

  /** #stored (of a store without compression) when the name's leaf page is cached; false when it is not. */
  #storedSync(page: number, names: Uint8Array, at: number): boolean {
    const slot = this.#names.peekLeaf(page);
    if (!slot) return false;
    copyName(slot.buf, slot.off, names, at);
    this.#names.markDirty(slot.page);
    this.#header.dataChunks++;
    return true;
  }

  /**
   * #setLive when it needs no I/O and no snapshot bookkeeping: the chunk is already dirty or no
   * snapshot exists, the block map's and dirty map's pages are cached, and the old chunk (if any)
   * keeps a reference. Undefined when it cannot; then call #setLive (nothing changed yet).
   */
  #setLiveSync(chunk: number, phys: number): boolean | undefined {
    const dirty = this.#isDirty(chunk);
    if (this.#snapshots.length > 0 && !dirty) return undefined;
    const slot = this.#blockMap.peekLeaf(chunk);
    if (!slot) return undefined;
    const old = getU32(slot.buf, slot.off) - 1;
    // Fragments count their references in the fragment table: the general path.
    if (this.#packed && (this.#isFrag(phys) || (old >= 0 && this.#isFrag(old)))) return undefined;
    const tx = this.#txn();
    if (old === phys) {
      if (phys >= 0) tx.decRef(this.#pageOf(phys));
      return false;
    }
    if (old >= 0 && tx.refCount(this.#pageOf(old)) <= 1) return undefined;
    let dirtySlot: LeafSlot | undefined | null;
    if (!dirty) {
      dirtySlot = this.#dirty.peekLeaf(Math.floor(chunk / 8));
      if (!dirtySlot) return undefined;
    }
    // Everything needed is at hand: from here on it cannot fail half way.
    setU32(slot.buf, slot.off, phys + 1);
    this.#blockMap.markDirty(slot.page);
    if (old >= 0) tx.decRef(this.#pageOf(old));
    this.#header.mapped += (phys >= 0 ? 1 : 0) - (old >= 0 ? 1 : 0);
    if (dirtySlot) {
      if (chunk >= this.#dirtyBits.size)
        this.#dirtyBits.truncate(Math.max(chunk + 1, this.#dirtyBits.size * 2));
      this.#dirtyBits.set(chunk, 1);
      dirtySlot.buf[dirtySlot.off] = (dirtySlot.buf[dirtySlot.off] as number) | (1 << (chunk & 7));
      this.#dirty.markDirty(dirtySlot.page);
    }
    return true;
  }

  /**
   * A new chunk was written whole at raw reference `ref`: it is named and counted (the opposite
   * of #freed).
   */
  async #stored(ref: number, name: Uint8Array): Promise<void> {
    const slot = (await this.#names.leaf(this.#pageOf(ref), true)) as LeafSlot;
    slot.buf.set(name, slot.off);
    this.#names.markDirty(slot.page);
    this.#header.dataChunks++;
    if (this.#packed) this.#header.dataPages++;
  }

  /** A new fragment `ref` of a packed page: its name, `count` references and length. */
  async #storedFragment(ref: number, name: Uint8Array, count: number, length: number): Promise<void> {
    const slot = (await this.#frags.leaf(ref, true)) as LeafSlot;
    slot.buf.set(name, slot.off);
    setU32(slot.buf, slot.off + FRAG_COUNT, count);
    setU16(slot.buf, slot.off + FRAG_LENGTH, length);
    this.#frags.markDirty(slot.page);
    this.#header.dataChunks++;
  }

  /** Whether index advice `cand` may be shared for `name`/`data`. */
  #usable(
    cand: number,
    name: Uint8Array,
    data: Uint8Array,
    pending?: Map<number, Uint8Array>,
  ): boolean | Promise<boolean> {
    return this.#usableSync(cand, name, 0, data, pending) ?? this.#usableRead(cand, name, data, pending);
  }

  /**
   * {@link Store.#usable} without a promise when everything it needs is in memory (the name's
   * metadata page cached; the bytes kept, or read ahead in `pending`); undefined when it is not,
   * then {@link Store.#usableRead} decides. The name is `names[at .. at + 16)`.
   */
  #usableSync(
    cand: number,
    names: Uint8Array,
    at: number,
    data: Uint8Array,
    pending?: Map<number, Uint8Array>,
  ): boolean | undefined {
    const page = this.#pageOf(cand);
    if (cand === this.#zeroRef || page >= this.#pageCount()) return false;
    if (this.#txn().refCount(page) <= 0) return false;
    // A fragment's name is cleared when it dies, and its page's items when the page goes.
    const slot = this.#peekName(cand);
    if (!slot) return undefined;
    if (!sameName(slot.buf, slot.off, names, at)) return false;
    if (!this.verify) return true;
    const kept = this.#hot?.compare(this.#hotKey(cand), names, at, data, 0);
    if (kept !== undefined) return kept;
    const stored = pending?.get(cand);
    return stored === undefined ? undefined : this.#sameAsStored(cand, names, at, data, stored);
  }

  /** The rest of {@link Store.#usable} when {@link Store.#usableSync} could not tell: it reads. */
  async #usableRead(
    cand: number,
    name: Uint8Array,
    data: Uint8Array,
    pending?: Map<number, Uint8Array>,
  ): Promise<boolean> {
    if (!sameBytes(await this.#nameAt(cand), name)) return false;
    if (!this.verify) return true;
    const kept = this.#hot?.compare(this.#hotKey(cand), name, 0, data, 0);
    if (kept !== undefined) return kept;
    let stored = pending?.get(cand);
    if (stored === undefined && !this.#isFrag(cand)) stored = await this.#txn().readData(this.#pageOf(cand));
    if (stored === undefined) {
      stored = new Uint8Array(this.chunkSize);
      try {
        await this.#readFragments([cand], stored, [0]);
      } catch (e) {
        // Damaged: the chunk is stored anew rather than shared (check reports the damage).
        if ((e as { code?: unknown }).code === 'ERR_CORRUPT_DATA') return false;
        throw e;
      }
    }
    return this.#sameAsStored(cand, name, 0, data, stored);
  }

  /**
   * Whether `data` equals the stored copy of `cand`. When it does, the chunk is met again: the
   * next time it is compared with these bytes, not read (`data` is what the hashers named
   * `names[at..]`, and the stored copy has the same bytes).
   */
  #sameAsStored(cand: number, names: Uint8Array, at: number, data: Uint8Array, stored: Uint8Array): boolean {
    if (!sameBytes(stored, data)) return false;
    this.#hot ??= new HotPages(this.chunkSize, Math.floor(HOT_BYTES / this.chunkSize));
    this.#hot.keep(this.#hotKey(cand), names, at, data, 0);
    return true;
  }

  /**
   * Where {@link Store.#hot} keeps a chunk: a whole chunk's page number (what the readers use),
   * a fragment's reference above every page number.
   */
  #hotKey(ref: number): number {
    return this.#isFrag(ref) ? HOT_FRAGMENT + ref : this.#pageOf(ref);
  }

  /**
   * Points live chunk `chunk` at `phys` (-1: unmapped), whose reference the caller hands over.
   * Snapshots that still share the old content get an exception keeping it.
   */
  async #setLive(chunk: number, phys: number): Promise<boolean> {
    const old = await this.#liveChunk(chunk);
    if (old === phys) {
      // The reference handed over goes; the block map's own keeps the chunk alive.
      if (phys >= 0) await this.#release(phys);
      return false;
    }
    if (this.#snapshots.length > 0 && !this.#isDirty(chunk)) {
      await this.#ensureTx();
      await this.#ex.prepareOriginWrite(chunk);
    }
    const slot = (await this.#blockMap.leaf(chunk, true)) as { page: number; buf: Uint8Array; off: number };
    setU32(slot.buf, slot.off, phys + 1);
    this.#blockMap.markDirty(slot.page);
    if (old >= 0) await this.#release(old);
    this.#header.mapped += (phys >= 0 ? 1 : 0) - (old >= 0 ? 1 : 0);
    await this.#markDirty(chunk);
    return true;
  }

  /** One more reference to a stored chunk (a page's count, or a fragment's). */
  async #incRef(ref: number): Promise<void> {
    if (!this.#isFrag(ref)) {
      this.#txn().incRef(this.#pageOf(ref));
      return;
    }
    const slot = await this.#frags.leaf(ref, false);
    const n = slot ? getU32(slot.buf, slot.off + FRAG_COUNT) : 0;
    if (!slot || n === 0) throw this.#deadFragment(ref);
    setU32(slot.buf, slot.off + FRAG_COUNT, n + 1);
    this.#frags.markDirty(slot.page);
  }

  #deadFragment(ref: number): StoreError {
    return new StoreError(
      'ERR_CORRUPT_DATA',
      `${this.#where}: a reference to fragment ${(ref & 15) - 1} of ${DATA_FILE} page ${ref >>> 4}, which is free`,
    );
  }

  /**
   * Drops one reference to a stored chunk, in `txn` (the store's, or the exception store's own
   * during a deletion). A fragment's last reference leaves its bytes as dead space in its packed
   * page, and the page's count (its live fragments) drops; at zero the page is free.
   */
  async #release(ref: number, txn: PageTransactionLike = this.#txn()): Promise<void> {
    const page = this.#pageOf(ref);
    if (this.#isFrag(ref)) {
      const slot = await this.#frags.leaf(ref, false);
      const n = slot ? getU32(slot.buf, slot.off + FRAG_COUNT) : 0;
      if (!slot || n === 0) throw this.#deadFragment(ref);
      setU32(slot.buf, slot.off + FRAG_COUNT, n - 1);
      if (n === 1) {
        slot.buf.fill(0, slot.off, slot.off + NAME_BYTES);
        this.#header.deadBytes += getU16(slot.buf, slot.off + FRAG_LENGTH);
        this.#header.dataChunks--;
      }
      this.#frags.markDirty(slot.page);
      if (n > 1) return;
      txn.decRef(page);
      if ((txn as PageTransaction).refCount(page) === 0) await this.#packedFreed(page);
      return;
    }
    txn.decRef(page);
    if (ref !== this.#zeroRef && (txn as PageTransaction).refCount(page) === 0) await this.#freed(ref);
  }

  /** A packed page's last fragment went: its items are cleared and its dead bytes leave the total. */
  async #packedFreed(page: number): Promise<void> {
    for (let s = 1; s <= MAX_FRAGMENTS; s++) {
      const slot = await this.#frags.leaf(page * 16 + s, false);
      if (!slot) continue;
      this.#header.deadBytes -= getU16(slot.buf, slot.off + FRAG_LENGTH);
      slot.buf.fill(0, slot.off, slot.off + FRAG_BYTES);
      this.#frags.markDirty(slot.page);
    }
    this.#header.packedPages--;
    this.#header.dataPages--;
  }

  /**
   * @internal The exception store's allocator releases a chunk an exception no longer holds. A
   * whole chunk's page count drops in the transaction given (in the exception store's own, its
   * name is cleared in the store's afterwards; after a crash, open scrubs the names of free
   * pages). A fragment released in the
   * exception store's own transaction (a deletion, committed in batches) is released in the
   * store's once the deletion is done (#applyDeferred): until then it keeps its page, so a crash
   * in between can only leave it counted too high, which open repairs.
   */
  async _releaseForExceptions(txn: PageTransactionLike, chunk: number): Promise<void> {
    if (this.#isFrag(chunk)) {
      if (txn === this.#tx) await this.#release(chunk);
      else this.#deferred.push(chunk);
      return;
    }
    const page = this.#pageOf(chunk);
    txn.decRef(page);
    if (chunk !== this.#zeroRef && (txn as PageTransaction).refCount(page) === 0) {
      // Its name is cleared in the store's transactions too: a large deletion frees more chunks
      // than one commit could carry the name pages of.
      if (txn === this.#tx) await this.#freed(chunk);
      else this.#deferred.push(chunk);
    }
  }

  /**
   * Releases the fragments a deletion deferred and clears the names of the whole chunks it freed,
   * in the store's transactions; the header says so until the last of them commits (flag bit 2),
   * so a crash in between is repaired at open.
   */
  async #applyDeferred(): Promise<void> {
    if (this.#deferred.length === 0) return;
    const refs = this.#deferred;
    this.#deferred = [];
    this.#header.releasesPending = true;
    // A release can touch a fragment-table page, a space-map page and a name page: counted
    // commits (#maybeCommit) every 16 releases, at most 48 pages more than it saw.
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i] as number;
      // A fragment to release; a whole chunk the deletion freed, whose name goes.
      if (this.#isFrag(ref)) await this.#release(ref);
      else await this.#freed(ref);
      if ((i & 15) === 15) await this.#maybeCommit();
    }
    this.#header.releasesPending = false;
    await this.#commit();
  }

  /**
   * Releases what fragments count beyond the references to them (block map, exceptions): the
   * releases of a deletion a crash cut short. O(block map + exceptions + fragment table).
   */
  async #fixFragmentLeaks(): Promise<void> {
    const refs = new Map<number, number>();
    const add = (r: number) => {
      if (this.#isFrag(r)) refs.set(r, (refs.get(r) ?? 0) + 1);
    };
    const map = this.#blockMap;
    await map.forEachLeaf((_first, buf) => {
      for (let i = 0; i < map.perLeaf; i++) {
        const v = getU32(buf, i * 4);
        if (v !== 0) add(v - 1);
      }
    });
    const report = await this.#ex.check({ uniqueChunks: false });
    for (const r of report.exceptionChunks) add(r);
    for (const r of report.pendingReleases) add(r);
    const over: [number, number][] = [];
    const frags = this.#frags;
    await frags.forEachLeaf((first, buf) => {
      for (let i = 0; i < frags.perLeaf; i++) {
        const count = getU32(buf, i * FRAG_BYTES + FRAG_COUNT);
        const n = refs.get(first + i) ?? 0;
        if (count > n) over.push([first + i, count - n]);
      }
    });
    const every = Math.max(1, this.#pages.journalPages >> 3);
    let n = 0;
    for (const [ref, k] of over) {
      for (let i = 0; i < k; i++) {
        await this.#release(ref);
        if (++n % every === 0) await this.#commit();
      }
    }
    // The recount that follows reads the page layer's committed counts.
    await this.#commit();
  }

  /**
   * A raw data chunk's last reference went: it leaves the distinct count and its name is cleared,
   * so advice naming it can never match whatever reuses the page.
   */
  async #freed(ref: number): Promise<void> {
    this.#header.dataChunks--;
    if (this.#packed) this.#header.dataPages--;
    const slot = await this.#names.leaf(this.#pageOf(ref), false);
    if (slot) {
      slot.buf.fill(0, slot.off, slot.off + NAME_BYTES);
      this.#names.markDirty(slot.page);
    }
  }

  /** Clears the names of free pages (after a crash between a deletion's commits). O(names). */
  async #scrubNames(): Promise<void> {
    const names = this.#names;
    await names.forEachLeaf((first, buf, page) => {
      for (let i = 0; i < names.perLeaf; i++) {
        const p = first + i;
        const off = i * NAME_BYTES;
        if (buf[off] === 0 && isZero(buf.subarray(off, off + NAME_BYTES))) continue;
        if (p >= this.#pageCount() || this.#refCount(p) === 0) {
          buf.fill(0, off, off + NAME_BYTES);
          names.markDirty(page);
        }
      }
    });
  }

  /**
   * Recounts the distinct data chunks from the page layer: pages in use minus metadata pages
   * minus the zero chunk. After a snapshot deletion, whose releases the exception store commits
   * in transactions of its own. O(metadata pages).
   */
  async #recountData(): Promise<void> {
    const meta = new Set<number>([this.#pages.getRoot(HEADER_ROOT) as number]);
    for (const tree of [this.#blockMap, this.#names, this.#dirty])
      for (const p of await tree.pages()) meta.add(p);
    if (this.#header.table >= 0)
      for (const p of await chainPages(this.#pages, this.#header.table)) meta.add(p);
    const report = await this.#ex.check({ uniqueChunks: false });
    for (const p of report.metaPages) meta.add(p);
    const used = this.#pages.pageCount - this.#pages.freePageCount();
    if (!this.#packed) {
      this.#header.dataChunks = used - meta.size - 1;
      return;
    }
    // A compressed store: its counters from the fragment table. O(fragment table).
    for (const p of await this.#frags.pages()) meta.add(p);
    const frags = this.#frags;
    const packed = new Set<number>();
    let live = 0;
    let dead = 0;
    await frags.forEachLeaf((first, buf) => {
      for (let i = 0; i < frags.perLeaf; i++) {
        const off = i * FRAG_BYTES;
        const length = getU16(buf, off + FRAG_LENGTH);
        if (length === 0) continue;
        packed.add((first + i) >>> 4);
        if (getU32(buf, off + FRAG_COUNT) > 0) live++;
        else dead += length;
      }
    });
    const h = this.#header;
    h.dataPages = used - meta.size - 1;
    h.packedPages = packed.size;
    h.deadBytes = dead;
    h.dataChunks = h.dataPages - packed.size + live;
  }

  /** @internal The exception store's allocator, for an origin write: keep the old chunk. */
  async _originChunkForCopy(txn: PageTransactionLike, chunk: number): Promise<number> {
    const old = await this.#liveChunk(chunk);
    const ref = old >= 0 ? old : this.#zeroRef;
    if (this.#isFrag(ref)) await this.#incRef(ref);
    else txn.incRef(this.#pageOf(ref));
    return ref;
  }

  async #resize(size: number): Promise<void> {
    const cs = this.chunkSize;
    const oldSize = this.#header.size;
    const want = defaultIndexRecords(Math.ceil(size / cs));
    if (!this.#header.indexFixed && want > this.#header.indexRecords) {
      // An index sized by the volume follows it: a smaller one would forget names the volume
      // still holds (and miss their duplicates). Rebuilt from the names, O(stored chunks): next
      // to nothing for a volume grown before its first import.
      this.#header.indexRecords = want;
      await this.#rebuildIndex();
    }
    if (size < oldSize) {
      const first = Math.ceil(size / cs);
      const last = Math.ceil(oldSize / cs);
      for (let c = first; c < last; c++) {
        if ((await this.#liveChunk(c)) >= 0 || this.#snapshots.length > 0) await this.#setLive(c, -1);
        await this.#maybeCommit();
      }
      // The tail of a partial last chunk must read as zeros if the volume grows again.
      if (size % cs !== 0) {
        const c = Math.floor(size / cs);
        const phys = await this.#liveChunk(c);
        if (phys >= 0) {
          const bytes = (await this.#readChunk(phys, c)).slice();
          bytes.fill(0, size - c * cs);
          this.#header.size = size;
          const writes: Promise<void>[] = [];
          await this.#writeChunk(LIVE, c, bytes, undefined, writes);
          await settle(writes);
        }
      }
    }
    this.#header.size = size;
  }

  // ---- lookups --------------------------------------------------------------------------------

  /** The physical chunk live chunk `chunk` maps, or -1. */
  async #liveChunk(chunk: number): Promise<number> {
    const slot = await this.#blockMap.leaf(chunk, false);
    if (!slot) return -1;
    return getU32(slot.buf, slot.off) - 1;
  }

  /** The physical chunk `version` reads for `chunk`, or -1 for zeros. */
  async #resolve(version: string, chunk: number): Promise<number> {
    if (version !== LIVE) {
      const ex = await this.#ex.lookup(version, chunk);
      if (ex !== undefined) return ex === this.#zeroRef ? -1 : ex;
    }
    return this.#liveChunk(chunk);
  }

  /** The content name of a stored chunk (zeros when free). */
  async #nameAt(ref: number): Promise<Uint8Array> {
    const slot = this.#isFrag(ref)
      ? await this.#frags.leaf(ref, false)
      : await this.#names.leaf(this.#pageOf(ref), false);
    if (!slot) return new Uint8Array(NAME_BYTES);
    return slot.buf.subarray(slot.off, slot.off + NAME_BYTES);
  }

  /** The leaf holding a chunk's name (at `off`) if cached; undefined: no leaf; null: not cached. */
  #peekName(ref: number): LeafSlot | undefined | null {
    return this.#isFrag(ref) ? this.#frags.peekLeaf(ref) : this.#names.peekLeaf(this.#pageOf(ref));
  }

  /** Whether a reference names a fragment of a packed page. */
  #isFrag(ref: number): boolean {
    return this.#packed && (ref & 15) !== 0;
  }

  /** The page a reference reads. */
  #pageOf(ref: number): number {
    return this.#packed ? ref >>> 4 : ref;
  }

  /** The reference of a whole page. */
  #rawRef(page: number): number {
    return this.#packed ? page * 16 : page;
  }

  /** A compressed store's references address pages below 2^28. */
  #checkAddressable(page: number): void {
    if (this.#packed && page > MAX_PACKED_PAGES)
      throw new StoreError(
        'ERR_NO_SPACE',
        `${this.#where}: a compressed store addresses ${MAX_PACKED_PAGES + 1} pages of ${DATA_FILE} at most`,
      );
  }

  /**
   * Fragments `refs[i]` decompressed into `bytes` at `at[i]`, each packed page read once.
   * @throws StoreError ERR_CORRUPT_DATA naming page and fragment (a bad directory, a fragment
   *   the codec refuses or that inflates to another size).
   */
  async #readFragments(refs: number[], bytes: Uint8Array, at: number[]): Promise<undefined>;
  async #readFragments(refs: number[], bytes: Uint8Array, at: number[], defer: number): Promise<Int32Array>;
  /**
   * Reads fragments `refs` into `bytes` at `at` (each packed page read once). With `defer`, the
   * packed pages are read into `bytes` from byte `defer` on and only located: the result is the
   * (fragment offset, length, chunk offset) triples for HashPool.unpackAndHash.
   */
  async #readFragments(
    refs: number[],
    bytes: Uint8Array,
    at: number[],
    defer?: number,
  ): Promise<undefined | Int32Array> {
    const cs = this.chunkSize;
    const pages: number[] = [];
    const index = new Map<number, number>();
    for (const r of refs) {
      const p = r >>> 4;
      if (!index.has(p)) {
        index.set(p, pages.length);
        pages.push(p);
      }
    }
    if (defer !== undefined) {
      const into = bytes.subarray(defer, defer + pages.length * cs);
      await (this.#tx ? this.#tx.readDataMany(pages, into) : this.#pages.readDataMany(pages, into));
      const jobs = new Int32Array(refs.length * 3);
      for (let i = 0; i < refs.length; i++) {
        const r = refs[i] as number;
        const k = index.get(r >>> 4) as number;
        const { offset, length } = locatePackedFragment(
          into.subarray(k * cs, (k + 1) * cs),
          (r & 15) - 1,
          this.#codec as ChunkCodec,
          cs,
          `${this.#where}: ${DATA_FILE} page ${r >>> 4}`,
        );
        jobs[i * 3] = defer + k * cs + offset;
        jobs[i * 3 + 1] = length;
        jobs[i * 3 + 2] = at[i] as number;
      }
      return jobs;
    }
    const buf = await (this.#tx ? this.#tx.readDataMany(pages) : this.#pages.readDataMany(pages));
    for (let i = 0; i < refs.length; i++) {
      const r = refs[i] as number;
      const k = index.get(r >>> 4) as number;
      const chunk = readPackedFragment(
        buf.subarray(k * cs, (k + 1) * cs),
        (r & 15) - 1,
        this.#codec as ChunkCodec,
        cs,
        `${this.#where}: ${DATA_FILE} page ${r >>> 4}`,
      );
      bytes.set(chunk, at[i] as number);
    }
    return undefined;
  }

  /** A stored chunk's bytes, unverified. */
  async #readRef(ref: number): Promise<Uint8Array> {
    if (!this.#isFrag(ref)) return this.#readData(this.#pageOf(ref));
    const bytes = new Uint8Array(this.chunkSize);
    await this.#readFragments([ref], bytes, [0]);
    return bytes;
  }

  /**
   * A chunk's bytes, checked against its name unless `verifyReads` is off: a damaged chunk is
   * ERR_CORRUPT_DATA naming the page, never wrong bytes.
   */
  async #readChunk(ref: number, chunk: number): Promise<Uint8Array> {
    const page = this.#pageOf(ref);
    if (page >= this.#pageCount()) {
      throw new StoreError(
        'ERR_CORRUPT_DATA',
        `${this.#where}: chunk ${chunk} maps page ${page}, past the end of ${DATA_FILE}`,
      );
    }
    const bytes = await this.#readRef(ref);
    if (this.verifyReads && !sameBytes(nameOf(bytes), await this.#nameAt(ref))) {
      const frag = this.#isFrag(ref) ? `, fragment ${(ref & 15) - 1}` : '';
      throw new StoreError(
        'ERR_CORRUPT_DATA',
        `${this.#where}: ${DATA_FILE} page ${page}${frag} (chunk ${chunk}): its bytes do not match their content name`,
      );
    }
    return bytes;
  }

  async #readData(phys: number): Promise<Uint8Array> {
    return this.#tx ? this.#tx.readData(phys) : this.#pages.readData(phys);
  }

  /** Pages of the page layer as the open transaction sees them (it may have grown the layer). */
  #pageCount(): number {
    return this.#tx ? this.#tx.pageCount : this.#pages.pageCount;
  }

  /** A page's reference count (a packed page: its live fragments). */
  #refCount(page: number): number {
    return this.#tx ? this.#tx.refCount(page) : this.#pages.refCount(page);
  }

  /** References to a stored chunk: its page's count, or a fragment's own. */
  async #refsOf(ref: number): Promise<number> {
    if (!this.#isFrag(ref)) return this.#refCount(this.#pageOf(ref));
    const slot = await this.#frags.leaf(ref, false);
    return slot ? getU32(slot.buf, slot.off + FRAG_COUNT) : 0;
  }

  #isDirty(chunk: number): boolean {
    return chunk < this.#dirtyBits.size && this.#dirtyBits.get(chunk);
  }

  /** Marks a live chunk written since the newest snapshot, in memory and in the dirty map. */
  async #markDirty(chunk: number): Promise<void> {
    if (this.#isDirty(chunk)) return;
    if (chunk >= this.#dirtyBits.size)
      this.#dirtyBits.truncate(Math.max(chunk + 1, this.#dirtyBits.size * 2));
    this.#dirtyBits.set(chunk, 1);
    const slot = (await this.#dirty.leaf(Math.floor(chunk / 8), true)) as {
      page: number;
      buf: Uint8Array;
      off: number;
    };
    slot.buf[slot.off] = (slot.buf[slot.off] as number) | (1 << (chunk & 7));
    this.#dirty.markDirty(slot.page);
  }

  /** Loads the dirty map into memory. O(pages of the dirty map). */
  async #loadDirty(): Promise<void> {
    const bits = this.#dirtyBits;
    await this.#dirty.forEachLeaf((first, buf) => {
      for (let i = 0; i < buf.length; i++) {
        const b = buf[i] as number;
        if (b === 0) continue;
        for (let k = 0; k < 8; k++) {
          if (((b >>> k) & 1) === 0) continue;
          const c = (first + i) * 8 + k;
          if (c >= bits.size) bits.truncate(Math.max(c + 1, bits.size * 2));
          bits.set(c, 1);
        }
      }
    });
  }

  #versionSize(version: string): number {
    if (version === LIVE) return this.#header.size;
    return this.#snap(version).size;
  }

  #find(name: string): SnapState | undefined {
    return this.#snapshots.find((s) => s.name === name);
  }

  #snap(name: string): SnapState {
    checkSnapshotName(name);
    const s = this.#find(name);
    if (!s) throw new StoreError('ERR_NOT_FOUND', `no snapshot '${name}' in ${this.#where}`);
    return s;
  }

  // ---- transactions ---------------------------------------------------------------------------

  #txn(): PageTransaction {
    if (!this.#tx) {
      this.#tx = this.#pages.begin();
    }
    return this.#tx;
  }

  /** Opens the transaction and runs the exception store inside it. */
  async #ensureTx(): Promise<void> {
    const had = this.#tx !== undefined && this.#exAttached;
    if (had) return;
    const tx = this.#txn();
    await this.#ex.attachTransaction(tx);
    this.#exAttached = true;
  }
  #exAttached = false;

  /** Commits the open transaction (the store's flush). */
  async #commit(): Promise<void> {
    if (this.#exAttached) {
      await this.#ex.detachTransaction('commit');
      this.#exAttached = false;
    }
    const h = this.#header;
    h.blockMap = this.#blockMap.root;
    h.names = this.#names.root;
    h.dirty = this.#dirty.root;
    h.fragments = this.#frags.root;
    const headerChanged = !sameHeader(h, this.#committedHeader);
    if (!this.#tx && !headerChanged && !this.#tableDirty) return;
    const tx = this.#txn();
    if (this.#tableDirty) {
      h.table = await writeChain(tx, this.#pages, h.table, encodeTable(this.#snapshots));
      this.#tableDirty = false;
    }
    this.#cache.writeBack();
    if (!sameHeader(h, this.#committedHeader)) {
      tx.writeMeta(this.#pages.getRoot(HEADER_ROOT) as number, encodeHeader(h, this.#pages.metaPayloadSize));
    }
    this.#tx = undefined;
    await tx.commit();
    this.#committedHeader = { ...h };
    this.#cache.trim();
  }

  /** Commits on its own when the transaction nears what the page layer's journal can take. */
  async #maybeCommit(writes?: Promise<void>[]): Promise<void> {
    this.#cache.trim();
    // Every WRITE_BACK_BYTES of data pages, the medium starts writing them out while the writes
    // go on (a flush nobody waits for), rather than all at the commit's flush.
    const written = this.#pages.stats.dataWrites;
    if ((written - this.#writtenBack) * this.chunkSize >= WRITE_BACK_BYTES) {
      this.#writtenBack = written;
      this.#pages.writeBack();
    }
    const journal = this.#pages.journalPages;
    const tx = this.#tx;
    // Pages the journal will carry: what the page layer's transaction holds (its metadata pages,
    // one space-map page per group of pages whose count changed, the data lists, the commit
    // page), the cache's dirty pages, the exception store's, and the header and snapshot table.
    // A quarter of the journal leaves the rest for the batch that runs before the next look.
    // (With no transaction open the cache's dirty pages still count: they go in the next one.)
    const used =
      (tx ? tx.journalPagesNeeded() + (this.#exAttached ? this.#ex.pendingPages : 0) : 0) +
      this.#cache.dirty +
      2;
    if (used >= journal / 4) {
      if (writes) await settle(writes);
      await this.#commit();
    }
  }

  async #rebuildIndex(): Promise<void> {
    if (!this.#indexStorage) return;
    this.#indexPending = false;
    await this.#index?.close().catch(() => {});
    this.#index = undefined;
    const index = await createIndex(this.#indexStorage, this.#header);
    const meta = new Uint8Array(16);
    const dv = new DataView(meta.buffer);
    const names = this.#names;
    await names.forEachLeaf(async (first, buf) => {
      for (let i = 0; i < names.perLeaf; i++) {
        const p = first + i;
        if (p >= this.#pageCount() || this.#refCount(p) === 0 || p === this.#header.zeroPage) continue;
        const name = buf.subarray(i * NAME_BYTES, (i + 1) * NAME_BYTES);
        if (isZero(name)) continue;
        dv.setUint32(0, this.#rawRef(p), true);
        await index.update(name, meta);
      }
    });
    const frags = this.#frags;
    await frags.forEachLeaf(async (first, buf) => {
      for (let i = 0; i < frags.perLeaf; i++) {
        const off = i * FRAG_BYTES;
        if (getU32(buf, off + FRAG_COUNT) === 0) continue;
        dv.setUint32(0, first + i, true);
        await index.update(buf.subarray(off, off + NAME_BYTES), meta);
      }
    });
    this.#index = index;
  }

  // ---- the queue ------------------------------------------------------------------------------

  #checkOpen(): void {
    if (this.#closed) throw new StoreError('ERR_CLOSED', `${this.#where} is closed`);
  }

  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => {});
    return next;
  }

  /** Runs an operation alone. A mutation that fails half way leaves the store refusing further
   * use (close and reopen: it opens at the last flush), as a crash would. */
  #run<T>(mutates: boolean, fn: () => Promise<T>): Promise<T> {
    return this.#enqueue(async () => {
      this.#checkOpen();
      if (mutates && this.#readOnly)
        throw new StoreError('ERR_READ_ONLY', `${this.#where} is open read-only`);
      if (this.#failed !== undefined) {
        throw new StoreError(
          'ERR_IO',
          `${this.#where}: an earlier operation failed; close and reopen the store`,
          { cause: this.#failed },
        );
      }
      if (mutates) this.#generation++;
      try {
        return await fn();
      } catch (e) {
        if (mutates && !(e instanceof TypeError) && !(e instanceof RangeError) && !isRefusal(e))
          this.#failed = e;
        throw wrapError(e, this.#where);
      }
    });
  }
}
