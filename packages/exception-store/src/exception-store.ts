// ExceptionStore: the shared snapshot exception store of the seed (dm-ex-store-shared.c), one
// copy-on-write store serving many snapshots of one origin. A B-tree keyed by origin chunk maps
// each chunk to its list of exceptions (copies); each exception carries a share mask naming the
// snapshots that read that copy. An origin write first records one exception shared by every
// active snapshot that has none yet for the chunk; a snapshot write moves the snapshot's bit to a
// private exception; deleting a snapshot clears its bit everywhere, frees the exceptions no one
// uses and merges sparse leaves and nodes (delete_tree_range).
//
// Unlike the seed, which rewrites chunks in place and is not crash-safe, every page goes through
// the transactional page layer of @deja/page-store: the store keeps a bounded cache of pages, hands
// dirty pages to the layer's open transaction at commit (or when they pass half the cache bound),
// and `commit()` commits that transaction atomically. Deleting a snapshot commits in batches of
// leaves (the seed's `resume`), so it fits the layer's journal whatever its size, and ends with no
// transaction open (the page layer has one writer at a time; other stores on it must not wait for
// an empty transaction), which is also why it refuses to run in a caller's transaction. An operation
// that fails part way rolls the store back to the last commit (it aborts the transaction), so
// memory never disagrees with disk.
//
// The page formats live in _internal-header.ts (header, snapshot table), _internal-leaf.ts and
// _internal-node.ts, their validation in _internal-validate.ts, the invariant checker in
// _internal-check.ts, the page cache (validation on entry, dirty pages, CLOCK eviction) in
// _internal-page-cache.ts, the operation queue in _internal-queue.ts, the snapshots (names, ids,
// masks, table pages) in _internal-snapshot-table.ts, the B-tree (root and level, probes, inserts
// with splits, the delete walk, leaf walks) in _internal-tree.ts; this file is the façade: the
// operations, the transaction and what waits for the next commit.

import { checkTree } from './_internal-check';
import { decodeHeader, encodeHeader, type HeaderFields, MAX_NAME_BYTES, nameBytes } from './_internal-header';
import {
  type Geometry,
  largestMaskWidth,
  leafHoldsWorstCase,
  MAX_MASK_WIDTH,
  makeGeometry,
  nodeCapacity,
} from './_internal-layout';
import {
  exceptionChunk,
  exceptionUniqueTo,
  excHas,
  excSize,
  findSnapshotException,
  forEachChunk,
  originChunkUnique,
  setExceptionChunk,
} from './_internal-leaf';
import { PageCache, type PageSource } from './_internal-page-cache';
import { OperationQueue } from './_internal-queue';
import { SnapshotTable } from './_internal-snapshot-table';
import { ExceptionTree, emptyTree } from './_internal-tree';
import { type AllocationRequest, type ExceptionAllocator, PageAllocator } from './allocator';
import { corrupt, ExceptionStoreError, fromLowerError } from './errors';
import type { PageStoreLike, PageTransactionLike } from './page-layer';

/** Default root slot name under which the header page is registered in the page layer. */
export const DEFAULT_ROOT_NAME = 'exception-store';
/** Default share-mask width (the seed's MAX_SNAPSHOTS). */
export const DEFAULT_MASK_WIDTH = 64;
/**
 * Default bound of the page cache, in pages: 16,384 pages, about 90 MiB at most with 4 KiB pages
 * (a cached page costs its payload plus about 1.5 KiB of objects and map entry, 5.6 KiB measured).
 * A tree of 1,000,000 exceptions shared by two snapshots is about 9,500 pages, so it fits whole;
 * 256 pages (the bound before) held under 3% of it and every random lookup read and validated a
 * leaf. The cache fills only with the pages visited; pass a smaller `cachePages` to save memory.
 */
export const DEFAULT_CACHE_PAGES = 16_384;
/** Default leaves a deletion processes per page-layer transaction. */
export const DEFAULT_DELETE_BATCH_LEAVES = 256;

/**
 * The widest share mask (the most snapshots at once) {@link ExceptionStore.create} accepts on a
 * page layer whose metadata pages carry `metaPayloadSize` bytes (`pages.metaPayloadSize`: the page
 * size minus 32 for `PageStore`; 352 snapshots for 4 KiB pages, see the README's limits table). The
 * bound is a leaf holding one chunk's worst-case exception list: one single-snapshot copy per
 * snapshot, 9 + 1 bytes each up to 256 snapshots, 9 + 2 bytes above. O(MAX_MASK_WIDTH / 32).
 *
 * @param metaPayloadSize - usable bytes of a metadata page.
 * @returns a multiple of 32, or 0 when not even 32 snapshots fit.
 * @throws RangeError when `metaPayloadSize` is not a non-negative integer.
 */
export function maxMaskWidth(metaPayloadSize: number): number {
  if (!Number.isInteger(metaPayloadSize) || metaPayloadSize < 0)
    throw new RangeError(`metaPayloadSize must be a non-negative integer, got ${metaPayloadSize}`);
  return largestMaskWidth(metaPayloadSize);
}

/** Options of {@link ExceptionStore.open}. */
export interface ExceptionStoreOptions {
  /** Root slot of the page layer holding the header page. Default `'exception-store'`. */
  root?: string;
  /**
   * Pages kept in the store's cache (dirty pages of one operation may exceed it briefly). Default
   * {@link DEFAULT_CACHE_PAGES} (16,384: about 90 MiB at most with 4 KiB pages).
   */
  cachePages?: number;
  /** Where exception chunks come from. Default: a {@link PageAllocator} (data pages of the layer). */
  allocator?: ExceptionAllocator;
  /**
   * Leaves a snapshot deletion visits per step; a step's pages must fit the layer's journal.
   * Default 256. See `deleteCommits` for how many steps go in one page-layer transaction.
   */
  deleteBatchLeaves?: number;
  /**
   * When a deletion commits: `'journal'` (default) when the next batch of leaves might not fit in
   * half the page layer's journal (if the layer reports its journal, else as `'batch'`); `'batch'`
   * after every batch of `deleteBatchLeaves` leaves.
   */
  deleteCommits?: 'journal' | 'batch';
  /** Whether `open` finishes a deletion a crash interrupted (it writes and commits). Default true. */
  finishDeletes?: boolean;
}

/** Options of {@link ExceptionStore.create}: the format parameters fixed for the store's life. */
export interface ExceptionStoreCreateOptions extends ExceptionStoreOptions {
  /**
   * Share-mask width in bits: the most snapshots at once. A multiple of 32, default 64, at most
   * {@link maxMaskWidth}(pages.metaPayloadSize): 352 on 4 KiB pages, 5,952 on 64 KiB pages.
   */
  maskWidth?: number;
  /** Entries per B-tree node; default (and maximum) what a page holds. Small values force splits. */
  fanout?: number;
}

/** A snapshot: its name and its id (its bit in the share masks). */
export interface SnapshotInfo {
  readonly name: string;
  readonly id: number;
}

/** What a snapshot write must do, from {@link ExceptionStore.prepareSnapshotWrite}. */
export interface SnapshotWritePlan {
  /** The chunk to write the snapshot's new data to. */
  readonly chunk: number;
  /**
   * Where the chunk's current content is, for a partial write: `'self'` — in `chunk` already (the
   * snapshot's own exception, allocated in this transaction); `'origin'` — the origin chunk;
   * `'exception'` — exception chunk `sourceChunk`.
   */
  readonly source: 'self' | 'origin' | 'exception';
  /** With `source: 'exception'`, the chunk holding the current content. */
  readonly sourceChunk?: number;
}

/** What {@link ExceptionStore.check} found. */
export interface CheckReport {
  /** B-tree pages (nodes and leaves), the header page and the snapshot table pages. */
  readonly metaPages: number[];
  /** The chunk of every exception, in key order. */
  readonly exceptionChunks: number[];
  /** Replaced exception chunks still owned by the store, released at the next commit. */
  readonly pendingReleases: number[];
  /** Counts. */
  readonly nodes: number;
  readonly leaves: number;
  readonly exceptions: number;
  readonly chunks: number;
}

const NAME_TYPE = 'snapshot name must be a string';

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw new TypeError(NAME_TYPE);
  // a UTF-16 code unit is at most 3 UTF-8 bytes (a surrogate pair 4 for 2 units, a lone surrogate 3
  // for U+FFFD), so a short name needs no encoding (it cost a fifth of a cached lookup)
  if (name.length > 0 && name.length * 3 <= MAX_NAME_BYTES) return;
  const n = nameBytes(name).length;
  if (n === 0 || n > MAX_NAME_BYTES) {
    throw new RangeError(`snapshot name must be 1..${MAX_NAME_BYTES} UTF-8 bytes, got ${n}`);
  }
}

function checkChunk(chunk: unknown): asserts chunk is number {
  if (typeof chunk !== 'number') throw new TypeError('chunk must be a number');
  if (!Number.isSafeInteger(chunk) || chunk < 0)
    throw new RangeError(`chunk ${chunk} is not an integer in [0, 2^53)`);
}

/**
 * The shared exception store. Create one with {@link ExceptionStore.create} on a page layer, open
 * it again with {@link ExceptionStore.open}. Operations run one at a time in call order (each
 * waits for the previous). Mutations open a page-layer transaction if none is open; nothing is
 * durable before {@link ExceptionStore.commit} resolves.
 */
export class ExceptionStore {
  /** The page layer underneath. */
  readonly pages: PageStoreLike;
  /** The root slot holding the header page. */
  readonly rootName: string;
  /** The exception chunk allocator. */
  readonly allocator: ExceptionAllocator;
  /** Bytes of a chunk (the page layer's page size). */
  readonly chunkSize: number;
  /** Share-mask width in bits: the most snapshots at once. */
  readonly maskWidth: number;
  /** Entries per B-tree node. */
  readonly fanout: number;

  readonly #g: Geometry;
  readonly #headerPage: number;
  #valid = true;
  readonly #table: SnapshotTable;
  readonly #deleteBatch: number;
  readonly #journalBound: boolean;
  #headerDirty = false;
  #txn: PageTransactionLike | undefined;
  /** Whether the open transaction was handed out for writing since #mutate began it. */
  #touched = false;
  #external = false;
  readonly #pc: PageCache;
  readonly #tree: ExceptionTree;
  /** Where pages not in memory are read: the open transaction's view, else the committed one. */
  readonly #source: PageSource;
  #fresh = new Set<number>();
  #pendingRelease: number[] = [];
  readonly #queue = new OperationQueue(fromLowerError);
  #closed = false;

  private constructor(
    pages: PageStoreLike,
    headerPage: number,
    h: HeaderFields,
    options: ExceptionStoreOptions,
  ) {
    this.pages = pages;
    this.rootName = options.root ?? DEFAULT_ROOT_NAME;
    this.allocator = options.allocator ?? new PageAllocator();
    this.chunkSize = h.chunkSize;
    this.maskWidth = h.maskWidth;
    this.fanout = h.fanout;
    this.#headerPage = headerPage;
    this.#g = makeGeometry(pages.metaPayloadSize, h.maskWidth, h.fanout);
    this.#pc = new PageCache(options.cachePages ?? DEFAULT_CACHE_PAGES, this.#g);
    this.#source = {
      get pageCount() {
        return pages.pageCount;
      },
      readMeta: (no) => (this.#txn ? this.#txn.readMeta(no) : pages.readMeta(no)),
    };
    this.#tree = new ExceptionTree(this.#g, h.fanout, this.#pc, this.#source, {
      txn: () => this.#t,
      headerChanged: () => {
        this.#headerDirty = true;
      },
      release: (chunk) => this.allocator.release(this.#t, chunk),
    });
    this.#table = new SnapshotTable(h.maskWidth);
    this.#deleteBatch = options.deleteBatchLeaves ?? DEFAULT_DELETE_BATCH_LEAVES;
    this.#journalBound = options.deleteCommits !== 'batch';
    this.#applyHeader(h);
  }

  /**
   * Creates an empty store (a header, a root node and one leaf) on `pages` and commits it.
   *
   * @param pages - the page layer; no transaction may be open on it.
   * @param options - format parameters (`maskWidth`, `fanout`) and runtime options.
   * @returns the open store.
   * @throws RangeError for a mask width that is not a multiple of 32 in [32, 16384], a leaf too small
   *   to hold one chunk's worst-case exception list (wider than {@link maxMaskWidth} of the page
   *   layer's `metaPayloadSize`), or a bad fanout.
   * @throws ExceptionStoreError `ERR_EXISTS` if the root slot is taken.
   */
  static async create(
    pages: PageStoreLike,
    options: ExceptionStoreCreateOptions = {},
  ): Promise<ExceptionStore> {
    try {
      return await ExceptionStore.#create(pages, options);
    } catch (error) {
      throw fromLowerError(error);
    }
  }

  static async #create(pages: PageStoreLike, options: ExceptionStoreCreateOptions): Promise<ExceptionStore> {
    const root = options.root ?? DEFAULT_ROOT_NAME;
    checkOptions(options);
    const maskWidth = options.maskWidth ?? DEFAULT_MASK_WIDTH;
    if (
      !Number.isInteger(maskWidth) ||
      maskWidth < 32 ||
      maskWidth > MAX_MASK_WIDTH ||
      maskWidth % 32 !== 0
    ) {
      throw new RangeError(`maskWidth must be a multiple of 32 in [32, ${MAX_MASK_WIDTH}], got ${maskWidth}`);
    }
    const payload = pages.metaPayloadSize;
    if (!leafHoldsWorstCase(payload, maskWidth)) {
      throw new RangeError(
        `a ${payload}-byte leaf cannot hold the worst-case exception list of one chunk with ${maskWidth} snapshots ` +
          `(at most ${largestMaskWidth(payload)} fit): use a larger page size or a narrower mask`,
      );
    }
    const cap = nodeCapacity(payload);
    const fanout = options.fanout ?? cap;
    if (!Number.isInteger(fanout) || fanout < 3 || fanout > cap) {
      throw new RangeError(`fanout must be an integer in [3, ${cap}], got ${fanout}`);
    }
    if (pages.getRoot(root) !== undefined) {
      throw new ExceptionStoreError('ERR_EXISTS', `an exception store already exists under root '${root}'`);
    }
    const txn = pages.begin();
    try {
      const headerPage = await txn.allocate('meta');
      const leafPage = await txn.allocate('meta');
      const rootPage = await txn.allocate('meta');
      const h: HeaderFields = {
        valid: true,
        chunkSize: pages.pageSize,
        maskWidth,
        fanout,
        treeLevel: 1,
        snapshotCount: 0,
        root: rootPage,
        table: undefined,
        mask: new Uint32Array(maskWidth / 32),
        deleting: new Uint32Array(maskWidth / 32),
      };
      const store = new ExceptionStore(pages, headerPage, h, options);
      const empty = emptyTree(store.#g, leafPage, rootPage);
      txn.writeMeta(leafPage, empty.leaf);
      txn.writeMeta(rootPage, empty.root);
      txn.writeMeta(headerPage, encodeHeader(h, payload));
      txn.setRoot(root, headerPage);
      await txn.commit();
      return store;
    } catch (e) {
      safeAbort(txn);
      throw e;
    }
  }

  /**
   * Opens the store registered under `options.root` in the page layer's last commit.
   *
   * @param pages - the page layer.
   * @param options - runtime options.
   * @returns the open store.
   * @throws ExceptionStoreError `ERR_NOT_FOUND` (no such root), `ERR_CORRUPT_DATA` (bad header or
   *   snapshot table), or the page layer's error for a page it cannot verify.
   */
  static async open(pages: PageStoreLike, options: ExceptionStoreOptions = {}): Promise<ExceptionStore> {
    try {
      return await ExceptionStore.#open(pages, options);
    } catch (error) {
      throw fromLowerError(error);
    }
  }

  static async #open(pages: PageStoreLike, options: ExceptionStoreOptions): Promise<ExceptionStore> {
    checkOptions(options);
    const root = options.root ?? DEFAULT_ROOT_NAME;
    const headerPage = pages.getRoot(root);
    if (headerPage === undefined) {
      throw new ExceptionStoreError('ERR_NOT_FOUND', `no exception store under root '${root}'`);
    }
    const h = decodeHeader(await pages.readMeta(headerPage), headerPage);
    validateHeader(h, pages, headerPage);
    const store = new ExceptionStore(pages, headerPage, h, options);
    await store.#loadTable(h, (p) => pages.readMeta(p));
    if ((options.finishDeletes ?? true) && h.deleting.some((w) => w !== 0)) await store.finishDeletes();
    return store;
  }

  /** Whether the store is valid (the seed's `valid`; an invalidated store refuses writes). */
  get valid(): boolean {
    return this.#valid;
  }

  /** Levels of index nodes above the leaves (the seed's tree_level). */
  get treeLevel(): number {
    return this.#tree.level;
  }

  /**
   * Whether uncommitted changes exist. The store then holds an open page-layer transaction, which
   * other writers of the same page layer wait for (`ERR_BUSY`) until {@link ExceptionStore.commit}
   * or {@link ExceptionStore.abort}; a mutation that changes nothing, a `deleteSnapshot` and a
   * `finishDeletes` leave none open. While attached to an external transaction: that transaction.
   */
  get dirty(): boolean {
    return this.#txn !== undefined;
  }

  /**
   * At most the metadata pages the store will write into its transaction before it commits, as
   * things stand: its changed B-tree pages, its snapshot table and header when they changed, and
   * one space-map page per chunk it will release. For a caller that attached the store to its own
   * transaction and commits before the page layer's journal fills. O(1).
   */
  get pendingPages(): number {
    return (
      this.#pc.dirty.size +
      (this.#table.dirty ? this.#table.pages.length + 1 : 0) +
      (this.#headerDirty ? 1 : 0) +
      this.#pendingRelease.length
    );
  }

  /** The most snapshots at once (= maskWidth). */
  get maxSnapshots(): number {
    return this.maskWidth;
  }

  /** Active snapshots, by id. O(snapshots). */
  snapshots(): SnapshotInfo[] {
    return this.#table.list();
  }

  /** The id of snapshot `name`, or undefined. O(1). */
  snapshotId(name: string): number | undefined {
    checkName(name);
    return this.#table.names.get(name);
  }

  /**
   * Creates a snapshot of the origin as it is now: it shares every origin chunk until the origin
   * or the snapshot writes it. Takes the lowest free id.
   *
   * @param name - 1..64 UTF-8 bytes (a UUID, say), unique in the store.
   * @returns the snapshot's id.
   * @throws ExceptionStoreError `ERR_EXISTS`, `ERR_TOO_MANY_SNAPSHOTS`, `ERR_INVALID_STATE`.
   */
  async createSnapshot(name: string): Promise<number> {
    checkName(name);
    let id = -1;
    const precheck = (): void => {
      if (this.#table.names.has(name))
        throw new ExceptionStoreError('ERR_EXISTS', `snapshot '${name}' already exists`);
      id = this.#table.freeId();
      if (id < 0) {
        throw new ExceptionStoreError(
          'ERR_TOO_MANY_SNAPSHOTS',
          `all ${this.maskWidth} snapshot ids are in use`,
        );
      }
    };
    return this.#mutate(
      async () => {
        this.#table.add(name, id);
        this.#headerDirty = true;
        return id;
      },
      false,
      precheck,
    );
  }

  /**
   * Deletes a snapshot (the seed's shared_dtr + delete_tree_range): clears its bit in every share
   * mask, releases exceptions no snapshot uses any more, merges sparse leaves and nodes and removes
   * empty levels. O(leaves x page size).
   *
   * Commits: everything pending first, then one page-layer transaction per `deleteBatchLeaves`
   * leaves (`deleteCommits: 'batch'`) or per as many of those steps as fit half the layer's journal
   * (the default, `'journal'`, when the layer reports it); it ends committed with no transaction open ({@link ExceptionStore.dirty} is false).
   * Refused while the store runs in an external transaction (whose size it could not bound):
   * detach and commit that transaction first.
   *
   * @param name - an existing snapshot.
   * @returns how many exceptions were released.
   * @throws ExceptionStoreError `ERR_NOT_FOUND`; `ERR_INVALID_STATE` while attached to an external
   *   transaction (nothing changes).
   */
  async deleteSnapshot(name: string): Promise<number> {
    checkName(name);
    return this.#mutate(
      async () => {
        this.#table.remove(name, this.#id(name));
        this.#headerDirty = true;
        return this.#runDeletes();
      },
      true,
      () => {
        this.#refuseExternal('deleteSnapshot');
        this.#id(name);
      },
    );
  }

  /**
   * Finishes deletions a crash interrupted (their ids stay reserved until then); `open` calls it
   * unless told not to. Commits and ends with no transaction open, like
   * {@link ExceptionStore.deleteSnapshot}; with no deletion pending it changes nothing.
   *
   * @returns how many exceptions were released.
   * @throws ExceptionStoreError `ERR_INVALID_STATE` while attached to an external transaction.
   */
  finishDeletes(): Promise<number> {
    return this.#mutate(
      () => this.#runDeletes(),
      true,
      () => this.#refuseExternal('finishDeletes'),
    );
  }

  /** Throws unless the store runs in its own transactions (deletions commit as they go). */
  #refuseExternal(operation: string): void {
    if (this.#external) {
      throw new ExceptionStoreError(
        'ERR_INVALID_STATE',
        `${operation} commits in batches and cannot run in an external transaction: detach it first`,
      );
    }
  }

  /**
   * Clears the bits of every snapshot being deleted from the whole tree, `deleteBatchLeaves`
   * leaves per page-layer transaction: each batch is committed with the ids still marked as being
   * deleted, so a crash between batches leaves a consistent store that finishes the deletion when
   * next opened. The last commit clears the mark and opens no new transaction.
   */
  async #runDeletes(): Promise<number> {
    const mask = this.#table.deleting.slice();
    if (mask.every((w) => w === 0)) return 0;
    let released = 0;
    let resume: number | undefined = 0;
    // Journal-bound batching: leaves are visited `deleteBatchLeaves` at a time, but the
    // transaction is committed only when the next step might not fit in half the journal (the
    // largest step so far, measured, counted twice), so a deletion that changes few pages per leaf
    // commits a few times instead of once per batch. Without the layer's estimate, every batch.
    let budget = 0;
    if (this.#journalBound && this.pages.journalPages !== undefined && this.#t.journalPagesNeeded)
      budget = this.pages.journalPages >> 1;
    let largestStep = 0;
    let before = budget > 0 ? this.#journalEstimate() : 0;
    while (resume !== undefined) {
      const step: { released: number; next: number | undefined } = await this.#tree.deleteRange(
        mask,
        resume,
        this.#deleteBatch,
      );
      released += step.released;
      resume = step.next;
      if (resume === undefined) break;
      if (budget > 0) {
        const now = this.#journalEstimate();
        largestStep = Math.max(largestStep, now - before);
        before = now;
        if (now + largestStep <= budget) continue;
      }
      await this.#commitStep(true);
      if (budget > 0) before = this.#journalEstimate();
    }
    this.#table.deleted(mask);
    this.#headerDirty = true;
    await this.#commitStep(false);
    return released;
  }

  /** Journal pages a commit would write now: the transaction's, plus the cache's dirty pages. */
  #journalEstimate(): number {
    return (this.#t.journalPagesNeeded?.() ?? 0) + this.pendingPages;
  }

  /**
   * Commits the store's own transaction in the middle of an operation; with `more`, opens the next
   * one for the rest of the operation.
   */
  async #commitStep(more: boolean): Promise<void> {
    const txn = this.#t;
    this.#writeBack();
    await this.#finish(txn);
    await txn.commit();
    this.#fresh.clear();
    this.#txn = more ? this.pages.begin() : undefined;
  }

  /**
   * Where snapshot `name` keeps chunk `chunk` (the seed's lookup_completed_exception).
   *
   * @returns the exception chunk, or undefined when the snapshot reads the origin's chunk.
   * @throws ExceptionStoreError `ERR_NOT_FOUND` for an unknown snapshot. O(levels x log fanout).
   */
  async lookup(name: string, chunk: number): Promise<number | undefined> {
    checkName(name);
    checkChunk(chunk);
    // Fast path: nothing queued and the whole path cached, so the answer is the same as after the
    // queue; no page read, no await.
    const known = this.#table.names.get(name);
    if (this.#queue.idle && !this.#closed && known !== undefined) {
      const leaf = this.#tree.leafCached(chunk);
      if (leaf) {
        const pos = findSnapshotException(leaf.dv, this.#g, chunk, known);
        return pos < 0 ? undefined : exceptionChunk(leaf.dv, pos);
      }
    }
    return this.#read(async () => {
      const id = this.#id(name);
      const { leaf } = await this.#tree.probe(chunk);
      const pos = findSnapshotException(leaf.dv, this.#g, chunk, id);
      return pos < 0 ? undefined : exceptionChunk(leaf.dv, pos);
    });
  }

  /**
   * {@link ExceptionStore.lookup} without waiting, for callers that look up many chunks in a
   * row: the answer when nothing is queued and the chunk's leaf is cached, else null (then call
   * `lookup`). Also null for a name that is not a snapshot's (`lookup` says why). O(log fanout).
   */
  lookupCached(name: string, chunk: number): number | undefined | null {
    const known = this.#table.names.get(name);
    if (known === undefined || !this.#queue.idle || this.#closed) return null;
    if (!Number.isSafeInteger(chunk) || chunk < 0) return null;
    const leaf = this.#tree.leafCached(chunk);
    if (!leaf) return null;
    const pos = findSnapshotException(leaf.dv, this.#g, chunk, known);
    return pos < 0 ? undefined : exceptionChunk(leaf.dv, pos);
  }

  /**
   * Whether an origin write to `chunk` needs a copy first: some active snapshot has no exception
   * for it (the negation of the seed's origin_chunk_unique). O(levels x log fanout).
   */
  async originWriteNeedsCopy(chunk: number): Promise<boolean> {
    checkChunk(chunk);
    return this.#read(async () => {
      const { leaf } = await this.#tree.probe(chunk);
      return !originChunkUnique(leaf.dv, this.#g, chunk, this.#table.active);
    });
  }

  /**
   * Prepares an origin write (the seed's prepare_exception for the origin): if some active snapshot
   * has no exception for `chunk`, allocates a chunk and records an exception shared by exactly those
   * snapshots. The caller copies the origin chunk's current content into the returned chunk and
   * must commit before overwriting the origin.
   *
   * @returns the new exception chunk, or undefined when no copy is needed.
   * @throws the allocator's error when it has no space (the transaction is rolled back).
   */
  async prepareOriginWrite(chunk: number): Promise<number | undefined> {
    checkChunk(chunk);
    return this.#mutate(async () => {
      const { path, leaf } = await this.#tree.probe(chunk);
      if (originChunkUnique(leaf.dv, this.#g, chunk, this.#table.active)) return undefined;
      const ex = await this.#allocate({ chunk, kind: 'origin' });
      await this.#tree.addToTree(chunk, ex, -1, this.#table.active, path, leaf);
      return ex;
    });
  }

  /**
   * Prepares a write by snapshot `name` to `chunk` (the seed's snapshot_chunk_unique + prepare):
   * a chunk the snapshot uses alone and that was allocated in this transaction is written in
   * place; otherwise a new chunk is allocated and the snapshot's bit moves to a new exception (a
   * replaced private chunk of an earlier commit is released at commit).
   *
   * @returns where to write and where the current content is.
   * @throws ExceptionStoreError `ERR_NOT_FOUND` for an unknown snapshot.
   */
  async prepareSnapshotWrite(name: string, chunk: number): Promise<SnapshotWritePlan> {
    checkName(name);
    checkChunk(chunk);
    return this.#mutate(
      async () => {
        const id = this.#id(name);
        const g = this.#g;
        const { path, leaf } = await this.#tree.probe(chunk);
        const pos = findSnapshotException(leaf.dv, g, chunk, id);
        if (pos >= 0) {
          const old = exceptionChunk(leaf.dv, pos);
          if (exceptionUniqueTo(leaf.dv, g, pos, id)) {
            if (this.allocator.inPlaceWrites === true && this.#fresh.has(old))
              return { chunk: old, source: 'self' };
            const ex = await this.#allocate({ chunk, kind: 'snapshot' });
            setExceptionChunk(leaf.dv, pos, ex);
            this.#pc.markDirty(leaf);
            this.#pendingRelease.push(old);
            return { chunk: ex, source: 'exception', sourceChunk: old };
          }
          const ex = await this.#allocate({ chunk, kind: 'snapshot' });
          await this.#tree.addToTree(chunk, ex, id, this.#table.active, path, leaf);
          return { chunk: ex, source: 'exception', sourceChunk: old };
        }
        const ex = await this.#allocate({ chunk, kind: 'snapshot' });
        await this.#tree.addToTree(chunk, ex, id, this.#table.active, path, leaf);
        return { chunk: ex, source: 'origin' };
      },
      false,
      () => this.#id(name),
    );
  }

  /**
   * Reads an exception chunk's data page (through the open transaction, if any).
   *
   * @param chunk - an exception chunk (a data page of the page layer).
   * @returns pageSize bytes.
   */
  async readChunk(chunk: number): Promise<Uint8Array> {
    checkChunk(chunk);
    return this.#read(() => (this.#txn ? this.#txn.readData(chunk) : this.pages.readData(chunk)));
  }

  /**
   * Writes an exception chunk allocated in the open transaction (from prepareOriginWrite or
   * prepareSnapshotWrite).
   *
   * @param chunk - the chunk.
   * @param data - pageSize bytes.
   * @throws ExceptionStoreError `ERR_INVALID_STATE` when no transaction is open or the chunk was
   *   not allocated in it.
   */
  async writeChunk(chunk: number, data: Uint8Array): Promise<void> {
    checkChunk(chunk);
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    if (data.length !== this.chunkSize)
      throw new RangeError(`data must be ${this.chunkSize} bytes, got ${data.length}`);
    return this.#read(async () => {
      if (!this.#txn || !this.#fresh.has(chunk)) {
        throw new ExceptionStoreError(
          'ERR_INVALID_STATE',
          `chunk ${chunk} was not allocated in the open transaction`,
        );
      }
      await this.#txn.writeData(chunk, data);
    });
  }

  /**
   * The chunks whose content differs between two snapshots, or a snapshot and the origin (`null`),
   * in one pass over the leaves: chunks where the two read different exceptions, or one reads an
   * exception and the other the origin. O(leaves x page size).
   *
   * @param a - a snapshot name, or null for the origin.
   * @param b - a snapshot name, or null for the origin.
   * @returns sorted chunk numbers.
   */
  async diff(a: string | null, b: string | null): Promise<number[]> {
    if (a !== null) checkName(a);
    if (b !== null) checkName(b);
    return this.#read(async () => {
      const ia = a === null ? -1 : this.#id(a);
      const ib = b === null ? -1 : this.#id(b);
      const out: number[] = [];
      if (ia === ib) return out;
      const g = this.#g;
      await this.#tree.walkLeaves(({ dv }) =>
        forEachChunk(dv, (chunk, first, end) => {
          let pa = -1;
          let pb = -1;
          for (let p = first; p < end; p += excSize(dv, g, p)) {
            if (ia >= 0 && excHas(dv, g, p, ia)) pa = p;
            if (ib >= 0 && excHas(dv, g, p, ib)) pb = p;
          }
          if (pa !== pb) out.push(chunk);
        }),
      );
      return out;
    });
  }

  /**
   * The chunks snapshot `name` holds alone: the exceptions deleting it would release.
   * O(leaves x page size).
   *
   * @returns parallel arrays: origin chunk numbers (sorted) and their exception chunks.
   */
  async exclusiveChunks(name: string): Promise<{ chunks: number[]; exceptions: number[] }> {
    checkName(name);
    return this.#read(async () => {
      const id = this.#id(name);
      const g = this.#g;
      const chunks: number[] = [];
      const exceptions: number[] = [];
      await this.#tree.walkLeaves(({ dv }) =>
        forEachChunk(dv, (chunk, first, end) => {
          for (let p = first; p < end; p += excSize(dv, g, p)) {
            if (exceptionUniqueTo(dv, g, p, id, this.#table.deleting)) {
              chunks.push(chunk);
              exceptions.push(exceptionChunk(dv, p));
            }
          }
        }),
      );
      return { chunks, exceptions };
    });
  }

  /**
   * Rewrites where exceptions keep their data: every exception chunk for which `map` returns a
   * number gets that number instead (the data moved, as a compaction of the allocator's space
   * does). Sharing, masks and keys stay as they are; reference counts are the allocator's
   * business (the moved data keeps its count). Runs in the open transaction like any mutation.
   * @param map - the new chunk for an exception chunk, or undefined to keep it.
   * @returns how many exceptions changed. O(leaves).
   */
  remapChunks(map: (chunk: number) => number | undefined): Promise<number> {
    return this.#mutate(async () => {
      const g = this.#g;
      let changed = 0;
      await this.#tree.updateLeaves(({ dv }) => {
        let touched = false;
        forEachChunk(dv, (_chunk, first, end) => {
          for (let p = first; p < end; p += excSize(dv, g, p)) {
            const to = map(exceptionChunk(dv, p));
            if (to === undefined) continue;
            checkChunk(to);
            setExceptionChunk(dv, p, to);
            touched = true;
            changed++;
          }
        });
        return touched;
      });
      this.#pendingRelease = this.#pendingRelease.map((c) => map(c) ?? c);
      if (changed > 0) this.#touched = true;
      return changed;
    });
  }

  /**
   * How full the device is (the seed's fraction_full, which it left as `FIXME: implement`): pages
   * in use at the last commit over the pages the layer manages. O(1).
   */
  fractionFull(): { numerator: number; denominator: number } {
    return {
      numerator: this.pages.pageCount - this.pages.freePageCount(),
      denominator: this.pages.pageCount,
    };
  }

  /**
   * Marks the store invalid (the seed's `valid = 0`, what dm-snapshot does when the exception
   * device overflows): later mutations throw `ERR_INVALID_STATE`; reads still work. Commit to persist.
   */
  invalidate(): Promise<void> {
    return this.#mutate(async () => {
      this.#valid = false;
      this.#headerDirty = true;
    }, true);
  }

  /**
   * Makes every change since the last commit durable, atomically (the page layer's commit).
   * A no-op without changes. If it fails, the store rolls back to the page layer's last commit.
   *
   * @throws ExceptionStoreError `ERR_INVALID_STATE` when the store runs in an external transaction.
   */
  commit(): Promise<void> {
    return this.#serial(async () => {
      this.#checkOpen();
      if (this.#external) {
        throw new ExceptionStoreError(
          'ERR_INVALID_STATE',
          'the store runs in an external transaction: commit it',
        );
      }
      const txn = this.#txn;
      if (!txn) return;
      try {
        this.#writeBack();
        await this.#finish(txn);
        await txn.commit();
      } catch (e) {
        await this.#rollback(true);
        throw e;
      }
      this.#txn = undefined;
      this.#fresh.clear();
      this.#pc.trim();
    });
  }

  /** Drops every change since the last commit. */
  abort(): Promise<void> {
    return this.#serial(async () => {
      this.#checkOpen();
      if (this.#txn) await this.#rollback(true);
    });
  }

  /**
   * Runs the store inside a transaction the caller owns (the store app commits the exception store
   * together with its block map): mutations use `txn`; call {@link ExceptionStore.detachTransaction}
   * before committing or aborting it.
   *
   * @throws ExceptionStoreError `ERR_INVALID_STATE` when the store has its own open transaction.
   */
  async attachTransaction(txn: PageTransactionLike): Promise<void> {
    return this.#serial(async () => {
      this.#checkOpen();
      if (this.#txn) throw new ExceptionStoreError('ERR_INVALID_STATE', 'a transaction is already open');
      this.#txn = txn;
      this.#external = true;
    });
  }

  /**
   * Ends the use of an external transaction. With `'commit'` it writes the store's pending header,
   * snapshot table and releases into it (the caller then commits it); with `'abort'` it drops
   * everything the store did in it (the caller then aborts it).
   */
  async detachTransaction(intent: 'commit' | 'abort'): Promise<void> {
    return this.#serial(async () => {
      if (!this.#external || !this.#txn)
        throw new ExceptionStoreError('ERR_INVALID_STATE', 'no external transaction');
      if (intent === 'commit') {
        this.#writeBack();
        await this.#finish(this.#txn);
        this.#txn = undefined;
        this.#external = false;
        this.#fresh.clear();
      } else {
        await this.#rollback(false);
      }
    });
  }

  /**
   * Walks the whole tree and checks every invariant: node levels consistent, keys sorted and within
   * the parent's bounds, counts in bounds, every share mask non-empty and within the active mask,
   * masks of one chunk disjoint, no page referenced twice and (with `uniqueChunks`, true for the
   * default allocator) no exception chunk used twice. O(tree size x mask words).
   *
   * @throws ExceptionStoreError `ERR_CORRUPT_DATA` describing the first violation.
   */
  async check(options: { uniqueChunks?: boolean } = {}): Promise<CheckReport> {
    const unique = options.uniqueChunks ?? this.allocator instanceof PageAllocator;
    return this.#read(() => this.#check(unique));
  }

  /**
   * Closes the store, dropping uncommitted changes. Leaves the page layer open: whoever opened it
   * closes it, after this. Idempotent.
   */
  close(): Promise<void> {
    return this.#serial(async () => {
      if (this.#closed) return;
      if (this.#txn && !this.#external) safeAbort(this.#txn);
      this.#txn = undefined;
      this.#closed = true;
      this.#pc.clear();
    });
  }

  /** `await using store = await ExceptionStore.open(...)` closes the store (not its page layer). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals -------------------------------------------------------------------------------

  #applyHeader(h: HeaderFields): void {
    this.#tree.root = h.root;
    this.#tree.level = h.treeLevel;
    this.#valid = h.valid;
    this.#table.applyMasks(h);
  }

  #loadTable(h: HeaderFields, read: (page: number) => Promise<Uint8Array>): Promise<void> {
    return this.#table.load(h, read, this.#headerPage);
  }

  #checkOpen(): void {
    if (this.#closed) throw new ExceptionStoreError('ERR_CLOSED', 'the exception store is closed');
  }

  #id(name: string): number {
    const id = this.#table.names.get(name);
    if (id === undefined) throw new ExceptionStoreError('ERR_NOT_FOUND', `no snapshot named '${name}'`);
    return id;
  }

  /** Runs `fn` after every operation queued before it; a failure of a lower package is wrapped. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.#queue.run(fn);
  }

  #read<T>(fn: () => Promise<T>): Promise<T> {
    return this.#serial(async () => {
      this.#checkOpen();
      const r = await fn();
      this.#pc.trim();
      return r;
    });
  }

  /**
   * Runs a mutation. `precheck` runs first and may throw (an unknown or duplicate name) without
   * touching anything; a failure of `fn` itself rolls the store back to the last commit.
   */
  #mutate<T>(fn: () => Promise<T>, allowInvalid = false, precheck?: () => void): Promise<T> {
    return this.#serial(async () => {
      this.#checkOpen();
      if (!this.#valid && !allowInvalid) {
        throw new ExceptionStoreError('ERR_INVALID_STATE', 'the exception store is marked invalid');
      }
      precheck?.();
      const began = this.#txn === undefined;
      if (began) {
        this.#txn = this.pages.begin();
        this.#touched = false;
      }
      try {
        const r = await fn();
        if (began && this.#txn !== undefined && !this.#touched && !this.#pending()) {
          // Nothing changed (an origin write that needs no copy, say): close the transaction again,
          // so that `dirty` stays false and other writers of the page layer are not kept waiting.
          const txn = this.#txn;
          this.#txn = undefined;
          safeAbort(txn);
        }
        // Dirty pages stay here until a commit or until they pass half the cache bound, so a leaf
        // written by many operations of one transaction is handed to the page layer once.
        if (this.#pc.dirty.size > this.#pc.capacity / 2) this.#writeBack();
        this.#pc.trim();
        return r;
      } catch (e) {
        await this.#rollback(!this.#external);
        throw e;
      }
    });
  }

  /** The open transaction, for writing to it (mutations only). */
  get #t(): PageTransactionLike {
    const t = this.#txn;
    if (!t) throw new ExceptionStoreError('ERR_INVALID_STATE', 'no open transaction');
    this.#touched = true;
    return t;
  }

  /** Whether changes wait in memory for the next commit (pages, releases, table, header). */
  #pending(): boolean {
    return (
      this.#pc.dirty.size > 0 ||
      this.#pendingRelease.length > 0 ||
      this.#fresh.size > 0 ||
      this.#table.dirty ||
      this.#headerDirty
    );
  }

  async #allocate(request: AllocationRequest): Promise<number> {
    const ex = await this.allocator.allocate(this.#t, request);
    if (!Number.isSafeInteger(ex) || ex < 0) throw new RangeError(`allocator returned chunk ${ex}`);
    this.#fresh.add(ex);
    return ex;
  }

  /** Drops the transaction (when `abort`) and every cached page, and reloads the committed header. */
  async #rollback(abort: boolean): Promise<void> {
    const txn = this.#txn;
    this.#txn = undefined;
    this.#external = false;
    if (txn && abort) safeAbort(txn);
    this.#pc.clear();
    this.#fresh.clear();
    this.#pendingRelease = [];
    this.#headerDirty = false;
    this.#table.dirty = false;
    const h = decodeHeader(await this.pages.readMeta(this.#headerPage), this.#headerPage);
    validateHeader(h, this.pages, this.#headerPage);
    this.#applyHeader(h);
    await this.#loadTable(h, (p) => this.pages.readMeta(p));
  }

  /** Writes the dirty pages into the transaction (they move to the clean cache). */
  #writeBack(): void {
    this.#pc.writeBack(this.#t);
  }

  /** Before a commit: deferred releases, the snapshot table and the header. */
  async #finish(txn: PageTransactionLike): Promise<void> {
    for (const c of this.#pendingRelease) await this.allocator.release(txn, c);
    this.#pendingRelease = [];
    if (this.#table.dirty) await this.#writeTable(txn);
    if (this.#headerDirty) {
      txn.writeMeta(this.#headerPage, encodeHeader(this.#header(), this.#g.payload));
      this.#headerDirty = false;
    }
  }

  #header(): HeaderFields {
    return {
      valid: this.#valid,
      chunkSize: this.chunkSize,
      maskWidth: this.maskWidth,
      fanout: this.fanout,
      treeLevel: this.#tree.level,
      snapshotCount: this.#table.names.size,
      root: this.#tree.root,
      table: this.#table.pages[0],
      mask: this.#table.active,
      deleting: this.#table.deleting,
    };
  }

  async #writeTable(txn: PageTransactionLike): Promise<void> {
    await this.#table.write(txn, this.#g.payload);
    this.#headerDirty = true;
  }

  #check(uniqueChunks: boolean): Promise<CheckReport> {
    return checkTree(
      {
        g: this.#g,
        headerPage: this.#headerPage,
        tablePages: this.#table.pages,
        root: this.#tree.root,
        level: this.#tree.level,
        active: this.#table.active,
        deleting: this.#table.deleting,
        pendingRelease: this.#pendingRelease,
        leaf: (no) => this.#tree.get(no, 'leaf'),
        node: (no, level) => this.#tree.node(no, level),
      },
      uniqueChunks,
    );
  }
}

function safeAbort(txn: PageTransactionLike): void {
  try {
    txn.abort();
  } catch {
    // already finished: nothing to drop
  }
}

function checkOptions(options: ExceptionStoreOptions): void {
  if (options.root !== undefined && (typeof options.root !== 'string' || options.root.length === 0)) {
    throw new TypeError('root must be a non-empty string');
  }
  if (options.cachePages !== undefined && (!Number.isInteger(options.cachePages) || options.cachePages < 8)) {
    throw new RangeError(`cachePages must be an integer >= 8, got ${options.cachePages}`);
  }
  const commits = options.deleteCommits;
  if (commits !== undefined && commits !== 'journal' && commits !== 'batch') {
    throw new RangeError(`deleteCommits must be 'journal' or 'batch', got ${String(commits)}`);
  }
}

function validateHeader(h: HeaderFields, pages: PageStoreLike, page: number): void {
  if (h.chunkSize !== pages.pageSize) {
    throw corrupt('header', page, `chunk size ${h.chunkSize} differs from the page size ${pages.pageSize}`);
  }
  if (!leafHoldsWorstCase(pages.metaPayloadSize, h.maskWidth)) {
    throw corrupt('header', page, `share-mask width ${h.maskWidth} does not fit the page`);
  }
  if (h.fanout < 3 || h.fanout > nodeCapacity(pages.metaPayloadSize)) {
    throw corrupt('header', page, `fanout ${h.fanout} outside [3, ${nodeCapacity(pages.metaPayloadSize)}]`);
  }
}
