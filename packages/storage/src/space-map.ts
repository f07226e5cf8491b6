// The in-memory side of the page layer's space map: the committed reference count of every user
// page, held in about one bit per page. An @deja/hbitmap marks the pages that are not free (count
// above zero, or taken by the open transaction), so finding a free page is one O(levels) next-zero
// search however full the device is; counts of 2 and more live in a Map beside it (shared pages are
// the exception). The persistent side — space-map pages of (count, meta tag) entries, journaled like
// every other metadata page — is written by PageStore; this class is rebuilt from them at open.

import { HBitmap } from '@deja/hbitmap';

/** Largest reference count a page can hold (u32 on disk). */
export const MAX_REF_COUNT = 0xffffffff;

/**
 * Committed reference counts of `size` pages and the index of free ones. Not exported from the
 * package: PageStore owns one and exposes `refCount` / `freePageCount`.
 */
export class SpaceMap {
  /** Pages tracked. */
  readonly size: number;
  /** Bit set: the page is not free (committed count > 0, or reserved by the open transaction). */
  readonly #taken: HBitmap;
  /** Committed counts of 2 and more. */
  readonly #shared = new Map<number, number>();
  /** Pages reserved by the open transaction (bit set, committed count 0). */
  readonly #reserved = new Set<number>();
  /** Pages whose committed count is above zero. */
  #live = 0;
  /** Where the next free-page search starts (next fit, so freed pages are not reused at once). */
  #cursor = 0;

  /** @param size - pages to track; all start free. O(size / 8) bytes. */
  constructor(size: number) {
    this.size = size;
    this.#taken = new HBitmap(size);
  }

  /** The committed count of `page`. O(1). */
  count(page: number): number {
    if (this.#reserved.has(page) || !this.#taken.get(page)) return 0;
    return this.#shared.get(page) ?? 1;
  }

  /** Pages with a committed count above zero. */
  get live(): number {
    return this.#live;
  }

  /** Pages free at the last commit and not reserved since. */
  get free(): number {
    return this.size - this.#live - this.#reserved.size;
  }

  /** Sets the committed count of `page` (used when loading and when a commit is applied). O(levels). */
  setCount(page: number, count: number): void {
    const before = this.count(page);
    this.#reserved.delete(page);
    if (count === 0) {
      this.#taken.reset(page, 1);
      this.#shared.delete(page);
    } else {
      this.#taken.set(page, 1);
      if (count > 1) this.#shared.set(page, count);
      else this.#shared.delete(page);
    }
    this.#live += (count > 0 ? 1 : 0) - (before > 0 ? 1 : 0);
  }

  /**
   * Takes a free page for the open transaction (its committed count stays 0 until the commit is
   * applied). O(levels) on a nearly full map, thanks to the hbitmap's next-zero.
   * @returns the page, or -1 if none is free.
   */
  reserve(): number {
    let page = this.#taken.nextZero(this.#cursor);
    if (page < 0 && this.#cursor > 0) page = this.#taken.nextZero(0);
    if (page < 0) return -1;
    this.#taken.set(page, 1);
    this.#reserved.add(page);
    this.#cursor = page + 1 < this.size ? page + 1 : 0;
    return page;
  }

  /** Gives back a page reserved by a transaction that aborted (or freed it again). */
  release(page: number): void {
    if (this.#reserved.delete(page)) this.#taken.reset(page, 1);
  }

  /**
   * Checks the index against the counts: every page with a count has its bit, every other bit is
   * a reservation, and the live total matches. O(size). For tests and `PageStore.verify()`.
   * @returns a description of the first inconsistency, or `undefined`.
   */
  check(): string | undefined {
    let live = 0;
    for (let page = 0; page < this.size; page++) {
      const bit = this.#taken.get(page);
      const reserved = this.#reserved.has(page);
      if (reserved && !bit) return `page ${page} is reserved but its bit is clear`;
      if (bit && !reserved) live++;
      if (!bit && this.#shared.has(page)) return `page ${page} has a shared count but is free`;
    }
    if (live !== this.#live) return `live count ${this.#live} but ${live} pages are taken`;
    return undefined;
  }
}
