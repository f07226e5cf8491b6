// A PageStore transaction: the one writer's view of the store while it builds a change. It keeps
// what the change is — metadata page images (bounded by the cache, the excess spilled to the redo
// journal as uncommitted records), reference-count changes over the committed counts, pages
// allocated, data pages written (with their checksums, so recovery can tell whether they reached
// the disk), the page count it grew to, the roots and the user data — and hands it to its
// PageStore to commit. All I/O and the journal live in page-store.ts; this file checks arguments
// and keeps the overlay.

import { crc32 } from 'node:zlib';
import { HEADER_SIZE, MAX_ROOTS, ROOT_NAME_SIZE } from './_internal-page-format';
import { PageMap } from './_internal-page-map';
import { isPageStoreError, PageStoreError } from './errors';
import { MAX_REF_COUNT } from './space-map';

/** What an allocated page holds: layer-checked metadata or raw data. */
export type PageKind = 'meta' | 'data';

/** `Transaction.allocated`'s values: the kind a page was allocated as. */
export const ALLOC_META = 0;
export const ALLOC_DATA = 1;

/**
 * One transaction of a {@link PageStore}; get it from `PageStore.begin()`. Everything it changes
 * becomes visible to others — and durable — at once when `commit()` resolves, or never.
 */
export interface PageTransaction {
  /** The id the transaction commits as (`PageStore.sequence + 1` at `begin()`). */
  readonly id: number;
  /** Whether commit() or abort() was called (the transaction takes no more calls). */
  readonly finished: boolean;
  /**
   * User pages as this transaction sees them: the committed `PageStore.pageCount`, or more after
   * the transaction grew the store (`allocate` with no free page, or `grow`).
   */
  readonly pageCount: number;
  /**
   * Reads a metadata page's payload as this transaction sees it (its own writes included).
   * A page allocated and not yet written reads as zeros.
   * @param page - a metadata page live in this transaction.
   * @returns a copy of the `metaPayloadSize` payload bytes.
   * @throws RangeError for a page that is not allocated; TypeError for a data page;
   *   `ERR_CORRUPT_DATA` naming the page when its bytes fail a check; `ERR_CLOSED` after
   *   commit/abort; the error of a failed spill write of this page.
   */
  readMeta(page: number): Promise<Uint8Array>;
  /**
   * Replaces a metadata page's payload (shorter payloads are zero-padded). Buffered until commit;
   * past `cachePages` dirty pages the oldest go to the journal. O(pageSize).
   * @param page - a metadata page live in this transaction (not a data page, committed or
   *   allocated in it).
   * @param payload - at most `metaPayloadSize` bytes (copied).
   * @throws TypeError for a data page or bad arguments; RangeError for a page that is not
   *   allocated or a payload too long; `ERR_CLOSED` after commit/abort.
   */
  writeMeta(page: number, payload: Uint8Array): void;
  /**
   * Reads a data page raw.
   * @returns a new array of `pageSize` bytes.
   * @throws RangeError for a page that is not allocated.
   */
  readData(page: number): Promise<Uint8Array>;
  /**
   * Reads several data pages at once, as {@link PageTransaction.readData} each: pages that lie
   * side by side on the medium are read together (one storage `readv`, one system call per run on
   * a file), in any order the caller lists them.
   * @param pages - pages live in this transaction (repeats allowed).
   * @param into - where to put them (any buffer, a shared one too); default a new array of
   *   `pages.length × pageSize` bytes.
   * @param at - byte offset in `into` of each page (default `i × pageSize`).
   * @returns `into`.
   * @throws RangeError for a page that is not allocated or a destination outside `into`.
   */
  readDataMany(pages: readonly number[], into?: Uint8Array, at?: readonly number[]): Promise<Uint8Array>;
  /**
   * Writes a data page in place (it was free at the last commit, so no live data is overwritten).
   * One storage write; the commit makes it reachable. O(pageSize) (a CRC-32 for recovery).
   * @param page - a page allocated as `'data'` in this transaction.
   * @param data - exactly `pageSize` bytes.
   * @throws RangeError/TypeError for wrong use; a PageStoreError for a failure of the medium (the transaction can
   *   then only abort).
   */
  writeData(page: number, data: Uint8Array): Promise<void>;
  /**
   * Writes several data pages in one storage `writev` (one system call per run of neighbouring
   * pages on a file): the same as {@link PageTransaction.writeData} for each, in order, at a
   * fraction of the per-page cost. Every page is checked before anything is written.
   * @param pages - pages allocated as `'data'` in this transaction.
   * @param data - `pages.length × pageSize` bytes: page i's contents at `i × pageSize`; or, with
   *   `at`, any buffer holding page i's contents at byte `at[i]` (no copy into a batch needed).
   * @param at - where each page's contents start in `data`.
   * @param crcs - the CRC-32 (`node:zlib`'s `crc32`) of each page's contents, when the caller
   *   computed them already (on another thread, say); otherwise the layer computes them, on the
   *   calling thread. They go in the commit's data lists, and recovery checks each page against
   *   its own: a wrong one makes a crash recovery count that page as torn.
   * @throws as {@link PageTransaction.writeData}
   */
  writeDataMany(
    pages: readonly number[],
    data: Uint8Array,
    at?: readonly number[],
    crcs?: ArrayLike<number>,
  ): Promise<void>;
  /**
   * Takes a page that was free at the last commit and not taken since; its count becomes 1. When
   * no page is free the transaction grows the store first (as {@link PageTransaction.grow} does):
   * by the page count again, at least 8 pages, at most a bounded step (see the README), never past
   * `PageStore.maxPageCount`. O(levels of the free-page hbitmap), also on a nearly full device; a
   * growth adds one write per new space-map page and one flush.
   * @param kind - `'meta'` (written with writeMeta) or `'data'` (written with writeData).
   * @returns the page number, in `[0, pageCount)`.
   * @throws `ERR_NO_SPACE` when no page is free and the store is at `maxPageCount`, or when the
   *   medium is full (the transaction and the store stay usable, without the growth); the medium's
   *   other errors.
   */
  allocate(kind: PageKind): Promise<number>;
  /**
   * Takes `count` pages at once: the same as `count` calls of {@link PageTransaction.allocate}
   * (growing the store as often as they would), without a promise per page. When it fails
   * (`ERR_NO_SPACE`, say), the pages it took are given back, so nothing leaks.
   * @returns the pages, in the order they were taken.
   * @throws TypeError/RangeError for a bad kind or count; as `allocate`.
   */
  allocateMany(kind: PageKind, count: number): Promise<number[]>;
  /**
   * Grows the store to `pageCount` user pages as part of this transaction: durable with its commit,
   * gone with an abort or a crash before it. New pages are free; page numbers never move. Writes
   * (and flushes) the empty space-map pages of the new page groups and extends the storage to its
   * new end before it resolves, so a full medium is reported here. A count at or below the
   * transaction's `pageCount` changes nothing. O(new pages / entries per space-map page) writes.
   * @param pageCount - the new number of user pages.
   * @throws TypeError/RangeError for a count that is not an integer in `[1, 2^32 - 1]`;
   *   `ERR_NO_SPACE` past `PageStore.maxPageCount` or when the medium is full (nothing changed; the
   *   transaction and the store stay usable); after a failed flush, that error (the store then
   *   refuses further use with `ERR_IO`).
   */
  grow(pageCount: number): Promise<void>;
  /**
   * Adds a reference to a live page (a shared data chunk, say). O(1).
   * @throws RangeError for a free page or a count at 2^32 - 1.
   */
  incRef(page: number): void;
  /**
   * Drops a reference; at zero the page is free — reusable after this transaction commits. O(1).
   * @throws RangeError for a page that is already free.
   */
  decRef(page: number): void;
  /**
   * Sets (or with `undefined` clears) a named root slot.
   * @param name - 1 to 16 bytes of UTF-8 without NUL; at most 8 names in use.
   * @param page - a page number in `[0, pageCount)`, or `undefined`.
   * @throws TypeError/RangeError for a bad name, page, or a ninth name.
   */
  setRoot(name: string, page: number | undefined): void;
  /** The root as this transaction sees it. */
  getRoot(name: string): number | undefined;
  /**
   * Replaces the user-data area (at most `userDataSize` bytes; copied).
   * @throws TypeError/RangeError for bad bytes or a length past `userDataSize`.
   */
  setUserData(bytes: Uint8Array): void;
  /** The user data as this transaction sees it (a copy). */
  getUserData(): Uint8Array;
  /** The reference count of `page` as this transaction sees it. O(1). */
  refCount(page: number): number;
  /**
   * At least the journal pages a commit of the transaction would take now (`commit` fails with
   * `ERR_NO_SPACE` past `journalPages`): its spilled records, its buffered metadata pages, one
   * space-map page per group of pages whose count it changed, its data lists and the commit page.
   * For a writer that commits before the journal fills. O(1).
   */
  journalPagesNeeded(): number;
  /**
   * Commits: atomic and durable when it resolves (one storage flush; a journal checkpoint now and
   * then adds two). A transaction that changed nothing commits without I/O.
   * @throws `ERR_NO_SPACE` if the transaction needs more journal pages than the journal has; the
   *   error of a write the transaction made before (a spill, `writeData`) or of reading space-map
   *   pages — in these cases it is aborted, nothing changed, the store stays usable. A failure of the
   *   commit's own writes or flush rejects with that error, after which the store refuses further
   *   use (`ERR_IO`, with the error as `cause`) — close and reopen it: the state is the old or the
   *   new one.
   */
  commit(): Promise<void>;
  /** Drops the transaction: nothing of it becomes visible; pages it allocated are free again. */
  abort(): void;
}

/** What a transaction needs from its store (implemented by PageStore with closures over its state). */
export interface TransactionHost {
  readonly pageSize: number;
  readonly metaPayloadSize: number;
  readonly maxPageCount: number;
  readonly userDataSize: number;
  /** User pages per space-map page (a group). */
  readonly entriesPerGroup: number;
  /** Data pages one data-list record names. */
  readonly entriesPerDataList: number;
  committedCount(page: number): number;
  /** Whether a live committed page is a data page. */
  committedData(page: number): boolean;
  /**
   * The page count to grow to, or `undefined` at the maximum: the usual step when no page is free
   * (`kind` undefined); for a kind whose regions are full while other pages are free, the usual
   * step for data, one more region for metadata.
   */
  growthTarget(pageCount: number, kind?: PageKind): number | undefined;
  /** Pages free now (any kind; the open transaction's growth included, its allocations excluded). */
  freePages(): number;
  /** Grows the store for `tx` (sets `tx.pageCount` when done). */
  grow(tx: Transaction, pageCount: number): Promise<void>;
  committedRoots(): ReadonlyMap<string, number>;
  committedUserData(): Uint8Array;
  /**
   * Takes a free page for a data page (`true`) or a metadata page from the kind's own regions, or
   * with `mix` from any; -1 when there is none.
   */
  reserve(data: boolean, mix: boolean): number;
  /**
   * Takes up to `max` free pages for data as `reserve(true, mix)` would one by one (a run of
   * neighbours), appends them to `out`, and returns how many; 0 when there is none.
   */
  reserveDataRun(mix: boolean, max: number, out: number[]): number;
  release(page: number): void;
  readCommittedMeta(page: number): Promise<Uint8Array>;
  readSpilled(tx: Transaction, page: number): Promise<Uint8Array>;
  readData(page: number): Promise<Uint8Array>;
  readDataMany(
    pages: readonly number[],
    into: Uint8Array,
    at: readonly number[] | undefined,
  ): Promise<Uint8Array>;
  writeData(page: number, data: Uint8Array): Promise<void>;
  writeDataMany(pages: readonly number[], data: Uint8Array, at: readonly number[] | undefined): Promise<void>;
  afterWriteMeta(tx: Transaction): void;
  commit(tx: Transaction): Promise<void>;
  finish(tx: Transaction): void;
  checkUsable(): void;
}

/** @internal The transaction behind {@link PageTransaction}; its fields are PageStore's to read. */
export class Transaction implements PageTransaction {
  readonly id: number;
  /** The committed page count at begin(). */
  readonly basePageCount: number;
  /** Pages as this transaction sees them (set by the host when it grows). */
  pageCount: number;
  readonly #host: TransactionHost;
  /** Whether allocations may take pages in the other kind's regions (growing could not help). */
  #mix = false;
  /** A growth under way (allocations wait for it rather than grow twice). */
  #growing: Promise<void> | undefined;
  /** Dirty metadata images (full pages, header unsealed), oldest write first; key: user page. */
  readonly dirty = new Map<number, Uint8Array>();
  /** Pages spilled to the journal: user page -> journal position. */
  readonly spilled = new Map<number, number>();
  /** The unawaited spill write of each journal position (settled: failures land in `failure`). */
  readonly spillWrites = new Map<number, Promise<void>>();
  /** CRC-32 of the record at each journal position this transaction wrote. */
  readonly slotChecksums = new Map<number, number>();
  /** Reference counts changed by this transaction: user page -> new count. */
  readonly refs = new PageMap();
  /** Pages allocated in this transaction and their kind: ALLOC_DATA or ALLOC_META. */
  readonly allocated = new PageMap();
  /** Pages written with writeMeta in this transaction. */
  readonly metaWritten = new Set<number>();
  /** Data pages written in this transaction: user page -> CRC-32 of the contents. */
  readonly dataWritten = new PageMap();
  /** Space-map pages (groups of `entriesPerGroup` user pages) the commit will rewrite. */
  readonly groups = new Set<number>();
  /** New roots, if any root changed. */
  roots: Map<string, number> | undefined;
  /** New user data, if set. */
  userData: Uint8Array | undefined;
  /** Journal position of this transaction's first record. */
  readonly startPos: number;
  /** Next free journal position. */
  nextPos: number;
  /** The first failure of an I/O this transaction started without awaiting (spills, data writes). */
  failure: unknown;
  #finished = false;

  constructor(host: TransactionHost, id: number, startPos: number, pageCount: number) {
    this.#host = host;
    this.id = id;
    this.basePageCount = pageCount;
    this.pageCount = pageCount;
    this.startPos = startPos;
    this.nextPos = startPos;
  }

  get finished(): boolean {
    return this.#finished;
  }

  /** Whether the transaction changes anything at all. */
  get empty(): boolean {
    return (
      this.refs.size === 0 &&
      this.metaWritten.size === 0 &&
      this.roots === undefined &&
      this.userData === undefined &&
      this.pageCount === this.basePageCount
    );
  }

  refCount(page: number): number {
    this.#checkPage(page, 'refCount');
    return this.#count(page);
  }

  async readMeta(page: number): Promise<Uint8Array> {
    this.#checkOpen();
    this.#checkLive(page, 'readMeta');
    this.#checkNotData(page, 'readMeta');
    const image = this.dirty.get(page);
    if (image !== undefined) return image.slice(HEADER_SIZE);
    if (this.spilled.has(page)) return (await this.#host.readSpilled(this, page)).slice(HEADER_SIZE);
    if (this.allocated.has(page)) return new Uint8Array(this.#host.metaPayloadSize);
    return this.#host.readCommittedMeta(page);
  }

  writeMeta(page: number, payload: Uint8Array): void {
    this.#checkOpen();
    this.#checkLive(page, 'writeMeta');
    if (!(payload instanceof Uint8Array)) throw new TypeError('writeMeta: payload must be a Uint8Array');
    if (payload.length > this.#host.metaPayloadSize) {
      throw new RangeError(
        `writeMeta: payload of ${payload.length} bytes passes metaPayloadSize ${this.#host.metaPayloadSize}`,
      );
    }
    this.#checkNotData(page, 'writeMeta');
    const image = new Uint8Array(this.#host.pageSize);
    image.set(payload, HEADER_SIZE);
    this.dirty.delete(page);
    this.dirty.set(page, image);
    this.metaWritten.add(page);
    this.#touch(page);
    this.#host.afterWriteMeta(this);
  }

  async readData(page: number): Promise<Uint8Array> {
    this.#checkOpen();
    this.#checkLive(page, 'readData');
    return this.#host.readData(page);
  }

  async readDataMany(
    pages: readonly number[],
    into?: Uint8Array,
    at?: readonly number[],
  ): Promise<Uint8Array> {
    this.#checkOpen();
    for (const page of pages) this.#checkLive(page, 'readDataMany');
    return this.#host.readDataMany(pages, into ?? new Uint8Array(pages.length * this.#host.pageSize), at);
  }

  async writeData(page: number, data: Uint8Array): Promise<void> {
    this.#checkOpen();
    this.#checkPage(page, 'writeData');
    if (this.allocated.get(page) !== ALLOC_DATA || this.#count(page) === 0) {
      throw new RangeError(`writeData: page ${page} was not allocated as a data page in this transaction`);
    }
    if (!(data instanceof Uint8Array)) throw new TypeError('writeData: data must be a Uint8Array');
    if (data.length !== this.#host.pageSize) {
      throw new RangeError(
        `writeData: data must be pageSize (${this.#host.pageSize}) bytes, got ${data.length}`,
      );
    }
    this.dataWritten.set(page, crc32(data));
    try {
      await this.#host.writeData(page, data);
    } catch (error) {
      this.failure ??= error;
      throw error;
    }
  }

  async writeDataMany(
    pages: readonly number[],
    data: Uint8Array,
    at?: readonly number[],
    crcs?: ArrayLike<number>,
  ): Promise<void> {
    this.#checkOpen();
    if (!Array.isArray(pages)) throw new TypeError('writeDataMany: pages must be an array of page numbers');
    if (!(data instanceof Uint8Array)) throw new TypeError('writeDataMany: data must be a Uint8Array');
    const size = this.#host.pageSize;
    if (at === undefined) {
      if (data.length !== pages.length * size) {
        throw new RangeError(
          `writeDataMany: data must be ${pages.length} x pageSize (${pages.length * size}) bytes, got ${data.length}`,
        );
      }
    } else {
      if (!Array.isArray(at) || at.length !== pages.length)
        throw new RangeError(`writeDataMany: at must give one offset per page (${pages.length})`);
      for (const off of at) {
        if (!Number.isSafeInteger(off) || off < 0 || off + size > data.length)
          throw new RangeError(
            `writeDataMany: a page at ${off} does not lie inside data (${data.length} bytes)`,
          );
      }
    }
    for (const page of pages) {
      this.#checkPage(page, 'writeDataMany');
      if (this.allocated.get(page) !== ALLOC_DATA || this.#count(page) === 0) {
        throw new RangeError(
          `writeDataMany: page ${page} was not allocated as a data page in this transaction`,
        );
      }
    }
    if (crcs !== undefined) {
      if (crcs.length !== pages.length)
        throw new RangeError(`writeDataMany: crcs must give one CRC-32 per page (${pages.length})`);
      for (let i = 0; i < pages.length; i++) {
        const crc = crcs[i] as number;
        if (!Number.isInteger(crc) || crc < 0 || crc > 0xffffffff)
          throw new RangeError(`writeDataMany: crcs[${i}] is not a CRC-32 (${crc})`);
      }
    }
    if (pages.length === 0) return;
    for (let i = 0; i < pages.length; i++) {
      const from = at === undefined ? i * size : (at[i] as number);
      this.dataWritten.set(
        pages[i] as number,
        crcs === undefined ? crc32(data.subarray(from, from + size)) : (crcs[i] as number),
      );
    }
    try {
      await this.#host.writeDataMany(pages, data, at);
    } catch (error) {
      this.failure ??= error;
      throw error;
    }
  }

  async allocate(kind: PageKind): Promise<number> {
    this.#checkOpen();
    if (kind !== 'meta' && kind !== 'data') throw new TypeError(`allocate: kind must be 'meta' or 'data'`);
    for (;;) {
      const page = this.#take(kind);
      if (page >= 0) return page;
      await this.#makeRoom(kind);
      this.#checkOpen();
    }
  }

  async allocateMany(kind: PageKind, count: number): Promise<number[]> {
    this.#checkOpen();
    if (kind !== 'meta' && kind !== 'data')
      throw new TypeError(`allocateMany: kind must be 'meta' or 'data'`);
    if (typeof count !== 'number') throw new TypeError('allocateMany: count must be a number');
    if (!Number.isSafeInteger(count) || count < 0)
      throw new RangeError(`allocateMany: count must be a non-negative integer, got ${count}`);
    const out: number[] = [];
    try {
      while (out.length < count) {
        if (kind === 'data' ? this.#takeDataRun(count - out.length, out) > 0 : this.#takeInto(kind, out))
          continue;
        await this.#makeRoom(kind);
        this.#checkOpen();
      }
    } catch (error) {
      if (!this.finished) for (const page of out) this.decRef(page);
      throw error;
    }
    return out;
  }

  /** {@link Transaction.#take} into `out`: whether a page was taken. */
  #takeInto(kind: PageKind, out: number[]): boolean {
    const page = this.#take(kind);
    if (page < 0) return false;
    out.push(page);
    return true;
  }

  /**
   * Up to `max` free data pages (count 1) appended to `out`, a run of neighbours at a time (the
   * pages `#take` would give one by one); 0 when none is free or a growth is under way.
   */
  #takeDataRun(max: number, out: number[]): number {
    if (this.#growing !== undefined) return 0;
    const from = out.length;
    const n = this.#host.reserveDataRun(this.#mix, max, out);
    if (n === 0) return 0;
    for (let i = from; i < from + n; i++) this.#claim(out[i] as number, ALLOC_DATA);
    return n;
  }

  /** A free page taken for `kind` (count 1), or -1 when none is free or a growth is under way. */
  #take(kind: PageKind): number {
    if (this.#growing !== undefined) return -1;
    const page = this.#host.reserve(kind === 'data', this.#mix);
    if (page >= 0) this.#claim(page, kind === 'data' ? ALLOC_DATA : ALLOC_META);
    return page;
  }

  /** Records a page the space map reserved for this transaction: allocated as `kind`, count 1. */
  #claim(page: number, kind: number): void {
    this.allocated.set(page, kind);
    this.refs.set(page, 1);
    this.#touch(page);
  }

  /** Notes the space-map page (group) of a page whose count or kind the commit writes. */
  #touch(page: number): void {
    this.groups.add(Math.floor(page / this.#host.entriesPerGroup));
  }

  journalPagesNeeded(): number {
    return (
      this.nextPos -
      this.startPos +
      this.dirty.size +
      this.groups.size +
      Math.ceil(this.dataWritten.size / this.#host.entriesPerDataList) +
      1
    );
  }

  /**
   * Waits for the growth under way (another allocation's: its pages are for everyone), or grows.
   * When pages are free but none in `kind`'s regions (metadata and data are kept apart: SpaceMap),
   * grows for the kind; where the store cannot grow (its maximum, a full medium), allows taking
   * pages in the other kind's regions for the rest of the transaction instead.
   */
  async #makeRoom(kind: PageKind): Promise<void> {
    if (this.#growing !== undefined) {
      await this.#growing.catch(() => {});
      return;
    }
    const elsewhere = this.#host.freePages() > 0;
    const target = this.#host.growthTarget(this.pageCount, elsewhere ? kind : undefined);
    if (target === undefined) {
      if (elsewhere) {
        this.#mix = true;
        return;
      }
      throw new PageStoreError(
        'ERR_NO_SPACE',
        `page store: no free page (all ${this.pageCount} in use, the maximum page count)`,
      );
    }
    if (!elsewhere) {
      await this.grow(target);
      return;
    }
    try {
      await this.grow(target);
    } catch (error) {
      if (!isPageStoreError(error, 'ERR_NO_SPACE')) throw error;
      this.#mix = true; // a full medium: use the free pages there are
    }
  }

  async grow(pageCount: number): Promise<void> {
    this.#checkOpen();
    if (typeof pageCount !== 'number') throw new TypeError('grow: pageCount must be a number');
    if (!Number.isInteger(pageCount) || pageCount < 1 || pageCount > 0xffffffff) {
      throw new RangeError(`grow: pageCount must be an integer in [1, 2^32 - 1], got ${pageCount}`);
    }
    while (this.#growing !== undefined) await this.#growing.catch(() => {});
    this.#checkOpen();
    if (this.failure !== undefined) throw this.failure;
    if (pageCount <= this.pageCount) return;
    if (pageCount > this.#host.maxPageCount) {
      throw new PageStoreError(
        'ERR_NO_SPACE',
        `page store: cannot grow to ${pageCount} pages, the maximum is ${this.#host.maxPageCount}`,
      );
    }
    const growing = this.#host.grow(this, pageCount);
    this.#growing = growing;
    try {
      await growing;
    } finally {
      this.#growing = undefined;
    }
  }

  incRef(page: number): void {
    this.#checkOpen();
    this.#checkLive(page, 'incRef');
    const count = this.#count(page);
    if (count >= MAX_REF_COUNT) throw new RangeError(`incRef: page ${page} already has ${count} references`);
    this.refs.set(page, count + 1);
    this.#touch(page);
  }

  decRef(page: number): void {
    this.#checkOpen();
    this.#checkLive(page, 'decRef');
    const count = this.#count(page) - 1;
    this.refs.set(page, count);
    this.#touch(page);
    if (count === 0) this.dirty.delete(page);
  }

  setRoot(name: string, page: number | undefined): void {
    this.#checkOpen();
    checkRootName(name);
    if (page !== undefined) this.#checkPage(page, 'setRoot');
    const roots = this.roots ?? new Map(this.#host.committedRoots());
    if (page === undefined) roots.delete(name);
    else {
      if (!roots.has(name) && roots.size >= MAX_ROOTS) {
        throw new RangeError(`setRoot: at most ${MAX_ROOTS} named roots; '${name}' would be one more`);
      }
      roots.set(name, page);
    }
    this.roots = roots;
  }

  getRoot(name: string): number | undefined {
    return (this.roots ?? this.#host.committedRoots()).get(name);
  }

  setUserData(bytes: Uint8Array): void {
    this.#checkOpen();
    if (!(bytes instanceof Uint8Array)) throw new TypeError('setUserData: bytes must be a Uint8Array');
    if (bytes.length > this.#host.userDataSize) {
      throw new RangeError(`setUserData: ${bytes.length} bytes pass userDataSize ${this.#host.userDataSize}`);
    }
    this.userData = bytes.slice();
  }

  getUserData(): Uint8Array {
    return (this.userData ?? this.#host.committedUserData()).slice();
  }

  async commit(): Promise<void> {
    this.#checkOpen();
    this.#host.checkUsable();
    this.#finished = true;
    try {
      while (this.#growing !== undefined) await this.#growing.catch(() => {});
      await this.#host.commit(this);
    } finally {
      this.#host.finish(this);
    }
  }

  abort(): void {
    if (this.#finished) return;
    this.#finished = true;
    for (const page of this.allocated.keys()) this.#host.release(page);
    this.#host.finish(this);
  }

  /** The count as this transaction sees it. */
  #count(page: number): number {
    return this.refs.get(page) ?? this.#host.committedCount(page);
  }

  #checkOpen(): void {
    if (this.#finished) {
      throw new PageStoreError(
        'ERR_CLOSED',
        `page store: transaction ${this.id} already committed or aborted`,
      );
    }
  }

  #checkPage(page: number, what: string): void {
    if (typeof page !== 'number') throw new TypeError(`${what}: page must be a number`);
    if (!Number.isInteger(page) || page < 0 || page >= this.pageCount) {
      throw new RangeError(`${what}: page ${page} is outside [0, ${this.pageCount})`);
    }
  }

  /** Refuses a data page (committed, or allocated as data here) where metadata is expected. */
  #checkNotData(page: number, what: string): void {
    const allocated = this.allocated.get(page);
    if (allocated === ALLOC_DATA || (allocated === undefined && this.#host.committedData(page))) {
      throw new TypeError(`${what}: page ${page} is a data page, not a metadata page`);
    }
  }

  #checkLive(page: number, what: string): void {
    this.#checkPage(page, what);
    if (this.#count(page) === 0) throw new RangeError(`${what}: page ${page} is not allocated`);
  }
}

/** Checks a root name: 1..16 UTF-8 bytes, no NUL. */
export function checkRootName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw new TypeError('root name must be a string');
  const bytes = new TextEncoder().encode(name);
  if (bytes.length === 0 || bytes.length > ROOT_NAME_SIZE || bytes.includes(0)) {
    throw new RangeError(`root name '${name}' must be 1 to ${ROOT_NAME_SIZE} bytes of UTF-8 without NUL`);
  }
}
