// The B-tree of the exception store (the seed's probe, add_exception_to_tree, insert_child,
// remove_index and delete_tree_range): index nodes keyed by origin chunk above leaves that hold each
// chunk's exception list. The tree owns its root and level; its pages live in the store's page cache
// (read through the store's page source) and it writes through the store's open transaction. The
// hot paths — the lookup's fully cached descent and the probe — stay free of awaits and allocations
// when every page on the path is in memory.

import type { Geometry } from './_internal-layout';
import {
  ADD_OK,
  ADD_OUT_OF_RANGE,
  addException,
  chooseSplit,
  deleteSnapshotsFromLeaf,
  initLeaf,
  leafBase,
  leafCount,
  mergeLeaves,
  type PageBuf,
  splitLeaf,
} from './_internal-leaf';
import {
  findChild,
  initNode,
  insertEntry,
  moveEntries,
  nodeChild,
  nodeCount,
  nodeKey,
  nodeLevel,
  removeEntry,
  setNodeKey,
  setRootEntries,
} from './_internal-node';
import type { CachedPage, Kind, PageCache, PageSource } from './_internal-page-cache';
import { corrupt } from './errors';
import type { PageTransactionLike } from './page-layer';

/** A node on a probed path and the index just past the child followed (the seed's pnext). */
export interface PathEntry {
  page: PageBuf;
  /** Index just past the child followed (the seed's pnext). */
  next: number;
}

/** A probe's result: the path of nodes from the root, and the leaf. */
export interface Probe {
  path: PathEntry[];
  leaf: CachedPage;
}

/**
 * The pages of an empty tree (a new store's): one leaf based at chunk 0 under a root node at level
 * 1 whose one entry points to it.
 * @returns the leaf's and the root's page bytes, `g.payload` each
 */
export function emptyTree(
  g: Geometry,
  leafPage: number,
  rootPage: number,
): { leaf: Uint8Array; root: Uint8Array } {
  const leaf = pageBuf(leafPage, 'leaf', new Uint8Array(g.payload));
  initLeaf(leaf, g, 0);
  const node = pageBuf(rootPage, 'node', new Uint8Array(g.payload));
  initNode(node, 1);
  insertEntry(node, 0, 0, leafPage);
  return { leaf: leaf.bytes, root: node.bytes };
}

function pageBuf(no: number, kind: Kind, bytes: Uint8Array): CachedPage {
  return { no, bytes, dv: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), kind, used: false };
}

/** What the tree needs of its store. */
export interface TreeHost {
  /** The open transaction, for writing to it; throws `ERR_INVALID_STATE` when none is open. */
  txn(): PageTransactionLike;
  /** The root or the level changed: the header must be written before the next commit. */
  headerChanged(): void;
  /** Releases an exception chunk no snapshot uses any more (the allocator, in the open transaction). */
  release(chunk: number): void | Promise<void>;
}

/** The store's B-tree: root and level, probes, inserts with splits, the delete walk and leaf walks. */
export class ExceptionTree {
  /** The root node's page. */
  root = 0;
  /** Levels of index nodes above the leaves (the seed's tree_level). */
  level = 1;
  /** Entries per node. */
  readonly fanout: number;
  readonly #g: Geometry;
  readonly #pc: PageCache;
  readonly #source: PageSource;
  readonly #host: TreeHost;

  constructor(g: Geometry, fanout: number, pc: PageCache, source: PageSource, host: TreeHost) {
    this.#g = g;
    this.fanout = fanout;
    this.#pc = pc;
    this.#source = source;
    this.#host = host;
  }

  /** A page of the tree of the given kind, from the cache or read and validated. */
  get(no: number, kind: Kind): Promise<CachedPage> {
    return this.#pc.get(no, kind, this.#source);
  }

  /** A node page expected at `level`, from the cache or read and validated. */
  node(no: number, level: number): Promise<CachedPage> {
    return this.#pc.node(no, level, this.#source);
  }

  async #newPage(kind: Kind): Promise<CachedPage> {
    return this.#pc.create(await this.#host.txn().allocate('meta'), kind);
  }

  #freePage(p: PageBuf): void {
    this.#pc.drop(p.no);
    this.#host.txn().decRef(p.no);
  }

  /** The seed's probe: the path from the root to the leaf whose range holds `chunk`. */
  probe(chunk: number): Promise<Probe> | Probe {
    return this.#probeCached(chunk) ?? this.#probeLoad(chunk);
  }

  /** The probe without a single await when every page on the path is in memory (the hot path). */
  #probeCached(chunk: number): Probe | undefined {
    const levels = this.level;
    const path: PathEntry[] = [];
    let no = this.root;
    for (let i = 0; i < levels; i++) {
      const node = this.#pc.peek(no);
      if (node?.kind !== 'node' || nodeLevel(node.dv) !== levels - i) return undefined;
      const idx = findChild(node.dv, chunk);
      path.push({ page: node, next: idx + 1 });
      no = nodeChild(node.dv, idx);
    }
    const leaf = this.#pc.peek(no);
    if (leaf?.kind !== 'leaf') return undefined;
    leaf.used = true; // its second chance at eviction (nodes near the root stay hot anyway)
    return { path, leaf };
  }

  /** {@link #probeCached} without recording the path (no allocation): the lookup fast path. */
  leafCached(chunk: number): CachedPage | undefined {
    const levels = this.level;
    const cache = this.#pc.clean;
    // outside a transaction nothing is dirty: one map probe per level instead of two
    const dirty = this.#pc.dirty.size > 0 ? this.#pc.dirty : undefined;
    let no = this.root;
    for (let i = 0; i < levels; i++) {
      const node = dirty?.get(no) ?? cache.get(no);
      if (node?.kind !== 'node' || nodeLevel(node.dv) !== levels - i) return undefined;
      no = nodeChild(node.dv, findChild(node.dv, chunk));
    }
    const d = dirty?.get(no);
    if (d !== undefined) return d.kind === 'leaf' ? d : undefined;
    const leaf = cache.get(no);
    if (leaf?.kind !== 'leaf') return undefined;
    leaf.used = true; // its second chance at eviction
    return leaf;
  }

  async #probeLoad(chunk: number): Promise<Probe> {
    const levels = this.level;
    const path: PathEntry[] = [];
    let no = this.root;
    for (let i = 0; i < levels; i++) {
      const node = await this.node(no, levels - i);
      const idx = findChild(node.dv, chunk);
      path.push({ page: node, next: idx + 1 });
      no = nodeChild(node.dv, idx);
    }
    return { path, leaf: await this.get(no, 'leaf') };
  }

  /**
   * The seed's add_exception_to_tree: adds the exception to the leaf, splitting the leaf (and nodes
   * up the path, growing a new root) until it fits. After a split the path is probed again.
   */
  async addToTree(
    chunk: number,
    ex: number,
    snap: number,
    active: Uint32Array,
    path: PathEntry[],
    leaf: CachedPage,
  ): Promise<void> {
    const g = this.#g;
    for (let round = 0; ; round++) {
      const r = addException(leaf, g, chunk, ex, snap, active);
      if (r === ADD_OK) {
        this.#pc.markDirty(leaf);
        return;
      }
      if (round > 64) throw corrupt('leaf', leaf.no, `no room for chunk ${chunk} after ${round} splits`);
      if (r === ADD_OUT_OF_RANGE) {
        // chunk - base_chunk does not fit 32 bits. entries[0].key of each node is exact, so the
        // parent's entry gives the leaf's lower bound.
        const last = path[path.length - 1] as PathEntry;
        const lower = nodeKey(last.page.dv, last.next - 1);
        if (chunk < leafBase(leaf.dv)) throw corrupt('leaf', leaf.no, `chunk ${chunk} below base_chunk`);
        if (chunk === lower) {
          // Only an empty leaf can be here (its entries would be >= lower and < base + 2^32):
          // rebase it at its lower bound.
          if (leafCount(leaf.dv) !== 0) throw corrupt('leaf', leaf.no, 'entries below the range start');
          initLeaf(leaf, g, lower);
          continue;
        }
      }
      const { nhead, splitpoint } =
        r === ADD_OUT_OF_RANGE
          ? { nhead: leafCount(leaf.dv), splitpoint: chunk }
          : chooseSplit(leaf.dv, chunk);
      const fresh = await this.#newPage('leaf');
      splitLeaf(leaf, fresh, g, nhead, splitpoint);
      this.#pc.markDirty(leaf);
      await this.#insertChild(path, splitpoint, fresh.no);
      ({ path, leaf } = await this.probe(chunk));
    }
  }

  /** Inserts (key, child) above the leaf level, splitting full nodes and growing the root. */
  async #insertChild(path: PathEntry[], key: number, child: number): Promise<void> {
    let childKey = key;
    let childPage = child;
    for (let level = path.length - 1; level >= 0; level--) {
      const { page: parent, next } = path[level] as PathEntry;
      const count = nodeCount(parent.dv);
      if (count < this.fanout) {
        insertEntry(parent, next, childKey, childPage);
        this.#pc.markDirty(parent);
        return;
      }
      // Split the count + 1 entries (the new one included) evenly: the left node keeps the first
      // `keep`. (The seed halves the old entries and then inserts, which with a small fanout and
      // appends at the right edge leaves the right node full, so every append splits up to the
      // root and the tree grows a level each time.)
      const keep = Math.ceil((count + 1) / 2);
      const sibling = await this.#newPage('node');
      initNode(sibling, nodeLevel(parent.dv));
      if (next < keep) {
        moveEntries(parent, keep - 1, sibling);
        insertEntry(parent, next, childKey, childPage);
      } else {
        moveEntries(parent, keep, sibling);
        insertEntry(sibling, next - keep, childKey, childPage);
      }
      this.#pc.markDirty(parent);
      childKey = nodeKey(sibling.dv, 0);
      childPage = sibling.no;
    }
    const root = await this.#newPage('node');
    initNode(root, this.level + 1);
    setRootEntries(root, this.root, childKey, childPage);
    this.root = root.no;
    this.level++;
    this.#host.headerChanged();
  }

  /**
   * The seed's remove_index: removes the entry before path[level].next. When it was a node's first
   * entry, the key of the entry that now comes first becomes the lower bound of the node, so it is
   * written into the ancestors up to the first one where the path is not at a first entry.
   * Fixed from the seed: the pivot is read only when an entry follows (`!!! out of bounds for
   * delete of last from full index`), and entries[0] keys on the climb are updated too.
   */
  #removeIndex(path: PathEntry[], level: number): void {
    const e = path[level] as PathEntry;
    const node = e.page;
    const count = nodeCount(node.dv);
    const hasPivot = e.next < count;
    const pivot = hasPivot ? nodeKey(node.dv, e.next) : 0;
    removeEntry(node, e.next - 1);
    e.next--;
    this.#pc.markDirty(node);
    if (!hasPivot || e.next !== 0) return;
    for (let i = level - 1; i >= 0; i--) {
      const up = path[i] as PathEntry;
      // At the root's first entry the lower bound is 0 and stays so (the leftmost leaf and nodes
      // are never removed, so this is not reached; the guard keeps the root's key exact anyway).
      if (i === 0 && up.next - 1 === 0) return;
      setNodeKey(up.page.dv, up.next - 1, pivot);
      this.#pc.markDirty(up.page);
      if (up.next - 1 !== 0) return;
    }
  }

  /**
   * The seed's delete_tree_range from `resume`: clears the bits of `mask` from every leaf, releases
   * the exceptions no snapshot uses any more, merges sparse leaves and nodes and removes empty
   * levels, visiting at most `budget` leaves (see ExceptionStore.deleteSnapshot).
   * @returns the exceptions released, and the chunk to resume from (undefined when done)
   */
  async deleteRange(
    mask: Uint32Array,
    resume: number,
    budget: number,
  ): Promise<{ released: number; next: number | undefined }> {
    const g = this.#g;
    let levels = this.level;
    let level = levels - 1;
    let visited = 0;
    const probed = await this.probe(resume);
    const path = probed.path;
    const hold: (CachedPage | undefined)[] = new Array(levels).fill(undefined);
    let leaf: CachedPage = probed.leaf;
    let prevLeaf: CachedPage | undefined;
    const freed: number[] = [];
    let released = 0;
    const finished = (l: number): boolean => {
      const e = path[l] as PathEntry;
      return e.next === nodeCount(e.page.dv);
    };
    for (;;) {
      if (deleteSnapshotsFromLeaf(leaf, g, mask, freed)) this.#pc.markDirty(leaf);
      for (const c of freed) await this.#host.release(c);
      released += freed.length;
      freed.length = 0;
      if (prevLeaf && mergeLeaves(prevLeaf, leaf)) {
        this.#removeIndex(path, level);
        this.#pc.markDirty(prevLeaf);
        this.#freePage(leaf);
      } else {
        prevLeaf = leaf;
      }
      if (finished(level)) {
        do {
          const h = hold[level];
          const cur = (path[level] as PathEntry).page as CachedPage;
          if (h && nodeCount(cur.dv) <= this.fanout - nodeCount(h.dv)) {
            moveEntries(cur, 0, h);
            this.#removeIndex(path, level - 1);
            this.#pc.markDirty(h);
            this.#freePage(cur);
          } else {
            hold[level] = cur;
          }
          if (level === 0) {
            while (levels > 1 && nodeCount((hold[0] as CachedPage).dv) === 1) {
              const newRoot = hold[1] as CachedPage;
              this.#freePage(hold[0] as CachedPage);
              this.root = newRoot.no;
              levels = --this.level;
              hold.shift();
              this.#host.headerChanged();
            }
            return { released, next: undefined };
          }
          level--;
        } while (finished(level));
        do {
          const e = path[level] as PathEntry;
          const childNo = nodeChild(e.page.dv, e.next);
          e.next++;
          level++;
          path[level] = { page: await this.node(childNo, levels - level), next: 0 };
        } while (level < levels - 1);
      }
      const e = path[level] as PathEntry;
      // Here every node on the path still has entries to visit and the tree is valid: a batch may
      // end, to resume from the next leaf's lower bound (entries[0] keys are exact).
      if (++visited >= budget) return { released, next: nodeKey(e.page.dv, e.next) };
      const leafNo = nodeChild(e.page.dv, e.next);
      e.next++;
      leaf = await this.get(leafNo, 'leaf');
      if (this.#pc.clean.size > this.#pc.capacity) {
        const pinned = new Set<number>([leaf.no, ...path.map((p) => p.page.no)]);
        if (prevLeaf) pinned.add(prevLeaf.no);
        for (const h of hold) if (h) pinned.add(h.no);
        this.#writeBackExcept(pinned);
        this.#pc.trim(pinned);
      }
    }
  }

  /** Writes dirty pages that no one holds into the transaction (keeps long deletes bounded). */
  #writeBackExcept(pinned: Set<number>): void {
    this.#pc.writeBackExcept(this.#host.txn(), pinned);
  }

  /**
   * Calls `fn` on every leaf in key order; a leaf for which it returns true was changed in place
   * (same size) and is written back. The dirty pages of such changes go to the transaction as
   * they pile up.
   */
  async updateLeaves(fn: (leaf: PageBuf) => boolean): Promise<void> {
    let changed = false;
    const walk = async (no: number, level: number): Promise<void> => {
      if (level === 0) {
        const leaf = await this.get(no, 'leaf');
        if (fn(leaf)) {
          this.#pc.markDirty(leaf);
          changed = true;
        }
        return;
      }
      const node = await this.node(no, level);
      const count = nodeCount(node.dv);
      const children: number[] = [];
      for (let i = 0; i < count; i++) children.push(nodeChild(node.dv, i));
      for (const c of children) await walk(c, level - 1);
      if (changed && this.#pc.dirty.size > this.#pc.capacity / 2) this.#writeBackExcept(new Set());
      this.#pc.trim();
    };
    await walk(this.root, this.level);
  }

  /** Calls `fn` on every leaf in key order (reading only). */
  walkLeaves(fn: (leaf: PageBuf) => void): Promise<void> {
    return this.updateLeaves((leaf) => {
      fn(leaf);
      return false;
    });
  }
}
