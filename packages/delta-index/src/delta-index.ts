// The mutable delta index (the seed's struct delta_index created by uds_initialize_delta_index): a
// set of zones, each owning a contiguous run of delta lists in one block of memory. Used for the
// volume index and for the open chapter index; search, put, remove and set-value go through the
// cursor in entry.ts, packing to immutable pages through page.ts, saving and restoring through save.ts.

import { POST_FIELD_GUARD_BYTES } from '@deja/bitfield';
import { DeltaZone, LIST_HEADER_BYTES, ZONE_STRUCT_BYTES } from './_zone';
import {
  type CodingConstants,
  computeCodingConstants,
  getZoneMemorySize,
  MAX_MEAN_DELTA,
  MAX_PAYLOAD_BITS,
} from './coding';
import { DeltaIndexEntry } from './entry';
import { checkInteger, checkListAndKey, invalidArgument } from './errors';
import { packDeltaIndexPage } from './page';
import { type RestoreOptions, restoreDeltaIndex, saveDeltaIndexZone, writeGuardDeltaList } from './save';

/** The most zones an index may have (the seed's MAX_ZONES). */
export const MAX_ZONES = 16;

/** How to build a {@link DeltaIndex} (the arguments of uds_initialize_delta_index). */
export interface DeltaIndexOptions {
  /** Independent zones, each with its own memory and lists (1..16, default 1). */
  zoneCount?: number;
  /** The number of delta lists, at least one per zone. */
  listCount: number;
  /** The expected mean delta between keys when the index is full (1..{@link MAX_MEAN_DELTA}). */
  meanDelta: number;
  /** The payload (value) width in bits (0..25). */
  payloadBits: number;
  /**
   * The list memory in bytes for all zones. Each zone gets `memorySize / zoneCount` rounded up to a
   * multiple of 64 KiB, as in the seed, unless {@link exactZoneMemory} is set.
   */
  memorySize: number;
  /** A byte identifying this index in save streams (a number or a one-character string, default 'm'). */
  tag?: number | string;
  /**
   * Give each zone exactly `floor(memorySize / zoneCount)` bytes (at least 8) instead of rounding up
   * to 64 KiB: for tests and small embedded indexes. Not a seed option.
   */
  exactZoneMemory?: boolean;
}

/** Statistics of an index (the seed's struct delta_index_stats, plus the bits in use). */
export interface DeltaIndexStats {
  /** Bytes allocated, counted as the seed counts them (zone structs, list memory, list headers). */
  memoryAllocated: number;
  /** Nanoseconds spent rebalancing. */
  rebalanceTime: number;
  /** Number of rebalances. */
  rebalanceCount: number;
  /** Entries in the index, collision entries included. */
  recordCount: number;
  /** Collision entries in the index. */
  collisionCount: number;
  /** Entries removed, by remove() or by reset(). */
  discardCount: number;
  /** Puts that failed because a list would exceed 65535 bits. */
  overflowCount: number;
  /** The number of delta lists. */
  listCount: number;
  /** Bits used by the lists (not counting guard lists or free space). Not in the seed. */
  usedBits: number;
}

/** The statistics of one zone. */
function zoneStats(zone: DeltaZone, memoryAllocated: number): DeltaIndexStats {
  return {
    memoryAllocated,
    rebalanceTime: zone.rebalanceTime,
    rebalanceCount: zone.rebalanceCount,
    recordCount: zone.recordCount,
    collisionCount: zone.collisionCount,
    discardCount: zone.discardCount,
    overflowCount: zone.overflowCount,
    listCount: zone.listCount,
    usedBits: zone.usedBits(),
  };
}

/**
 * Zeroed list memory whose pages are already mapped. A fresh ArrayBuffer is zero pages the kernel
 * maps on first write; the first insert into each 4 KiB page would then take a page fault (a CPU
 * profile of 1M posts into the 0.25 GB dedup index spent about a third of its time there). The
 * seed's memory is zeroed when it is allocated (uds_allocate), so it pays this once, up front, as
 * this does by writing one byte per page. O(bytes / 4096).
 */
function touchedMemory(bytes: number): Uint8Array {
  const memory = new Uint8Array(bytes);
  for (let at = 0; at < bytes; at += 4096) memory[at] = 0;
  return memory;
}

/** Convert a tag option to its byte. */
function tagByte(tag: number | string | undefined): number {
  if (tag === undefined) return 0x6d;
  if (typeof tag === 'string') {
    if (tag.length !== 1 || tag.charCodeAt(0) > 0xff)
      throw invalidArgument('tag must be one Latin-1 character');
    return tag.charCodeAt(0);
  }
  checkInteger('tag', tag, 0, 0xff);
  return tag;
}

/**
 * A mutable delta index: `listCount` delta lists of (key, value) entries sorted by key, stored as
 * Huffman-coded key deltas in a few bits per entry, spread over `zoneCount` independent zones.
 *
 * @example
 * ```ts
 * const index = new DeltaIndex({ listCount: 16, meanDelta: 4096, payloadBits: 10, memorySize: 1 << 16 });
 * const entry = index.getEntry(3, 12345);   // the insertion point for key 12345 in list 3
 * entry.put(12345, 678);
 * index.get(3, 12345);                      // 678
 * ```
 */
export class DeltaIndex {
  /** @internal The zones. */
  readonly _zones: DeltaZone[];
  /** The number of zones. */
  readonly zoneCount: number;
  /** The number of delta lists. */
  readonly listCount: number;
  /** Lists per zone (the last zone may have fewer). */
  readonly listsPerZone: number;
  /** The mean delta the code is built for. */
  readonly meanDelta: number;
  /** The payload width in bits. */
  readonly payloadBits: number;
  /** The Huffman code constants. */
  readonly coding: CodingConstants;
  /** The tag byte written into save streams. */
  readonly tag: number;
  /** Bytes allocated, as the seed counts them. */
  readonly memorySize: number;
  /** The list memory of each zone, in bytes. */
  readonly zoneMemorySize: number;
  /** @internal Cursor reused by get(). */
  readonly _scratch = new DeltaIndexEntry();

  /**
   * Allocate the zones and reset every list (uds_initialize_delta_index). O(memory + lists).
   * @throws RangeError (ERR_INVALID_ARGUMENT) for an out-of-range option, or when the last zone
   *   would get no list
   */
  constructor(options: DeltaIndexOptions) {
    const zoneCount = options.zoneCount ?? 1;
    checkInteger('zoneCount', zoneCount, 1, MAX_ZONES);
    checkInteger('listCount', options.listCount, 1, 0xffff_ffff);
    checkInteger('meanDelta', options.meanDelta, 1, MAX_MEAN_DELTA);
    checkInteger('payloadBits', options.payloadBits, 0, MAX_PAYLOAD_BITS);
    checkInteger('memorySize', options.memorySize, 1, Number.MAX_SAFE_INTEGER / 8);
    const listCount = options.listCount;
    this.zoneCount = zoneCount;
    this.listCount = listCount;
    this.listsPerZone = Math.ceil(listCount / zoneCount);
    this.meanDelta = options.meanDelta;
    this.payloadBits = options.payloadBits;
    this.coding = computeCodingConstants(options.meanDelta);
    this.tag = tagByte(options.tag);
    const zoneMemory = options.exactZoneMemory
      ? Math.floor(options.memorySize / zoneCount)
      : getZoneMemorySize(zoneCount, options.memorySize);
    if (zoneMemory < POST_FIELD_GUARD_BYTES + 1) {
      throw invalidArgument(`each zone needs at least 8 bytes, got ${zoneMemory}`);
    }
    if (listCount <= (zoneCount - 1) * this.listsPerZone) {
      throw invalidArgument(`${listCount} delta lists are not enough for ${zoneCount} zones`);
    }
    this.zoneMemorySize = zoneMemory;
    const { minBits, minKeys, incrKeys } = this.coding;
    this._zones = [];
    let memorySize = 0;
    for (let z = 0; z < zoneCount; z++) {
      const first = z * this.listsPerZone;
      const lists = z === zoneCount - 1 ? listCount - first : this.listsPerZone;
      this._zones.push(
        new DeltaZone(
          touchedMemory(zoneMemory),
          first,
          lists,
          minBits,
          minKeys,
          incrKeys,
          this.payloadBits,
          true,
        ),
      );
      memorySize += ZONE_STRUCT_BYTES + zoneMemory + (lists + 2) * LIST_HEADER_BYTES;
    }
    this.memorySize = memorySize;
    this.reset();
  }

  /** Empty every list (uds_reset_delta_index); counts the removed entries as discards. O(lists). */
  reset(): void {
    for (const zone of this._zones) zone.reset();
  }

  /**
   * The zone holding a list.
   * @param listNumber - a list number in [0, listCount)
   * @returns the zone number
   * @throws RangeError (ERR_INVALID_ARGUMENT) for a list out of range
   * O(1).
   */
  getZoneForList(listNumber: number): number {
    checkInteger('listNumber', listNumber, 0, this.listCount - 1);
    return Math.floor(listNumber / this.listsPerZone);
  }

  /**
   * The bit size of one list. O(1).
   * @throws RangeError (ERR_INVALID_ARGUMENT) for a list out of range
   */
  listBits(listNumber: number): number {
    const zone = this._zones[this.getZoneForList(listNumber)]!;
    return zone.listSize(listNumber - zone.firstList + 1);
  }

  /**
   * Prepare a cursor to walk list `listNumber` (uds_start_delta_index_search). The cursor holds no
   * entry until {@link DeltaIndexEntry.next} is called. When `key` is above the key remembered by
   * the last search of this list, the walk starts from there. O(1).
   *
   * @param listNumber - the list, in [0, listCount)
   * @param key - the key about to be looked for (0 walks the whole list)
   * @param entry - a cursor to reuse (a new one by default)
   * @returns the cursor
   * @throws RangeError (ERR_INVALID_ARGUMENT) for a list or key out of range
   */
  startSearch(
    listNumber: number,
    key: number,
    entry: DeltaIndexEntry = new DeltaIndexEntry(),
  ): DeltaIndexEntry {
    checkListAndKey(listNumber, key, this.listCount);
    const zone = this._zoneOf(listNumber);
    entry._start(zone, listNumber - zone.firstList, key);
    return entry;
  }

  /**
   * Find `key` in list `listNumber` (uds_get_delta_index_entry): the cursor stops on the first entry
   * whose key is >= `key`, or at the end. When the key matches and `name` is given, the collision
   * entries after the plain entry are searched for that name and the cursor stops on the matching
   * one; with no match it stays on the plain entry. The position is remembered for the next search.
   * O(entries before the key), allocation-free when `entry` is passed.
   *
   * @param listNumber - the list, in [0, listCount)
   * @param key - the key
   * @param name - a 16-byte record name to resolve collisions, or null
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
    const zone = this._zoneOf(listNumber);
    return entry._find(zone, listNumber - zone.firstList, key, name);
  }

  /**
   * The value stored for `key` in list `listNumber`, or undefined. With `name`, a collision entry for
   * that name wins over the plain entry, as in {@link getEntry}. Allocation-free.
   * @throws as {@link getEntry}
   */
  get(listNumber: number, key: number, name: Uint8Array | null = null): number | undefined {
    checkListAndKey(listNumber, key, this.listCount);
    const zone = this._zoneOf(listNumber);
    const value = this._scratch._lookup(zone, listNumber - zone.firstList, key, name);
    return value < 0 ? undefined : value;
  }

  /** @internal The zone of a list checked already: no division when there is one zone. */
  _zoneOf(listNumber: number): DeltaZone {
    const zones = this._zones;
    return zones.length === 1 ? zones[0]! : zones[Math.floor(listNumber / this.listsPerZone)]!;
  }

  /**
   * Read the headers and then the first bytes of `count` lists, in two tight passes, so that their
   * cache and TLB misses overlap instead of each stalling the search that needs it: JavaScript has
   * no prefetch instruction, and a run of independent loads is the nearest thing. For a caller
   * about to search these lists (a batch of requests). Nothing changes; list numbers are not
   * checked beyond what a typed-array read does. O(count).
   * @param lists - list numbers, in [0, listCount)
   * @param count - how many of `lists` to touch
   * @returns a number derived from what was read: fold it into something the caller keeps, so that
   *   the reads are not optimised away
   */
  prefetch(lists: Uint32Array, count: number): number {
    const perZone = this.listsPerZone;
    const zones = this._zones;
    let sink = 0;
    for (let i = 0; i < count; i++) {
      const list = lists[i]!;
      const zone = zones[Math.floor(list / perZone)]!;
      sink ^= zone.headers[4 * (list - zone.firstList + 1)]!;
    }
    for (let i = 0; i < count; i++) {
      const list = lists[i]!;
      const zone = zones[Math.floor(list / perZone)]!;
      const slot = 4 * (list - zone.firstList + 1);
      // The low word of the start is enough below 512 MiB of zone memory; a byte of the first
      // 512 MiB otherwise (a useless but harmless read).
      sink ^= zone.memory[(zone.headers[slot]! + (zone.headers[slot + 2]! >>> 16)) >>> 3]!;
    }
    return sink;
  }

  /** Statistics summed over the zones (uds_get_delta_index_stats). O(lists). */
  getStats(): DeltaIndexStats {
    const stats = zoneStats(this._zones[0]!, this.memorySize);
    for (let z = 1; z < this.zoneCount; z++) {
      const zone = zoneStats(this._zones[z]!, 0);
      stats.rebalanceTime += zone.rebalanceTime;
      stats.rebalanceCount += zone.rebalanceCount;
      stats.recordCount += zone.recordCount;
      stats.collisionCount += zone.collisionCount;
      stats.discardCount += zone.discardCount;
      stats.overflowCount += zone.overflowCount;
      stats.listCount += zone.listCount;
      stats.usedBits += zone.usedBits;
    }
    return stats;
  }

  /**
   * Statistics of one zone, for callers that fill zones independently (the volume index decides
   * early eviction per zone from `usedBits`). `memoryAllocated` is the zone's share, counted as the
   * seed counts it. O(lists of the zone).
   * @param zoneNumber - the zone, in [0, zoneCount)
   * @throws RangeError (ERR_INVALID_ARGUMENT) for a zone out of range
   */
  getZoneStats(zoneNumber: number): DeltaIndexStats {
    checkInteger('zoneNumber', zoneNumber, 0, this.zoneCount - 1);
    const zone = this._zones[zoneNumber]!;
    return zoneStats(zone, ZONE_STRUCT_BYTES + zone.size + (zone.listCount + 2) * LIST_HEADER_BYTES);
  }

  /**
   * Pack lists starting at `firstList` onto an immutable page (uds_pack_delta_index_page); see
   * {@link packDeltaIndexPage}. O(page bytes).
   * @param nonce - the nonce written into the header (u64)
   * @param memory - the page buffer (its length is the page size, at most 64 KiB); zero-filled first
   * @param virtualChapterNumber - written into the header (u64)
   * @param firstList - the first list to pack
   * @returns the number of whole lists packed
   * @throws RangeError (ERR_INVALID_ARGUMENT) for an argument out of range;
   *   DeltaIndexError ERR_OVERFLOW when the page is too small to hold any list
   */
  packPage(
    nonce: bigint | number,
    memory: Uint8Array,
    virtualChapterNumber: bigint | number,
    firstList: number,
  ): number {
    return packDeltaIndexPage(this, nonce, memory, virtualChapterNumber, firstList);
  }

  /**
   * Save one zone in the DI-00003 format, the seed's DI-00002 with the coding parameters
   * (uds_start_saving_delta_index and
   * uds_finish_saving_delta_index). Follow the streams with {@link writeGuardDeltaList} (or use
   * {@link save}). O(zone bytes).
   * @param zoneNumber - the zone, in [0, zoneCount)
   * @returns the stream
   * @throws RangeError (ERR_INVALID_ARGUMENT) for a zone out of range
   */
  saveZone(zoneNumber: number): Uint8Array {
    return saveDeltaIndexZone(this, zoneNumber);
  }

  /**
   * Save every zone, each stream closed by the guard record, ready for {@link restore}. O(memory).
   * @returns one stream per zone
   */
  save(): Uint8Array[] {
    const guard = writeGuardDeltaList();
    return this._zones.map((_, z) => {
      const stream = saveDeltaIndexZone(this, z);
      const out = new Uint8Array(stream.length + guard.length);
      out.set(stream);
      out.set(guard, stream.length);
      return out;
    });
  }

  /**
   * Replace the contents with saved streams; see {@link restoreDeltaIndex}. The saved index may have
   * had another zone count and memory size. On failure the index is left empty.
   * O(stream bytes + lists).
   * @param streams - one stream per saved zone, in zone order
   * @param options - `guard: false` when the streams carry no guard record
   * @returns the bytes read from each stream
   * @throws DeltaIndexError ERR_PARAMETER_MISMATCH when the streams were saved with another mean delta
   *   or payload width; ERR_CORRUPT_DATA for a bad stream; ERR_OVERFLOW when the lists do not fit
   */
  restore(streams: readonly Uint8Array[], options?: RestoreOptions): number[] {
    return restoreDeltaIndex(this, streams, options);
  }
}
