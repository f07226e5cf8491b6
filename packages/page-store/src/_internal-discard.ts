// The ranges a commit gives back to the medium: the data pages it freed, coalesced into as few
// `Storage.discard` calls as the layout allows. A hole punch costs a file-system journal
// transaction (0.1 to 1 ms on ext4), so the count of calls is what a snapshot delete pays, not the
// bytes: neighbouring freed pages go in one call, and so do freed pages with a short gap of pages
// that are free anyway between them (discarding a free page changes nothing anyone can read: no
// committed state names it, and a later transaction that takes it writes it after the discard, in
// call order). A range never crosses a space-map page, so it stops at the end of a group.

import { type Layout, userPhysical } from './_internal-layout';

/** Longest run of free pages a range may bridge between two freed pages (256 KiB of 4 KiB pages). */
export const MAX_DISCARD_GAP = 64;

/**
 * Discards a store keeps running at once: enough to keep a few of the thread pool's workers busy
 * punching holes (on ext4 they mostly wait for each other's inode lock), few enough that the
 * storage's ordering of later operations stays cheap and a flush is not queued behind many.
 */
export const DISCARDS_IN_FLIGHT = 4;

/** One discard: `pages` pages from user page `user` (at physical page `physical`) on. */
export interface DiscardRange {
  readonly user: number;
  readonly physical: number;
  readonly pages: number;
}

/**
 * Coalesces freed user pages into physical ranges. O(n log n) for n pages, plus one `free` call per
 * gap considered.
 * @param layout - the store's geometry.
 * @param freed - user pages freed (any order, no repeats).
 * @param free - whether the user pages `[start, start + count)` are all free (bridgeable).
 * @returns ranges in increasing order, each inside one group.
 */
export function discardRanges(
  layout: Layout,
  freed: readonly number[],
  free: (start: number, count: number) => boolean,
): DiscardRange[] {
  const sorted = Float64Array.from(freed).sort();
  const ranges: DiscardRange[] = [];
  const entries = layout.entriesPerGroup;
  let start = -1;
  let end = -1; // user pages [start, end) form the current range
  const close = (): void => {
    if (start >= 0) ranges.push({ user: start, physical: userPhysical(layout, start), pages: end - start });
  };
  for (const user of sorted) {
    const sameGroup = start >= 0 && Math.floor(user / entries) === Math.floor(start / entries);
    const gap = user - end;
    if (sameGroup && (gap === 0 || (gap <= MAX_DISCARD_GAP && free(end, gap)))) {
      end = user + 1;
      continue;
    }
    close();
    start = user;
    end = user + 1;
  }
  close();
  return ranges;
}
