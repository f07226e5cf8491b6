// Saving and restoring a mutable delta index. The stream format is the seed's DI-00002 with the
// coding parameters added, DI-00003: per zone, a 40-byte header, the mean delta and payload width
// (8 bytes), the u16 size of every list, then each non-empty list as an 8-byte save record (tag, bit
// offset, byte count, list number) followed by its bytes; a guard record ('z') closes the streams.
// The seed records no coding parameters, so its streams restored into an index with another mean or
// payload width are caught only when the lists fail to decode (if they do); DI-00003 refuses them
// up front. Restoring reads both versions, accepts a different zone count and memory size, and
// validates everything it reads: a damaged stream gives ERR_CORRUPT_DATA, never a hang, a wrong
// entry or an overrun.

import { moveBits } from '@deja/bitfield';
import type { DeltaZone } from './_zone';
import { MAX_LIST_BITS } from './_zone';
import { SAVE_HEADER_BYTES, SAVE_INFO_BYTES, SAVE_PARAMETERS_BYTES, SEED_SAVE_HEADER_BYTES } from './coding';
import type { DeltaIndex } from './delta-index';
import { DeltaIndexEntry } from './entry';
import { checkInteger, DeltaIndexError } from './errors';

/** The magic of a saved zone as this port writes it ("DI" for delta index, 00003 the format version). */
export const DELTA_INDEX_MAGIC = 'DI-00003';

/** The magic of the seed's format (no coding parameters), which restore still reads. */
export const DELTA_INDEX_SEED_MAGIC = 'DI-00002';

/** The tag of the guard record written after the lists. */
const GUARD_TAG = 0x7a; // 'z'

/** The most bytes one saved list can take (DELTA_LIST_MAX_BYTE_COUNT). */
const DELTA_LIST_MAX_BYTE_COUNT = Math.floor((MAX_LIST_BITS + 8) / 8) + 7;

function corrupt(message: string): DeltaIndexError {
  return new DeltaIndexError('ERR_CORRUPT_DATA', message);
}

/** A bounds-checked little-endian reader over one save stream. */
class StreamReader {
  position = 0;
  readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly zone: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  need(count: number, what: string): number {
    const at = this.position;
    if (at + count > this.bytes.length) {
      throw corrupt(`save stream ${this.zone} ends inside ${what} at byte ${at}`);
    }
    this.position = at + count;
    return at;
  }
}

/**
 * Save one zone (uds_start_saving_delta_index followed by uds_finish_saving_delta_index). O(zone bytes).
 * @param index - the index
 * @param zoneNumber - the zone, in [0, zoneCount)
 * @returns the stream: header, list sizes, then each non-empty list
 * @throws RangeError (ERR_INVALID_ARGUMENT) for a zone out of range
 */
export function saveDeltaIndexZone(index: DeltaIndex, zoneNumber: number): Uint8Array {
  checkInteger('zoneNumber', zoneNumber, 0, index.zoneCount - 1);
  const zone = index._zones[zoneNumber]!;
  const n = zone.listCount;
  let length = SAVE_HEADER_BYTES + 2 * n;
  for (let i = 1; i <= n; i++) {
    if (zone.listSize(i) > 0) length += SAVE_INFO_BYTES + zone.byteSize(i);
  }
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < DELTA_INDEX_MAGIC.length; i++) out[i] = DELTA_INDEX_MAGIC.charCodeAt(i);
  view.setUint32(8, zoneNumber, true);
  view.setUint32(12, index.zoneCount, true);
  view.setUint32(16, zone.firstList, true);
  view.setUint32(20, n, true);
  view.setBigUint64(24, BigInt(zone.recordCount), true);
  view.setBigUint64(32, BigInt(zone.collisionCount), true);
  view.setUint32(SEED_SAVE_HEADER_BYTES, index.meanDelta, true);
  out[SEED_SAVE_HEADER_BYTES + 4] = index.payloadBits; // then 3 reserved zero bytes
  let at = SAVE_HEADER_BYTES;
  for (let i = 1; i <= n; i++, at += 2) view.setUint16(at, zone.listSize(i), true);
  for (let i = 1; i <= n; i++) {
    if (zone.listSize(i) === 0) continue;
    const start = zone.listStart(i);
    const byteStart = Math.floor(start / 8);
    const byteCount = zone.byteSize(i);
    out[at] = index.tag;
    out[at + 1] = start & 7;
    view.setUint16(at + 2, byteCount, true);
    view.setUint32(at + 4, zone.firstList + i - 1, true);
    out.set(zone.memory.subarray(byteStart, byteStart + byteCount), at + SAVE_INFO_BYTES);
    at += SAVE_INFO_BYTES + byteCount;
  }
  return out;
}

/** The 8-byte guard record that closes save streams: 'z' and 7 zeros (uds_write_guard_delta_list). O(1). */
export function writeGuardDeltaList(): Uint8Array {
  const out = new Uint8Array(SAVE_INFO_BYTES);
  out[0] = GUARD_TAG;
  return out;
}

/** Options of {@link restoreDeltaIndex}. */
export interface RestoreOptions {
  /** Expect and check a guard record at the end of each stream (default true). */
  guard?: boolean;
}

/**
 * Restore an index from one save stream per saved zone (uds_start_restoring_delta_index,
 * uds_finish_restoring_delta_index and uds_check_guard_delta_lists). The index may have a different
 * zone count and memory size from the saved one, but the same list count, code and payload. Reads
 * this port's DI-00003 streams, whose mean delta and payload width must equal the index's, and the
 * seed's DI-00002 streams, which do not record them (a mismatch there surfaces only as lists that
 * fail to decode, ERR_CORRUPT_DATA, and is not guaranteed to). Beyond the seed's checks, every list
 * must be restored exactly once, must fit in its zone, and must decode cleanly with as many entries
 * and collisions as the headers claim. On failure the index is left empty. O(stream bytes + lists).
 *
 * @param index - the index to fill
 * @param streams - the streams, in zone order
 * @param options - see {@link RestoreOptions}
 * @returns the bytes read from each stream
 * @throws DeltaIndexError ERR_PARAMETER_MISMATCH when a DI-00003 stream was written by an index with
 *   another mean delta or payload width; ERR_CORRUPT_DATA for a bad stream; ERR_OVERFLOW when the
 *   saved lists do not fit in a zone of this index
 */
export function restoreDeltaIndex(
  index: DeltaIndex,
  streams: readonly Uint8Array[],
  options: RestoreOptions = {},
): number[] {
  try {
    return restore(index, streams, options.guard ?? true);
  } catch (error) {
    index.reset();
    throw error;
  }
}

function restore(index: DeltaIndex, streams: readonly Uint8Array[], guard: boolean): number[] {
  const zoneCount = streams.length;
  const readers = streams.map((bytes, z) => new StreamReader(bytes, z));
  const firstLists: number[] = [];
  const listCounts: number[] = [];
  let recordCount = 0;
  let collisionCount = 0;
  let listNext = 0;
  for (const reader of readers) {
    const z = reader.zone;
    const at = reader.need(SEED_SAVE_HEADER_BYTES, 'the header');
    const seedFormat = hasMagic(reader.bytes, at, DELTA_INDEX_SEED_MAGIC);
    if (!seedFormat && !hasMagic(reader.bytes, at, DELTA_INDEX_MAGIC)) {
      throw corrupt(
        `save stream ${z} has a bad magic number (neither ${DELTA_INDEX_MAGIC} nor ${DELTA_INDEX_SEED_MAGIC})`,
      );
    }
    if (!seedFormat) checkParameters(index, reader);
    const view = reader.view;
    const zoneNumber = view.getUint32(at + 8, true);
    const savedZoneCount = view.getUint32(at + 12, true);
    const firstList = view.getUint32(at + 16, true);
    const listCount = view.getUint32(at + 20, true);
    const records = view.getBigUint64(at + 24, true);
    const collisions = view.getBigUint64(at + 32, true);
    if (savedZoneCount !== zoneCount) {
      throw corrupt(`save streams contain mismatched zone counts (${zoneCount}, ${savedZoneCount})`);
    }
    if (zoneNumber !== z) throw corrupt(`delta index zone ${zoneNumber} found in slot ${z}`);
    if (firstList !== listNext) {
      throw corrupt(`save stream for zone ${z} starts with list ${firstList} instead of list ${listNext}`);
    }
    if (records > BigInt(Number.MAX_SAFE_INTEGER) || collisions > records) {
      throw corrupt(`save stream ${z} claims ${records} records and ${collisions} collisions`);
    }
    firstLists.push(firstList);
    listCounts.push(listCount);
    recordCount += Number(records);
    collisionCount += Number(collisions);
    listNext += listCount;
  }
  if (listNext !== index.listCount) {
    throw corrupt(`save streams contain ${listNext} delta lists instead of ${index.listCount}`);
  }
  if (collisionCount > recordCount) {
    throw corrupt(`save streams contain ${collisionCount} collisions and ${recordCount} records`);
  }

  index.reset();
  const zones = index._zones;
  const perZone = index.listsPerZone;
  const loadLists: number[] = [];
  for (const reader of readers) {
    const z = reader.zone;
    const count = listCounts[z]!;
    const at = reader.need(2 * count, 'the list sizes');
    let nonEmpty = 0;
    for (let i = 0; i < count; i++) {
      const size = reader.view.getUint16(at + 2 * i, true);
      if (size > 0) nonEmpty++;
      const list = firstLists[z]! + i;
      const zone = zones[Math.floor(list / perZone)]!;
      zone.setListSize(list - zone.firstList + 1, size);
    }
    loadLists.push(nonEmpty);
  }

  for (const zone of zones) {
    const used = zone.usedSpace();
    if (used > zone.size) {
      throw new DeltaIndexError(
        'ERR_OVERFLOW',
        `saved lists need ${used} bytes, more than the ${zone.size} bytes of zone memory`,
      );
    }
    zone.computeNewListOffsets(0, 0, used);
    for (let i = 1; i <= zone.listCount + 1; i++) zone.setListStart(i, zone.newOffsets[i]!);
  }

  const restored = new Uint8Array(index.listCount);
  for (const reader of readers) {
    for (let remaining = loadLists[reader.zone]!; remaining > 0; remaining--) {
      restoreList(index, reader, restored);
    }
  }

  const consumed: number[] = [];
  for (const reader of readers) {
    if (guard) {
      const at = reader.need(SAVE_INFO_BYTES, 'the guard record');
      if (reader.bytes[at] !== GUARD_TAG) throw corrupt(`save stream ${reader.zone} lacks its guard record`);
    }
    consumed.push(reader.position);
  }

  let foundRecords = 0;
  let foundCollisions = 0;
  for (const zone of zones) {
    countEntries(zone);
    foundRecords += zone.recordCount;
    foundCollisions += zone.collisionCount;
  }
  if (foundRecords !== recordCount || foundCollisions !== collisionCount) {
    throw corrupt(
      `save streams claim ${recordCount} records and ${collisionCount} collisions, ` +
        `the lists hold ${foundRecords} and ${foundCollisions}`,
    );
  }
  return consumed;
}

function hasMagic(bytes: Uint8Array, at: number, magic: string): boolean {
  for (let i = 0; i < magic.length; i++) if (bytes[at + i] !== magic.charCodeAt(i)) return false;
  return true;
}

/** Read the coding parameters of a DI-00003 stream and check them against the index. */
function checkParameters(index: DeltaIndex, reader: StreamReader): void {
  const at = reader.need(SAVE_PARAMETERS_BYTES, 'the coding parameters');
  const bytes = reader.bytes;
  if (bytes[at + 5] !== 0 || bytes[at + 6] !== 0 || bytes[at + 7] !== 0) {
    throw corrupt(`save stream ${reader.zone} has nonzero reserved bytes at byte ${at + 5}`);
  }
  const meanDelta = reader.view.getUint32(at, true);
  const payloadBits = bytes[at + 4]!;
  if (meanDelta !== index.meanDelta || payloadBits !== index.payloadBits) {
    throw new DeltaIndexError(
      'ERR_PARAMETER_MISMATCH',
      `save stream ${reader.zone} was written by a delta index with mean delta ${meanDelta} and ` +
        `${payloadBits}-bit payloads; this index has mean delta ${index.meanDelta} and ` +
        `${index.payloadBits}-bit payloads`,
    );
  }
}

/** Read one save record and its bytes, and put the list in place (restore_delta_list_data). */
function restoreList(index: DeltaIndex, reader: StreamReader, restored: Uint8Array): void {
  const at = reader.need(SAVE_INFO_BYTES, 'a delta list record');
  const bytes = reader.bytes;
  const tag = bytes[at]!;
  const bitOffset = bytes[at + 1]!;
  const byteCount = reader.view.getUint16(at + 2, true);
  const list = reader.view.getUint32(at + 4, true);
  if (bitOffset >= 8 || byteCount > DELTA_LIST_MAX_BYTE_COUNT) {
    throw corrupt(`corrupt delta list record at byte ${at} of save stream ${reader.zone}`);
  }
  if (tag !== index.tag) {
    throw corrupt(
      `delta list record at byte ${at} of save stream ${reader.zone} has tag ${tag}, not ${index.tag}`,
    );
  }
  if (list >= index.listCount) throw corrupt(`invalid delta list number ${list} of ${index.listCount}`);
  const dataAt = reader.need(byteCount, `delta list ${list}`);
  const zone = index._zones[Math.floor(list / index.listsPerZone)]!;
  const slot = list - zone.firstList + 1;
  const size = zone.listSize(slot);
  if (size === 0) throw corrupt(`unexpected delta list number ${list}`);
  if (restored[list] !== 0) throw corrupt(`delta list ${list} appears twice`);
  restored[list] = 1;
  const expected = Math.ceil((size + bitOffset) / 8);
  if (byteCount !== expected) {
    throw corrupt(`unexpected delta list size ${byteCount} != ${expected} for list ${list}`);
  }
  moveBits(bytes.subarray(dataAt, dataAt + byteCount), bitOffset, zone.memory, zone.listStart(slot), size);
}

/** Decode every list of a zone, setting its record and collision counts. */
function countEntries(zone: DeltaZone): void {
  const entry = new DeltaIndexEntry();
  let records = 0;
  let collisions = 0;
  for (let list = 0; list < zone.listCount; list++) {
    if (zone.listSize(list + 1) === 0) continue;
    entry._start(zone, list, 0);
    for (;;) {
      entry.next();
      if (entry._atEnd) break;
      if (entry._key > 0xffff_ffff) throw corrupt(`delta list ${zone.firstList + list} has a key above 2^32`);
      records++;
      if (entry._isCollision) collisions++;
    }
  }
  zone.recordCount = records;
  zone.collisionCount = collisions;
}
