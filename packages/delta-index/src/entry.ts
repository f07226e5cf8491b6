// The cursor over one delta list (the seed's struct delta_index_entry): start a search, step through
// entries, and at the entry found read or set its value, read a collision name, put a new entry
// before it (or after it, for a collision) and remove it. The same cursor serves mutable indexes and
// immutable pages; the list-walking loop is allocation-free and monomorphic.

import { getField, setField } from '@deja/bitfield';
import {
  COLLISION_BITS,
  COLLISION_BYTES,
  DeltaZone,
  decodeDelta,
  decodedKeyBits,
  INSERT_LIST_OVERFLOW,
  INSERT_OK,
  insertSide,
  MAX_LIST_BITS,
} from './_zone';
import { keyBitsFor } from './coding';
import { DeltaIndexError, invalidArgument } from './errors';

/** A zone with no lists, bound to cursors that have not started a search yet. */
const UNBOUND_ZONE = new DeltaZone(new Uint8Array(8), 0, 0, 1, 1, 1, 0, false);

const U32_MAX = 0xffff_ffff;

/**
 * A position in one delta list: the result of a search, an iterator over the list, and the insertion
 * point for a new entry. Get one from `DeltaIndex.startSearch` / `getEntry` or
 * `DeltaIndexPage.startSearch` / `getEntry`; pass it back to those to reuse it without allocating.
 *
 * States (as in the seed): right after `startSearch` the cursor holds no entry; call {@link next}.
 * When {@link atEnd} is true it is the insertion point after the last entry. Otherwise it refers to an
 * entry, a collision entry when {@link isCollision} is true.
 *
 * A cursor is invalidated by any change to its list made through another cursor.
 */
export class DeltaIndexEntry {
  /** @internal */ _zone: DeltaZone = UNBOUND_ZONE;
  /** @internal Header slot of the list in its zone (zone-relative list number + 1). */ _slot = 0;
  /** @internal */ _listNumber = 0;
  /** @internal */ _key = 0;
  /** @internal Bit offset of the entry from the start of the list. */ _offset = 0;
  /** @internal */ _delta = 0;
  /** @internal */ _entryBits = 0;
  /** @internal */ _valueBits = 0;
  /** @internal */ _atEnd = true;
  /** @internal */ _isCollision = false;
  /** @internal */ _listOverflow = false;
  /** @internal True once next() has been called since the search started. */ _started = false;
  /** @internal Scratch cursor for remove(). */ _peer: DeltaIndexEntry | null = null;

  /** The key of the entry (for an entry at the end: the key of the last entry, or 0). */
  get key(): number {
    return this._key;
  }

  /** True when the cursor is past the last entry of its list. */
  get atEnd(): boolean {
    return this._atEnd;
  }

  /** True when the entry is a collision entry (carries a full record name). */
  get isCollision(): boolean {
    return this._isCollision;
  }

  /** The list number (within the index, or within the page for a page). */
  get listNumber(): number {
    return this._zone.firstList + this._listNumber;
  }

  /** The bit offset of the entry from the start of its list. */
  get offset(): number {
    return this._offset;
  }

  /** The bits the entry takes: payload, key code and, for a collision, the 128-bit name. */
  get entryBits(): number {
    return this._entryBits;
  }

  /** The delta from the previous key (0 for a collision). */
  get delta(): number {
    return this._delta;
  }

  /** True when the last put failed because the list would exceed 65535 bits. */
  get listOverflow(): boolean {
    return this._listOverflow;
  }

  /** @internal Point the cursor at the start of a list, or at its saved search position. */
  _start(zone: DeltaZone, listNumber: number, key: number): void {
    const slot = listNumber + 1;
    this._zone = zone;
    this._slot = slot;
    this._listNumber = listNumber;
    if (zone.mutable && key > zone.saveKey(slot)) {
      this._key = zone.saveKey(slot);
      this._offset = zone.saveOffset(slot);
    } else {
      this._key = 0;
      this._offset = 0;
    }
    this._atEnd = false;
    this._entryBits = 0;
    this._delta = 0;
    this._isCollision = false;
    this._listOverflow = false;
    this._valueBits = zone.valueBits;
    this._started = false;
  }

  /**
   * Step to the next entry of the list (uds_next_delta_index_entry). O(length of the key code).
   * @throws DeltaIndexError ERR_INVALID_STATE when already at the end; ERR_CORRUPT_DATA when the entry
   *   runs past the end of the list
   */
  next(): void {
    if (this._atEnd) {
      throw new DeltaIndexError('ERR_INVALID_STATE', `cursor is at the end of delta list ${this.listNumber}`);
    }
    this._started = true;
    const zone = this._zone;
    const offset = this._offset + this._entryBits;
    this._offset = offset;
    const size = zone.listSize(this._slot);
    if (offset >= size) {
      this._atEnd = true;
      this._delta = 0;
      this._isCollision = false;
      if (offset !== size) {
        throw new DeltaIndexError(
          'ERR_CORRUPT_DATA',
          `next offset past end of delta list ${this.listNumber}`,
        );
      }
      return;
    }
    const start = zone.listStart(this._slot);
    const valueBits = this._valueBits;
    const delta = decodeDelta(
      zone.view,
      start + offset + valueBits,
      start + size,
      zone.minBits,
      zone.minKeys,
      zone.incrKeys,
    );
    this._delta = delta;
    this._key += delta;
    let entryBits = valueBits + decodedKeyBits;
    if (delta === 0 && offset > 0) {
      this._isCollision = true;
      entryBits += COLLISION_BITS;
    } else {
      this._isCollision = false;
    }
    this._entryBits = entryBits;
    if (offset + entryBits > size) {
      throw new DeltaIndexError(
        'ERR_CORRUPT_DATA',
        `decoded past the end of delta list ${this.listNumber} at bit ${offset}`,
      );
    }
  }

  /**
   * Step until the end of the list or the first entry whose key is >= `key`: next() in a loop with
   * the state kept in locals (the hot path of every lookup).
   * @internal
   */
  _seek(key: number): void {
    if (this._atEnd) return;
    this._started = true;
    const zone = this._zone;
    const headers = zone.headers;
    const at = 4 * this._slot;
    // Every constant of the loop is made an int32 here, once per search (`| 0`): read as tagged
    // fields they were compared and multiplied as doubles on every step of the loop.
    const size = headers[at + 2]! & 0xffff;
    const minBits = zone.minBits | 0;
    const minKeys = zone.minKeys | 0;
    const incrKeys = zone.incrKeys | 0;
    const minMask = (1 << minBits) - 1; // minBits <= 25: a positive int32
    const valueBits = this._valueBits | 0;
    const minBits1 = minBits - 1;
    const step = valueBits + 32;
    // The list starts at bit hi · 2^32 + lo of the zone's memory, in the window of memory
    // `(hi · 2^32 + lo) >>> 30` (window k starts at byte k · 2^27, see DeltaZone.windows), at bit
    // `lo & (2^30 - 1)` of it. The loop walks `position`, the bit of the current entry's key code in
    // that window: an int32 below 2^30 + 2^16 + 25.
    const lo = headers[at]!;
    const view = zone.windows[headers[at + 1]! * 4 + (lo >>> 30)]!;
    const base = (lo & 0x3fff_ffff) + valueBits;
    const end = base + size;
    let position = base + ((this._offset + this._entryBits) | 0);
    let current = this._key;
    while (position < end) {
      // decode_delta, inlined and without a branch on the code's length: one 32-bit window holds
      // the shortest code and, in a full index, almost always the unary tail; longer tails read on
      // word by word. The terminating 1 of the tail is found in the word as read, above the code's
      // first minBits bits (-2 << 31 is 0: no tail bit in this word). A short code (delta <
      // minKeys: about one entry in four, at random) has no tail: it gets a fake terminating bit
      // at the top of its minBits instead, so that one formula gives the next position either way,
      // `position - shift + (valueBits + 32) - z` with the 1 at bit 31 - z of the word, and only
      // its last subtraction waits for the count of zeros (ffs).
      const shift = position & 7;
      const word = view.getUint32(position >>> 3, true);
      let delta = (word >>> shift) & minMask;
      const short = (delta - minKeys) >> 31; // -1 for a short code, else 0 (both below 2^25)
      const top = shift + minBits1; // the code's last bit in the word: 0..31
      const tail = (word & (-2 << top)) | (short & (1 << top));
      let next: number;
      if (tail !== 0) {
        const z = Math.clz32(tail & -tail);
        delta += ((31 - z - shift - minBits) & ~short) * incrKeys; // the tail's zeros; none if short
        next = position - shift + step - z;
      } else {
        // A tail longer than the word (a delta far above the mean, as in the lists of an index far
        // from full): whole words until the 1 bit, never past the end of the list.
        let byte = position >>> 3;
        let keyBits = 32 - shift;
        const room = end - position - valueBits;
        let data: number;
        for (;;) {
          if (keyBits >= room) {
            this._offset = position - base;
            throw new DeltaIndexError(
              'ERR_CORRUPT_DATA',
              `unterminated key code in delta list ${this.listNumber} at bit ${position - base}`,
            );
          }
          byte += 4;
          data = view.getUint32(byte, true);
          if (data !== 0) break;
          keyBits += 32;
        }
        keyBits += 32 - Math.clz32(data & -data);
        delta += (keyBits - minBits - 1) * incrKeys;
        next = position + valueBits + keyBits;
      }
      if (delta === 0 && position !== base) next += COLLISION_BITS;
      current += delta;
      if (current >= key) {
        const offset = position - base;
        // An entry that runs past the end of the list is caught here when the search stops on it,
        // and by the `position !== end` test below when the search steps over it.
        if (next > end) {
          this._offset = offset;
          throw new DeltaIndexError(
            'ERR_CORRUPT_DATA',
            `decoded past the end of delta list ${this.listNumber} at bit ${offset}`,
          );
        }
        this._offset = offset;
        this._key = current;
        this._delta = delta;
        this._entryBits = next - position;
        this._isCollision = delta === 0 && offset !== 0;
        return;
      }
      position = next;
    }
    this._offset = position - base;
    this._key = current;
    this._atEnd = true;
    this._delta = 0;
    this._isCollision = false;
    if (position !== end) {
      throw new DeltaIndexError('ERR_CORRUPT_DATA', `next offset past end of delta list ${this.listNumber}`);
    }
  }

  /**
   * The search both `getEntry`s (of DeltaIndex and of DeltaIndexPage) run
   * (uds_get_delta_index_entry), on a list slot of `zone`, with no argument checks: the cursor stops
   * on the first entry whose key is >= `key`, or at the end; on a match with `name` given, on the
   * collision entry of that name if there is one. A mutable zone remembers the position.
   * @internal
   */
  _find(zone: DeltaZone, listNumber: number, key: number, name: Uint8Array | null): this {
    this._start(zone, listNumber, key);
    this._seek(key);
    // A search stops on a plain entry (collision entries follow theirs), so this is rememberOffset().
    if (zone.mutable) zone.setSave(this._slot, this._key - this._delta, this._offset);
    if (name !== null && !this._atEnd && this._key === key) this._resolveCollision(name);
    return this;
  }

  /**
   * The whole of a lookup (uds_get_delta_index_entry followed by uds_get_delta_entry_value) on a
   * list slot of `zone`, with no argument checks: returns the value for `key`, or -1. The cursor is
   * left on the entry found, as getEntry leaves it.
   * @internal
   */
  _lookup(zone: DeltaZone, listNumber: number, key: number, name: Uint8Array | null): number {
    this._find(zone, listNumber, key, name);
    if (this._atEnd || this._key !== key) return -1;
    // The value is at most 25 bits at a bit shift of at most 7: one 32-bit window, inside the list,
    // read in the window of memory the search used, at an int32 bit position (see _seek).
    const headers = zone.headers;
    const at = 4 * this._slot;
    const lo = headers[at]!;
    const view = zone.windows[headers[at + 1]! * 4 + (lo >>> 30)]!;
    const position = (lo & 0x3fff_ffff) + this._offset;
    return (view.getUint32(position >>> 3, true) >>> (position & 7)) & ((1 << this._valueBits) - 1);
  }

  /** @internal Throw unless the cursor refers to an entry. */
  _checkEntry(operation: string): void {
    if (!this._started || this._atEnd) {
      throw new DeltaIndexError(
        'ERR_INVALID_STATE',
        `${operation}: the cursor does not refer to an entry of delta list ${this.listNumber}`,
      );
    }
  }

  /** @internal Throw unless the cursor's list can change. */
  _checkMutable(operation: string): void {
    if (!this._zone.mutable) {
      throw new DeltaIndexError(
        'ERR_INVALID_STATE',
        `${operation}: an immutable delta index page cannot change`,
      );
    }
    if (!this._started) {
      throw new DeltaIndexError('ERR_INVALID_STATE', `${operation}: call next() after starting a search`);
    }
  }

  /**
   * Remember this position so that a later search of a larger key in this list starts here
   * (uds_remember_delta_index_offset). Pages do not remember positions. O(1).
   * @throws DeltaIndexError ERR_INVALID_STATE on a collision entry
   */
  rememberOffset(): void {
    if (this._isCollision) {
      throw new DeltaIndexError('ERR_INVALID_STATE', 'cannot remember the offset of a collision entry');
    }
    const zone = this._zone;
    if (!zone.mutable) return;
    zone.setSave(this._slot, this._key - this._delta, this._offset);
  }

  /**
   * The payload of the entry (uds_get_delta_entry_value). O(1).
   * @throws DeltaIndexError ERR_INVALID_STATE when the cursor does not refer to an entry
   */
  get value(): number {
    this._checkEntry('value');
    const zone = this._zone;
    return zone.readValue(zone.listStart(this._slot) + this._offset);
  }

  /**
   * Replace the payload of the entry (uds_set_delta_entry_value). O(1).
   * @param value - the new payload, an integer in [0, 2^payloadBits)
   * @throws RangeError (ERR_INVALID_ARGUMENT) when the value does not fit;
   *   DeltaIndexError ERR_INVALID_STATE on a page or when the cursor does not refer to an entry
   */
  setValue(value: number): void {
    this._checkMutable('setValue');
    this._checkEntry('setValue');
    this._checkValue(value);
    const zone = this._zone;
    setField(value, zone.memory, zone.listStart(this._slot) + this._offset, this._valueBits);
  }

  /** @internal */
  _checkValue(value: number): void {
    // valueBits <= 25, so the bound is a positive int32 and `value | 0` is exact for values in range.
    if (!(value >= 0 && value <= (1 << this._valueBits) - 1 && (value | 0) === value)) {
      throw invalidArgument(`value ${value} does not fit in ${this._valueBits} bits`);
    }
  }

  /**
   * The record name stored in a collision entry (uds_get_delta_entry_collision). O(1).
   * @param out - where to write the 16 bytes (a new array by default)
   * @returns `out`
   * @throws DeltaIndexError ERR_INVALID_STATE when the entry is not a collision entry
   */
  collisionName(out: Uint8Array = new Uint8Array(COLLISION_BYTES)): Uint8Array {
    this._checkEntry('collisionName');
    if (!this._isCollision) {
      throw new DeltaIndexError('ERR_INVALID_STATE', 'only a collision entry carries a record name');
    }
    if (out.length < COLLISION_BYTES) throw invalidArgument('out must hold 16 bytes');
    this._readName(out);
    return out;
  }

  /** @internal Bit offset of the collision name of the current entry. */
  _nameOffset(): number {
    return this._zone.listStart(this._slot) + this._offset + this._entryBits - COLLISION_BITS;
  }

  /** @internal */
  _readName(out: Uint8Array): void {
    const memory = this._zone.memory;
    const offset = this._nameOffset();
    for (let i = 0; i < COLLISION_BYTES; i++) out[i] = getField(memory, offset + 8 * i, 8);
  }

  /** @internal True when the collision entry's name equals `name`. */
  _nameEquals(name: Uint8Array): boolean {
    const memory = this._zone.memory;
    const offset = this._nameOffset();
    for (let i = 0; i < COLLISION_BYTES; i++) {
      if (getField(memory, offset + 8 * i, 8) !== name[i]) return false;
    }
    return true;
  }

  /**
   * After a search for `key` stopped on an entry with that key, step through the collision entries
   * that follow it and stop on the one carrying `name`; stay on the plain entry when none does.
   * @internal
   */
  _resolveCollision(name: Uint8Array): void {
    const key = this._key;
    const offset = this._offset;
    const delta = this._delta;
    const entryBits = this._entryBits;
    for (;;) {
      this.next();
      if (this._atEnd || !this._isCollision) break;
      if (this._nameEquals(name)) return;
    }
    this._key = key;
    this._offset = offset;
    this._delta = delta;
    this._entryBits = entryBits;
    this._atEnd = false;
    this._isCollision = false;
  }

  /** @internal Set the delta and the entry size it implies (set_delta). */
  _setDelta(delta: number): void {
    const zone = this._zone;
    this._delta = delta;
    this._entryBits = this._valueBits + keyBitsFor(delta, zone.minBits, zone.minKeys, zone.incrKeys);
  }

  /** @internal Write payload, key code and name of the entry (encode_entry). */
  _encodeEntry(value: number, name: Uint8Array | null): void {
    const zone = this._zone;
    zone.writeEntry(zone.listStart(this._slot) + this._offset, value, this._delta);
    if (name !== null) {
      const memory = zone.memory;
      const offset = this._nameOffset();
      for (let i = 0; i < COLLISION_BYTES; i++) setField(name[i]!, memory, offset + 8 * i, 8);
    }
  }

  /** @internal Throw the error for a failed insertBits. */
  _insertFailed(result: number): never {
    if (result === INSERT_LIST_OVERFLOW) {
      this._listOverflow = true;
      throw new DeltaIndexError('ERR_OVERFLOW', `delta list ${this.listNumber} would exceed 65535 bits`);
    }
    throw new DeltaIndexError(
      'ERR_OVERFLOW',
      `zone of delta list ${this.listNumber} has no memory left (${this._zone.size} bytes)`,
    );
  }

  /**
   * Create an entry at this position (uds_put_delta_index_entry). Without a name the new entry goes
   * before the cursor's entry (or at the end); its key must lie between the previous key and the
   * cursor's key. With a name it is a collision entry placed right after the cursor's entry, whose
   * key it must equal. Afterwards the cursor refers to the new entry. On failure nothing changes.
   * A plain entry's key must be greater than the previous entry's key (equal only for key 0 as the
   * first entry of the list): an equal key needs a name.
   * O(list bits) to shift the list; a rebalance is O(zone bytes).
   *
   * @param key - the key, an integer in [0, 2^32 − 1]
   * @param value - the payload, an integer in [0, 2^payloadBits)
   * @param name - the 16-byte record name of a collision entry, or null
   * @throws RangeError (ERR_INVALID_ARGUMENT) for a key out of order, a value that does not fit or a
   *   name that is not 16 bytes; DeltaIndexError ERR_OVERFLOW when the list would exceed 65535 bits or
   *   the zone memory is full, ERR_EXISTS on a collision entry, ERR_INVALID_STATE on a page, before
   *   next(), or for a collision at the end of the list
   */
  put(key: number, value: number, name: Uint8Array | null = null): void {
    this._checkMutable('put');
    if (this._isCollision) {
      throw new DeltaIndexError('ERR_EXISTS', `a collision entry cannot take another collision entry`);
    }
    if (!Number.isInteger(key) || key < 0 || key > U32_MAX) {
      throw invalidArgument(`key must be an integer in [0, 2^32 - 1], got ${key}`);
    }
    this._checkValue(value);
    if (name !== null && (!(name instanceof Uint8Array) || name.length !== COLLISION_BYTES)) {
      throw invalidArgument('a collision name must be a 16-byte Uint8Array');
    }
    const zone = this._zone;
    const slot = this._slot;
    const savedOffset = this._offset;
    const savedKey = this._key;
    const savedDelta = this._delta;
    const savedEntryBits = this._entryBits;
    const savedAtEnd = this._atEnd;
    if (name !== null) {
      if (this._atEnd) {
        throw new DeltaIndexError('ERR_INVALID_STATE', 'a collision entry needs an entry to follow');
      }
      if (key !== this._key)
        throw invalidArgument(`collision key ${key} differs from entry key ${this._key}`);
    } else {
      // The new plain entry goes at the cursor's offset, so its key must exceed the previous
      // entry's: a delta of 0 after the first entry is what marks a collision entry, and an equal
      // key would read back as a collision with garbage for a name. At offset 0 (the first entry)
      // the previous key is 0 and a delta of 0 is a plain entry. The seed asserts only
      // `key >= previous`, which lets the equal key through.
      const previous = this._atEnd ? this._key : this._key - this._delta;
      if ((key <= previous && this._offset !== 0) || (!this._atEnd && key >= this._key)) {
        throw invalidArgument(
          this._atEnd
            ? `key ${key} does not follow the last key ${previous} of delta list ${this.listNumber}`
            : `key ${key} is not in (${previous}, ${this._key}) in delta list ${this.listNumber}`,
        );
      }
    }
    if (name === null && zone.narrow && this._putNarrow(key, value)) return;
    if (this._offset < zone.saveOffset(slot)) {
      // The saved position is after the new entry and would be stale: save the insertion point.
      this.rememberOffset();
    }
    let result: number;
    if (name !== null) {
      this._offset += this._entryBits;
      this._setDelta(0);
      this._isCollision = true;
      this._entryBits += COLLISION_BITS;
      result = zone.insertBits(slot, this._offset, this._entryBits);
    } else if (this._atEnd) {
      this._setDelta(key - this._key);
      this._key = key;
      this._atEnd = false;
      result = zone.insertBits(slot, this._offset, this._entryBits);
    } else {
      // The new entry splits the delta of the entry at the cursor, which is re-encoded after it.
      const oldEntryBits = this._entryBits;
      const nextKey = this._key;
      const nextValue = zone.readValue(zone.listStart(slot) + this._offset);
      this._setDelta(key - (this._key - this._delta));
      this._key = key;
      const newEntryBits = this._entryBits;
      const nextDelta = nextKey - key;
      const nextEntryBits =
        this._valueBits + keyBitsFor(nextDelta, zone.minBits, zone.minKeys, zone.incrKeys);
      result = zone.insertBits(slot, this._offset, newEntryBits + nextEntryBits - oldEntryBits);
      if (result === INSERT_OK) {
        // The following entry, re-encoded after the new one.
        zone.writeEntry(zone.listStart(slot) + this._offset + newEntryBits, nextValue, nextDelta);
      }
    }
    if (result !== INSERT_OK) {
      this._offset = savedOffset;
      this._key = savedKey;
      this._delta = savedDelta;
      this._entryBits = savedEntryBits;
      this._atEnd = savedAtEnd;
      this._isCollision = false;
      this._insertFailed(result);
    }
    this._encodeEntry(value, name);
    zone.recordCount++;
    if (this._isCollision) zone.collisionCount++;
  }

  /**
   * The common put, checked already: a plain entry into a list of a narrow zone (every bit offset an
   * int32) whose gap before or after takes it without a rebalance. The same steps as the general
   * path below (rememberOffset, insert_bits, the new entry and the following one re-encoded), in
   * int32 arithmetic on the header words, each key code's length computed once. Returns false,
   * having changed nothing, when the list would pass 65535 bits or neither gap is big enough: the
   * general path then counts the overflow or rebalances the zone.
   * @internal
   */
  _putNarrow(key: number, value: number): boolean {
    const zone = this._zone;
    const headers = zone.headers;
    const slot = this._slot;
    const at = 4 * slot;
    const valueBits = this._valueBits | 0;
    const minBits = zone.minBits | 0;
    const minKeys = zone.minKeys | 0;
    const incrKeys = zone.incrKeys | 0;
    const offset = this._offset | 0;
    const atEnd = this._atEnd;
    const oldKey = this._key;
    const oldDelta = this._delta;
    // At the end the new entry follows the last key; otherwise it splits the delta of the entry at
    // the cursor, which is re-encoded after it.
    const newDelta = atEnd ? key - oldKey : key - (oldKey - oldDelta);
    const newKeyBits = keyBitsFor(newDelta, minBits, minKeys, incrKeys);
    const newBits = valueBits + newKeyBits;
    const nextDelta = oldKey - key;
    const nextKeyBits = atEnd ? 0 : keyBitsFor(nextDelta, minBits, minKeys, incrKeys);
    const growth = atEnd ? newBits : newBits + valueBits + nextKeyBits - this._entryBits;
    const size = headers[at + 2]! & 0xffff;
    if (size + growth > MAX_LIST_BITS) return false;
    // insert_bits: take the bits from the gap before or after the list, moving the shorter part.
    const start = headers[at]! | 0;
    const freeBefore = start - ((headers[at - 4]! | 0) + (headers[at - 2]! & 0xffff));
    const freeAfter = (headers[at + 4]! | 0) - (start + size);
    const afterSize = size - offset;
    const side = insertSide(growth, offset, afterSize, freeBefore, freeAfter);
    if (side < 0) return false;
    const before = side === 1;
    const view = zone.view;
    let position = start + offset;
    const nextValue = atEnd
      ? 0
      : (view.getUint32(position >>> 3, true) >>> (position & 7)) & ((1 << valueBits) - 1);
    // The saved position is after the new entry and would be stale: save the insertion point
    // (rememberOffset; at the end of a list the cursor's delta is 0).
    if (offset < headers[at + 2]! >>> 16) zone.setSave(slot, oldKey - oldDelta, offset);
    headers[at + 2] = (headers[at + 2]! & 0xffff_0000) | (size + growth);
    if (before) {
      headers[at] = start - growth;
      if (offset > 0) zone.shiftBits(start, start - growth, offset);
      position -= growth;
    } else if (afterSize > 0) {
      zone.shiftBits(position, position + growth, afterSize);
    }
    zone.writeEntryAt(view, position, value, newDelta, newKeyBits);
    if (!atEnd) zone.writeEntryAt(view, position + newBits, nextValue, nextDelta, nextKeyBits);
    this._key = key;
    this._delta = newDelta;
    this._entryBits = newBits;
    this._atEnd = false;
    zone.recordCount++;
    return true;
  }

  /**
   * Remove the entry (uds_remove_delta_index_entry); the cursor moves to the entry that followed it
   * (or the end). Removing a plain entry followed by collision entries promotes the first of them.
   * O(list bits).
   * @throws DeltaIndexError ERR_INVALID_STATE on a page or when the cursor does not refer to an entry;
   *   ERR_CORRUPT_DATA when the following entry cannot be decoded
   */
  remove(): void {
    this._checkMutable('remove');
    this._checkEntry('remove');
    const zone = this._zone;
    const slot = this._slot;
    let peer = this._peer;
    if (peer === null) {
      peer = new DeltaIndexEntry();
      this._peer = peer;
    }
    peer._copyFrom(this);
    peer.next();
    if (this._isCollision) {
      zone.deleteBits(slot, this._offset, this._entryBits);
      peer._offset = this._offset;
      zone.collisionCount--;
    } else if (peer._atEnd) {
      zone.deleteBits(slot, this._offset, this._entryBits);
      peer._key -= this._delta;
      peer._offset = this._offset;
    } else {
      const nextValue = peer.value;
      const oldSize = this._entryBits + peer._entryBits;
      if (peer._isCollision) {
        peer._isCollision = false;
        zone.collisionCount--;
      }
      peer._setDelta(this._delta + peer._delta);
      peer._offset = this._offset;
      zone.deleteBits(slot, this._offset, oldSize - peer._entryBits);
      peer._encodeEntry(nextValue, null);
    }
    zone.recordCount--;
    zone.discardCount++;
    this._copyFrom(peer);
    if (this._offset < zone.saveOffset(slot)) {
      zone.setSave(slot, 0, 0);
    }
  }

  /** @internal Copy the position of another cursor. */
  _copyFrom(other: DeltaIndexEntry): void {
    this._zone = other._zone;
    this._slot = other._slot;
    this._listNumber = other._listNumber;
    this._key = other._key;
    this._offset = other._offset;
    this._delta = other._delta;
    this._entryBits = other._entryBits;
    this._valueBits = other._valueBits;
    this._atEnd = other._atEnd;
    this._isCollision = other._isCollision;
    this._listOverflow = other._listOverflow;
    this._started = other._started;
  }
}
