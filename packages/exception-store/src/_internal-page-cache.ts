// The exception store's page cache: B-tree pages (nodes and leaves) in memory, clean or dirty.
// A page read from the layer is validated once, as it enters (its magic, then the leaf or node
// checks of _internal-validate.ts), so the tree code works on pages it can trust. Dirty pages stay
// here until the store hands them to the page layer's transaction (at a commit, or when they pass
// half the bound), so a leaf written by many operations of one transaction is written once. Clean
// pages beyond the bound are evicted by second chance (CLOCK) over the map's insertion order.
//
// The two maps are public for the tree's hot path (a cached probe is a few map lookups with no
// await, see ExceptionStore's #probeCached); everything that changes them goes through here.

import { type Geometry, LEAF_MAGIC, NODE_MAGIC } from './_internal-layout';
import type { PageBuf } from './_internal-leaf';
import { nodeLevel } from './_internal-node';
import { validateLeaf, validateNode } from './_internal-validate';
import { corrupt, ExceptionStoreError } from './errors';
import type { PageTransactionLike } from './page-layer';

/** What a B-tree page is. */
export type Kind = 'leaf' | 'node';

/** A B-tree page in memory. */
export interface CachedPage extends PageBuf {
  readonly kind: Kind;
  /** Visited since it was last passed over by {@link PageCache.trim} (its second chance). */
  used: boolean;
}

/** Where pages not in memory come from: the open transaction's view, or the committed one. */
export interface PageSource {
  readonly pageCount: number;
  readMeta(no: number): Promise<Uint8Array>;
}

/** Clean and dirty B-tree pages, bounded. */
export class PageCache {
  /** Clean pages, in CLOCK order. */
  readonly clean = new Map<number, CachedPage>();
  /** Pages changed since they were last handed to the transaction. */
  readonly dirty = new Map<number, CachedPage>();
  /** The bound, in pages (dirty pages of one operation may exceed it briefly). */
  readonly capacity: number;
  readonly #g: Geometry;

  constructor(capacity: number, g: Geometry) {
    this.capacity = capacity;
    this.#g = g;
  }

  /** The page if it is in memory (dirty first), without a read or a validation. */
  peek(no: number): CachedPage | undefined {
    return this.dirty.get(no) ?? this.clean.get(no);
  }

  /**
   * Page `no`, read from `source` and validated if it is not in memory.
   * @throws ExceptionStoreError `ERR_CORRUPT_DATA` for a page past the layer's end, one the layer
   *   does not hold as metadata, a bad payload or magic, or a page of the other kind.
   */
  async get(no: number, kind: Kind, source: PageSource): Promise<CachedPage> {
    let p = this.dirty.get(no);
    if (!p) {
      p = this.clean.get(no);
      if (p) p.used = true;
      else {
        p = await this.#load(no, source);
        this.clean.set(no, p);
      }
    }
    if (p.kind !== kind) throw corrupt('B-tree page', no, `expected a ${kind}, found a ${p.kind}`);
    return p;
  }

  /** Node `no`, checked to be at `level`. */
  async node(no: number, level: number, source: PageSource): Promise<CachedPage> {
    const p = await this.get(no, 'node', source);
    if (nodeLevel(p.dv) !== level) throw corrupt('node', no, `level ${nodeLevel(p.dv)}, expected ${level}`);
    return p;
  }

  async #load(no: number, source: PageSource): Promise<CachedPage> {
    if (no >= source.pageCount)
      throw corrupt('B-tree page', no, `beyond the ${source.pageCount} pages of the layer`);
    let raw: Uint8Array;
    try {
      raw = await source.readMeta(no);
    } catch (cause) {
      // a page the layer does not hold (free, or a data page) named by a B-tree node: the node
      // is corrupt; the layer's own errors (checksums, I/O) keep their codes
      if (cause instanceof RangeError || cause instanceof TypeError) {
        throw new ExceptionStoreError('ERR_CORRUPT_DATA', `B-tree page ${no} is not a live metadata page`, {
          cause,
        });
      }
      throw cause;
    }
    if (raw.length !== this.#g.payload) throw corrupt('B-tree page', no, `payload of ${raw.length} bytes`);
    const bytes = raw.slice();
    const dv = new DataView(bytes.buffer);
    const magic = dv.getUint16(0, true);
    if (magic === LEAF_MAGIC) validateLeaf(dv, this.#g, no);
    else if (magic === NODE_MAGIC) validateNode(dv, this.#g, no);
    else throw corrupt('B-tree page', no, `magic 0x${magic.toString(16)} is neither a node nor a leaf`);
    return { no, bytes, dv, kind: magic === LEAF_MAGIC ? 'leaf' : 'node', used: false };
  }

  /** Records that `p` changed. */
  markDirty(p: PageBuf): void {
    this.dirty.set(p.no, p as CachedPage);
  }

  /** A new, zeroed page `no` (just allocated in the transaction), dirty. */
  create(no: number, kind: Kind): CachedPage {
    const bytes = new Uint8Array(this.#g.payload);
    const p: CachedPage = { no, bytes, dv: new DataView(bytes.buffer), kind, used: false };
    this.dirty.set(no, p);
    return p;
  }

  /** Forgets page `no` (freed). */
  drop(no: number): void {
    this.dirty.delete(no);
    this.clean.delete(no);
  }

  /** Forgets every page (a rollback). */
  clear(): void {
    this.clean.clear();
    this.dirty.clear();
  }

  /** Hands the dirty pages to `txn` (they move to the clean pages). */
  writeBack(txn: PageTransactionLike): void {
    for (const [no, p] of this.dirty) {
      txn.writeMeta(no, p.bytes.slice());
      this.clean.delete(no);
      this.clean.set(no, p);
    }
    this.dirty.clear();
  }

  /** Hands the dirty pages no one holds to `txn` (keeps long deletes bounded). */
  writeBackExcept(txn: PageTransactionLike, pinned: Set<number>): void {
    for (const [no, p] of this.dirty) {
      if (pinned.has(no)) continue;
      txn.writeMeta(no, p.bytes.slice());
      this.dirty.delete(no);
      this.clean.set(no, p);
    }
  }

  /**
   * Evicts clean pages beyond the bound, sparing `pinned`: second chance (CLOCK) over the map's
   * insertion order. A page visited since the last pass is moved to the back with its flag cleared
   * instead of evicted; a hit only sets the flag, which is much cheaper than moving the page to the
   * back on every hit (a delete and a set in a map of thousands: a third of a cached lookup).
   * Terminates: a page is moved at most once per call (its flag is then clear).
   */
  trim(pinned?: Set<number>): void {
    const cache = this.clean;
    let excess = cache.size - this.capacity;
    if (excess <= 0) return;
    for (const [no, p] of cache) {
      if (excess <= 0) break;
      if (pinned?.has(no)) continue;
      cache.delete(no);
      if (p.used) {
        p.used = false;
        cache.set(no, p);
      } else excess--;
    }
  }
}
