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
import { chainPages, createIndex, openLocation, readChain, writeChain } from './_files';
import { isZero, NAME_BYTES, nameOf, sameBytes } from './_hash';
import { type BatchNames, hashBatch } from './_hash-pool';
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
  checkRange,
  checkSize,
  checkSnapshotName,
  checkVersion,
  isRefusal,
  type RawChunks,
  sameHeader,
  settle,
  verifyBatch,
} from './_util';
import { StoreError, wrapError } from './errors';
import {
  type CheckProblem,
  type CheckReport,
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

/** Whether the 16-byte names at `a[ai]` and `b[bi]` are equal. */
function sameName(a: Uint8Array, ai: number, b: Uint8Array, bi: number): boolean {
  for (let i = 0; i < NAME_BYTES; i += 4) if (getU32(a, ai + i) !== getU32(b, bi + i)) return false;
  return true;
}

/** Records of a dedup index sized by the volume: twice its chunks, at least 65,536. */
function defaultIndexRecords(chunks: number): number {
  return Math.max(65536, 2 * chunks);
}

/** Whole chunks a batched write takes at a time (one dedup-index request per batch). */
const BATCH_CHUNKS = 256;

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
  readonly #pages: PageStore;
  readonly #indexStorage: Storage | undefined;
  #index: DedupIndex | undefined;
  readonly #ex: ExceptionStore;
  readonly #alloc: ReferenceAllocator;
  readonly #cache: MetaCache;
  readonly #blockMap: RadixArray;
  readonly #names: RadixArray;
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
  #txData = 0;
  #txMeta = new Set<number>();
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
    const host: MetaHost = {
      payload: pages.metaPayloadSize,
      read: (page) => (this.#tx ? this.#tx.readMeta(page) : pages.readMeta(page)),
      write: (page, payload) => {
        this.#txMeta.add(page);
        this.#txn().writeMeta(page, payload);
      },
      allocate: () => this.#txn().allocate('meta'),
      free: (page) => this.#txn().decRef(page),
    };
    this.#cache = new MetaCache(host, cachePages);
    this.#blockMap = new RadixArray(this.#cache, 4, header.blockMap);
    this.#names = new RadixArray(this.#cache, NAME_BYTES, header.names);
    this.#dirty = new RadixArray(this.#cache, 1, header.dirty);
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
      };
      tx.writeMeta(headerPage, encodeHeader(header, pages.metaPayloadSize));
      tx.setRoot(HEADER_ROOT, headerPage);
      await tx.commit();
      const dedup = index ? await createIndex(index, header) : undefined;
      const store = new Store(pages, ex, alloc, header, [], index, dedup, cachePages, header.verify, where);
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
    const known = new Set(this.#ex.snapshots().map((s) => s.name));
    const before = this.#snapshots.length;
    this.#snapshots = this.#snapshots.filter((s) => known.has(s.name));
    if (this.#snapshots.length !== before) {
      // A crash hit between the exception store's deletion and our table's commit.
      this.#tableDirty = true;
      await this.#recountData();
      await this.#scrubNames();
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
      if (options.discard === true) {
        // Drop what the last flush did not cover: the store stays at that flush.
        if (this.#exAttached) await this.#ex.detachTransaction('abort').catch(() => {});
        this.#exAttached = false;
        this.#tx?.abort();
        this.#tx = undefined;
      } else if (this.#failed === undefined && !this.#readOnly) {
        try {
          await this.#commit();
        } catch (e) {
          error = e;
        }
      }
      this.#closed = true;
      await this.#index?.close().catch((e) => {
        error ??= e;
      });
      await this.#ex.close().catch(() => {});
      await this.#pages.close().catch((e) => {
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
      if (this.verifyReads) verifyBatch(raw, hashBatch(raw.bytes, cs), first, this.#where);
      const from = offset - first * cs;
      return from === 0 && length === raw.bytes.length ? raw.bytes : raw.bytes.slice(from, from + length);
    });
  }

  /**
   * @internal Chunks `first .. first + count - 1` of a version, unverified, with the names they
   * must have (undefined: zeros): for callers that verify on a HashPool (export). `into` (at
   * least `count` chunks; a shared buffer, say) receives the bytes instead of a new array.
   */
  _readRaw(version: string, first: number, count: number, into?: Uint8Array): Promise<RawChunks> {
    return this.#run(false, async () => {
      const size = this.#versionSize(version);
      const cs = this.chunkSize;
      checkRange(first * cs, Math.min(count * cs, Math.max(0, size - first * cs)), size, version);
      if (into !== undefined && into.length < count * cs)
        throw new RangeError(`_readRaw: ${into.length} bytes cannot take ${count} chunks`);
      return this.#readRaw(version, first, count, into);
    });
  }

  /**
   * Chunks `first .. first + count - 1` of a version: every mapping resolved first, then the
   * chunks read in one batch (neighbours on the medium read together).
   */
  async #readRaw(version: string, first: number, count: number, into?: Uint8Array): Promise<RawChunks> {
    const cs = this.chunkSize;
    const bytes = into ?? new Uint8Array(count * cs);
    const expected: (Uint8Array | undefined)[] = new Array(count);
    const physical: number[] = new Array(count).fill(-1);
    const pages: number[] = [];
    const at: number[] = [];
    const pageCount = this.#pageCount();
    for (let i = 0; i < count; i++) {
      const chunk = first + i;
      // The live volume's mapping and the names come from cached metadata pages without a
      // promise per chunk when they can.
      let phys: number;
      if (version === LIVE) {
        const slot = this.#blockMap.peekLeaf(chunk);
        phys = slot === null ? await this.#liveChunk(chunk) : slot ? getU32(slot.buf, slot.off) - 1 : -1;
      } else {
        phys = await this.#resolve(version, chunk);
      }
      if (phys < 0) {
        if (into !== undefined) bytes.fill(0, i * cs, (i + 1) * cs);
        continue;
      }
      if (phys >= pageCount) {
        throw new StoreError(
          'ERR_CORRUPT_DATA',
          `${this.#where}: chunk ${chunk} maps page ${phys}, past the end of ${DATA_FILE}`,
        );
      }
      physical[i] = phys;
      const name = this.#names.peekLeaf(phys);
      expected[i] =
        name === null
          ? (await this.#nameAt(phys)).slice()
          : name
            ? name.buf.slice(name.off, name.off + NAME_BYTES)
            : new Uint8Array(NAME_BYTES);
      pages.push(phys);
      at.push(i * cs);
    }
    if (pages.length > 0) {
      await (this.#tx ? this.#tx.readDataMany(pages, bytes, at) : this.#pages.readDataMany(pages, bytes, at));
    }
    return { bytes, expected, physical };
  }

  /**
   * @internal Writes (or with no data, discards); resolves to the chunks whose content changed.
   * `hashed` carries the names of the whole chunks of `data` (from a HashPool), when the caller
   * hashed them already: `hashed.names` 16 bytes and `hashed.zero` one flag per chunk of
   * `data`, which must then start on a chunk boundary.
   */
  _write(
    version: string,
    offset: number,
    data: Uint8Array | undefined,
    length: number,
    hashed?: BatchNames,
  ): Promise<number> {
    return this.#run(true, async () => {
      const size = this.#versionSize(version);
      checkRange(offset, length, size, version);
      if (data !== undefined) await this.#ensureIndex();
      const cs = this.chunkSize;
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
            const i = (pos - offset) / cs;
            const count = Math.min(Math.floor((end - pos) / cs), BATCH_CHUNKS);
            changed += await this.#writeLiveBatch(
              chunk,
              data.subarray(pos - offset, pos - offset + count * cs),
              hashed,
              i,
              count,
              writes,
            );
            pos += count * cs;
            await settle(writes);
            await this.#maybeCommit(writes);
            continue;
          }
          if (n === cs) {
            content = data?.subarray(pos - offset, pos - offset + n);
            if (hashed) {
              const i = (pos - offset) / cs;
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
        const zero = (await this.#resolve(version, chunk)) < 0;
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
      for (const [p, n] of perPhys) {
        if (p === this.#header.zeroPage) continue;
        if (this.#refCount(p) === n) exclusive++;
        else shared++;
      }
      return { name, exclusiveBytes: exclusive * this.chunkSize, sharedBytes: shared * this.chunkSize };
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
      // The exception store committed its own transactions; our table follows in ours.
      this.#snapshots = this.#snapshots.filter((s) => s.name !== name);
      this.#tableDirty = true;
      await this.#recountData();
      await this.#commit();
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
        const phys = (await this.#ex.lookup(name, chunk)) as number;
        const target = phys === this.#header.zeroPage ? -1 : phys;
        if (target >= 0) this.#txn().incRef(target);
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
      const metaPages = Math.max(0, usedPages - h.dataChunks - 1);
      if (!this.#readOnly) await this.#ensureIndex();
      const indexBytes = this.#indexStorage ? await this.#indexStorage.size() : 0;
      const dataBytes = h.dataChunks * cs;
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
    const refs = new Map<number, number>();
    const meta = new Set<number>();
    const add = (p: number) => refs.set(p, (refs.get(p) ?? 0) + 1);
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
        if (v - 1 >= pageCount)
          problems.push({
            kind: 'dangling',
            message: `chunk ${chunk} maps page ${v - 1}, past the end`,
            page: v - 1,
          });
        else add(v - 1);
      }
    });
    if (mapped !== h.mapped)
      problems.push({
        kind: 'counter',
        message: `header counts ${h.mapped} mapped chunks, the block map has ${mapped}`,
      });
    for (const tree of [this.#blockMap, this.#names, this.#dirty])
      for (const p of await tree.pages()) meta.add(p);
    if (h.table >= 0) for (const p of await chainPages(this.#pages, h.table)) meta.add(p);
    // Exceptions.
    try {
      const report = await this.#ex.check({ uniqueChunks: false });
      for (const p of report.metaPages) meta.add(p);
      for (const p of report.exceptionChunks) add(p);
      for (const p of report.pendingReleases) add(p);
    } catch (e) {
      problems.push({ kind: 'structure', message: `exception store: ${(e as Error).message}` });
    }
    add(h.zeroPage);
    // Every page.
    let dataChunks = 0;
    const fixes: { page: number; delta: number }[] = [];
    for (let p = 0; p < pageCount; p++) {
      const rc = this.#pages.refCount(p);
      const expected = meta.has(p) ? 1 : (refs.get(p) ?? 0);
      if (!meta.has(p) && expected > 0 && p !== h.zeroPage) dataChunks++;
      if (rc === expected) continue;
      if (meta.has(p) && refs.has(p)) {
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
    if (dataChunks !== h.dataChunks)
      problems.push({
        kind: 'counter',
        message: `header counts ${h.dataChunks} data chunks, ${dataChunks} are referenced`,
      });
    // Names and data.
    let verified = 0;
    if (options.data) {
      let done = 0;
      const total = refs.size;
      for (const p of refs.keys()) {
        if (options.signal?.aborted) throw new StoreError('ERR_ABORTED', 'check aborted');
        if (p !== h.zeroPage && p < pageCount && this.#pages.refCount(p) > 0) {
          const bytes = await this.#pages.readData(p);
          const want = await this.#nameAt(p);
          if (!sameBytes(nameOf(bytes), want))
            problems.push({
              kind: 'data',
              message: `chunk at page ${p}: its bytes do not match its name`,
              page: p,
            });
          verified++;
        }
        done++;
        if ((done & 1023) === 0) options.onProgress?.({ bytes: done * cs, total: total * cs });
      }
    }
    let repaired = 0;
    if (options.repair && (fixes.length > 0 || problems.some((q) => q.kind === 'counter'))) {
      const tx = this.#txn();
      for (const f of fixes) {
        for (let k = 0; k < f.delta; k++) tx.incRef(f.page);
        for (let k = 0; k > f.delta; k--) tx.decRef(f.page);
        repaired++;
      }
      this.#header.mapped = mapped;
      this.#header.dataChunks = dataChunks;
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
      phys = this.#header.zeroPage;
      this.#txn().incRef(phys);
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
  ): Promise<number> {
    const cs = this.chunkSize;
    const tx = this.#txn();
    let changed = 0;
    // 1. Zero chunks unmap; unchanged chunks are done; the rest need a physical chunk.
    const need: number[] = [];
    for (let k = 0; k < count; k++) {
      const chunk = first + k;
      if (hashed.zero[at + k] === 1) {
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
        const nameSlot = this.#names.peekLeaf(old);
        const same =
          nameSlot === null
            ? sameBytes(await this.#nameAt(old), hashed.names.subarray(at16, at16 + NAME_BYTES))
            : nameSlot !== undefined && sameName(nameSlot.buf, nameSlot.off, hashed.names, at16);
        if (same) continue;
      }
      need.push(k);
    }
    if (need.length === 0) return changed;
    // 2. A fresh chunk for each, and one batch post of (name, fresh chunk) to the index.
    const names = new Uint8Array(need.length * NAME_BYTES);
    const metas = new Uint8Array(need.length * 16);
    const metaView = new DataView(metas.buffer);
    const fresh = await tx.allocateMany('data', need.length);
    for (let j = 0; j < need.length; j++) {
      const k = need[j] as number;
      names.set(hashed.names.subarray((at + k) * NAME_BYTES, (at + k + 1) * NAME_BYTES), j * NAME_BYTES);
      metaView.setUint32(j * 16, fresh[j] as number, true);
    }
    let advice: (Uint8Array | undefined)[] = [];
    try {
      advice = await (this.#index as DedupIndex).postMany(names, metas);
    } catch {
      this.#index = undefined;
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
      const freshPages = new Set(fresh);
      const want: number[] = [];
      const seen = new Set<number>();
      const pageCount = this.#pageCount();
      for (const earlier of advice) {
        if (earlier === undefined) continue;
        const cand = getU32(earlier, 0);
        if (seen.has(cand) || freshPages.has(cand) || cand === this.#header.zeroPage || cand >= pageCount)
          continue;
        if (tx.refCount(cand) <= 0) continue;
        seen.add(cand);
        want.push(cand);
      }
      if (want.length > 0) {
        const got = await tx.readDataMany(want);
        for (let i = 0; i < want.length; i++)
          pending.set(want[i] as number, got.subarray(i * cs, (i + 1) * cs));
      }
    }
    const newPages: number[] = [];
    const newAt: number[] = [];
    for (let j = 0; j < need.length; j++) {
      const k = need[j] as number;
      const name = names.subarray(j * NAME_BYTES, (j + 1) * NAME_BYTES);
      const bytes = data.subarray(k * cs, (k + 1) * cs);
      const page = fresh[j] as number;
      const earlier = advice[j];
      let phys = page;
      if (earlier !== undefined) {
        const cand = getU32(earlier, 0);
        if (await this.#usable(cand, name, bytes, pending)) {
          tx.decRef(page);
          tx.incRef(cand);
          phys = cand;
        } else {
          fixes.push(j);
        }
      }
      if (phys === page) {
        pending.set(page, bytes);
        newPages.push(page);
        newAt.push(k * cs);
        if (!this.#storedSync(page, name)) await this.#stored(page, name);
      }
      const set = this.#setLiveSync(first + k, phys);
      if (set === undefined ? await this.#setLive(first + k, phys) : set) changed++;
    }
    if (newPages.length > 0) {
      // Written from where they are in the caller's buffer (kept until `writes` settle).
      writes.push(tx.writeDataMany(newPages, data, newAt));
    }
    if (fixes.length > 0 && this.#index) {
      const n2 = new Uint8Array(fixes.length * NAME_BYTES);
      const m2 = new Uint8Array(fixes.length * 16);
      fixes.forEach((j, x) => {
        n2.set(names.subarray(j * NAME_BYTES, (j + 1) * NAME_BYTES), x * NAME_BYTES);
        m2.set(metas.subarray(j * 16, (j + 1) * 16), x * 16);
      });
      try {
        await this.#index.updateMany(n2, m2);
      } catch {
        this.#index = undefined;
      }
    }
    return changed;
  }

  /**
   * A physical chunk holding `data`, with one reference for the caller: an existing one the index
   * points to (live, same name, same bytes when verifying), or a new one.
   */
  async #store(data: Uint8Array, name: Uint8Array, writes?: Promise<void>[]): Promise<number> {
    const tx = this.#txn();
    const fresh = await tx.allocate('data');
    const meta = new Uint8Array(16);
    new DataView(meta.buffer).setUint32(0, fresh, true);
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
        tx.incRef(cand);
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
    await this.#stored(fresh, name);
    return fresh;
  }

  /** #stored when the name's leaf page is cached (no promise); false when it is not. */
  #storedSync(page: number, name: Uint8Array): boolean {
    const slot = this.#names.peekLeaf(page);
    if (!slot) return false;
    this.#txData++;
    slot.buf.set(name, slot.off);
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
    const tx = this.#txn();
    if (old === phys) {
      if (phys >= 0) tx.decRef(phys);
      return false;
    }
    if (old >= 0 && tx.refCount(old) <= 1) return undefined;
    let dirtySlot: LeafSlot | undefined | null;
    if (!dirty) {
      dirtySlot = this.#dirty.peekLeaf(Math.floor(chunk / 8));
      if (!dirtySlot) return undefined;
    }
    // Everything needed is at hand: from here on it cannot fail half way.
    setU32(slot.buf, slot.off, phys + 1);
    this.#blockMap.markDirty(slot.page);
    if (old >= 0) tx.decRef(old);
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

  /** A new chunk was written at `page`: it is named and counted (the opposite of #freed). */
  async #stored(page: number, name: Uint8Array): Promise<void> {
    this.#txData++;
    const slot = (await this.#names.leaf(page, true)) as { page: number; buf: Uint8Array; off: number };
    slot.buf.set(name, slot.off);
    this.#names.markDirty(slot.page);
    this.#header.dataChunks++;
  }

  /** Whether index advice `cand` may be shared for `name`/`data`. */
  async #usable(
    cand: number,
    name: Uint8Array,
    data: Uint8Array,
    pending?: Map<number, Uint8Array>,
  ): Promise<boolean> {
    const tx = this.#txn();
    if (cand === this.#header.zeroPage || cand >= this.#pageCount()) return false;
    if (tx.refCount(cand) <= 0) return false;
    if (!sameBytes(await this.#nameAt(cand), name)) return false;
    if (!this.verify) return true;
    const unwritten = pending?.get(cand);
    return sameBytes(unwritten ?? (await tx.readData(cand)), data);
  }

  /**
   * Points live chunk `chunk` at `phys` (-1: unmapped), whose reference the caller hands over.
   * Snapshots that still share the old content get an exception keeping it.
   */
  async #setLive(chunk: number, phys: number): Promise<boolean> {
    const tx = this.#txn();
    const old = await this.#liveChunk(chunk);
    if (old === phys) {
      if (phys >= 0) tx.decRef(phys);
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

  /** Drops one reference to a data chunk. */
  async #release(phys: number): Promise<void> {
    const tx = this.#txn();
    tx.decRef(phys);
    if (tx.refCount(phys) === 0) await this.#freed(phys);
  }

  /** @internal The exception store's allocator releases a chunk an exception no longer holds. */
  async _releaseForExceptions(txn: PageTransactionLike, chunk: number): Promise<void> {
    txn.decRef(chunk);
    if (chunk !== this.#header.zeroPage && (txn as PageTransaction).refCount(chunk) === 0)
      await this.#freed(chunk);
  }

  /**
   * A data chunk's last reference went: it leaves the distinct count and its name is cleared, so
   * advice naming it can never match whatever reuses the page.
   */
  async #freed(phys: number): Promise<void> {
    this.#header.dataChunks--;
    const slot = await this.#names.leaf(phys, false);
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
    this.#header.dataChunks = used - meta.size - 1;
  }

  /** @internal The exception store's allocator, for an origin write: keep the old chunk. */
  async _originChunkForCopy(txn: PageTransactionLike, chunk: number): Promise<number> {
    const old = await this.#liveChunk(chunk);
    const phys = old >= 0 ? old : this.#header.zeroPage;
    txn.incRef(phys);
    return phys;
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
      if (ex !== undefined) return ex === this.#header.zeroPage ? -1 : ex;
    }
    return this.#liveChunk(chunk);
  }

  async #nameAt(phys: number): Promise<Uint8Array> {
    const slot = await this.#names.leaf(phys, false);
    if (!slot) return new Uint8Array(NAME_BYTES);
    return slot.buf.subarray(slot.off, slot.off + NAME_BYTES);
  }

  /**
   * A chunk's bytes, checked against its name unless `verifyReads` is off: a damaged chunk is
   * ERR_CORRUPT_DATA naming the page, never wrong bytes.
   */
  async #readChunk(phys: number, chunk: number): Promise<Uint8Array> {
    if (phys >= this.#pageCount()) {
      throw new StoreError(
        'ERR_CORRUPT_DATA',
        `${this.#where}: chunk ${chunk} maps page ${phys}, past the end of ${DATA_FILE}`,
      );
    }
    const bytes = await this.#readData(phys);
    if (this.verifyReads && !sameBytes(nameOf(bytes), await this.#nameAt(phys))) {
      throw new StoreError(
        'ERR_CORRUPT_DATA',
        `${this.#where}: ${DATA_FILE} page ${phys} (chunk ${chunk}): its bytes do not match their content name`,
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

  #refCount(phys: number): number {
    return this.#tx ? this.#tx.refCount(phys) : this.#pages.refCount(phys);
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
      this.#txData = 0;
      this.#txMeta.clear();
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
    if (!this.#tx) return;
    const journal = this.#pages.journalPages;
    const perList = Math.floor((this.chunkSize - 36) / 8);
    const used = this.#txMeta.size + this.#cache.size / 4 + this.#txData / perList + this.#txData / 64;
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
        dv.setUint32(0, p, true);
        await index.update(name, meta);
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
