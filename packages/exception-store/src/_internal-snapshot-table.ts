// The exception store's snapshots in memory: names to ids, the share-mask bits of the active
// snapshots and of those being deleted (an id stays reserved until its deletion has cleared it
// from every exception, so a crash part way through a deletion can finish it), and the chain of
// table pages that holds the names on disk (_internal-header.ts has their format). Loading checks
// the chain against the header (no loop, every id active, no duplicate, the right count); a change
// marks the table dirty, and the store writes it (and then its header) before a commit.

import { decodeTablePage, encodeTablePage, type HeaderFields, layoutTable } from './_internal-header';
import { corrupt } from './errors';
import type { PageTransactionLike } from './page-layer';

/** Whether bit `id` of `mask` is set. */
export function bitSet(mask: Uint32Array, id: number): boolean {
  return (((mask[id >>> 5] as number) >>> (id & 31)) & 1) === 1;
}

/** The snapshot table: names, ids, masks and the pages that hold them. */
export class SnapshotTable {
  /** Share-mask width: the most snapshots at once. */
  readonly width: number;
  /** Bits of the active snapshots. */
  readonly active: Uint32Array;
  /** Bits of the snapshots being deleted (their ids are not free yet). */
  readonly deleting: Uint32Array;
  /** Active snapshots: name to id. */
  names = new Map<string, number>();
  /** The table's pages, in chain order. */
  pages: number[] = [];
  /** Whether the names changed since the table was last written. */
  dirty = false;

  constructor(width: number) {
    this.width = width;
    this.active = new Uint32Array(width / 32);
    this.deleting = new Uint32Array(width / 32);
  }

  /** Active snapshots, by id. O(snapshots). */
  list(): { name: string; id: number }[] {
    return [...this.names].map(([name, id]) => ({ name, id })).sort((a, b) => a.id - b.id);
  }

  /** The lowest id neither active nor being deleted, or -1. O(width). */
  freeId(): number {
    for (let i = 0; i < this.width; i++) if (!bitSet(this.active, i) && !bitSet(this.deleting, i)) return i;
    return -1;
  }

  /** Adds snapshot `name` with a free `id`. */
  add(name: string, id: number): void {
    this.active[id >>> 5] = ((this.active[id >>> 5] as number) | (1 << (id & 31))) >>> 0;
    this.names.set(name, id);
    this.dirty = true;
  }

  /** Moves snapshot `name` (id `id`) from active to being deleted. */
  remove(name: string, id: number): void {
    const bit = (1 << (id & 31)) >>> 0;
    this.active[id >>> 5] = ((this.active[id >>> 5] as number) & ~bit) >>> 0;
    this.deleting[id >>> 5] = ((this.deleting[id >>> 5] as number) | bit) >>> 0;
    this.names.delete(name);
    this.dirty = true;
  }

  /** Frees the ids of `mask`, whose deletion is complete. */
  deleted(mask: Uint32Array): void {
    for (let k = 0; k < mask.length; k++)
      this.deleting[k] = ((this.deleting[k] as number) & ~(mask[k] as number)) >>> 0;
  }

  /** Takes the masks of a header. */
  applyMasks(h: HeaderFields): void {
    this.active.set(h.mask);
    this.deleting.set(h.deleting);
  }

  /**
   * Reads the chain of table pages the header names; replaces the names and pages on success.
   * @throws ExceptionStoreError `ERR_CORRUPT_DATA` for a loop, an inactive or duplicate id, or a
   *   count that differs from the header's (naming the page, or `headerPage` for an empty chain).
   */
  async load(
    h: HeaderFields,
    read: (page: number) => Promise<Uint8Array>,
    headerPage: number,
  ): Promise<void> {
    const names = new Map<string, number>();
    const pages: number[] = [];
    const seen = new Set<number>();
    let next = h.table;
    while (next !== undefined) {
      if (seen.has(next) || pages.length > this.width) {
        throw corrupt('snapshot table', next, 'the chain of table pages loops');
      }
      seen.add(next);
      pages.push(next);
      const page = decodeTablePage(await read(next), next, this.width);
      for (const e of page.entries) {
        if (!bitSet(h.mask, e.id)) throw corrupt('snapshot table', next, `snapshot ${e.id} is not active`);
        if (names.has(e.name) || [...names.values()].includes(e.id)) {
          throw corrupt('snapshot table', next, `duplicate snapshot '${e.name}' / id ${e.id}`);
        }
        names.set(e.name, e.id);
      }
      next = page.next;
    }
    if (names.size !== h.snapshotCount) {
      throw corrupt(
        'snapshot table',
        h.table ?? headerPage,
        `${names.size} names for ${h.snapshotCount} snapshots`,
      );
    }
    this.names = names;
    this.pages = pages;
  }

  /** Writes the table into `txn`: pages allocated or freed to fit, then each page of the chain. */
  async write(txn: PageTransactionLike, payload: number): Promise<void> {
    const groups = layoutTable(this.list(), payload);
    const pages = this.pages;
    while (pages.length < groups.length) pages.push(await txn.allocate('meta'));
    while (pages.length > groups.length) txn.decRef(pages.pop() as number);
    for (let i = 0; i < groups.length; i++) {
      txn.writeMeta(pages[i] as number, encodeTablePage(groups[i] as Uint8Array[], pages[i + 1], payload));
    }
    this.dirty = false;
  }
}
