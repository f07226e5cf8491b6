// One zone of the open chapter (the seed's struct open_chapter_zone): the newest records of an
// index zone, in arrival order, with a hash table to find a name quickly.
//
// From the seed: records live in an array in the order they arrive; the array is 1-based so that
// record number 0 can mark an empty hash slot. A hash slot holds a record number; collisions are
// resolved by quadratic probing (slot += 1, 2, 3, ...), which visits every slot of a power-of-two
// table. New metadata for a name already present is written in place. A removal only sets a
// "deleted" flag, so probe chains never break; the flags are indexed by record number, not by slot
// (in C they overlay the slot array; here they are a separate byte array of the same length). The
// table has 2^bits_per(2 * capacity) slots, more than twice the capacity, so an insertion always
// finds a free slot and every record number has a flag.

import { bitsPer } from './_internal';
import { checkName, RECORD_DATA_SIZE, RECORD_NAME_SIZE, RECORD_SIZE } from './record-name';

/** Record numbers are 23-bit fields in the seed's slot structure. */
export const OPEN_CHAPTER_RECORD_NUMBER_BITS = 23;
/** The hash table has at least twice as many slots as records (LOAD_RATIO). */
export const LOAD_RATIO = 2;

/**
 * An open chapter zone: up to `capacity` records, found by name through `slotCount` hash slots.
 *
 * @example
 * ```ts
 * const zone = new OpenChapterZone(geometry.recordsPerChapter);  // one zone
 * zone.put(name, metadata);      // remaining capacity
 * zone.search(name);             // the metadata, or undefined
 * zone.remove(name);
 * ```
 */
export class OpenChapterZone {
  /** The most records the zone holds. */
  readonly capacity: number;
  /** The number of hash slots, a power of two greater than 2 * capacity. */
  readonly slotCount: number;
  /** @internal Records 1..capacity (slot 0 unused), each name (16 bytes) then data (16 bytes). */
  readonly _records: Uint8Array;
  /** @internal Record number per hash slot (0: empty). */
  readonly _slots: Uint32Array;
  /** @internal Deleted flag per record number. */
  readonly _deleted: Uint8Array;
  #size = 0;
  #deletions = 0;

  /**
   * Makes an empty zone (uds_make_open_chapter()). For `zoneCount` zones of a chapter, pass
   * `Math.floor(recordsPerChapter / zoneCount)`, or use {@link makeOpenChapterZones}.
   *
   * @param capacity - the most records the zone may hold, in [1, 2^23 - 1]
   * @throws TypeError if capacity is not an integer; RangeError if it is out of range
   * Cost: O(capacity) memory (32 bytes per record plus 5 bytes per slot).
   */
  constructor(capacity: number) {
    if (typeof capacity !== 'number' || !Number.isInteger(capacity)) {
      throw new TypeError(`capacity must be an integer, got ${String(capacity)}`);
    }
    if (capacity < 1 || capacity >= 2 ** OPEN_CHAPTER_RECORD_NUMBER_BITS) {
      throw new RangeError(`capacity must be in [1, 2^23 - 1], got ${capacity}`);
    }
    this.capacity = capacity;
    this.slotCount = 2 ** bitsPer(capacity * LOAD_RATIO);
    this._records = new Uint8Array((capacity + 1) * RECORD_SIZE);
    this._slots = new Uint32Array(this.slotCount);
    this._deleted = new Uint8Array(this.slotCount);
  }

  /** The number of records, deleted ones included (record numbers 1..size are in use). */
  get size(): number {
    return this.#size;
  }

  /** The number of records marked deleted. */
  get deletions(): number {
    return this.#deletions;
  }

  /** Free record space: capacity - size. */
  get remaining(): number {
    return this.capacity - this.#size;
  }

  /** Whether the zone is full (the chapter must close). */
  get isFull(): boolean {
    return this.#size >= this.capacity;
  }

  /** Empties the zone (uds_reset_open_chapter()). O(capacity). */
  reset(): void {
    this.#size = 0;
    this.#deletions = 0;
    this._records.fill(0);
    this._slots.fill(0);
    this._deleted.fill(0);
  }

  /**
   * The slot that holds `name`, or the empty slot that ends its probe chain (probe_chapter_slots()).
   * Deleted records are skipped, so a removed name can be put again.
   */
  #probe(name: Uint8Array): number {
    const slots = this._slots;
    const records = this._records;
    const mask = this.slotCount - 1;
    // uds_name_to_hash_slot(): the chapter bytes (8..13) modulo the slot count, a power of two of at
    // most 2^24, so the low 32 bits (bytes 10..13) decide it; a `%` of the 48-bit double was a call
    // into the runtime (fmod). The name was checked by the caller.
    let slot = ((name[10]! << 24) | (name[11]! << 16) | (name[12]! << 8) | name[13]!) & mask;
    let attempts = 1;
    for (;;) {
      const recordNumber = slots[slot]!;
      if (recordNumber === 0) return slot;
      if (this._deleted[recordNumber] === 0) {
        const base = recordNumber * RECORD_SIZE;
        let same = true;
        for (let i = 0; i < RECORD_NAME_SIZE; i++) {
          if (records[base + i] !== name[i]) {
            same = false;
            break;
          }
        }
        if (same) return slot;
      }
      // Quadratic probing: 1, 2, 3, ... (triangular numbers reach every slot of a 2^n table).
      slot = (slot + attempts++) & mask;
    }
  }

  /**
   * Adds a record, or replaces the metadata of a name already present (uds_put_open_chapter()).
   * A full zone stores nothing and returns 0.
   *
   * @param name - the 16-byte record name
   * @param data - the 16-byte metadata
   * @returns the remaining capacity after the put (0: full, close the chapter)
   * @throws TypeError / RangeError if name or data is not a 16-byte Uint8Array
   * Cost: O(1) expected (probe chains are short at load factor <= 1/2).
   */
  put(name: Uint8Array, data: Uint8Array): number {
    checkName(name);
    checkName(data, 'data');
    if (this.#size >= this.capacity) return 0;
    const slot = this.#probe(name);
    let recordNumber = this._slots[slot]!;
    if (recordNumber === 0) {
      recordNumber = ++this.#size;
      this._slots[slot] = recordNumber;
    }
    // Byte loops: TypedArray.prototype.set costs more than 16 stores at these sizes.
    const records = this._records;
    const base = recordNumber * RECORD_SIZE;
    for (let i = 0; i < RECORD_NAME_SIZE; i++) records[base + i] = name[i]!;
    for (let i = 0; i < RECORD_DATA_SIZE; i++) records[base + RECORD_NAME_SIZE + i] = data[i]!;
    return this.capacity - this.#size;
  }

  /**
   * Looks a name up (uds_search_open_chapter()).
   *
   * @param name - the 16-byte record name
   * @param out - where to copy the metadata (a new 16-byte array by default)
   * @returns `out` with the metadata, or undefined if the name is absent or deleted
   * @throws TypeError / RangeError if name is not a 16-byte Uint8Array
   * Cost: O(1) expected.
   */
  search(name: Uint8Array, out?: Uint8Array): Uint8Array | undefined {
    checkName(name);
    const recordNumber = this._slots[this.#probe(name)]!;
    if (recordNumber === 0) return undefined;
    const target = out ?? new Uint8Array(RECORD_DATA_SIZE);
    if (target.length < RECORD_DATA_SIZE) throw new RangeError('out must hold 16 bytes');
    const records = this._records;
    const base = recordNumber * RECORD_SIZE + RECORD_NAME_SIZE;
    for (let i = 0; i < RECORD_DATA_SIZE; i++) target[i] = records[base + i]!;
    return target;
  }

  /**
   * Marks a name's record deleted (uds_remove_from_open_chapter()). The slot stays in use and the
   * record keeps its number; an absent name changes nothing.
   *
   * @param name - the 16-byte record name
   * @returns true if a record was marked deleted
   * @throws TypeError / RangeError if name is not a 16-byte Uint8Array
   * Cost: O(1) expected.
   */
  remove(name: Uint8Array): boolean {
    checkName(name);
    const recordNumber = this._slots[this.#probe(name)]!;
    if (recordNumber === 0) return false;
    this._deleted[recordNumber] = 1;
    this.#deletions += 1;
    return true;
  }

  /**
   * The hash slot a name hashes to before probing.
   * @param name - the 16-byte record name
   * @returns the slot, in [0, slotCount). O(1).
   */
  hashSlotOf(name: Uint8Array): number {
    checkName(name);
    return ((name[10]! << 24) | (name[11]! << 16) | (name[12]! << 8) | name[13]!) & (this.slotCount - 1);
  }

  /**
   * The record number stored in a hash slot (0 for an empty slot).
   * @param slot - a slot in [0, slotCount)
   * @throws RangeError for a slot out of range. O(1).
   */
  recordNumberAt(slot: number): number {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slotCount) {
      throw new RangeError(`slot must be an integer in [0, ${this.slotCount}), got ${slot}`);
    }
    return this._slots[slot]!;
  }

  /**
   * Whether record `recordNumber` is marked deleted.
   * @param recordNumber - a record number in [1, size]
   * @throws RangeError for a record number out of range. O(1).
   */
  isDeleted(recordNumber: number): boolean {
    this.#checkRecordNumber(recordNumber);
    return this._deleted[recordNumber] === 1;
  }

  /**
   * A copy of record `recordNumber`: its name and metadata.
   * @param recordNumber - a record number in [1, size]
   * @throws RangeError for a record number out of range. O(1).
   */
  record(recordNumber: number): { name: Uint8Array; data: Uint8Array; deleted: boolean } {
    this.#checkRecordNumber(recordNumber);
    const base = recordNumber * RECORD_SIZE;
    return {
      name: this._records.slice(base, base + RECORD_NAME_SIZE),
      data: this._records.slice(base + RECORD_NAME_SIZE, base + RECORD_SIZE),
      deleted: this._deleted[recordNumber] === 1,
    };
  }

  #checkRecordNumber(recordNumber: number): void {
    if (!Number.isInteger(recordNumber) || recordNumber < 1 || recordNumber > this.#size) {
      throw new RangeError(`record number must be an integer in [1, ${this.#size}], got ${recordNumber}`);
    }
  }
}
