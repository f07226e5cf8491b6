// The in-memory side of the page layer's space map: the committed reference count and kind of every
// user page, held in about two bits per page. An @deja/hbitmap marks the pages that are not free
// (count above zero, or taken by the open transaction), so finding a free page is one O(levels)
// next-zero search however full the device is; counts of 2 and more live in a Map beside it (shared
// pages are the exception); a plain bit set marks the data pages (the rest of the live pages are
// metadata). The map grows with the store: its size is the page count the open transaction sees,
// and its arrays double when they must, so memory follows the pages in use, not a maximum. The
// persistent side — space-map pages of (count, tag) entries, journaled like every other metadata
// page — is written by PageStore; this class is rebuilt from them at open.
//
// Locality: metadata and data pages are taken from separate regions (`regionPages` user pages each,
// about 2 MiB), so the metadata a commit rewrites sits together on the medium instead of one page
// in every stretch of data — what an object store (whole objects of MiBs re-uploaded per changed
// page) and a disk's readahead both want. A region holding more metadata pages (live or reserved)
// than other pages is a metadata region: metadata takes the first free page of the lowest metadata region with room, or
// else the lowest empty region; data takes the next free page (next fit from a cursor) outside
// metadata regions. Only when a kind finds nothing of its own does it take any free page (a full
// store must not grow while pages are free), so the regions mix only on a store that is full. The
// policy lives in memory only: the kinds are in the space map already, so no format change, and
// any existing store gets it for its new allocations. Per region: two counters and three bits in
// small hbitmaps (metadata regions, those with room, regions with anything in them), so every
// choice stays O(levels) — data skips a metadata region with one next-zero over the region bits.

import { HBitmap } from '@deja/hbitmap';
import { PageMap } from './_internal-page-map';

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
  readonly #shared = new PageMap();
  /** Pages reserved by the open transaction (bit set, committed count 0) -> 1 for data, 0 for metadata. */
  readonly #reserved = new PageMap();
  /**
   * Free pages held back from allocation (bit set, count 0): freed data pages whose discard the
   * store has not issued yet (see PageStore#releaseBlocks). They count as free.
   */
  readonly #held = new Set<number>();
  /** Pages whose committed count is above zero. */
  #live = 0;
  /** Where the next data-page search starts (next fit: data is laid out in allocation order). */
  #cursor = 0;
  /** The run of pages a bulk load (loadCount) has not put into `#taken` yet: [start, end). */
  #loadStart = -1;
  #loadEnd = -1;
  /** User pages per region. */
  readonly #regionPages: number;
  /** Per region: pages taken for metadata (live or reserved). */
  #metaIn: Uint32Array;
  /** Per region: pages whose bit is set (live, reserved or held). */
  #takenIn: Uint32Array;
  /** Per region: REGION_META | REGION_ROOM | REGION_USED, mirrored in the three bitmaps below. */
  #flags: Uint8Array;
  /** Metadata regions (more metadata pages than others in them). */
  #metaRegions: HBitmap;
  /** Metadata regions with a free page. */
  #metaRoom: HBitmap;
  /** Regions with any page taken. */
  #usedRegions: HBitmap;

  /**
   * @param size - pages to track; all start free. O(size / 8) bytes.
   * @param regionPages - pages per allocation region (metadata and data apart); default: one region.
   */
  constructor(size: number, regionPages = MAX_PAGES) {
    this.#size = size;
    this.#taken = new HBitmap(size);
    this.#data = new Uint32Array(Math.ceil(size / 32));
    this.#regionPages = regionPages;
    const regions = Math.max(1, Math.ceil(size / regionPages));
    this.#metaIn = new Uint32Array(regions);
    this.#takenIn = new Uint32Array(regions);
    this.#flags = new Uint8Array(regions);
    this.#metaRegions = new HBitmap(regions);
    this.#metaRoom = new HBitmap(regions);
    this.#usedRegions = new HBitmap(regions);
  }

  /** User pages per allocation region. */
  get regionPages(): number {
    return this.#regionPages;
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
      const regions = Math.ceil(capacity / this.#regionPages);
      if (regions > this.#flags.length) {
        this.#metaIn = grown(this.#metaIn, regions);
        this.#takenIn = grown(this.#takenIn, regions);
        const flags = new Uint8Array(regions);
        flags.set(this.#flags);
        this.#flags = flags;
        this.#metaRegions.truncate(regions);
        this.#metaRoom.truncate(regions);
        this.#usedRegions.truncate(regions);
      }
    }
    const before = this.#size;
    this.#size = size;
    if (this.#cursor >= size) this.#cursor = 0;
    // Only the regions at the old and the new end change how many of their pages lie inside.
    if (before > 0) this.#refresh(Math.floor((before - 1) / this.#regionPages));
    if (size > 0) this.#refresh(Math.floor((size - 1) / this.#regionPages));
  }

  /** The committed count of `page`. O(1). */
  count(page: number): number {
    if (!this.#taken.get(page) || this.#reserved.has(page)) return 0;
    if (this.#held.size > 0 && this.#held.has(page)) return 0;
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
   * Loading at open: marks `page` live with `count` (> 0) and its kind, like `setCount` on a fresh
   * map, but in bulk: pages given in increasing order go into the index as runs, and the regions'
   * flags wait for {@link SpaceMap.finishLoad}. Only on a map that nothing has reserved, held or set
   * yet, each page once. O(1) amortized (one hbitmap call per run of neighbours).
   */
  loadCount(page: number, count: number, data: boolean): void {
    if (page !== this.#loadEnd) {
      this.#flushLoadRun();
      this.#loadStart = page;
    }
    this.#loadEnd = page + 1;
    if (count > 1) this.#shared.set(page, count);
    const region = Math.floor(page / this.#regionPages);
    this.#takenIn[region]! += 1;
    if (data) this.#data[page >>> 5]! |= 1 << (page & 31);
    else this.#metaIn[region]! += 1;
    this.#live++;
  }

  /** Ends a bulk load ({@link SpaceMap.loadCount}): the last run, and every region's flags. */
  finishLoad(): void {
    this.#flushLoadRun();
    this.#loadEnd = -1;
    const regions = Math.ceil(this.#size / this.#regionPages);
    for (let region = 0; region < regions; region++) this.#refresh(region);
  }

  #flushLoadRun(): void {
    if (this.#loadEnd > this.#loadStart) this.#taken.set(this.#loadStart, this.#loadEnd - this.#loadStart);
    this.#loadStart = this.#loadEnd = -1;
  }

  /**
   * Sets the committed count and kind of `page` (used when loading and when a commit is applied).
   * O(levels).
   */
  setCount(page: number, count: number, data: boolean): void {
    const wasTaken = this.#taken.get(page);
    const reservedFor = this.#reserved.size > 0 ? this.#reserved.get(page) : undefined;
    const reserved = reservedFor === undefined ? undefined : reservedFor === 1;
    const held = this.#held.size > 0 && this.#held.has(page);
    // Live before: its bit set, and neither reserved nor held (both are free pages with a bit).
    const wasLive = wasTaken && reserved === undefined && !held;
    const wasMeta = reserved !== undefined ? !reserved : wasLive && !this.isData(page);
    this.#account(
      page,
      (count > 0 ? 1 : 0) - (wasTaken ? 1 : 0),
      (count > 0 && !data ? 1 : 0) - (wasMeta ? 1 : 0),
    );
    if (reserved !== undefined) this.#reserved.delete(page);
    if (held) this.#held.delete(page);
    const word = page >>> 5;
    const bit = 1 << (page & 31);
    if (count === 0) {
      if (wasTaken) this.#taken.reset(page, 1);
      if (this.#shared.size > 0) this.#shared.delete(page);
      this.#data[word]! &= ~bit;
    } else {
      if (!wasTaken) this.#taken.set(page, 1);
      if (count > 1) this.#shared.set(page, count);
      else if (this.#shared.size > 0) this.#shared.delete(page);
      if (data) this.#data[word]! |= bit;
      else this.#data[word]! &= ~bit;
    }
    this.#live += (count > 0 ? 1 : 0) - (wasLive ? 1 : 0);
  }

  /**
   * Takes a free page below `size` for the open transaction (its committed count stays 0 until the
   * commit is applied): for metadata, the first free page of the lowest metadata region with room,
   * else the first page of the lowest empty region; for data, the next free page from the cursor
   * outside metadata regions. Past those, with `mix` (or while the store is one region), any free
   * page: the lowest for metadata, the next from the cursor for data. O(levels) on a nearly full
   * map, thanks to the hbitmap's next-zero (plus one step per metadata region with room that a data
   * search passes).
   * @param data - a data page (else metadata).
   * @param mix - take a page in the other kind's regions when the kind's own have none.
   * @returns the page, or -1 if none is free (with `mix`), or none of the kind's own.
   */
  reserve(data: boolean, mix: boolean): number {
    const any = mix || this.#size <= this.#regionPages;
    const page = data ? this.#findData(any) : this.#findMeta(any);
    if (page < 0) return -1;
    this.#taken.set(page, 1);
    this.#reserved.set(page, data ? 1 : 0);
    this.#account(page, 1, data ? 0 : 1);
    if (data) this.#cursor = page + 1 < this.#size ? page + 1 : 0;
    return page;
  }

  /**
   * `reserve(true, mix)` for up to `max` pages at once: the page `reserve` would take, and the free
   * pages right after it in the same region (what as many calls of `reserve` would take, one by
   * one), appended to `out`. O(levels) plus O(1) per page.
   * @returns how many pages it took; 0 where `reserve` would return -1.
   */
  reserveDataRun(mix: boolean, max: number, out: number[]): number {
    const any = mix || this.#size <= this.#regionPages;
    const page = this.#findData(any);
    if (page < 0) return 0;
    const per = this.#regionPages;
    const region = Math.floor(page / per);
    const limit = Math.min(max, this.#size - page, (region + 1) * per - page);
    let n = 1;
    if (limit > 1) {
      const dirty = this.#taken.nextDirty(page + 1, limit - 1);
      n = dirty < 0 ? limit : dirty - page;
    }
    this.#taken.set(page, n);
    for (let p = page; p < page + n; p++) {
      this.#reserved.set(p, 1);
      out.push(p);
    }
    this.#takenIn[region]! += n;
    this.#refresh(region);
    this.#cursor = page + n < this.#size ? page + n : 0;
    return n;
  }

  #findData(any: boolean): number {
    const size = this.#size;
    const cursor = this.#cursor;
    const per = this.#regionPages;
    for (let pass = 0; pass < 2; pass++) {
      let at = pass === 0 ? cursor : 0;
      const end = pass === 0 ? size : cursor;
      while (at < end) {
        const page = this.#taken.nextZero(at, end - at);
        if (page < 0) break;
        const region = Math.floor(page / per);
        if ((this.#flags[region]! & REGION_META) === 0) return page;
        const next = this.#metaRegions.nextZero(region + 1);
        at = next < 0 ? end : next * per;
      }
    }
    if (!any) return -1;
    // Every free page lies in a metadata region: take one all the same.
    const page = this.#taken.nextZero(cursor, size - cursor);
    return page >= 0 || cursor === 0 ? page : this.#taken.nextZero(0, size);
  }

  #findMeta(any: boolean): number {
    const size = this.#size;
    const per = this.#regionPages;
    const room = this.#metaRoom.nextDirty(0);
    if (room >= 0) {
      const page = this.#taken.nextZero(room * per, Math.min(per, size - room * per));
      if (page >= 0) return page;
    }
    const empty = this.#usedRegions.nextZero(0);
    if (empty >= 0 && empty * per < size) return empty * per;
    // Every region holds data: the lowest free page.
    return any ? this.#taken.nextZero(0, size) : -1;
  }

  /**
   * Holds a free page back from allocation until {@link SpaceMap.unhold}; it still counts as free.
   * O(levels). A page that is not free is left alone.
   */
  hold(page: number): void {
    if (this.#taken.get(page)) return;
    this.#taken.set(page, 1);
    this.#held.add(page);
    this.#account(page, 1, 0);
  }

  /** Makes a held page allocatable again. O(levels). */
  unhold(page: number): void {
    if (!this.#held.delete(page)) return;
    this.#taken.reset(page, 1);
    this.#account(page, -1, 0);
  }

  /** Pages held back from allocation. */
  get held(): number {
    return this.#held.size;
  }

  /** Whether the pages `[start, start + count)` are all free, unreserved and not held. O(levels). */
  allFree(start: number, count: number): boolean {
    return start + count <= this.#size && this.#taken.nextDirty(start, count) < 0;
  }

  /** Gives back a page reserved by a transaction that aborted (or freed it again). */
  release(page: number): void {
    const data = this.#reserved.get(page);
    if (data === undefined) return;
    this.#reserved.delete(page);
    this.#taken.reset(page, 1);
    this.#account(page, -1, data === 1 ? 0 : -1);
  }

  /** Counts a change of `page`'s bit (`taken`) and of its being metadata (`meta`) in its region. */
  #account(page: number, taken: number, meta: number): void {
    if (taken === 0 && meta === 0) return;
    const region = Math.floor(page / this.#regionPages);
    this.#takenIn[region]! += taken;
    this.#metaIn[region]! += meta;
    this.#refresh(region);
  }

  /** Brings a region's flags (and the region bitmaps) in line with its counters. O(levels). */
  #refresh(region: number): void {
    const per = this.#regionPages;
    const inside = Math.min(per, this.#size - region * per);
    const taken = this.#takenIn[region]!;
    // A metadata region: more metadata pages than others. (Not "any": a store written before this
    // policy has a metadata page in nearly every region, and its data must still find their room.)
    const meta = this.#metaIn[region]! * 2 > taken;
    const flags =
      (meta ? REGION_META : 0) | (meta && taken < inside ? REGION_ROOM : 0) | (taken > 0 ? REGION_USED : 0);
    const changed = flags ^ this.#flags[region]!;
    if (changed === 0) return;
    this.#flags[region] = flags;
    if (changed & REGION_META) flip(this.#metaRegions, region, (flags & REGION_META) !== 0);
    if (changed & REGION_ROOM) flip(this.#metaRoom, region, (flags & REGION_ROOM) !== 0);
    if (changed & REGION_USED) flip(this.#usedRegions, region, (flags & REGION_USED) !== 0);
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
      const held = this.#held.has(page);
      if (reserved && !bit) return `page ${page} is reserved but its bit is clear`;
      if (held && !bit) return `page ${page} is held but its bit is clear`;
      if (held && (reserved || this.#shared.has(page) || this.isData(page)))
        return `page ${page} is held but in use`;
      if (bit && !reserved && !held) live++;
      if (!bit && this.#shared.has(page)) return `page ${page} has a shared count but is free`;
      if (!bit && this.isData(page)) return `page ${page} is marked as data but is free`;
    }
    for (let page = this.#size; page < this.#taken.size; page++) {
      if (this.#taken.get(page) || this.isData(page))
        return `page ${page} is set past the size ${this.#size}`;
    }
    if (live !== this.#live) return `live count ${this.#live} but ${live} pages are taken`;
    // The region counters and bits, recounted.
    const per = this.#regionPages;
    for (let region = 0; region * per < this.#size; region++) {
      let taken = 0;
      let meta = 0;
      const end = Math.min(this.#size, (region + 1) * per);
      for (let page = region * per; page < end; page++) {
        if (!this.#taken.get(page)) continue;
        taken++;
        const reserved = this.#reserved.get(page);
        if (reserved !== undefined ? reserved === 0 : !this.#held.has(page) && !this.isData(page)) meta++;
      }
      if (taken !== this.#takenIn[region] || meta !== this.#metaIn[region])
        return `region ${region}: counted ${taken} taken / ${meta} metadata pages, recorded ${this.#takenIn[region]} / ${this.#metaIn[region]}`;
      const flags = this.#flags[region]!;
      if (
        this.#metaRegions.get(region) !== ((flags & REGION_META) !== 0) ||
        this.#metaRoom.get(region) !== ((flags & REGION_ROOM) !== 0) ||
        this.#usedRegions.get(region) !== ((flags & REGION_USED) !== 0) ||
        ((flags & REGION_META) !== 0) !== meta * 2 > taken ||
        ((flags & REGION_USED) !== 0) !== taken > 0 ||
        ((flags & REGION_ROOM) !== 0) !== (meta * 2 > taken && taken < end - region * per)
      )
        return `region ${region}: flags ${flags} do not match its pages`;
    }
    return undefined;
  }
}

const REGION_META = 1;
const REGION_ROOM = 2;
const REGION_USED = 4;

function flip(bitmap: HBitmap, item: number, on: boolean): void {
  if (on) bitmap.set(item, 1);
  else bitmap.reset(item, 1);
}

function grown(array: Uint32Array, length: number): Uint32Array {
  const out = new Uint32Array(length);
  out.set(array);
  return out;
}
