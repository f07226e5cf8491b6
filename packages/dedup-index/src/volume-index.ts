// The volume index (the reference's volume-index.c, which is not in the seeds; rebuilt from the
// geometry's volume_index fields and UDS's published design): a mutable delta index from the
// volume-index bytes of a record name to the virtual chapter that holds the newest record of that
// name, in a few bits per record.
//
// A name's bytes 0..7 (big-endian u64) are split into a delta list number (the bits above
// `addressBits`, modulo the list count) and an address (the low `addressBits` bits, the delta key).
// The payload is the chapter number modulo 2^chapterBits; a zone knows the window of virtual
// chapters [low, high] it indexes, so the stored number converts back to a virtual chapter exactly.
// Two names with one address share a list entry: the first is a plain entry (a hint, resolved by
// reading the chapter), later ones are collision entries that carry the whole name.
//
// Expiry is lazy: opening a chapter only moves each zone's window. Each list remembers the oldest
// chapter it may still hold (`flushChapters`); the first search of a list whose oldest chapter fell
// out of the window walks the whole list and removes the expired entries. When a zone's lists use
// more bits than the memory budget allows, chapters are expired early (the window's low end moves
// up), as in UDS.
//
// A sparse index has two sub-indexes: the "hook" one holds the sampled names (sampling bytes
// divisible by the sample rate) of every chapter, the "non-hook" one the other names of the dense
// chapters only.

import { volumeIndexListAt, volumeIndexListOf } from '@deja/chapter-index';
import { DeltaIndex, DeltaIndexEntry, isDeltaIndexError } from '@deja/delta-index';
import {
  computeVolumeIndexLayout,
  type IndexConfiguration,
  type VolumeSubIndexLayout,
} from '@deja/volume-geometry';
import { Reader, Writer } from './_format';
import { corrupt, invalidArgument } from './errors';

/** One sub-index: a delta index with its chapter windows and lazy-flush marks (struct volume_sub_index). */
export class VolumeSubIndex {
  /** Its shape, from computeVolumeIndexLayout() of @deja/volume-geometry. */
  readonly layout: VolumeSubIndexLayout;
  /** The delta index: key = address, payload = chapter number modulo 2^chapterBits. */
  readonly delta: DeltaIndex;
  /** Delta lists. */
  readonly listCount: number;
  /** Address bits taken from a name's volume-index bytes (20 in UDS configurations). */
  readonly addressBits: number;
  /** 2^addressBits - 1. */
  readonly addressMask: number;
  /** 2^chapterBits - 1. */
  readonly chapterMask: number;
  /** chapterMask + 1: the modulus of stored chapter numbers. */
  readonly chapterModulus: number;
  /** Chapters the window covers. */
  readonly chapterCount: number;
  /** Lists per zone (the last zone may have fewer). */
  readonly listsPerZone: number;
  /** Zones. */
  readonly zoneCount: number;
  /** Per list, the oldest virtual chapter it may still hold (flush_chapters). */
  readonly flushChapters: Float64Array;
  /** Per zone, the window of indexed virtual chapters. */
  readonly low: Float64Array;
  readonly high: Float64Array;
  /** Per zone, chapters expired early for lack of memory. */
  readonly earlyFlushes: Float64Array;
  readonly #walker = new DeltaIndexEntry();

  /**
   * The address of `name` in this sub-index: its volume-index bytes 4..7, masked to addressBits.
   * addressBits <= 31 in every configuration: an int32 mask (`%` of a double above 2^31 is a call
   * into the runtime); 32 address bits take the whole word. O(1).
   */
  addressOf(name: Uint8Array): number {
    const word = (name[4]! << 24) | (name[5]! << 16) | (name[6]! << 8) | name[7]!;
    return this.addressBits <= 31 ? word & this.addressMask : word >>> 0;
  }

  /**
   * @param layout - the sub-index's shape
   * @param tag - the delta index's save tag ('m' non-hook, 'h' hook)
   * @throws RangeError from the delta index for an impossible shape. Cost: O(memory).
   */
  constructor(layout: VolumeSubIndexLayout, tag: string) {
    this.layout = layout;
    this.zoneCount = layout.zoneCount;
    this.listCount = layout.listCount;
    this.addressBits = layout.addressBits;
    this.addressMask = 2 ** layout.addressBits - 1;
    this.chapterModulus = 2 ** layout.chapterBits;
    this.chapterMask = this.chapterModulus - 1;
    this.chapterCount = layout.chapterCount;
    this.delta = new DeltaIndex({
      zoneCount: layout.zoneCount,
      listCount: layout.listCount,
      meanDelta: layout.meanDelta,
      payloadBits: layout.chapterBits,
      memorySize: layout.memorySize,
      tag,
    });
    this.listsPerZone = this.delta.listsPerZone;
    this.flushChapters = new Float64Array(layout.listCount);
    this.low = new Float64Array(layout.zoneCount);
    this.high = new Float64Array(layout.zoneCount);
    this.earlyFlushes = new Float64Array(layout.zoneCount);
  }

  /** Bytes this sub-index allocates: delta memory and list headers, plus 8 bytes per list of flush marks. */
  get memoryBytes(): number {
    return this.delta.memorySize + this.flushChapters.byteLength + 24 * this.zoneCount;
  }

  /** Empty the sub-index and its windows. O(lists). */
  reset(): void {
    this.delta.reset();
    this.flushChapters.fill(0);
    this.low.fill(0);
    this.high.fill(0);
  }

  /** The virtual chapter a stored chapter number stands for in `zone` (convert_index_to_virtual). */
  toVirtual(indexChapter: number, zone: number): number {
    const low = this.low[zone]!;
    const mask = this.chapterMask;
    if (low < 0x4000_0000) {
      // The usual case, in int32 arithmetic: the window's low end read from a Float64Array is a
      // double, and `%` of a double is a call into the runtime (fmod), as is a later `%` of the
      // chapter number if it stays a double (the page reader maps it to its physical chapter).
      const base = low | 0;
      return base + ((indexChapter - (base & mask) + this.chapterModulus) & mask);
    }
    // chapterModulus is a power of two: the division is exact.
    const lowIndex = low - Math.floor(low / this.chapterModulus) * this.chapterModulus;
    return low + ((indexChapter - lowIndex + this.chapterModulus) & mask);
  }

  /**
   * Open `virtualChapter` in a zone (set_volume_sub_index_zone_open_chapter): move the window, and
   * expire chapters early when the zone's lists exceed their memory budget. O(lists of the zone).
   */
  setOpenChapter(zone: number, virtualChapter: number): void {
    const count = this.chapterCount;
    let low = virtualChapter >= count ? virtualChapter - count + 1 : 0;
    // Never move the window backwards (an early flush may already have moved it further).
    if (low < this.low[zone]!) low = this.low[zone]!;
    if (low > virtualChapter) low = virtualChapter;
    this.low[zone] = low;
    this.high[zone] = virtualChapter;
    const { usedBits } = this.delta.getZoneStats(zone);
    const { maxZoneBits, chapterZoneBits } = this.layout;
    if (usedBits > maxZoneBits && chapterZoneBits > 0) {
      const expire = 1 + Math.floor((usedBits - maxZoneBits) / chapterZoneBits);
      if (low + expire < virtualChapter) {
        this.earlyFlushes[zone] = this.earlyFlushes[zone]! + expire;
        this.low[zone] = low + expire;
      } else {
        this.earlyFlushes[zone] = this.earlyFlushes[zone]! + (virtualChapter - low);
        this.low[zone] = virtualChapter;
      }
    }
  }

  /**
   * Remove every entry of `list` whose chapter left the window, and remember the oldest chapter left
   * (the flushing walk of get_volume_index_entry). O(entries in the list).
   */
  flushList(list: number, zone: number): void {
    const low = this.low[zone]!;
    const flushChapter = this.flushChapters[list]!;
    const mask = this.chapterMask;
    const start = flushChapter % this.chapterModulus;
    const count = Math.min(low - flushChapter, this.chapterModulus);
    let next = mask;
    const entry = this.delta.startSearch(list, 0, this.#walker);
    entry.next();
    while (!entry.atEnd) {
      const relative = (entry.value - start + this.chapterModulus) & mask;
      if (relative < count) {
        entry.remove();
        continue;
      }
      if (relative < next) next = relative;
      entry.next();
    }
    let chapter = this.toVirtual((next + start) & mask, zone);
    if (chapter > this.high[zone]!) chapter = this.high[zone]!;
    this.flushChapters[list] = chapter;
  }
}

/**
 * A lookup result and the cursor to change it with (struct volume_index_record). Reused across
 * requests; valid until the next change of the index.
 */
export class VolumeIndexRecord {
  /** @internal */ sub: VolumeSubIndex | null = null;
  /** The delta index cursor: on the entry found, or on the insertion point. */
  readonly entry = new DeltaIndexEntry();
  /** The name looked up. */
  name: Uint8Array = new Uint8Array(16);
  /** The delta list of the name in its sub-index. */
  list = 0;
  /** The address (delta key) of the name. */
  address = 0;
  /** The zone of the name. */
  zone = 0;
  /** Whether an entry with the name's address exists (the name itself only when `isCollision`). */
  isFound = false;
  /** Whether the entry found is a collision entry, so carries exactly this name. */
  isCollision = false;
  /** The virtual chapter of the entry found. */
  virtualChapter = 0;
}

/** Statistics of a volume index. */
export interface VolumeIndexStats {
  /** Entries, collision entries included. */
  entries: number;
  /** Collision entries. */
  collisions: number;
  /** Entries removed (expiry, deletes). */
  discards: number;
  /** Puts dropped (a delta list or its zone full, a duplicate collision), each counted once. */
  overflows: number;
  /** Chapters expired early for lack of memory. */
  earlyFlushes: number;
  /** Bytes allocated. */
  memoryBytes: number;
  /** Bits of the lists in use. */
  usedBits: number;
}

const SUB_INDEX_SAVE_MAGIC = 'DJVISUB1';

/**
 * @internal Puts the entry of the record's name at its address with payload `slot` (a chapter
 * modulo the sub-index's modulus): a plain entry, or a collision entry carrying the name when the
 * record found an entry with its address. The volume index and a zone worker's part of it share it.
 * @returns false when the delta index dropped it (list overflow, duplicate collision)
 */
export function putEntry(record: VolumeIndexRecord, slot: number): boolean {
  try {
    record.entry.put(record.address, slot, record.isFound ? record.name : null);
  } catch (error) {
    if (isDeltaIndexError(error) && (error.code === 'ERR_OVERFLOW' || error.code === 'ERR_EXISTS'))
      return false;
    throw error;
  }
  return true;
}

/**
 * The volume index of a configuration: one sub-index (dense) or a hook and a non-hook sub-index
 * (sparse). Sized by computeVolumeIndexLayout() of @deja/volume-geometry.
 */
export class VolumeIndex {
  /** The configuration it is sized for. */
  readonly config: IndexConfiguration;
  /** The sub-index of non-sampled names (every name when dense). */
  readonly nonHook: VolumeSubIndex;
  /** The sub-index of sampled names (sparse only). */
  readonly hook: VolumeSubIndex | null;
  /** One name in this many is sampled (0 when dense). */
  readonly sampleRate: number;
  /**
   * Puts dropped: a delta list or its zone's memory full, or a duplicate collision. Each drop counts
   * once, here (the delta index's own overflowCount counts a subset of the same drops).
   */
  overflows = 0;

  /**
   * @param config - the index configuration
   * @throws VolumeGeometryError when the configuration cannot be laid out; RangeError from the delta index
   * Cost: O(memory) to allocate.
   */
  constructor(config: IndexConfiguration) {
    this.config = config;
    const layout = computeVolumeIndexLayout(config);
    this.nonHook = new VolumeSubIndex(layout.nonHook, 'm');
    this.hook = layout.hook === undefined ? null : new VolumeSubIndex(layout.hook, 'h');
    this.sampleRate = layout.sparseSampleRate;
  }

  /** Bytes allocated by the sub-indexes. */
  get memoryBytes(): number {
    return this.nonHook.memoryBytes + (this.hook?.memoryBytes ?? 0);
  }

  /** Whether a name is sampled (uds_is_volume_index_sample). Dense indexes sample nothing. O(1). */
  isSample(name: Uint8Array): boolean {
    return this.hook !== null && ((name[14]! << 8) | name[15]!) % this.sampleRate === 0;
  }

  /** The sub-index a name belongs to. */
  subIndexOf(name: Uint8Array): VolumeSubIndex {
    return this.hook !== null && this.isSample(name) ? this.hook : this.nonHook;
  }

  /** The zone of a name (uds_get_volume_index_zone). O(1). */
  zoneOf(name: Uint8Array): number {
    const sub = this.subIndexOf(name);
    return Math.floor(volumeIndexListOf(name, sub.addressBits, sub.listCount) / sub.listsPerZone);
  }

  /**
   * Touch what lookups of `count` names will read (their lists' flush marks, headers and first
   * bytes; see `DeltaIndex.prefetch`), names back to back in `names` from name `first`: a batch
   * calls this for the next few requests, so that their memory misses overlap. Nothing changes.
   * Dense indexes only (a sparse index's names split over two sub-indexes: no-op). O(count).
   */
  prefetch(names: Uint8Array, first: number, count: number): void {
    if (this.hook !== null) return;
    const sub = this.nonHook;
    const lists = this.#prefetchLists.length >= count ? this.#prefetchLists : new Uint32Array(count);
    this.#prefetchLists = lists;
    const flush = sub.flushChapters;
    let sink = 0;
    for (let i = 0; i < count; i++) {
      const list = volumeIndexListAt(names, (first + i) * 16, sub.addressBits, sub.listCount);
      lists[i] = list;
      sink += flush[list]!;
    }
    this.#sink = (this.#sink + sink + sub.delta.prefetch(lists, count)) | 0;
  }

  #prefetchLists = new Uint32Array(0);
  /** Where prefetch folds what it read, so that the reads stay. */
  #sink = 0;

  /** Open a chapter in every zone of every sub-index (uds_set_volume_index_open_chapter). */
  setOpenChapter(virtualChapter: number): void {
    for (let z = 0; z < this.nonHook.zoneCount; z++) {
      this.nonHook.setOpenChapter(z, virtualChapter);
      this.hook?.setOpenChapter(z, virtualChapter);
    }
  }

  /**
   * Look a name up (uds_get_volume_index_record), flushing expired entries of its list first when
   * needed. Leaves `record` ready for {@link put}, {@link setChapter} or {@link remove}.
   * O(entries before the address in the list); O(list) when the list is flushed.
   */
  lookup(name: Uint8Array, record: VolumeIndexRecord): VolumeIndexRecord {
    const sub = this.subIndexOf(name);
    const list = volumeIndexListOf(name, sub.addressBits, sub.listCount);
    const address = sub.addressOf(name);
    const zone = Math.floor(list / sub.listsPerZone);
    record.sub = sub;
    record.name = name;
    record.list = list;
    record.address = address;
    record.zone = zone;
    if (sub.flushChapters[list]! < sub.low[zone]!) sub.flushList(list, zone);
    const entry = sub.delta.getEntry(list, address, name, record.entry);
    const found = !entry.atEnd && entry.key === address;
    record.isFound = found;
    record.isCollision = found && entry.isCollision;
    record.virtualChapter = found ? sub.toVirtual(entry.value, zone) : 0;
    return record;
  }

  /**
   * The virtual chapter a {@link lookup} of `name` would find now, changing no entry (only the
   * list's remembered search position, a hint for the next search): a batch calls it for the
   * requests ahead of the one running, to read their pages together. `record` is only a cursor (use
   * one that no request holds).
   * @returns the chapter, or -1 when the name's address has no entry, or when its list waits for
   *   the flush a lookup would do first. O(entries before the address in the list).
   */
  peekChapter(name: Uint8Array, record: VolumeIndexRecord): number {
    const sub = this.subIndexOf(name);
    const list = volumeIndexListOf(name, sub.addressBits, sub.listCount);
    const address = sub.addressOf(name);
    const zone = Math.floor(list / sub.listsPerZone);
    if (sub.flushChapters[list]! < sub.low[zone]!) return -1;
    const entry = sub.delta.getEntry(list, address, name, record.entry);
    if (entry.atEnd || entry.key !== address) return -1;
    return sub.toVirtual(entry.value, zone);
  }

  /** Whether `virtualChapter` is in the window of the record's zone (is_virtual_chapter_indexed). */
  isIndexed(record: VolumeIndexRecord, virtualChapter: number): boolean {
    const sub = record.sub!;
    return virtualChapter >= sub.low[record.zone]! && virtualChapter <= sub.high[record.zone]!;
  }

  /**
   * Add an entry for the record's name in `virtualChapter` (uds_put_volume_index_record): a plain
   * entry, or a collision entry carrying the name when an entry with its address exists.
   * @returns false when the entry was dropped (delta list overflow, duplicate collision)
   * @throws RangeError (ERR_INVALID_ARGUMENT) when the chapter is outside the zone's window
   */
  put(record: VolumeIndexRecord, virtualChapter: number): boolean {
    const sub = record.sub!;
    if (!this.isIndexed(record, virtualChapter)) {
      throw invalidArgument(
        `cannot put a record into chapter ${virtualChapter}, outside [${sub.low[record.zone]}, ${sub.high[record.zone]}]`,
      );
    }
    if (!putEntry(record, virtualChapter % sub.chapterModulus)) {
      this.overflows++;
      return false;
    }
    record.isFound = true;
    record.isCollision = record.entry.isCollision;
    record.virtualChapter = virtualChapter;
    return true;
  }

  /** Point the entry found at another chapter (uds_set_volume_index_record_chapter). O(1). */
  setChapter(record: VolumeIndexRecord, virtualChapter: number): void {
    const sub = record.sub!;
    if (!this.isIndexed(record, virtualChapter)) {
      throw invalidArgument(
        `cannot set chapter ${virtualChapter}, outside the window of zone ${record.zone}`,
      );
    }
    record.entry.setValue(virtualChapter % sub.chapterModulus);
    record.virtualChapter = virtualChapter;
  }

  /** Remove the entry found (uds_remove_volume_index_record). O(list bits). */
  remove(record: VolumeIndexRecord): void {
    record.entry.remove();
    record.isFound = false;
  }

  /** Empty the index. */
  reset(): void {
    this.nonHook.reset();
    this.hook?.reset();
    this.overflows = 0;
  }

  /** Statistics summed over the sub-indexes. O(lists). */
  getStats(): VolumeIndexStats {
    const stats: VolumeIndexStats = {
      entries: 0,
      collisions: 0,
      discards: 0,
      overflows: this.overflows,
      earlyFlushes: 0,
      memoryBytes: this.memoryBytes,
      usedBits: 0,
    };
    for (const sub of this.hook === null ? [this.nonHook] : [this.nonHook, this.hook]) {
      const d = sub.delta.getStats();
      stats.entries += d.recordCount;
      stats.collisions += d.collisionCount;
      stats.discards += d.discardCount;
      stats.usedBits += d.usedBits;
      for (const e of sub.earlyFlushes) stats.earlyFlushes += e;
    }
    return stats;
  }

  /**
   * Save the index: per sub-index its windows, flush marks and delta index streams (the
   * reference's sub_index_data followed by the DI-00002 streams). O(memory).
   */
  save(): Uint8Array {
    const w = new Writer();
    w.u32(this.hook === null ? 1 : 2);
    w.u32(this.sampleRate);
    for (const sub of this.hook === null ? [this.nonHook] : [this.nonHook, this.hook]) {
      w.bytes(new TextEncoder().encode(SUB_INDEX_SAVE_MAGIC));
      w.u32(sub.zoneCount);
      w.u32(sub.listCount);
      for (let z = 0; z < sub.zoneCount; z++) {
        w.u64(sub.low[z]!);
        w.u64(sub.high[z]!);
        w.u64(sub.earlyFlushes[z]!);
      }
      for (let i = 0; i < sub.listCount; i++) w.u64(sub.flushChapters[i]!);
      for (const stream of sub.delta.save()) {
        w.u32(stream.length);
        w.bytes(stream);
      }
    }
    return w.finish();
  }

  /**
   * Restore a {@link save}. On failure the index is left empty.
   * @throws DedupIndexError ERR_CORRUPT_DATA when the bytes do not describe this index's shape or fail
   *   the delta index's checks
   */
  restore(bytes: Uint8Array): void {
    try {
      this.#restore(bytes);
    } catch (error) {
      this.reset();
      if (isDeltaIndexError(error)) throw corrupt(`volume index save: ${error.message}`, error);
      throw error;
    }
  }

  #restore(bytes: Uint8Array): void {
    const r = new Reader(bytes, 'volume index save');
    const subCount = r.u32();
    const rate = r.u32();
    if (subCount !== (this.hook === null ? 1 : 2) || rate !== this.sampleRate) {
      throw corrupt(`volume index save: ${subCount} sub-indexes at rate ${rate} do not match this index`);
    }
    for (const sub of this.hook === null ? [this.nonHook] : [this.nonHook, this.hook]) {
      const magic = new TextDecoder('latin1').decode(r.bytesOf(8));
      if (magic !== SUB_INDEX_SAVE_MAGIC) throw corrupt(`volume index save: bad sub-index magic`);
      if (r.u32() !== sub.zoneCount || r.u32() !== sub.listCount) {
        throw corrupt('volume index save: the zone or list count does not match this index');
      }
      for (let z = 0; z < sub.zoneCount; z++) {
        sub.low[z] = r.u64();
        sub.high[z] = r.u64();
        sub.earlyFlushes[z] = r.u64();
        if (sub.low[z]! > sub.high[z]!) throw corrupt(`volume index save: zone ${z} window is inverted`);
      }
      for (let i = 0; i < sub.listCount; i++) sub.flushChapters[i] = r.u64();
      const streams: Uint8Array[] = [];
      for (let z = 0; z < sub.zoneCount; z++) streams.push(r.bytesOf(r.u32()));
      sub.delta.restore(streams);
    }
    if (r.position !== bytes.length) throw corrupt('volume index save: trailing bytes');
  }
}
