// The page layer's geometry: where the superblocks, the journal and each group of (space-map page,
// user pages) lie for a page size, journal size and maximum page count; how far a store grows in
// one step; and the checks of the options that decide it. Pure functions of (pageSize, journalPages,
// maxPageCount), shared by PageStore, the superblock code and recovery.

import {
  DATA_LIST_ENTRY_SIZE,
  HEADER_SIZE,
  SPACE_MAP_ENTRY_SIZE,
  SUPERBLOCK_SIZE,
} from './_internal-page-format';
import { corrupt } from './errors';

export const MIN_PAGE_SIZE = 512;
export const MAX_PAGE_SIZE = 65536;
export const DEFAULT_PAGE_SIZE = 4096;
export const DEFAULT_CACHE_PAGES = 256;
export const MIN_JOURNAL_PAGES = 8;
export const DEFAULT_JOURNAL_PAGES = 1024;
/** Initial user pages on an empty storage without `pageCount`. */
export const DEFAULT_INITIAL_PAGES = 16;
/** Smallest growth step, in pages. */
export const MIN_GROWTH_PAGES = 8;
/** Largest growth step: this many space-map groups ... */
export const MAX_GROWTH_GROUPS = 256;
/** ... or this many bytes, whichever is less (but at least one group). */
export const MAX_GROWTH_BYTES = 2 ** 30;
export const MAX_TOTAL_PAGES = 0xffffffff;
/** Pages read or written per batch at open, create and checkpoint. */
export const BATCH_PAGES = 64;

// Superblock payload fields (offsets from the end of the header; the page count, at 16, is part of
// the state, as in a commit page).
export const SB_PAGE_SIZE = 0;
export const SB_JOURNAL_PAGES = 4;
export const SB_MAX_PAGE_COUNT = 8;
export const SB_ENTRIES_PER_GROUP = 12;
export const SB_SEQ = 24;
export const SB_TAIL = 32;
// Commit payload fields.
export const CM_RECORDS = 0;
export const CM_CHAIN = 4;
export const CM_START = 8;

/** Where everything lives; derived from (pageSize, journalPages, maxPageCount). */
export interface Layout {
  readonly pageSize: number;
  /** The first journal page: the superblocks take the first 1024 bytes. */
  readonly journalStart: number;
  readonly journalPages: number;
  /** The first page of group 0 (its space-map page). */
  readonly groupStart: number;
  /** User pages per group: the entries of one space-map page, E = (pageSize - 32) / 8. */
  readonly entriesPerGroup: number;
  readonly entriesPerDataList: number;
  readonly maxPageCount: number;
}

export function baseLayout(pageSize: number, journalPages: number): Layout {
  const payload = pageSize - HEADER_SIZE;
  const journalStart = Math.ceil((2 * SUPERBLOCK_SIZE) / pageSize);
  return {
    pageSize,
    journalStart,
    journalPages,
    groupStart: journalStart + journalPages,
    entriesPerGroup: Math.floor(payload / SPACE_MAP_ENTRY_SIZE),
    entriesPerDataList: Math.floor((payload - 4) / DATA_LIST_ENTRY_SIZE),
    maxPageCount: 0,
  };
}

/** Bytes of user pages an allocation region spans, about (metadata and data apart: SpaceMap). */
export const REGION_BYTES = 2 ** 21;

/**
 * User pages per allocation region: 2 MiB of pages, rounded down to whole space-map groups when
 * that is at least one group (one group of 508 pages with 4 KiB pages; 4,080 pages, 68 groups, with
 * 512-byte pages; 32 pages, inside a group, with 64 KiB pages).
 */
export function regionPagesFor(layout: Layout): number {
  const pages = Math.max(1, Math.floor(REGION_BYTES / layout.pageSize));
  const entries = layout.entriesPerGroup;
  return pages >= entries ? pages - (pages % entries) : pages;
}

/** Groups (space-map pages) that `pageCount` user pages need. */
export function groupsFor(layout: Layout, pageCount: number): number {
  return Math.ceil(pageCount / layout.entriesPerGroup);
}

/** Pages of storage a store of `pageCount` user pages spans. */
export function totalPagesFor(layout: Layout, pageCount: number): number {
  return layout.groupStart + groupsFor(layout, pageCount) + pageCount;
}

/** The physical page of a user page. */
export function userPhysical(layout: Layout, user: number): number {
  const group = Math.floor(user / layout.entriesPerGroup);
  return layout.groupStart + group * (layout.entriesPerGroup + 1) + 1 + (user % layout.entriesPerGroup);
}

/** The physical page of a group's space-map page. */
export function spaceMapPhysical(layout: Layout, group: number): number {
  return layout.groupStart + group * (layout.entriesPerGroup + 1);
}

/** The user page at a physical page, or -1 (a superblock, journal or space-map page). */
export function userOf(layout: Layout, physical: number): number {
  if (physical < layout.groupStart) return -1;
  const entries = layout.entriesPerGroup;
  const at = (physical - layout.groupStart) % (entries + 1);
  return at === 0 ? -1 : Math.floor((physical - layout.groupStart) / (entries + 1)) * entries + at - 1;
}

/** The group whose space-map page is at a physical page, or -1. */
export function groupOf(layout: Layout, physical: number): number {
  if (physical < layout.groupStart) return -1;
  const stride = layout.entriesPerGroup + 1;
  return (physical - layout.groupStart) % stride === 0 ? (physical - layout.groupStart) / stride : -1;
}

/** The largest page count whose pages all fit in `totalPages` pages of storage (0 if none). */
export function largestPageCount(layout: Layout, totalPages: number): number {
  const entries = layout.entriesPerGroup;
  const room = totalPages - layout.groupStart;
  if (room < 2) return 0;
  let count = Math.floor((room * entries) / (entries + 1));
  while (count > 0 && totalPagesFor(layout, count) > totalPages) count--;
  while (totalPagesFor(layout, count + 1) <= totalPages) count++;
  return count;
}

/** The layout with its maximum page count; `undefined` if that maximum is impossible. */
export function layoutFor(pageSize: number, journalPages: number, maxPageCount?: number): Layout | undefined {
  const base = baseLayout(pageSize, journalPages);
  const limit = largestPageCount(base, MAX_TOTAL_PAGES);
  const max = maxPageCount ?? limit;
  if (limit < 1 || max < 1 || max > limit) return undefined;
  return { ...base, maxPageCount: max };
}

/**
 * The page count to grow to from `pageCount` when no page is free: doubling (at least
 * MIN_GROWTH_PAGES more), by at most MAX_GROWTH_GROUPS groups or MAX_GROWTH_BYTES (but at least one
 * group) per step, never past the maximum. `undefined` at the maximum.
 */
export function nextGrowth(layout: Layout, pageCount: number): number | undefined {
  if (pageCount >= layout.maxPageCount) return undefined;
  const entries = layout.entriesPerGroup;
  const maxStep = Math.max(
    entries,
    Math.min(MAX_GROWTH_GROUPS * entries, Math.floor(MAX_GROWTH_BYTES / layout.pageSize)),
  );
  const step = Math.min(Math.max(pageCount, MIN_GROWTH_PAGES), maxStep);
  return Math.min(layout.maxPageCount, pageCount + step);
}

/**
 * The page count to grow to for metadata when its regions are full but other pages are free: the
 * end of one more whole region past the current count (a small growth, not a doubling), or
 * `undefined` at the maximum.
 */
export function regionGrowth(layout: Layout, pageCount: number): number | undefined {
  const per = regionPagesFor(layout);
  const target = Math.min(layout.maxPageCount, (Math.ceil(pageCount / per) + 1) * per);
  return target > pageCount ? target : undefined;
}

/** Refuses a storage too short for a store of `pageCount` pages. */
export function checkSize(layout: Layout, size: number, pageCount: number): void {
  const totalPages = totalPagesFor(layout, pageCount);
  if (size < totalPages * layout.pageSize) {
    throw corrupt(
      `storage is truncated: ${size} bytes, the store spans ${totalPages} pages of ${layout.pageSize}`,
    );
  }
}

/** A human-readable name of a physical page, for error messages. */
export function describePage(layout: Layout, physical: number): string {
  const group = groupOf(layout, physical);
  if (group >= 0) return `space-map page ${group}`;
  const user = userOf(layout, physical);
  if (user >= 0) return `page ${user}`;
  if (physical >= layout.journalStart) return `journal slot ${physical - layout.journalStart}`;
  return `superblock page ${physical}`;
}

export function checkInteger(
  value: unknown,
  what: string,
  min: number,
  max: number,
): asserts value is number {
  if (typeof value !== 'number') throw new TypeError(`page store: ${what} must be a number`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`page store: ${what} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

export function checkPageSize(pageSize: unknown): asserts pageSize is number {
  checkInteger(pageSize, 'pageSize', MIN_PAGE_SIZE, MAX_PAGE_SIZE);
  if ((pageSize & (pageSize - 1)) !== 0) {
    throw new RangeError(`page store: pageSize must be a power of two, got ${pageSize}`);
  }
}

export function checkCachePages(cachePages: unknown): number {
  if (cachePages === undefined) return DEFAULT_CACHE_PAGES;
  checkInteger(cachePages, 'cachePages', 2, 2 ** 30);
  return cachePages;
}
