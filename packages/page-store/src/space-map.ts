// The in-memory side of the page layer's space map: the committed reference count and kind of every
// user page, held in about two bits per page. An @deja/hbitmap marks the pages that are not free
// (count above zero, or taken by the open transaction), so finding a free page is one O(levels)
// next-zero search however full the device is; counts of 2 and more live in a Map beside it (shared
// pages are the exception); a plain bit set marks the data pages (the rest of the live pages are
// metadata). The map grows with the store: its size is the page count the open transaction sees,
// and its arrays double when they must, so memory follows the pages in use, not a maximum. The
// persistent side — space-map pages of (count, tag) entries, journaled like every other metadata
// page — is written by PageStore; this class is rebuilt from them at open.

import { HBitmap } from '@deja/hbitmap';

/** Largest reference count a page can hold (u32 on disk). */
export const MAX_REF_COUNT = 0xffffffff;

/** Largest number of pages a map tracks (page numbers are u32 on disk). */
const MAX_PAGES = 0xffffffff;

/**
 * Committed reference counts and kinds of `size` pages and the index of free ones. Not exported
 * from the package: PageStore owns one and exposes `refCount` / `freePageCount`.
 */
export class SpaceMap {
  /** Pages tracked: the committed page count, or the open transaction's after it grew. */
  #size: number;
  /** Bit set: the page is not free (committed count > 0, or reserved by the open transaction). */
  #taken: HBitmap;
  /** Bit set: the page is a live data page (committed). */
  #data: Uint32Array;
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
    this.#size = size;
    this.#taken = new HBitmap(size);
    this.#data = new Uint32Array(Math.ceil(size / 32));
  }

  /** Pages tracked. */
  get size(): number {
    return this.#size;
  }

  /**
   * Changes the number of pages tracked: grows for a transaction that grew the store, shrinks back
   * when it aborts (its reservations must be released first). Capacity doubles, so a run of growths
   * costs amortized O(1) per page. O(capacity / 32) when the capacity changes.
   */
  resize(size: number): void {
    if (size > this.#taken.size) {
      const capacity = Math.min(MAX_PAGES, Math.max(size, 2 * this.#taken.size));
      this.#taken.truncate(capacity);
      const data = new Uint32Array(Math.ceil(capacity / 32));
      data.set(this.#data);
      this.#data = data;
    }
    this.#size = size;
    if (this.#cursor >= size) this.#cursor = 0;
  }

  /** The committed count of `page`. O(1). */
  count(page: number): number {
    if (this.#reserved.has(page) || !this.#taken.get(page)) return 0;
    return this.#shared.get(page) ?? 1;
  }

  /** Whether `page` is a live data page at the last commit. O(1). */
  isData(page: number): boolean {
    return ((this.#data[page >>> 5]! >>> (page & 31)) & 1) === 1;
  }

  /** Pages with a committed count above zero. */
  get live(): number {
    return this.#live;
  }

  /** Pages free at the last commit (within `size`) and not reserved since. */
  get free(): number {
    return this.#size - this.#live - this.#reserved.size;
  }

  /**
   * Sets the committed count and kind of `page` (used when loading and when a commit is applied).
   * O(levels).
   */
  setCount(page: number, count: number, data: boolean): void {
    const before = this.count(page);
    this.#reserved.delete(page);
    const word = page >>> 5;
    const bit = 1 << (page & 31);
    if (count === 0) {
      this.#taken.reset(page, 1);
      this.#shared.delete(page);
      this.#data[word]! &= ~bit;
    } else {
      this.#taken.set(page, 1);
      if (count > 1) this.#shared.set(page, count);
      else this.#shared.delete(page);
      if (data) this.#data[word]! |= bit;
      else this.#data[word]! &= ~bit;
    }
    this.#live += (count > 0 ? 1 : 0) - (before > 0 ? 1 : 0);
  }

  /**
   * Takes a free page below `size` for the open transaction (its committed count stays 0 until the
   * commit is applied). O(levels) on a nearly full map, thanks to the hbitmap's next-zero.
   * @returns the page, or -1 if none is free.
   */
  reserve(): number {
    const size = this.#size;
    let page = this.#taken.nextZero(this.#cursor, size - this.#cursor);
    if (page < 0 && this.#cursor > 0) page = this.#taken.nextZero(0, size);
    if (page < 0) return -1;
    this.#taken.set(page, 1);
    this.#reserved.add(page);
    this.#cursor = page + 1 < size ? page + 1 : 0;
    return page;
  }

  /** Gives back a page reserved by a transaction that aborted (or freed it again). */
  release(page: number): void {
    if (this.#reserved.delete(page)) this.#taken.reset(page, 1);
  }

  /**
   * Checks the index against the counts: every page with a count has its bit, every other bit is
   * a reservation, nothing is set past `size`, and the live total matches. O(capacity). For tests
   * and `PageStore.verify()`.
   * @returns a description of the first inconsistency, or `undefined`.
   */
  check(): string | undefined {
    let live = 0;
    for (let page = 0; page < this.#size; page++) {
      const bit = this.#taken.get(page);
      const reserved = this.#reserved.has(page);
      if (reserved && !bit) return `page ${page} is reserved but its bit is clear`;
      if (bit && !reserved) live++;
      if (!bit && this.#shared.has(page)) return `page ${page} has a shared count but is free`;
      if (!bit && this.isData(page)) return `page ${page} is marked as data but is free`;
    }
    for (let page = this.#size; page < this.#taken.size; page++) {
      if (this.#taken.get(page) || this.isData(page))
        return `page ${page} is set past the size ${this.#size}`;
    }
    if (live !== this.#live) return `live count ${this.#live} but ${live} pages are taken`;
    return undefined;
  }
}
