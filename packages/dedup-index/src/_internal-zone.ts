// One zone of a dense index, alone: its part of the volume index (a one-zone delta index over the
// zone's delta lists, with the zone's memory) and its open chapter zone, and the request logic of
// DedupIndex#execute restricted to them. A zone worker (see _internal-zone-worker.ts) holds one; the
// main thread keeps the storage, the page cache and the chapter close, and answers the searches of
// closed chapters a zone asks for.
//
// The zone's volume sub-index is built exactly as zone `z` of the whole index's sub-index would be:
// the same lists (renumbered from 0), the same memory (the layout's zoneMemoryBytes), the same
// window and early-expiry rule. So, fed the requests of its zone in order, it holds what that zone
// of the single-thread index holds, and answers the same.

import { OpenChapterZone, RECORD_DATA_SIZE, RECORD_SIZE, volumeIndexListOf } from '@deja/chapter-index';
import { writeGuardDeltaList } from '@deja/delta-index';
import { computeVolumeIndexLayout, type IndexConfiguration } from '@deja/volume-geometry';
import type { ZoneState } from './_internal-zone-worker';
import { putEntry, VolumeIndexRecord, VolumeSubIndex } from './volume-index';

// The delta index save stream (DI-00003, @deja/delta-index's save.ts): a 40-byte header (magic, zone
// number, zone count, first list, list count, record and collision counts) and 8 bytes of coding
// parameters, a u16 size per list, then per non-empty list an 8-byte record (tag, bit offset, u16
// byte count, u32 list number) and its bytes.
const STREAM_HEADER_BYTES = 48;
const STREAM_LIST_RECORD_BYTES = 8;

/**
 * Request kinds: the values of DedupIndex's `Kind`, which the pool passes through as they are (the
 * property test of zones.test.ts runs every kind against the single-thread index).
 */
export const POST = 0;
export const UPDATE = 1;
export const QUERY = 2;
export const QUERY_REFRESH = 3;
export const DELETE = 4;

/**
 * What a request reports: not found, found (metadata in `old`; DedupIndex's FOUND too), or a closed
 * chapter to search first.
 */
export const NOT_FOUND = 0;
export const FOUND = 1;
export const NEED_SEARCH = 2;

/** Counters of one zone, in the order of the index's statistics. */
export const COUNTERS = 8; // posts, updates, queries, deletes: found / not found

/** One zone of a dense index: volume sub-index zone, open chapter zone, request logic. */
export class IndexZone {
  readonly zone: number;
  readonly sub: VolumeSubIndex;
  readonly open: OpenChapterZone;
  /** The first list of the zone in the whole index. */
  readonly firstList: number;
  /** The whole index's list count and address bits (a name's list is computed over all of them). */
  readonly #listCount: number;
  readonly #addressBits: number;
  readonly #record = new VolumeIndexRecord();
  /** The metadata found by the last request. */
  readonly old = new Uint8Array(RECORD_DATA_SIZE);
  /** posts, updates, queries, deletes: found / not found. */
  readonly counters = new Float64Array(COUNTERS);
  overflows = 0;
  newest = 0;
  /** Set when a put filled the open chapter zone. */
  full = false;
  /** The chapter and name a NEED_SEARCH asks for. */
  wantChapter = -1;
  // The answer of the main thread's search for #answerName in #answerChapter (-1: none).
  #answerChapter = -1;
  readonly #answerName = new Uint8Array(16);
  #answerFound = false;
  readonly #answerMetadata = new Uint8Array(RECORD_DATA_SIZE);

  /**
   * @param config - the whole index's configuration (dense)
   * @param zone - this zone's number
   */
  constructor(config: IndexConfiguration, zone: number) {
    const layout = computeVolumeIndexLayout(config).nonHook;
    const perZone = Math.ceil(layout.listCount / layout.zoneCount);
    this.zone = zone;
    this.firstList = zone * perZone;
    const lists = zone === layout.zoneCount - 1 ? layout.listCount - this.firstList : perZone;
    this.#listCount = layout.listCount;
    this.#addressBits = layout.addressBits;
    this.sub = new VolumeSubIndex(
      { ...layout, zoneCount: 1, listCount: lists, memorySize: layout.zoneMemoryBytes },
      'm',
    );
    this.open = new OpenChapterZone(Math.floor(config.geometry.recordsPerChapter / config.zoneCount));
  }

  /** The zone's part of setOpenChapter: the window moves (and may expire early), the open zone empties. */
  openChapter(chapter: number, reset: boolean): void {
    this.newest = chapter;
    this.sub.setOpenChapter(0, chapter);
    if (reset) this.open.reset();
    this.full = false;
  }

  /** The answer of the main thread's search for `name` in `chapter`, for the next execute of that name. */
  answer(chapter: number, name: Uint8Array, found: boolean, metadata: Uint8Array): void {
    this.#answerChapter = chapter;
    this.#answerName.set(name);
    this.#answerFound = found;
    if (found) this.#answerMetadata.set(metadata);
  }

  /** Forget the answer (the request it was for completed). */
  clearAnswer(): void {
    this.#answerChapter = -1;
  }

  /**
   * The closed chapter a request for `name` would search if it ran now, or -1 (not found, or in the
   * open chapter). Changes nothing but the lazy flushing of the name's list, which any request of
   * the name does first anyway. A batch asks the main thread for all of these searches at once.
   */
  closedChapterOf(name: Uint8Array): number {
    const record = this.#lookup(name);
    return record.isFound && record.virtualChapter !== this.newest ? record.virtualChapter : -1;
  }

  #lookup(name: Uint8Array): VolumeIndexRecord {
    const sub = this.sub;
    const record = this.#record;
    const list = volumeIndexListOf(name, this.#addressBits, this.#listCount) - this.firstList;
    const address = sub.addressOf(name);
    record.sub = sub;
    record.name = name;
    record.list = list;
    record.address = address;
    record.zone = 0;
    if (sub.flushChapters[list]! < sub.low[0]!) sub.flushList(list, 0);
    const entry = sub.delta.getEntry(list, address, name, record.entry);
    const found = !entry.atEnd && entry.key === address;
    record.isFound = found;
    record.isCollision = found && entry.isCollision;
    record.virtualChapter = found ? sub.toVirtual(entry.value, 0) : 0;
    return record;
  }

  #inWindow(chapter: number): boolean {
    return chapter >= this.sub.low[0]! && chapter <= this.sub.high[0]!;
  }

  #put(record: VolumeIndexRecord, chapter: number): boolean {
    if (!this.#inWindow(chapter)) throw new RangeError(`chapter ${chapter} outside the zone's window`);
    if (putEntry(record, chapter % this.sub.chapterModulus)) return true;
    this.overflows++;
    return false;
  }

  #count(kind: number, found: boolean): number {
    const k = kind === QUERY_REFRESH ? QUERY : kind === DELETE ? 3 : kind;
    this.counters[k * 2 + (found ? 0 : 1)]!++;
    return found ? FOUND : NOT_FOUND;
  }

  /**
   * One request of this zone (DedupIndex#execute for a dense index). A record found in a closed
   * chapter needs the main thread's search: NEED_SEARCH (nothing changed but lazy flushing; the
   * chapter is in `wantChapter`), run again after {@link answer}.
   */
  execute(kind: number, name: Uint8Array, metadata: Uint8Array | undefined): number {
    const newest = this.newest;
    const old = this.old;
    const record = this.#lookup(name);
    let found = false;
    if (record.isFound) {
      if (record.virtualChapter === newest) found = this.open.search(name, old) !== undefined;
      else {
        if (this.#answerChapter !== record.virtualChapter || !sameName(this.#answerName, name)) {
          this.wantChapter = record.virtualChapter;
          return NEED_SEARCH;
        }
        found = this.#answerFound;
        if (found) old.set(this.#answerMetadata);
      }
    }
    if (kind === DELETE) {
      if (!record.isFound || (!record.isCollision && !found)) return this.#count(kind, false);
      const chapter = record.virtualChapter;
      record.entry.remove();
      if (chapter === newest) this.open.remove(name);
      return this.#count(kind, true);
    }
    const overflowRecord = record.isFound && record.isCollision && !found;
    if (found || overflowRecord) {
      if (kind === QUERY || (kind === QUERY_REFRESH && overflowRecord)) return this.#count(kind, found);
      if (record.virtualChapter !== newest) {
        if (!this.#inWindow(newest)) throw new RangeError(`chapter ${newest} outside the zone's window`);
        record.entry.setValue(newest % this.sub.chapterModulus);
      } else if (kind !== UPDATE) return this.#count(kind, found);
    } else {
      if (kind === QUERY || kind === QUERY_REFRESH) return this.#count(kind, found);
      if (!this.#put(record, newest)) return this.#count(kind, found);
    }
    const data = !found || kind === UPDATE ? metadata! : old;
    if (this.open.put(name, data) === 0) this.full = true;
    return this.#count(kind, found);
  }

  /** Volume index statistics of the zone: entries, collisions, early flushes, used bits, overflows. */
  stats(): Float64Array {
    const d = this.sub.delta.getZoneStats(0);
    return Float64Array.of(
      d.recordCount,
      d.collisionCount,
      this.sub.earlyFlushes[0]!,
      d.usedBits,
      this.overflows,
    );
  }

  /** The zone's state for a save (see ZoneState). O(zone memory). */
  exportState(): ZoneState {
    const sub = this.sub;
    const stream = sub.delta.saveZone(0);
    const guard = writeGuardDeltaList();
    const guarded = new Uint8Array(stream.length + guard.length);
    guarded.set(stream);
    guarded.set(guard, stream.length);
    const size = this.open.size;
    return {
      stream: guarded,
      low: sub.low[0]!,
      high: sub.high[0]!,
      earlyFlushes: sub.earlyFlushes[0]!,
      flushChapters: sub.flushChapters.slice(),
      records: this.open._records.slice(0, (size + 1) * RECORD_SIZE),
      deleted: this.open._deleted.slice(0, size + 1),
      size,
    };
  }

  /** Take a zone's state from a load (the stream of a one-zone index), with `newest` open. */
  importState(state: ZoneState, newest: number): void {
    const sub = this.sub;
    sub.delta.restore([state.stream]);
    sub.low[0] = state.low;
    sub.high[0] = state.high;
    sub.earlyFlushes[0] = state.earlyFlushes;
    sub.flushChapters.set(state.flushChapters);
    this.newest = newest;
    this.full = false;
    replayZone(this.open, state.records, state.deleted, state.size);
  }
}

/**
 * Fill an open chapter zone with the records of another (record numbers 1..size, 32 bytes each from
 * record 1 on, and their deleted flags): each put in record order and removed right after when
 * deleted, which gives the same record numbers, slots and contents (a record was created while
 * every earlier record of its name was deleted).
 */
export function replayZone(
  zone: OpenChapterZone,
  records: Uint8Array,
  deleted: Uint8Array,
  size: number,
): void {
  zone.reset();
  for (let r = 1; r <= size; r++) {
    const name = records.subarray(r * RECORD_SIZE, r * RECORD_SIZE + 16);
    zone.put(name, records.subarray(r * RECORD_SIZE + 16, (r + 1) * RECORD_SIZE));
    if (deleted[r] === 1) zone.remove(name);
  }
}

/**
 * A delta index save stream of one zone, renumbered: the header's zone number, zone count and first
 * list, and every list record's list number moved by `shift`. A zone worker's one-zone stream
 * becomes zone `zoneNumber` of the whole index's save, and back. O(stream).
 */
export function restream(
  stream: Uint8Array,
  zoneNumber: number,
  zoneCount: number,
  firstList: number,
  shift: number,
): Uint8Array {
  const out = stream.slice();
  const view = new DataView(out.buffer);
  view.setUint32(8, zoneNumber, true);
  view.setUint32(12, zoneCount, true);
  view.setUint32(16, firstList, true);
  const lists = view.getUint32(20, true);
  let nonEmpty = 0;
  for (let i = 0; i < lists; i++) if (view.getUint16(STREAM_HEADER_BYTES + 2 * i, true) > 0) nonEmpty++;
  let at = STREAM_HEADER_BYTES + 2 * lists;
  for (let k = 0; k < nonEmpty; k++) {
    view.setUint32(at + 4, view.getUint32(at + 4, true) + shift, true);
    at += STREAM_LIST_RECORD_BYTES + view.getUint16(at + 2, true);
  }
  return out;
}

function sameName(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}
