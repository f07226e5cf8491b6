// PageStore: the transactional page layer — the one place Deja's atomic commit lives (DESIGN.md,
// Durability). Fixed-size pages at stable numbers over any Storage; a transaction reads, writes,
// allocates and frees pages and commits atomically; a persistent space map of reference counts
// shared by metadata and data pages; named roots and a user-data area; a bounded page cache.
//
// Design: a redo journal (write-ahead log) with checkpoints, not shadow paging. Why, in short (the
// README has the long form): callers need stable page numbers (a B-tree rewrites pages in place at
// the numbers its parents hold), which shadow paging only gives through an extra page table — itself
// a copy-on-write tree with its own allocator — while a journal keeps every page at home and costs
// one flush per commit.
//
// Storage layout, in pages of `pageSize` (format version 2):
//
//   bytes 0 and 512           two alternating 512-byte superblocks (geometry, generation, state), in
//                             page 0 (pages 0 and 1 when pages are 512 bytes): F = 1 (or 2) pages
//   F .. F+J-1                the journal: a ring of J slots, addressed by ever-growing positions
//   then groups of E + 1      group g: one space-map page ((refcount u32, tag u32) for E user
//                             pages), then user pages gE .. gE+E-1 — metadata and data alike, but
//                             allocated from separate regions of about 2 MiB (space-map.ts)
//
// The store grows by whole or partial groups at its end, so no page ever moves and nothing is
// sized for a maximum up front: a transaction that finds no free page writes the empty space-map
// pages of the new groups and extends the storage (one flush), and its commit page carries the new
// page count. An abort or a crash before the commit leaves the old count; the pages past it are
// never read.
//
// A commit writes every dirty metadata page of the transaction (and the space-map pages it changed,
// and data-list pages naming the data pages it wrote with their CRC-32) to the next journal slots,
// then a commit page that seals them (record count and a CRC chain over their checksums), and
// flushes once. Data pages were written at home before (they were free at the last commit). Now
// and then a checkpoint copies the journaled pages home, flushes, writes the other superblock with
// the new journal tail and flushes again. Opening reads the newest valid superblock, replays the
// journal from its tail while pages carry the expected generation and transaction ids and every
// commit seals its records, and checks the data pages of the last transaction against their CRCs
// (a commit whose flush never completed may have its commit page on disk but not its data). A
// writable open then checkpoints and bumps the generation, so nothing of an older run replays. What
// open found (transactions replayed, one dropped and why) is kept in `recovery` for the caller.
//
// This file holds the class: transactions, the cache, commit, checkpoint and growth. The geometry
// is in _internal-layout.ts, the superblocks in _internal-superblock.ts, formatting at create in
// _internal-format.ts, recovery at open (journal scan, data-page checks, space-map load) in
// _internal-recovery.ts, the batch I/O of data pages in _internal-data-pages.ts, the page format in
// _internal-page-format.ts; the transaction object in transaction.ts and the space map in
// space-map.ts.

import type { Storage, WriteRequest } from '@deja/storage';
import { readDataPages, writeDataPages } from './_internal-data-pages';
import { DISCARDS_IN_FLIGHT, type DiscardRange, discardRanges } from './_internal-discard';
import { formatStorage } from './_internal-format';
import { checkedStorage } from './_internal-io';
import {
  BATCH_PAGES,
  CM_CHAIN,
  CM_RECORDS,
  CM_START,
  checkCachePages,
  checkInteger,
  checkPageSize,
  checkSize,
  DEFAULT_INITIAL_PAGES,
  DEFAULT_JOURNAL_PAGES,
  DEFAULT_PAGE_SIZE,
  describePage,
  groupsFor,
  type Layout,
  largestPageCount,
  layoutFor,
  MAX_TOTAL_PAGES,
  MIN_JOURNAL_PAGES,
  nextGrowth,
  regionGrowth,
  regionPagesFor,
  spaceMapPhysical,
  totalPagesFor,
  userOf,
  userPhysical,
} from './_internal-layout';
import {
  DATA_LIST_ENTRY_SIZE,
  encodeState,
  HEADER_SIZE,
  KIND_COMMIT,
  KIND_DATA_LIST,
  KIND_META,
  KIND_SPACE_MAP,
  metaTag,
  pageChecksum,
  readHeader,
  SPACE_MAP_ENTRY_SIZE,
  STATE_FIXED,
  type StoreState,
  SUPERBLOCK_SIZE,
  sealPage,
  setU53,
  TAG_DATA,
  TAG_FREE,
  TAG_META_EMPTY,
  viewOf,
} from './_internal-page-format';
import {
  chainChecksum,
  damagedDataPages,
  type JournalEntry,
  loadSpaceMap,
  scanJournal,
} from './_internal-recovery';
import { checkedHeader, readBestSuperblock, superblockImage } from './_internal-superblock';
import { corrupt, fromStorageError, PageStoreError } from './errors';
import { SpaceMap } from './space-map';
import { ALLOC_DATA, type PageTransaction, Transaction, type TransactionHost } from './transaction';

/** Options of {@link PageStore.create}. */
export interface PageStoreCreateOptions {
  /** Bytes per page: a power of two from 512 to 65536. Default 4096. */
  readonly pageSize?: number;
  /**
   * User pages (metadata and data) to start with; the store grows from there as pages are
   * allocated. Default: as many as fit in the storage's current size, or 16 on an empty storage.
   */
  readonly pageCount?: number;
  /**
   * User pages the store may grow to; `allocate` fails with `ERR_NO_SPACE` past it. Default (and
   * largest): what keeps every page number below 2^32 - 1.
   */
  readonly maxPageCount?: number;
  /** Pages in the redo journal. Default 1024 (4 MiB with 4 KiB pages). At least 8. */
  readonly journalPages?: number;
  /** Metadata pages cached (and dirty pages buffered per transaction). Default 256; at least 2. */
  readonly cachePages?: number;
}

/** Options of {@link PageStore.open}. */
export interface PageStoreOpenOptions {
  /** Metadata pages cached (and dirty pages buffered per transaction). Default 256; at least 2. */
  readonly cachePages?: number;
}

/** Counters of what a PageStore did, for benchmarks and tests. */
export interface PageStoreStats {
  /** Transactions committed (empty ones included). */
  commits: number;
  /** Storage flushes issued. */
  flushes: number;
  /** Checkpoints done (journal copied home, superblock written). */
  checkpoints: number;
  /** Pages written to the journal (records, data lists, commit pages). */
  journalWrites: number;
  /** Metadata pages written home by checkpoints. */
  homeWrites: number;
  /** Data pages written. */
  dataWrites: number;
  /** Times a transaction grew the store (committed or not). */
  growths: number;
  /** Pages of freed data whose blocks were given back to the medium (`Storage.discard`). */
  blocksReleased: number;
  /**
   * `Storage.discard` calls issued for them: one per range of neighbouring freed pages (bridging
   * short runs of pages that were free already), so at most `blocksReleased`.
   */
  discards: number;
  /** Flushes started by {@link PageStore.writeBack} (not counted in `flushes`). */
  writeBacks: number;
}

/**
 * What `PageStore.open` found and did, for the caller to log or show (`deja check`). A crash never
 * loses an acknowledged commit, but damage to the medium can cost the last journaled transaction:
 * `dropped` says so.
 */
export interface PageStoreRecovery {
  /** The superblock slot (0 or 1) the store was opened from. */
  readonly superblockSlot: number;
  /**
   * Whether the other superblock slot holds bytes that are neither a valid superblock nor never
   * written: damage (a crash cannot cause it: a superblock is one atomic sector).
   */
  readonly otherSuperblockDamaged: boolean;
  /** The transaction sequence the superblock's checkpoint covers. */
  readonly checkpointSequence: number;
  /** Committed transactions replayed from the journal on top of it. */
  readonly replayed: number;
  /** The recovered sequence: `checkpointSequence + replayed`. */
  readonly sequence: number;
  /**
   * A transaction found in the journal and not recovered, or `undefined`. It is either a commit
   * that was under way at a crash (never acknowledged) or — indistinguishably — an acknowledged
   * commit whose journal pages or data pages were damaged afterwards, before the next checkpoint.
   */
  readonly dropped: PageStoreDroppedTransaction | undefined;
  /** Whether open checkpointed (a writable open does: the journal is empty afterwards). */
  readonly checkpointed: boolean;
}

/** The transaction recovery left out, and why. */
export interface PageStoreDroppedTransaction {
  /** Its id (`sequence + 1`). */
  readonly transaction: number;
  /**
   * - `'data-mismatch'`: its commit page and records are intact, but data pages it wrote do not hold
   *   the contents its data lists checksummed.
   * - `'journal-mismatch'`: its commit page is intact, but a record it seals is missing or fails its
   *   check (or is of another transaction).
   * - `'commit-unreadable'`: a page with its commit page's header fails its checksum.
   */
  readonly reason: 'data-mismatch' | 'journal-mismatch' | 'commit-unreadable';
  /** `'data-mismatch'`: the user pages that differ; otherwise the journal slot of the commit page. */
  readonly pages: readonly number[];
  /** A sentence for a log. */
  readonly detail: string;
}

/**
 * The transactional page layer over a {@link Storage}; see the module comment and the README.
 * One writer at a time (`begin()` while a transaction is open throws `ERR_BUSY`); committed state
 * can be read concurrently with a transaction.
 *
 * @example
 * ```ts
 * const store = await PageStore.create(await FileStorage.open(path, { create: true }), { pageCount: 1 << 16 });
 * const tx = store.begin();
 * const root = await tx.allocate('meta');
 * tx.writeMeta(root, encodeNode(...));
 * tx.setRoot('btree', root);
 * await tx.commit();                       // durable: survives a crash from here on
 * const bytes = await store.readMeta(store.getRoot('btree')!);
 * ```
 */
export class PageStore {
  /** The medium, as given to `create` or `open` (`close()` closes it; see there). */
  readonly storage: Storage;
  /** The medium with its failures turned into PageStoreErrors; every read and write goes here. */
  readonly #io: Storage;
  /** A {@link PageStore.writeBack} flush is running. */
  #writingBack = false;
  /** Bytes per page. */
  readonly pageSize: number;
  /** Bytes of a metadata page its user owns: `pageSize - 32`. */
  readonly metaPayloadSize: number;
  /** User pages the store may grow to (`allocate` fails with `ERR_NO_SPACE` past it). */
  readonly maxPageCount: number;
  /** Bytes of the user-data area in the superblock: 254. */
  readonly userDataSize: number;
  /** Slots of the redo journal. */
  readonly journalPages: number;
  /** Metadata pages the cache holds (and dirty pages a transaction buffers before spilling). */
  readonly cachePages: number;
  /** What the store did so far. */
  readonly stats: PageStoreStats = {
    commits: 0,
    flushes: 0,
    checkpoints: 0,
    journalWrites: 0,
    homeWrites: 0,
    dataWrites: 0,
    growths: 0,
    blocksReleased: 0,
    discards: 0,
    writeBacks: 0,
  };
  /** What open found and did (for `create`: an empty report). */
  readonly recovery: PageStoreRecovery;

  readonly #layout: Layout;
  readonly #space: SpaceMap;
  readonly #host: TransactionHost;
  #sequence: number;
  #generation: number;
  #superblockSeq: number;
  #tailPos: number;
  #headPos: number;
  #state: StoreState;
  /** Pages whose latest committed image is in the journal (physical page -> where). */
  #journaled = new Map<number, JournalEntry>();
  /** Verified committed images (physical page -> full page), least recently used first. */
  readonly #cache = new Map<number, Uint8Array>();
  #tx: Transaction | undefined;
  /** Bumped whenever committed state or page locations change; readers retry across it. */
  #epoch = 0;
  #failure: unknown;
  #closed = false;
  /** Discards of freed data pages not issued yet (from `#discardHead` on); their pages are held. */
  #discardQueue: DiscardRange[] = [];
  #discardHead = 0;
  /** Discards issued and not settled yet. */
  #discardsRunning = 0;
  /** `close()` calls waiting for the discards to settle. */
  readonly #discardsIdle: (() => void)[] = [];

  private constructor(
    storage: Storage,
    layout: Layout,
    cachePages: number,
    init: {
      sequence: number;
      generation: number;
      superblockSeq: number;
      tailPos: number;
      state: StoreState;
      space: SpaceMap;
      recovery: PageStoreRecovery;
    },
  ) {
    this.storage = storage;
    this.#io = checkedStorage(storage);
    this.#layout = layout;
    this.pageSize = layout.pageSize;
    this.metaPayloadSize = layout.pageSize - HEADER_SIZE;
    this.maxPageCount = layout.maxPageCount;
    this.userDataSize = SUPERBLOCK_SIZE - HEADER_SIZE - STATE_FIXED;
    this.journalPages = layout.journalPages;
    this.cachePages = cachePages;
    this.#sequence = init.sequence;
    this.#generation = init.generation;
    this.#superblockSeq = init.superblockSeq;
    this.#tailPos = init.tailPos;
    this.#headPos = init.tailPos;
    this.#state = init.state;
    this.#space = init.space;
    this.recovery = init.recovery;
    this.#host = this.#makeHost();
  }

  /**
   * Formats `storage` as an empty page store (whatever it held is lost) and opens it: invalidates
   * any old superblocks (flush), writes a zeroed journal, the space-map pages of the initial groups
   * and sizes the storage (flush), then the superblock (flush). If it is interrupted, `open` fails
   * with `ERR_CORRUPT_DATA` (or, before the first flush, finds the old store intact): create again.
   * O(journal + pageCount / entries per space-map page).
   *
   * @param storage - a writable, open adapter; the PageStore owns it from now on.
   * @param options - page size, initial and maximum page count, journal size, cache size.
   * @returns the open, empty store (sequence 0).
   * @throws RangeError/TypeError for bad options (or a non-empty storage too small for one page
   *   without `pageCount`); `ERR_READ_ONLY`; a failure of the storage (`ERR_IO`, `ERR_NO_SPACE`, ...; `cause`: the storage's error).
   */
  static async create(given: Storage, options: PageStoreCreateOptions = {}): Promise<PageStore> {
    const storage = checkedStorage(given);
    const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    checkPageSize(pageSize);
    const cachePages = checkCachePages(options.cachePages);
    const journalPages = options.journalPages ?? DEFAULT_JOURNAL_PAGES;
    checkInteger(journalPages, 'journalPages', MIN_JOURNAL_PAGES, MAX_TOTAL_PAGES);
    const base = layoutFor(pageSize, journalPages);
    if (base === undefined) {
      throw new RangeError(`page store: a journal of ${journalPages} pages leaves no room for user pages`);
    }
    if (options.maxPageCount !== undefined) {
      checkInteger(options.maxPageCount, 'maxPageCount', 1, base.maxPageCount);
    }
    const layout =
      options.maxPageCount === undefined ? base : { ...base, maxPageCount: options.maxPageCount };
    if (storage.readOnly)
      throw new PageStoreError('ERR_READ_ONLY', 'page store: create on a read-only storage');
    let pageCount: number;
    if (options.pageCount !== undefined) {
      checkInteger(options.pageCount, 'pageCount', 1, layout.maxPageCount);
      pageCount = options.pageCount;
    } else {
      const available = Math.floor((await storage.size()) / pageSize);
      if (available === 0) pageCount = Math.min(DEFAULT_INITIAL_PAGES, layout.maxPageCount);
      else {
        pageCount = Math.min(largestPageCount(layout, available), layout.maxPageCount);
        if (pageCount < 1) {
          throw new RangeError(
            `page store: the storage holds ${available} pages of ${pageSize} bytes, too few for a page store ` +
              `with a journal of ${journalPages} pages; pass pageCount (the storage grows) or size it first`,
          );
        }
      }
    }

    const generation = 1;
    const state = await formatStorage(storage, layout, pageCount, generation);
    return new PageStore(given, layout, cachePages, {
      sequence: 0,
      generation,
      superblockSeq: 0,
      tailPos: 0,
      state,
      space: new SpaceMap(pageCount, regionPagesFor(layout)),
      recovery: {
        superblockSlot: 0,
        otherSuperblockDamaged: false,
        checkpointSequence: 0,
        replayed: 0,
        sequence: 0,
        dropped: undefined,
        checkpointed: false,
      },
    });
  }

  /**
   * Opens a page store: picks the newest valid superblock, replays the journal, loads the space map
   * and, on a writable storage, checkpoints (so the journal starts empty). The state is exactly the
   * last transaction whose commit completed — or one whose commit was under way at a crash. What it
   * found is in {@link PageStore.recovery}: log it, a dropped transaction may be a loss.
   * O(journal + pageCount / entries per space-map page) reads; memory O(pageCount) bits.
   *
   * @param storage - an open adapter holding a page store; the PageStore owns it once open resolves
   *   (if open rejects, the storage stays open and is the caller's to close).
   * @param options - cache size.
   * @returns the open store.
   * @throws `ERR_CORRUPT_DATA` (no valid superblock, a truncated storage, a damaged space-map page,
   *   a damaged transaction before intact ones, pages newer than the recovered state: the newest
   *   superblock is damaged); `ERR_UNSUPPORTED_VERSION` for a format version this code does not know
   *   (version 1 included); a failure of the storage (`ERR_IO`, `ERR_NO_SPACE`, ...; `cause`: the storage's error).
   */
  static async open(given: Storage, options: PageStoreOpenOptions = {}): Promise<PageStore> {
    const storage = checkedStorage(given);
    const cachePages = checkCachePages(options.cachePages);
    const size = await storage.size();
    const sb = await readBestSuperblock(storage, size);
    const layout = sb.layout;
    checkSize(layout, size, sb.state.pageCount); // before reading the journal (counts only grow)
    const { txns, dropped: found } = await scanJournal(storage, layout, sb);
    let dropped = found;
    const last = txns.at(-1);
    if (last !== undefined) {
      const damaged = await damagedDataPages(storage, layout, last);
      if (damaged.length > 0) {
        txns.pop();
        dropped = {
          transaction: last.txn,
          reason: 'data-mismatch',
          pages: damaged,
          detail:
            `transaction ${last.txn} was not recovered: ${damaged.length} data page(s) it wrote ` +
            `(${damaged.slice(0, 8).join(', ')}${damaged.length > 8 ? ', ...' : ''}) do not hold what ` +
            'its commit recorded (a crash during its commit, or damaged data pages)',
        };
      }
    }
    const sequence = sb.sequence + txns.length;
    const state = txns.at(-1)?.state ?? sb.state;
    checkSize(layout, size, state.pageCount);
    const journaled = new Map<number, JournalEntry>();
    for (const txn of txns) {
      for (const record of txn.records) {
        if (record.kind !== KIND_DATA_LIST) journaled.set(record.page, { pos: record.pos, txn: txn.txn });
      }
    }
    const { space, tags } = await loadSpaceMap(storage, layout, state.pageCount, journaled, sequence);
    // A journaled metadata page whose page was freed (or rewritten) later is not replayed: its home
    // may hold a data page now (the journal's "revoke").
    for (const [page, entry] of journaled) {
      const user = userOf(layout, page);
      if (user < 0) continue;
      if (space.count(user) === 0 || tags.get(user) !== metaTag(entry.txn)) journaled.delete(page);
    }
    const recovery = {
      superblockSlot: sb.slot,
      otherSuperblockDamaged: sb.otherDamaged,
      checkpointSequence: sb.sequence,
      replayed: txns.length,
      sequence,
      dropped,
      checkpointed: !storage.readOnly,
    };
    const store = new PageStore(given, layout, cachePages, {
      sequence,
      generation: sb.generation,
      superblockSeq: sb.superblockSeq,
      tailPos: sb.tailPos,
      state,
      space,
      recovery,
    });
    store.#journaled = journaled;
    store.#headPos = txns.at(-1)?.end ?? sb.tailPos;
    if (!storage.readOnly) {
      store.#generation = sb.generation + 1;
      await store.#checkpoint(0);
      store.#headPos = 0;
    }
    return store;
  }

  /** User pages at the last commit, numbered 0 .. pageCount - 1 (metadata and data share them). */
  get pageCount(): number {
    return this.#state.pageCount;
  }

  /** The id of the last committed transaction (0 for a new store). */
  get sequence(): number {
    return this.#sequence;
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Starts the transaction. One at a time.
   * @returns the transaction (id `sequence + 1`).
   * @throws `ERR_BUSY` while another transaction is open (commit or abort it first); `ERR_CLOSED`;
   *   `ERR_IO` after a failed commit; `ERR_READ_ONLY` on a read-only storage.
   */
  begin(): PageTransaction {
    this.#checkUsable();
    if (this.storage.readOnly)
      throw new PageStoreError('ERR_READ_ONLY', 'page store: begin() on a read-only store');
    if (this.#tx !== undefined) {
      throw new PageStoreError('ERR_BUSY', `page store: transaction ${this.#tx.id} is still open`);
    }
    this.#tx = new Transaction(this.#host, this.#sequence + 1, this.#headPos, this.pageCount);
    return this.#tx;
  }

  /**
   * Reads a committed metadata page, verified: checksum, kind, page number, and the transaction
   * that wrote it against the space map (a stale or misdirected write fails). A page allocated and
   * never written reads as zeros. O(pageSize) on a cache miss.
   * @param page - a metadata page live at the last commit.
   * @returns a copy of its `metaPayloadSize` payload bytes.
   * @throws RangeError for a page outside the store or not allocated; TypeError for a data page;
   *   `ERR_CORRUPT_DATA` naming the page; `ERR_CLOSED`; a failure of the storage (`ERR_IO`, `ERR_NO_SPACE`, ...; `cause`: the storage's error).
   */
  async readMeta(page: number): Promise<Uint8Array> {
    this.#checkOpen();
    this.#checkUserPage(page, 'readMeta');
    if (this.#space.count(page) === 0) throw new RangeError(`readMeta: page ${page} is not allocated`);
    if (this.#space.isData(page)) {
      throw new TypeError(`readMeta: page ${page} is a data page, not a metadata page`);
    }
    return this.#readCommittedMeta(page);
  }

  /**
   * Reads a committed data page raw (its integrity is the caller's: a content hash, say).
   * @returns a new array of `pageSize` bytes.
   * @throws RangeError for a page outside the store or not allocated; a failure of the storage (`ERR_IO`, `ERR_NO_SPACE`, ...; `cause`: the storage's error).
   */
  async readData(page: number): Promise<Uint8Array> {
    this.#checkOpen();
    this.#checkUserPage(page, 'readData');
    if (this.#space.count(page) === 0) throw new RangeError(`readData: page ${page} is not allocated`);
    return this.#io.read(userPhysical(this.#layout, page) * this.pageSize, this.pageSize);
  }

  /**
   * Reads several committed data pages at once, as {@link PageStore.readData} each: pages that lie
   * side by side on the medium are read together (one storage `readv`; one system call per run on
   * a file), whatever order the caller lists them in.
   * @param pages - allocated pages (repeats allowed).
   * @param into - where to put them (any buffer, a shared one too); default a new array of
   *   `pages.length × pageSize` bytes.
   * @param at - byte offset in `into` of each page (default `i × pageSize`).
   * @returns `into`.
   * @throws RangeError for a page outside the store or not allocated, or a destination outside
   *   `into`; a failure of the storage (`ERR_IO`, ...; `cause`: the storage's error).
   */
  async readDataMany(
    pages: readonly number[],
    into?: Uint8Array,
    at?: readonly number[],
  ): Promise<Uint8Array> {
    this.#checkOpen();
    for (const page of pages) {
      this.#checkUserPage(page, 'readDataMany');
      if (this.#space.count(page) === 0) throw new RangeError(`readDataMany: page ${page} is not allocated`);
    }
    return readDataPages(
      this.#io,
      this.#layout,
      pages,
      into ?? new Uint8Array(pages.length * this.pageSize),
      at,
    );
  }

  /** The committed page of a named root, or `undefined`. O(1). */
  getRoot(name: string): number | undefined {
    return this.#state.roots.get(name);
  }

  /** The committed named roots (a copy). */
  roots(): Map<string, number> {
    return new Map(this.#state.roots);
  }

  /** A copy of the committed user-data area (up to `userDataSize` bytes). */
  getUserData(): Uint8Array {
    return this.#state.userData.slice();
  }

  /**
   * The committed reference count of a page (0: free). O(1).
   * @throws RangeError for a page outside `[0, pageCount)`.
   */
  refCount(page: number): number {
    this.#checkUserPage(page, 'refCount');
    return this.#space.count(page);
  }

  /**
   * Pages free for allocation now without growing: free at the last commit (or added by the open
   * transaction's growth) and not taken by the open transaction. O(1).
   */
  freePageCount(): number {
    return this.#space.free;
  }

  /**
   * Checks the whole store: the space map on storage equals the one in memory, the free-page index
   * agrees with the counts, and every live metadata page reads back verified. O(pages) reads.
   * @throws `ERR_CORRUPT_DATA` naming the first inconsistency.
   */
  async verify(): Promise<void> {
    this.#checkOpen();
    const problem = this.#space.check();
    if (problem !== undefined) throw corrupt(`free-page index: ${problem}`);
    const layout = this.#layout;
    const pageCount = this.pageCount;
    const entries = layout.entriesPerGroup;
    for (let group = 0; group < groupsFor(layout, pageCount); group++) {
      const image = await this.#committedImage(spaceMapPhysical(layout, group), KIND_SPACE_MAP);
      const view = viewOf(image);
      const first = group * entries;
      for (let user = first; user < first + entries; user++) {
        const at = HEADER_SIZE + (user - first) * SPACE_MAP_ENTRY_SIZE;
        const count = view.getUint32(at, true);
        const tag = view.getUint32(at + 4, true);
        if (user >= pageCount) {
          if (count !== 0 || tag !== TAG_FREE)
            throw corrupt(`space map: page ${user} past the end is not free`);
          continue;
        }
        if (count !== this.#space.count(user)) {
          throw corrupt(
            `space map: page ${user} has count ${count} on storage, ${this.#space.count(user)} in memory`,
          );
        }
        if (count > 0 && (tag === TAG_DATA) !== this.#space.isData(user)) {
          throw corrupt(`space map: page ${user} has another kind on storage than in memory`);
        }
        if (count > 0 && tag !== TAG_DATA) await this.#readCommittedMeta(user);
      }
    }
  }

  /**
   * Starts making what was written so far durable, without waiting for it: a storage flush nobody
   * awaits, at most one at a time. A transaction that writes a lot of data (an import writing
   * hundreds of MiB of data pages before its commit) calls it as it goes, so the medium writes
   * the data while the caller works and the commit's own flush finds little left to do. Changes
   * nothing a reader or a recovery can see. A failure is not reported here: the storage refuses
   * later writes and flushes after a failed flush, so the next commit fails with it. A no-op on a
   * read-only or closed store. O(1).
   */
  writeBack(): void {
    if (this.#closed || this.storage.readOnly || this.#writingBack) return;
    this.#writingBack = true;
    const done = (): void => {
      this.#writingBack = false;
    };
    this.stats.writeBacks++;
    this.#io.flush().then(done, done);
  }

  /**
   * Aborts an open transaction, waits for the discards of freed data pages still running (they
   * never fail) and for nothing else (a commit in progress is the caller's to await), and releases
   * the store. Does not checkpoint unless asked: the next open replays the journal. With
   * `checkpoint: true` (a writable store whose commits all succeeded) it copies the journaled
   * pages home first and then discards the whole journal region, so a closed store holds no
   * journal on its medium (a sparse file punches it; the next open checkpoints anyway). A failed
   * checkpoint is thrown after the store is closed; the journal still holds what it covered.
   * Idempotent. The storage stays open: it is the caller's to close, after the store (the rule of
   * every Deja package: close what you open; closing something never closes what you handed it).
   */
  async close(options: { checkpoint?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#tx?.abort();
    let error: unknown;
    if (options.checkpoint === true && !this.storage.readOnly && this.#failure === undefined) {
      try {
        await this.#checkpoint(this.#headPos);
        const { journalStart, journalPages } = this.#layout;
        await this.storage
          .discard?.(journalStart * this.pageSize, journalPages * this.pageSize)
          .catch((e) => {
            throw fromStorageError(e, 'storage discard of the journal');
          });
      } catch (e) {
        error = e;
      }
    }
    this.#closed = true;
    await this.#discardsSettled();
    if (error !== undefined) throw error;
  }

  /** `await using store = await PageStore.open(...)` closes the store at scope end (not its storage). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals ----

  #makeHost(): TransactionHost {
    return {
      pageSize: this.pageSize,
      metaPayloadSize: this.metaPayloadSize,
      maxPageCount: this.maxPageCount,
      userDataSize: this.userDataSize,
      entriesPerGroup: this.#layout.entriesPerGroup,
      entriesPerDataList: this.#layout.entriesPerDataList,
      committedCount: (page) => this.#space.count(page),
      committedData: (page) => this.#space.count(page) > 0 && this.#space.isData(page),
      growthTarget: (pageCount, kind) =>
        kind === 'meta' ? regionGrowth(this.#layout, pageCount) : nextGrowth(this.#layout, pageCount),
      freePages: () => this.#space.free,
      grow: (tx, pageCount) => this.#grow(tx, pageCount),
      committedRoots: () => this.#state.roots,
      committedUserData: () => this.#state.userData,
      reserve: (data, mix) => {
        const page = this.#space.reserve(data, mix);
        if (page >= 0 || this.#space.held === 0) return page;
        // The free pages left may wait for their discard: issue them all, then look again.
        this.#drainDiscards();
        return this.#space.reserve(data, mix);
      },
      reserveDataRun: (mix, max, out) => {
        const n = this.#space.reserveDataRun(mix, max, out);
        if (n > 0 || this.#space.held === 0) return n;
        // As reserve: the free pages left may wait for their discard.
        this.#drainDiscards();
        return this.#space.reserveDataRun(mix, max, out);
      },
      release: (page) => this.#space.release(page),
      readCommittedMeta: (page) => this.#readCommittedMeta(page),
      readSpilled: (tx, page) => this.#readSpilled(tx, page),
      readData: (page) => this.#io.read(userPhysical(this.#layout, page) * this.pageSize, this.pageSize),
      readDataMany: (pages, into, at) => readDataPages(this.#io, this.#layout, pages, into, at),
      writeData: async (page, data) => {
        this.#checkUsable();
        this.stats.dataWrites++;
        await this.#io.write(userPhysical(this.#layout, page) * this.pageSize, data);
      },
      writeDataMany: async (pages, data, at) => {
        this.#checkUsable();
        this.stats.dataWrites += pages.length;
        await writeDataPages(this.#io, this.#layout, pages, data, at);
      },
      afterWriteMeta: (tx) => this.#spillExcess(tx),
      commit: (tx) => this.#commit(tx),
      finish: (tx) => {
        if (this.#tx !== tx) return;
        this.#tx = undefined;
        // A growth that did not commit is forgotten (its pages were released).
        this.#space.resize(this.pageCount);
      },
      checkUsable: () => this.#checkUsable(),
    };
  }

  #checkOpen(): void {
    if (this.#closed) throw new PageStoreError('ERR_CLOSED', 'page store: used after close()');
  }

  #checkUsable(): void {
    this.#checkOpen();
    if (this.#failure !== undefined) {
      throw new PageStoreError('ERR_IO', 'page store: a commit failed; close and reopen the store', {
        cause: this.#failure,
      });
    }
  }

  /** Checks a page number against the committed page count. */
  #checkUserPage(page: number, what: string): void {
    if (typeof page !== 'number') throw new TypeError(`${what}: page must be a number`);
    if (!Number.isInteger(page) || page < 0 || page >= this.pageCount) {
      throw new RangeError(`${what}: page ${page} is outside [0, ${this.pageCount})`);
    }
  }

  #slotOffset(pos: number): number {
    return (this.#layout.journalStart + (pos % this.journalPages)) * this.pageSize;
  }

  #spaceMapPageOf(user: number): number {
    return spaceMapPhysical(this.#layout, Math.floor(user / this.#layout.entriesPerGroup));
  }

  /** Reads a committed metadata payload; retries if a commit or checkpoint moved pages meanwhile. */
  async #readCommittedMeta(user: number): Promise<Uint8Array> {
    for (;;) {
      const epoch = this.#epoch;
      try {
        const sm = await this.#committedImage(this.#spaceMapPageOf(user), KIND_SPACE_MAP);
        const entry = HEADER_SIZE + (user % this.#layout.entriesPerGroup) * SPACE_MAP_ENTRY_SIZE;
        const tag = viewOf(sm).getUint32(entry + 4, true);
        let payload: Uint8Array;
        if (tag === TAG_DATA)
          throw new TypeError(`readMeta: page ${user} is a data page, not a metadata page`);
        if (tag === TAG_FREE || tag === TAG_META_EMPTY) payload = new Uint8Array(this.metaPayloadSize);
        else {
          const image = await this.#committedImage(userPhysical(this.#layout, user), KIND_META);
          const txn = readHeader(image)?.txn ?? -1;
          if (metaTag(txn) !== tag) {
            throw corrupt(
              `metadata page ${user} holds transaction ${txn} but the space map names another one ` +
                '(a stale or misdirected write)',
            );
          }
          payload = image.slice(HEADER_SIZE);
        }
        if (epoch === this.#epoch) return payload;
      } catch (error) {
        if (epoch === this.#epoch) throw error;
      }
    }
  }

  /**
   * The committed image of a physical page, verified (cache, then journal, then home). The
   * returned array is shared with the cache: do not modify it.
   */
  async #committedImage(physical: number, kind: number): Promise<Uint8Array> {
    const cached = this.#cache.get(physical);
    if (cached !== undefined) {
      this.#cache.delete(physical);
      this.#cache.set(physical, cached);
      return cached;
    }
    const epoch = this.#epoch;
    const journaled = this.#journaled.get(physical);
    const offset = journaled === undefined ? physical * this.pageSize : this.#slotOffset(journaled.pos);
    const image = await this.#io.read(offset, this.pageSize);
    const what = this.#describe(physical);
    const header = checkedHeader(image, what);
    if (header.kind !== kind || header.page !== physical) {
      throw corrupt(
        `${what}: holds a page of kind ${header.kind} for page ${header.page} (misdirected write)`,
      );
    }
    if (journaled !== undefined ? header.txn !== journaled.txn : header.txn > this.#sequence) {
      throw corrupt(`${what}: written by transaction ${header.txn}, not part of the committed state`);
    }
    // A commit or checkpoint meanwhile may have cached a newer image: never overwrite it.
    if (epoch === this.#epoch) this.#remember(physical, image);
    return image;
  }

  #remember(physical: number, image: Uint8Array): void {
    this.#cache.delete(physical);
    this.#cache.set(physical, image);
    while (this.#cache.size > this.cachePages) {
      const oldest = this.#cache.keys().next().value as number;
      this.#cache.delete(oldest);
    }
  }

  #describe(physical: number): string {
    return describePage(this.#layout, physical);
  }

  async #readSpilled(tx: Transaction, user: number): Promise<Uint8Array> {
    const pos = tx.spilled.get(user)!;
    // The spill write was not awaited: wait for it, and report its failure as itself (the slot
    // holds unknown bytes after a failed write; that is not corrupt data).
    await tx.spillWrites.get(pos);
    if (tx.failure !== undefined) throw tx.failure;
    const image = await this.#io.read(this.#slotOffset(pos), this.pageSize);
    const header = readHeader(image);
    if (header === undefined || header.txn !== tx.id || header.page !== userPhysical(this.#layout, user)) {
      throw corrupt(
        `journal slot ${pos % this.journalPages}: the spilled copy of page ${user} does not read back`,
      );
    }
    return image;
  }

  /** Journal positions free for the open transaction (one is kept for its commit page). */
  #journalRoom(tx: Transaction): number {
    return this.journalPages - (tx.nextPos - this.#tailPos) - 1;
  }

  /**
   * Past `cachePages` dirty pages, writes the oldest to the journal as an uncommitted record (in
   * its old slot if it was spilled before). Not awaited: storage runs operations in call order, so
   * later reads see the write; a failure is kept and thrown by commit(). When the journal has no
   * room (committed records fill it until the next checkpoint), the page stays in memory.
   */
  #spillExcess(tx: Transaction): void {
    while (tx.dirty.size > this.cachePages) {
      const [user, image] = tx.dirty.entries().next().value as [number, Uint8Array];
      let pos = tx.spilled.get(user);
      if (pos === undefined) {
        if (this.#journalRoom(tx) <= 0) return;
        pos = tx.nextPos++;
        tx.spilled.set(user, pos);
      }
      tx.dirty.delete(user);
      sealPage(image, KIND_META, userPhysical(this.#layout, user), this.#generation, tx.id);
      tx.slotChecksums.set(pos, pageChecksum(image));
      this.stats.journalWrites++;
      tx.spillWrites.set(
        pos,
        this.#io.write(this.#slotOffset(pos), image).catch((error: unknown) => {
          tx.failure ??= error;
        }),
      );
    }
  }

  /**
   * Gives the blocks of data pages the commit freed back to the medium (`Storage.discard`: a hole
   * in a file), so deleting data shrinks what the store holds on disk. Best effort: a medium that
   * cannot, or fails, keeps the old bytes in free pages, which is harmless.
   *
   * Off the commit's path: a hole punch is slow (0.1 to 1 ms on ext4), and a snapshot delete frees
   * thousands of scattered pages, so the ranges (`discardRanges`: neighbours and short free gaps
   * coalesced) are queued here and issued `DISCARDS_IN_FLIGHT` at a time while the caller goes on;
   * `commit()` does not wait for them. Crash-safe because a page is never written before its
   * discard is *called*: the ranges are computed after the commit's flush (their pages are free in
   * every state recovery can reach from then on), and every page of a queued range is held in the
   * space map (free, but not allocatable) until its discard is called. The storage runs operations
   * in call order — a discard is ordered like a write of zeros — so a later write of a reused page
   * lands after the discard, and the flush of the commit that wrote it covers both; a crash before
   * that flush leaves the page free, whatever it holds. An allocation that finds no other free page
   * issues every queued discard at once (`#drainDiscards`); `close()` waits for them all.
   */
  #releaseBlocks(pages: number[]): void {
    if (this.storage.discard === undefined || pages.length === 0) return;
    const space = this.#space;
    const ranges = discardRanges(this.#layout, pages, (start, count) => space.allFree(start, count));
    for (const range of ranges) {
      for (let user = range.user; user < range.user + range.pages; user++) space.hold(user);
      this.#discardQueue.push(range);
    }
    this.stats.blocksReleased += pages.length;
    this.stats.discards += ranges.length;
    this.#pumpDiscards();
  }

  /** Issues queued discards while fewer than DISCARDS_IN_FLIGHT run; wakes `close()` when idle. */
  #pumpDiscards(): void {
    const queue = this.#discardQueue;
    while (this.#discardsRunning < DISCARDS_IN_FLIGHT && this.#discardHead < queue.length) {
      this.#issueDiscard(queue[this.#discardHead++]!);
    }
    this.#compactDiscardQueue();
  }

  /** Issues every queued discard now: an allocation needs their pages, or the store closes. */
  #drainDiscards(): void {
    const queue = this.#discardQueue;
    while (this.#discardHead < queue.length) this.#issueDiscard(queue[this.#discardHead++]!);
    this.#compactDiscardQueue();
  }

  #compactDiscardQueue(): void {
    if (this.#discardHead < this.#discardQueue.length) return;
    this.#discardQueue = [];
    this.#discardHead = 0;
    if (this.#discardsRunning === 0) for (const wake of this.#discardsIdle.splice(0)) wake();
  }

  /** Calls the storage's discard for `range`; its pages are allocatable from this call on. */
  #issueDiscard(range: DiscardRange): void {
    for (let user = range.user; user < range.user + range.pages; user++) this.#space.unhold(user);
    let settled: Promise<void>;
    try {
      settled = this.storage.discard!(range.physical * this.pageSize, range.pages * this.pageSize);
    } catch {
      return; // a storage that throws instead of rejecting: the blocks stay, harmlessly
    }
    this.#discardsRunning++;
    settled
      .catch(() => {})
      .then(() => {
        this.#discardsRunning--;
        this.#pumpDiscards();
      });
  }

  /**
   * Resolves when no discard is queued or running (close()). The queue keeps its pace of
   * DISCARDS_IN_FLIGHT: issuing a snapshot delete's thousand-odd discards at once made each one
   * the storage schedules look at every other still in flight (O(n^2): 58 ms of a 1,347-discard
   * close), and ext4 punches holes one at a time anyway.
   */
  #discardsSettled(): Promise<void> {
    this.#pumpDiscards();
    if (this.#discardsRunning === 0 && this.#discardHead >= this.#discardQueue.length)
      return Promise.resolve();
    return new Promise((resolve) => this.#discardsIdle.push(resolve));
  }

  async #commit(tx: Transaction): Promise<void> {
    // A write the transaction started without awaiting (a spill) may still be running: settle them
    // all first, so that a failure among them is seen before the commit writes anything.
    await Promise.all(tx.spillWrites.values());
    if (tx.failure !== undefined) {
      this.#abortCommit(tx);
      throw tx.failure;
    }
    if (tx.empty) {
      this.#abortCommit(tx);
      this.stats.commits++;
      return;
    }
    const layout = this.#layout;
    const finalCount = (user: number): number => tx.refs.get(user) ?? this.#space.count(user);

    // Space-map entries the transaction changes (read-modify-write of their pages' committed
    // images): its pages in increasing order, once each, with their count and kind after it (kept
    // for the in-memory step once the commit is durable). Typed arrays, not a page per object:
    // a commit of an import touches tens of thousands of pages.
    const touched = sortedUnique(tx.refs.keys(), tx.refs.size, tx.metaWritten, tx.metaWritten.size);
    const counts = new Float64Array(touched.length);
    const dataKind = new Uint8Array(touched.length);
    const freed: number[] = [];
    const smImages = new Map<number, Uint8Array>();
    try {
      const per = layout.entriesPerGroup;
      let group = -1;
      let view: DataView | undefined;
      for (let i = 0; i < touched.length; i++) {
        const user = touched[i] as number;
        if (Math.floor(user / per) !== group) {
          group = Math.floor(user / per);
          const physical = spaceMapPhysical(layout, group);
          const image = (await this.#committedImage(physical, KIND_SPACE_MAP)).slice();
          smImages.set(physical, image);
          view = viewOf(image);
        }
        const at = HEADER_SIZE + (user - group * per) * SPACE_MAP_ENTRY_SIZE;
        const count = finalCount(user);
        const allocated = tx.allocated.get(user);
        // The committed kind after this transaction: data or not.
        const data = allocated === undefined ? this.#space.isData(user) : allocated === ALLOC_DATA;
        counts[i] = count;
        dataKind[i] = data ? 1 : 0;
        let tag = (view as DataView).getUint32(at + 4, true);
        if (count === 0) tag = TAG_FREE;
        else if (tx.metaWritten.has(user)) tag = metaTag(tx.id);
        else if (allocated !== undefined) tag = data ? TAG_DATA : TAG_META_EMPTY;
        (view as DataView).setUint32(at, count, true);
        (view as DataView).setUint32(at + 4, tag, true);
      }
    } catch (error) {
      this.#abortCommit(tx);
      throw error;
    }

    // Data pages that stay live, for the data-list records: pairs (user page, crc) side by side.
    const data: number[] = [];
    tx.dataWritten.forEach((crc, user) => {
      if (finalCount(user) > 0) data.push(user, crc);
    });
    const dataListPages = Math.ceil(data.length / 2 / layout.entriesPerDataList);
    const liveDirty = [...tx.dirty.keys()].filter((user) => finalCount(user) > 0);
    const newSlots =
      liveDirty.filter((user) => !tx.spilled.has(user)).length + smImages.size + dataListPages + 1;
    const needed = tx.nextPos - tx.startPos + newSlots;
    if (needed > this.journalPages) {
      this.#abortCommit(tx);
      throw new PageStoreError(
        'ERR_NO_SPACE',
        `page store: transaction ${tx.id} needs ${needed} journal pages, the journal has ${this.journalPages}; ` +
          'split it or create the store with more journalPages',
      );
    }

    try {
      if (tx.nextPos + newSlots - this.#tailPos > this.journalPages) await this.#checkpoint(tx.startPos);
      // Lay out the records: dirty pages (in their spill slot if they have one), space-map pages,
      // data lists, then the commit page.
      const writes: WriteRequest[] = [];
      const images = new Map<number, Uint8Array>();
      const place = (pos: number, image: Uint8Array): void => {
        tx.slotChecksums.set(pos, pageChecksum(image));
        writes.push({ offset: this.#slotOffset(pos), data: image });
      };
      for (const user of liveDirty) {
        const image = tx.dirty.get(user)!;
        const physical = userPhysical(layout, user);
        sealPage(image, KIND_META, physical, this.#generation, tx.id);
        let pos = tx.spilled.get(user);
        if (pos === undefined) {
          pos = tx.nextPos++;
          tx.spilled.set(user, pos);
        }
        place(pos, image);
        images.set(physical, image);
      }
      const smPositions = new Map<number, number>();
      for (const [physical, image] of smImages) {
        sealPage(image, KIND_SPACE_MAP, physical, this.#generation, tx.id);
        const pos = tx.nextPos++;
        smPositions.set(physical, pos);
        place(pos, image);
        images.set(physical, image);
      }
      for (let i = 0; i < dataListPages; i++) {
        const image = new Uint8Array(this.pageSize);
        const view = viewOf(image);
        const from = i * layout.entriesPerDataList;
        const count = Math.min(layout.entriesPerDataList, data.length / 2 - from);
        view.setUint32(HEADER_SIZE, count, true);
        for (let k = 0; k < count; k++) {
          view.setUint32(HEADER_SIZE + 4 + k * DATA_LIST_ENTRY_SIZE, data[2 * (from + k)] as number, true);
          view.setUint32(
            HEADER_SIZE + 8 + k * DATA_LIST_ENTRY_SIZE,
            data[2 * (from + k) + 1] as number,
            true,
          );
        }
        const pos = tx.nextPos++;
        sealPage(
          image,
          KIND_DATA_LIST,
          layout.journalStart + (pos % this.journalPages),
          this.#generation,
          tx.id,
          pos % this.journalPages,
        );
        place(pos, image);
      }
      const state: StoreState = {
        pageCount: tx.pageCount,
        roots: tx.roots ?? this.#state.roots,
        userData: tx.userData ?? this.#state.userData,
      };
      const commitPos = tx.nextPos++;
      const commitPage = new Uint8Array(this.pageSize);
      const view = viewOf(commitPage);
      view.setUint32(HEADER_SIZE + CM_RECORDS, commitPos - tx.startPos, true);
      view.setUint32(HEADER_SIZE + CM_CHAIN, chainChecksum(tx.slotChecksums, tx.startPos, commitPos), true);
      setU53(view, HEADER_SIZE + CM_START, tx.startPos);
      encodeState(commitPage, state);
      const slot = commitPos % this.journalPages;
      sealPage(commitPage, KIND_COMMIT, layout.journalStart + slot, this.#generation, tx.id, slot);
      writes.push({ offset: this.#slotOffset(commitPos), data: commitPage });
      this.stats.journalWrites += writes.length;

      await this.#io.writev(writes);
      if (tx.failure !== undefined) throw tx.failure;
      await this.#flush();
      if (tx.failure !== undefined) throw tx.failure;

      // Durable. Apply it to the in-memory state in one synchronous step.
      this.#sequence = tx.id;
      this.#state = state;
      this.#headPos = commitPos + 1;
      for (let i = 0; i < touched.length; i++) {
        const user = touched[i] as number;
        const count = counts[i] as number;
        if (count === 0) {
          // A data page live at the last commit and free now: its blocks can go back to the medium.
          if (this.#space.count(user) > 0 && this.#space.isData(user)) freed.push(user);
          const physical = userPhysical(layout, user);
          this.#journaled.delete(physical);
          this.#cache.delete(physical);
        }
        this.#space.setCount(user, count, dataKind[i] === 1);
      }
      for (const [user, pos] of tx.spilled) {
        if (finalCount(user) === 0) continue;
        const physical = userPhysical(layout, user);
        this.#journaled.set(physical, { pos, txn: tx.id });
        const image = images.get(physical);
        if (image === undefined) this.#cache.delete(physical);
        else this.#remember(physical, image);
      }
      for (const [physical, pos] of smPositions) {
        this.#journaled.set(physical, { pos, txn: tx.id });
        this.#remember(physical, images.get(physical)!);
      }
      this.#epoch++;
      this.stats.commits++;
    } catch (error) {
      this.#fail(error);
      throw error;
    }
    this.#releaseBlocks(freed);

    if (this.#headPos - this.#tailPos > this.journalPages / 2) {
      try {
        await this.#checkpoint(this.#headPos);
      } catch (error) {
        // The commit is durable; only the checkpoint failed. Refuse further use all the same.
        this.#fail(error);
      }
    }
  }

  /**
   * Grows the store to `pageCount` pages for the open transaction `tx`: writes the empty space-map
   * pages of the new groups (sealed with the committed sequence, so they pass the open-time check
   * that no home page is newer than the recovered state) and extends the storage to the new end,
   * then flushes, so the commit that names the new page count finds them durable. The pages past the
   * committed count are never read by anyone else, so this changes no committed state: an abort or a
   * crash leaves them unused and a later growth writes them again. A failed write leaves the store
   * and the transaction as they were; a failed flush fails the store (the adapter refuses writes
   * after it).
   */
  async #grow(tx: Transaction, pageCount: number): Promise<void> {
    this.#checkUsable();
    const layout = this.#layout;
    const pageSize = this.pageSize;
    const firstGroup = groupsFor(layout, tx.pageCount);
    const endGroup = groupsFor(layout, pageCount);
    const end = totalPagesFor(layout, pageCount) * pageSize;
    for (let group = firstGroup; group < endGroup; group += BATCH_PAGES) {
      const writes: WriteRequest[] = [];
      for (let g = group; g < Math.min(endGroup, group + BATCH_PAGES); g++) {
        const physical = spaceMapPhysical(layout, g);
        const image = sealPage(
          new Uint8Array(pageSize),
          KIND_SPACE_MAP,
          physical,
          this.#generation,
          this.#sequence,
        );
        writes.push({ offset: physical * pageSize, data: image });
        this.#cache.delete(physical);
      }
      await this.#io.writev(writes);
    }
    if ((await this.#io.size()) < end) {
      await this.#io.write(end - pageSize, new Uint8Array(pageSize));
    }
    try {
      await this.#flush();
    } catch (error) {
      this.#fail(error);
      throw error;
    }
    this.stats.growths++;
    if (this.#tx !== tx) return; // aborted meanwhile
    tx.pageCount = pageCount;
    this.#space.resize(pageCount);
  }

  /** A commit that wrote nothing durable: release the transaction's pages. */
  #abortCommit(tx: Transaction): void {
    for (const page of tx.allocated.keys()) this.#space.release(page);
  }

  #fail(error: unknown): void {
    this.#failure ??= error;
  }

  async #flush(): Promise<void> {
    this.stats.flushes++;
    await this.#io.flush();
  }

  /**
   * Copies every journaled page home, flushes, writes the other superblock with journal tail
   * `newTail` (and the current generation and committed state), flushes. Afterwards the journal
   * before `newTail` is free. Memory: BATCH_PAGES page images at a time.
   */
  async #checkpoint(newTail: number): Promise<void> {
    const entries = [...this.#journaled].sort((a, b) => a[0] - b[0]);
    for (let i = 0; i < entries.length; i += BATCH_PAGES) {
      const batch = entries.slice(i, i + BATCH_PAGES);
      const missing = batch.filter(([physical]) => !this.#cache.has(physical));
      const read =
        missing.length === 0
          ? []
          : await this.#io.readv(
              missing.map(([, entry]) => ({ offset: this.#slotOffset(entry.pos), length: this.pageSize })),
            );
      const fromJournal = new Map<number, Uint8Array>();
      missing.forEach(([physical, entry], k) => {
        const image = read[k]!;
        const header = checkedHeader(image, `journal slot ${entry.pos % this.journalPages}`);
        if (header.page !== physical || header.txn !== entry.txn) {
          throw corrupt(
            `journal slot ${entry.pos % this.journalPages}: does not hold ${this.#describe(physical)}`,
          );
        }
        fromJournal.set(physical, image);
      });
      const writes = batch.map(([physical]) => ({
        offset: physical * this.pageSize,
        data: this.#cache.get(physical) ?? fromJournal.get(physical)!,
      }));
      this.stats.homeWrites += writes.length;
      await this.#io.writev(writes);
    }
    await this.#flush();
    const superblockSeq = this.#superblockSeq + 1;
    const image = superblockImage(
      this.#layout,
      superblockSeq,
      this.#generation,
      this.#sequence,
      newTail,
      this.#state,
    );
    await this.#io.write((superblockSeq % 2) * SUPERBLOCK_SIZE, image);
    await this.#flush();
    this.#superblockSeq = superblockSeq;
    this.#tailPos = newTail;
    this.#journaled.clear();
    this.#epoch++;
    this.stats.checkpoints++;
  }
}

/**
 * The numbers of two collections (`a` of `na` items, `b` of `nb`), in increasing order, each once.
 * O(n log n) in a typed array (a numeric sort, no comparator).
 */
function sortedUnique(a: Iterable<number>, na: number, b: Iterable<number>, nb: number): Float64Array {
  const all = new Float64Array(na + nb);
  let n = 0;
  for (const x of a) all[n++] = x;
  for (const x of b) all[n++] = x;
  all.sort();
  let m = 0;
  for (let i = 0; i < n; i++) if (m === 0 || all[i] !== all[m - 1]) all[m++] = all[i] as number;
  return all.subarray(0, m);
}
