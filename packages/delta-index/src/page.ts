// The immutable form of the delta index: a chapter index page. uds_pack_delta_index_page copies a
// run of lists from a mutable index onto a page behind a 20-byte header and a table of 19-bit list
// offsets; uds_initialize_delta_index_page validates such a page (little-endian header first, then
// the big-endian form old hosts wrote) and makes it searchable in place with the same cursor.

import { GUARD_BITS, getField, moveBits, POST_FIELD_GUARD_BYTES, setField } from '@deja/bitfield';
import { DeltaZone, MAX_LIST_BITS } from './_zone';
import {
  computeCodingConstants,
  IMMUTABLE_HEADER_SIZE,
  MAX_MEAN_DELTA,
  MAX_PAYLOAD_BITS,
  PAGE_HEADER_BYTES,
} from './coding';
import type { DeltaIndex } from './delta-index';
import { DeltaIndexEntry } from './entry';
import { checkInteger, checkListAndKey, DeltaIndexError, invalidArgument } from './errors';
import { toU64 } from './u64';

/** The largest page: list offsets are 19-bit fields, so every bit of the page must be below 2^19. */
export const MAX_PAGE_BYTES = 1 << 16;

/** The bit where the offset of list `i` is stored (get_immutable_header_offset). */
function immutableHeaderOffset(listNumber: number): number {
  return PAGE_HEADER_BYTES * 8 + listNumber * IMMUTABLE_HEADER_SIZE;
}

/** The page bit where list `i` starts (get_immutable_start). */
function immutableStart(memory: Uint8Array, listNumber: number): number {
  return getField(memory, immutableHeaderOffset(listNumber), IMMUTABLE_HEADER_SIZE);
}

/**
 * Pack lists `firstList, firstList + 1, …` of a mutable index onto an immutable page, as many whole
 * lists as fit (uds_pack_delta_index_page). Each list costs a 19-bit offset plus its bits; the page
 * also holds the 20-byte header, one more offset and 7 guard bytes of 0xFF at its end. The page is
 * zero-filled first, so the bytes after the last list are zero (the seed leaves them as they were).
 * O(page bytes).
 *
 * @param index - the mutable index
 * @param nonce - the nonce written into the header (u64)
 * @param memory - the page buffer, at most 64 KiB; its length is the page size
 * @param virtualChapterNumber - written into the header (u64)
 * @param firstList - the first list to pack, in [0, min(listCount, 65535)]
 * @returns the number of lists packed (0 when the first one does not fit)
 * @throws RangeError (ERR_INVALID_ARGUMENT) for an argument out of range;
 *   DeltaIndexError ERR_OVERFLOW when the page is too small to hold any list
 */
export function packDeltaIndexPage(
  index: DeltaIndex,
  nonce: bigint | number,
  memory: Uint8Array,
  virtualChapterNumber: bigint | number,
  firstList: number,
): number {
  if (!(memory instanceof Uint8Array)) throw new TypeError('memory must be a Uint8Array');
  if (memory.length > MAX_PAGE_BYTES) {
    throw invalidArgument(`a page holds at most ${MAX_PAGE_BYTES} bytes, got ${memory.length}`);
  }
  const headerNonce = toU64('nonce', nonce);
  const chapter = toU64('virtualChapterNumber', virtualChapterNumber);
  checkInteger('firstList', firstList, 0, Math.min(index.listCount, 0xffff));
  let freeBits = memory.length * 8 - immutableHeaderOffset(1) - GUARD_BITS;
  if (freeBits < IMMUTABLE_HEADER_SIZE) {
    throw new DeltaIndexError('ERR_OVERFLOW', `a chapter index page of ${memory.length} bytes is too small`);
  }
  const zones = index._zones;
  const perZone = index.listsPerZone;
  const maxLists = Math.min(index.listCount - firstList, 0xffff);
  let count = 0;
  while (count < maxLists) {
    const list = firstList + count;
    const zone = zones[Math.floor(list / perZone)]!;
    const bits = IMMUTABLE_HEADER_SIZE + zone.listSize(list - zone.firstList + 1);
    if (bits > freeBits) break;
    count++;
    freeBits -= bits;
  }

  memory.fill(0);
  const view = new DataView(memory.buffer, memory.byteOffset, memory.byteLength);
  view.setBigUint64(0, headerNonce, true);
  view.setBigUint64(8, chapter, true);
  view.setUint16(16, firstList, true);
  view.setUint16(18, count, true);
  let offset = immutableHeaderOffset(count + 1);
  setField(offset, memory, immutableHeaderOffset(0), IMMUTABLE_HEADER_SIZE);
  // Lists that lie back to back in their zone (as fillDeltaIndex writes them) move as one run: one
  // moveBits per run, a native memmove when the run has the page's bit phase.
  let runZone: DeltaZone | null = null;
  let runStart = 0;
  let runEnd = 0;
  let runTo = offset;
  for (let i = 0; i < count; i++) {
    const list = firstList + i;
    const zone = zones[Math.floor(list / perZone)]!;
    const slot = list - zone.firstList + 1;
    const size = zone.listSize(slot);
    const start = zone.listStart(slot);
    if (zone !== runZone || start !== runEnd) {
      if (runZone !== null) moveBits(runZone.memory, runStart, memory, runTo, runEnd - runStart);
      runZone = zone;
      runStart = start;
      runTo = offset;
    }
    runEnd = start + size;
    offset += size;
    setField(offset, memory, immutableHeaderOffset(i + 1), IMMUTABLE_HEADER_SIZE);
  }
  if (runZone !== null) moveBits(runZone.memory, runStart, memory, runTo, runEnd - runStart);
  memory.fill(0xff, memory.length - POST_FIELD_GUARD_BYTES);
  return count;
}

/** The checks of verify_delta_index_page, plus: no list longer than 65535 bits. */
function verifyPage(nonce: bigint, listCount: number, expectedNonce: bigint, memory: Uint8Array): boolean {
  if (nonce !== expectedNonce) return false;
  const size = memory.length;
  if (listCount > Math.floor(((size - PAGE_HEADER_BYTES) * 8) / IMMUTABLE_HEADER_SIZE)) return false;
  if (immutableStart(memory, 0) !== immutableHeaderOffset(listCount + 1)) return false;
  let previous = immutableStart(memory, 0);
  for (let i = 1; i <= listCount; i++) {
    const start = immutableStart(memory, i);
    if (start < previous || start - previous > MAX_LIST_BITS) return false;
    previous = start;
  }
  if (previous > (size - POST_FIELD_GUARD_BYTES) * 8) return false;
  for (let i = size - POST_FIELD_GUARD_BYTES; i < size; i++) {
    if (memory[i] !== 0xff) return false;
  }
  return true;
}

/**
 * An immutable delta index page (the seed's struct delta_index_page): a validated view of a packed
 * page, searchable in place. The page bytes are not copied; do not change them while the page is in
 * use (a change can make searches fail with ERR_CORRUPT_DATA, never loop or read out of bounds).
 * List numbers passed to its methods are relative to the page: 0 is {@link lowestListNumber}.
 */
export class DeltaIndexPage {
  /** @internal */ readonly _zone: DeltaZone;
  /** The page bytes. */
  readonly memory: Uint8Array;
  /** The nonce from the header. */
  readonly nonce: bigint;
  /** The virtual chapter number from the header. */
  readonly virtualChapterNumber: bigint;
  /** The index-wide number of the first list on the page. */
  readonly lowestListNumber: number;
  /** The index-wide number of the last list on the page (lowest − 1 for a page with no list). */
  readonly highestListNumber: number;
  /** The number of lists on the page. */
  readonly listCount: number;
  /** True when the header was accepted in its big-endian form. */
  readonly bigEndianHeader: boolean;
  /** @internal */ readonly _scratch = new DeltaIndexEntry();

  private constructor(
    memory: Uint8Array,
    nonce: bigint,
    chapter: bigint,
    firstList: number,
    listCount: number,
    bigEndian: boolean,
    meanDelta: number,
    payloadBits: number,
  ) {
    const { minBits, minKeys, incrKeys } = computeCodingConstants(meanDelta);
    this.memory = memory;
    this.nonce = nonce;
    this.virtualChapterNumber = chapter;
    this.lowestListNumber = firstList;
    this.highestListNumber = firstList + listCount - 1;
    this.listCount = listCount;
    this.bigEndianHeader = bigEndian;
    const zone = new DeltaZone(memory, 0, listCount, minBits, minKeys, incrKeys, payloadBits, false);
    for (let i = 0; i < listCount; i++) {
      const start = immutableStart(memory, i);
      zone.setListStart(i + 1, start);
      zone.setListSize(i + 1, immutableStart(memory, i + 1) - start);
    }
    this._zone = zone;
  }

  /**
   * Validate a packed page and open it for searching (uds_initialize_delta_index_page). The header is
   * read little-endian, then big-endian; the page is accepted if either form carries the expected
   * nonce and a consistent offset table (first offset right after the table, offsets never
   * decreasing, no list over 65535 bits, the last one before the 7 guard bytes, which are all 0xFF).
   * O(lists).
   *
   * @param memory - the page bytes (the page size is its length, at least 27)
   * @param expectedNonce - the nonce the page must carry (u64)
   * @param meanDelta - the mean delta of the index the page was packed from
   * @param payloadBits - the payload width of that index
   * @returns the page
   * @throws RangeError (ERR_INVALID_ARGUMENT) for an argument out of range;
   *   DeltaIndexError ERR_CORRUPT_DATA when neither header form validates
   */
  static open(
    memory: Uint8Array,
    expectedNonce: bigint | number,
    meanDelta: number,
    payloadBits: number,
  ): DeltaIndexPage {
    if (!(memory instanceof Uint8Array)) throw new TypeError('memory must be a Uint8Array');
    if (memory.length < PAGE_HEADER_BYTES + POST_FIELD_GUARD_BYTES) {
      throw invalidArgument(`a page needs at least 27 bytes, got ${memory.length}`);
    }
    const expected = toU64('expectedNonce', expectedNonce);
    checkInteger('meanDelta', meanDelta, 1, MAX_MEAN_DELTA);
    checkInteger('payloadBits', payloadBits, 0, MAX_PAYLOAD_BITS);
    const view = new DataView(memory.buffer, memory.byteOffset, memory.byteLength);
    for (const littleEndian of [true, false]) {
      const nonce = view.getBigUint64(0, littleEndian);
      const listCount = view.getUint16(18, littleEndian);
      if (verifyPage(nonce, listCount, expected, memory)) {
        return new DeltaIndexPage(
          memory,
          nonce,
          view.getBigUint64(8, littleEndian),
          view.getUint16(16, littleEndian),
          listCount,
          !littleEndian,
          meanDelta,
          payloadBits,
        );
      }
    }
    throw new DeltaIndexError('ERR_CORRUPT_DATA', 'delta index page failed validation (nonce or offsets)');
  }

  /**
   * The bit size of one list on the page. O(1).
   * @param listNumber - the list, relative to the page
   * @throws RangeError (ERR_INVALID_ARGUMENT) for a list out of range
   */
  listBits(listNumber: number): number {
    checkInteger('listNumber', listNumber, 0, this.listCount - 1);
    return this._zone.listSize(listNumber + 1);
  }

  /**
   * Prepare a cursor to walk a list of the page (uds_start_delta_index_search); see
   * `DeltaIndex.startSearch`. Pages never remember search positions. O(1).
   * @param listNumber - the list, relative to the page, in [0, listCount)
   * @param key - the key about to be looked for
   * @param entry - a cursor to reuse
   * @returns the cursor
   * @throws RangeError (ERR_INVALID_ARGUMENT) for a list or key out of range
   */
  startSearch(
    listNumber: number,
    key: number,
    entry: DeltaIndexEntry = new DeltaIndexEntry(),
  ): DeltaIndexEntry {
    checkListAndKey(listNumber, key, this.listCount);
    entry._start(this._zone, listNumber, key);
    return entry;
  }

  /**
   * Find `key` in a list of the page, resolving collisions by `name` (uds_get_delta_index_entry);
   * see `DeltaIndex.getEntry`. O(entries before the key).
   * @param listNumber - the list, relative to the page
   * @param key - the key
   * @param name - a 16-byte record name, or null
   * @param entry - a cursor to reuse
   * @returns the cursor: found when `!atEnd && key === entry.key`
   * @throws RangeError (ERR_INVALID_ARGUMENT) for a list or key out of range;
   *   DeltaIndexError ERR_CORRUPT_DATA for a list that cannot be decoded
   */
  getEntry(
    listNumber: number,
    key: number,
    name: Uint8Array | null = null,
    entry: DeltaIndexEntry = new DeltaIndexEntry(),
  ): DeltaIndexEntry {
    checkListAndKey(listNumber, key, this.listCount);
    return entry._find(this._zone, listNumber, key, name);
  }

  /**
   * The value for `key` in a list of the page, or undefined; see `DeltaIndex.get`. Allocation-free.
   * @throws as {@link getEntry}
   */
  get(listNumber: number, key: number, name: Uint8Array | null = null): number | undefined {
    checkListAndKey(listNumber, key, this.listCount);
    const value = this._scratch._lookup(this._zone, listNumber, key, name);
    return value < 0 ? undefined : value;
  }
}
