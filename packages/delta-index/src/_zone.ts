// One zone of a delta index (the seed's struct delta_zone): the list memory, the 16-byte list
// headers (start, size, saved search position) packed in one Uint32Array, the Huffman constants,
// the statistics, and the memory management that makes room for a growing list: take free bits from
// a neighbouring gap, or rebalance every list of the zone (compute_new_list_offsets,
// rebalance_delta_zone, extend_delta_zone, insert_bits, delete_bits). Also the hot decoder.

import { GUARD_BITS, moveBits, POST_FIELD_GUARD_BYTES } from '@deja/bitfield';
import { keyBitsFor } from './coding';
import { DeltaIndexError } from './errors';

/** The largest size of a delta list in bits: the seed stores it in a u16. */
export const MAX_LIST_BITS = 0xffff;

/** Bytes and bits of the record name carried by a collision entry. */
export const COLLISION_BYTES = 16;
export const COLLISION_BITS = COLLISION_BYTES * 8;

/** The size of the seed's struct delta_zone (cache-line aligned), for memory accounting. */
export const ZONE_STRUCT_BYTES = 128;

/** The bytes of one list header (start u64, size u16, save offset u16, save key u32) + new offset u64. */
export const LIST_HEADER_BYTES = 24;

/** The bytes between the starts of two search windows of a zone's memory (see DeltaZone.windows). */
export const WINDOW_STEP = 2 ** 27;

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** What {@link DeltaZone.insertBits} reports. */
export const INSERT_OK = 0;
export const INSERT_LIST_OVERFLOW = 1;
export const INSERT_ZONE_FULL = 2;

/**
 * Key bits of the entry most recently decoded by {@link decodeDelta}. A module variable instead of a
 * returned pair keeps the hot loop free of allocation.
 */
export let decodedKeyBits = 0;

/**
 * Decode the key code at absolute bit `position` of the memory behind `view` (the seed's
 * decode_delta) and return the delta; the code length goes to {@link decodedKeyBits}. `limit` is the
 * absolute bit where the list ends: a run of zero bits that reaches it is corrupt data, so a damaged
 * list can neither loop forever nor read beyond its own end (the seed relies on the all-ones tail
 * guard list instead).
 *
 * The 32-bit windows are little-endian unaligned reads, as the seed's get_unaligned_le32. They stay
 * inside the memory: every list ends at least 7 guard bytes before its end, a window starts at most
 * 25 bits past the start of an entry that begins inside its list, and the zero-run loop stops at
 * the end of the list.
 * @throws DeltaIndexError ERR_CORRUPT_DATA
 */
export function decodeDelta(
  view: DataView,
  position: number,
  limit: number,
  minBits: number,
  minKeys: number,
  incrKeys: number,
): number {
  const shift = position & 7; // ToInt32 keeps the low 3 bits exact for any position below 2^53
  let byte = (position - shift) / 8;
  let data = view.getUint32(byte, true) >>> shift;
  let keyBits = minBits;
  // minBits <= 25, so the mask is a positive int32.
  let delta = data & ((1 << minBits) - 1);
  if (delta >= minKeys) {
    data >>>= minBits;
    if (data === 0) {
      keyBits = 32 - shift;
      const room = limit - position;
      for (;;) {
        if (keyBits >= room) {
          throw new DeltaIndexError('ERR_CORRUPT_DATA', `unterminated key code at bit ${position}`);
        }
        byte += 4;
        data = view.getUint32(byte, true);
        if (data !== 0) break;
        keyBits += 32;
      }
    }
    // ffs(data): the 1-based index of the lowest set bit.
    keyBits += 32 - Math.clz32(data & -data);
    delta += (keyBits - minBits - 1) * incrKeys;
  }
  decodedKeyBits = keyBits;
  return delta;
}

/**
 * Write the low `width` (<= 25) bits of `bits` at bit `position` (an int32) of `view`: one 32-bit
 * read-modify-write. width + (position & 7) <= 32; the mask may set bit 31 (a negative int32), which
 * the bitwise operators and setUint32's ToUint32 take as the unsigned pattern it is. A width of 0
 * writes nothing.
 */
/**
 * Which side of a list an insertion of `need` bits moves (insert_bits): the smaller part into the
 * gap on its side, on a tie the larger gap; 1 before, 0 after, -1 when neither gap holds `need`.
 */
export function insertSide(
  need: number,
  beforeSize: number,
  afterSize: number,
  freeBefore: number,
  freeAfter: number,
): number {
  if (need <= freeBefore && need <= freeAfter) {
    return beforeSize < afterSize ? 1 : afterSize < beforeSize ? 0 : freeBefore > freeAfter ? 1 : 0;
  }
  if (need <= freeBefore) return 1;
  if (need <= freeAfter) return 0;
  return -1;
}

function writeWindow(view: DataView, position: number, bits: number, width: number): void {
  const shift = position & 7;
  const byte = position >>> 3;
  const mask = ((1 << width) - 1) << shift;
  view.setUint32(byte, (view.getUint32(byte, true) & ~mask) | ((bits << shift) & mask), true);
}

/** The mutable or immutable storage of one zone, with its list headers and statistics. */
export class DeltaZone {
  /** The list memory (for a page: the page itself). */
  readonly memory: Uint8Array;
  /** A view of the memory for unaligned 32-bit reads in the decoder. */
  readonly view: DataView;
  /**
   * Views of the memory for the search loop, window k starting at byte k · 2^27 and at most 2^28
   * bytes long (window 0 is the whole memory), so that a list (at most 8 KiB, plus the 4-byte reads
   * past its end that stay inside the memory) lies wholly inside the window where it starts and its
   * bit positions there are int32s below 2^31. For any memory below 2^28 bytes (pages, most zones)
   * this is just `[view]`.
   */
  readonly windows: DataView[];
  /**
   * The memory as 32-bit words, for {@link shiftBits}: null unless the platform is little-endian
   * and the memory starts on a 4-byte boundary of its buffer (a zone's own memory always does).
   */
  readonly #words: Uint32Array | null;
  /**
   * The list headers, 16 bytes per list as in the seed's struct delta_list, one cache line for a
   * lookup: words 4i and 4i+1 hold the bit offset where list slot i starts (low and high 32 bits),
   * word 4i+2 its bit size (low 16 bits) and the saved search offset (high 16 bits), word 4i+3 the
   * key saved with that offset. Slot 0 is the head guard list, slot listCount + 1 the tail guard;
   * the list numbered n in the zone is slot n + 1. Pages keep the same layout and never save.
   */
  readonly headers: Uint32Array;
  /** Scratch for rebalancing. */
  readonly newOffsets: Float64Array;
  /** The bytes of list memory. */
  readonly size: number;
  readonly minBits: number;
  readonly minKeys: number;
  readonly incrKeys: number;
  readonly valueBits: number;
  /** The index-wide number of the zone's first list. */
  readonly firstList: number;
  readonly listCount: number;
  readonly mutable: boolean;
  /**
   * True when every bit offset of the memory is an int32 (below 2^31 bits: a zone of less than 256
   * MiB, as are pages and the volume index zone of the 0.25 GB dedup index): the list starts are then
   * the low words of the headers alone, and puts and shifts take int32 paths
   * (DeltaIndexEntry._putNarrow, shiftBits).
   */
  readonly narrow: boolean;
  rebalanceTime = 0;
  rebalanceCount = 0;
  recordCount = 0;
  collisionCount = 0;
  discardCount = 0;
  overflowCount = 0;

  constructor(
    memory: Uint8Array,
    firstList: number,
    listCount: number,
    minBits: number,
    minKeys: number,
    incrKeys: number,
    valueBits: number,
    mutable: boolean,
  ) {
    this.memory = memory;
    this.view = new DataView(memory.buffer, memory.byteOffset, memory.byteLength);
    this.windows = [this.view];
    for (let at = WINDOW_STEP; at < memory.byteLength; at += WINDOW_STEP) {
      const length = Math.min(memory.byteLength - at, 2 * WINDOW_STEP);
      this.windows.push(new DataView(memory.buffer, memory.byteOffset + at, length));
    }
    this.#words =
      LITTLE_ENDIAN && mutable && memory.byteOffset % 4 === 0
        ? new Uint32Array(memory.buffer, memory.byteOffset, Math.floor(memory.byteLength / 4))
        : null;
    this.size = memory.length;
    this.firstList = firstList;
    this.listCount = listCount;
    this.minBits = minBits;
    this.minKeys = minKeys;
    this.incrKeys = incrKeys;
    this.valueBits = valueBits;
    this.mutable = mutable;
    this.narrow = memory.byteLength <= 0x0fff_ffff;
    this.headers = new Uint32Array(4 * (listCount + 2));
    this.newOffsets = new Float64Array(mutable ? listCount + 2 : 0);
  }

  /** The bit offset where list slot `i` starts. */
  listStart(i: number): number {
    return this.headers[4 * i]! + this.headers[4 * i + 1]! * 0x1_0000_0000;
  }

  /** Set the bit offset where list slot `i` starts (below 2^53). */
  setListStart(i: number, start: number): void {
    // ToUint32 (`>>> 0`) is the exact residue mod 2^32 of an integer below 2^53; `%` on a double
    // was a runtime fmod call on every insert.
    const low = start >>> 0;
    this.headers[4 * i] = low;
    this.headers[4 * i + 1] = (start - low) / 0x1_0000_0000;
  }

  /** The bit size of list slot `i`. */
  listSize(i: number): number {
    return this.headers[4 * i + 2]! & 0xffff;
  }

  /** Set the bit size of list slot `i` (at most 65535). */
  setListSize(i: number, size: number): void {
    this.headers[4 * i + 2] = (this.headers[4 * i + 2]! & 0xffff_0000) | size;
  }

  /** The saved search offset of list slot `i`. */
  saveOffset(i: number): number {
    return this.headers[4 * i + 2]! >>> 16;
  }

  /** The key saved with the search offset of list slot `i`. */
  saveKey(i: number): number {
    return this.headers[4 * i + 3]!;
  }

  /** Save a search position of list slot `i`: the entry at `offset` follows the key `key`. */
  setSave(i: number, key: number, offset: number): void {
    this.headers[4 * i + 2] = (this.headers[4 * i + 2]! & 0xffff) | (offset << 16);
    this.headers[4 * i + 3] = key;
  }

  /**
   * Write an entry's payload and the key code of `delta` at absolute bit `position` (the seed's
   * encode_entry and encode_delta, without a collision name), through the window of memory that
   * holds it ({@link writeEntryAt}).
   */
  writeEntry(position: number, value: number, delta: number): void {
    const window = Math.floor(position / 2 ** 30); // window k starts at bit k · 2^30
    this.writeEntryAt(
      this.windows[window]!,
      (position - window * 2 ** 30) | 0,
      value,
      delta,
      keyBitsFor(delta, this.minBits, this.minKeys, this.incrKeys),
    );
  }

  /**
   * Write an entry's payload and the key code of `delta`, `keyBits` long (keyBitsFor), at bit
   * `position` of `view`, an int32. When payload and code fit in 25 bits (nearly always: a volume
   * index entry is 10 + 12 bits and a tail of a few bits) this is one read-modify-write of a 32-bit
   * window; the window stays inside the memory, since every entry lies before the 7 bytes of the
   * tail guard list. Longer entries go in several windows of up to 25 bits.
   */
  writeEntryAt(view: DataView, position: number, value: number, delta: number, keyBits: number): void {
    const valueBits = this.valueBits;
    const minBits = this.minBits;
    const minKeys = this.minKeys;
    const head = valueBits + minBits;
    if (delta < minKeys) {
      if (head <= 25) {
        writeWindow(view, position, value | (delta << valueBits), head);
        return;
      }
      writeWindow(view, position, value, valueBits);
      writeWindow(view, position + valueBits, delta, minBits);
      return;
    }
    const zeros = keyBits - minBits - 1;
    const code = delta - zeros * this.incrKeys;
    const width = valueBits + keyBits;
    if (width <= 25) {
      // The zeros are zero bits of the window; the terminating 1 is its top bit.
      writeWindow(view, position, value | (code << valueBits) | (1 << (width - 1)), width);
      return;
    }
    // A long tail (deltas far above the mean: a list holding few entries yet). The zeros go in
    // windows of up to 25 bits, then the terminating 1 bit.
    if (head <= 25) writeWindow(view, position, value | (code << valueBits), head);
    else {
      writeWindow(view, position, value, valueBits);
      writeWindow(view, position + valueBits, code, minBits);
    }
    let at = position + head;
    let left = zeros;
    while (left >= 25) {
      writeWindow(view, at, 0, 25);
      at += 25;
      left -= 25;
    }
    writeWindow(view, at, 1 << left, left + 1);
  }

  /** The payload of the entry at absolute bit `position` (at most 25 bits, one 32-bit window). */
  readValue(position: number): number {
    const shift = position & 7;
    return (this.view.getUint32((position - shift) / 8, true) >>> shift) & ((1 << this.valueBits) - 1);
  }

  /** Bytes spanned by list `i`, counting the partial bytes at both ends (get_delta_list_byte_size). */
  byteSize(i: number): number {
    return Math.ceil(((this.headers[4 * i]! & 7) + this.listSize(i)) / 8);
  }

  /** The total bits held by the zone's lists (not counting guard lists). O(lists). */
  usedBits(): number {
    let bits = 0;
    for (let i = 1; i <= this.listCount; i++) bits += this.listSize(i);
    return bits;
  }

  /**
   * Empty every list and space them evenly; set the tail guard list to all ones
   * (uds_reset_delta_index for one zone). O(lists).
   */
  reset(): void {
    const n = this.listCount;
    this.headers.fill(0);
    const listBits = this.size * 8 - GUARD_BITS;
    this.setListStart(n + 1, listBits);
    this.setListSize(n + 1, GUARD_BITS);
    this.memory.fill(0xff, listBits / 8, listBits / 8 + POST_FIELD_GUARD_BYTES);
    const spacing = Math.floor(listBits / n);
    let offset = Math.floor(spacing / 2);
    for (let i = 1; i <= n; i++) {
      this.setListStart(i, offset);
      offset += spacing;
    }
    this.discardCount += this.recordCount;
    this.recordCount = 0;
    this.collisionCount = 0;
  }

  /** Bytes in use by all lists including both guards. O(lists). */
  usedSpace(): number {
    let used = 0;
    for (let i = 0; i <= this.listCount + 1; i++) used += this.byteSize(i);
    return used;
  }

  /**
   * Compute new list starts that spread the free bytes evenly, with `growingSize` extra bytes in front
   * of list `growingIndex` (compute_new_list_offsets). `usedSpace` must not exceed the zone size.
   */
  computeNewListOffsets(growingIndex: number, growingSize: number, usedSpace: number): void {
    const n = this.listCount;
    const offsets = this.newOffsets;
    const spacing = Math.floor((this.size - usedSpace) / n);
    offsets[0] = 0;
    for (let i = 0; i <= n; i++) {
      offsets[i + 1] = offsets[i]! + this.byteSize(i) + spacing;
      offsets[i] = offsets[i]! * 8 + (this.headers[4 * i]! & 7);
      if (i === 0) offsets[i + 1] = offsets[i + 1]! - Math.floor(spacing / 2);
      if (i + 1 === growingIndex) offsets[i + 1] = offsets[i + 1]! + growingSize;
    }
    offsets[n + 1] = this.size * 8 - this.listSize(n + 1);
  }

  /**
   * Move lists first..last to their new offsets, recursing so that no list overwrites one that has
   * not moved yet (rebalance_delta_zone). Whole bytes move, so partial bytes carry their stray bits.
   */
  rebalance(first: number, last: number): void {
    if (first === last) {
      const newStart = this.newOffsets[first]!;
      const oldStart = this.listStart(first);
      if (oldStart !== newStart) {
        const source = Math.floor(oldStart / 8);
        this.setListStart(first, newStart);
        const destination = Math.floor(newStart / 8);
        this.memory.copyWithin(destination, source, source + this.byteSize(first));
      }
      return;
    }
    const middle = Math.floor((first + last) / 2);
    if (this.newOffsets[middle]! > this.listStart(middle)) {
      this.rebalance(middle + 1, last);
      this.rebalance(first, middle);
    } else {
      this.rebalance(first, middle);
      this.rebalance(middle + 1, last);
    }
  }

  /**
   * Respace every list, leaving `growingSize` extra bytes before list `growingIndex`
   * (extend_delta_zone). Returns false when the zone memory cannot hold the lists.
   */
  extend(growingIndex: number, growingSize: number): boolean {
    const startTime = performance.now();
    const used = growingSize + this.usedSpace();
    if (this.size < used) return false;
    this.computeNewListOffsets(growingIndex, growingSize, used);
    this.rebalance(1, this.listCount + 1);
    this.rebalanceCount++;
    this.rebalanceTime += Math.round((performance.now() - startTime) * 1e6);
    return true;
  }

  /** Free bits between list `i` and the list before it. */
  freeBefore(i: number): number {
    return this.listStart(i) - (this.listStart(i - 1) + this.listSize(i - 1));
  }

  /** Free bits between list `i` and the list after it. */
  freeAfter(i: number): number {
    return this.listStart(i + 1) - (this.listStart(i) + this.listSize(i));
  }

  /**
   * Open `size` bits at bit `offset` of list `i`, moving whichever side of the list is shorter into
   * the free space around it, or rebalancing the zone when neither gap is big enough (insert_bits).
   * Nothing changes unless it returns {@link INSERT_OK}.
   */
  insertBits(i: number, offset: number, size: number): number {
    const totalSize = this.listSize(i);
    if (totalSize + size > MAX_LIST_BITS) {
      this.overflowCount++;
      return INSERT_LIST_OVERFLOW;
    }
    const beforeSize = offset;
    const afterSize = totalSize - offset;
    const freeBefore = this.freeBefore(i);
    const freeAfter = this.freeAfter(i);
    const side = insertSide(size, beforeSize, afterSize, freeBefore, freeAfter);
    let beforeFlag = side === 1;
    if (side < 0) {
      beforeFlag = beforeSize < afterSize;
      const growingIndex = beforeFlag ? i : i + 1;
      if (!this.extend(growingIndex, Math.ceil(size / 8))) return INSERT_ZONE_FULL;
    }
    this.setListSize(i, totalSize + size);
    const start = this.listStart(i);
    // An insertion at either end of a list (an empty list, a key above the others: most inserts into
    // a volume index that is far from full) moves nothing: skip the call.
    if (beforeFlag) {
      this.setListStart(i, start - size);
      if (beforeSize > 0) this.shiftBits(start, start - size, beforeSize);
    } else if (afterSize > 0) {
      const source = start + offset;
      this.shiftBits(source, source + size, afterSize);
    }
    return INSERT_OK;
  }

  /**
   * Move `size` bits from bit `from` to bit `to` of the zone's memory (overlap-safe): the seed's
   * move_bits for the shifts of insert_bits and delete_bits, which move part of one list by a few
   * bits. Whole 32-bit words, each assembled from two source words at a shift fixed for the whole
   * move, walking away from the destination's side of the overlap; the two end words are merged
   * under a mask. Falls back to `@deja/bitfield`'s moveBits where the words do not reach (an
   * unaligned memory, a move touching the first or last word).
   */
  shiftBits(from: number, to: number, size: number): void {
    const words = this.#words;
    const end = to + size;
    const distance = from - to; // the source of destination bit b is bit b + distance
    if (words !== null && this.narrow) {
      // Every bit offset is an int32: the word indexes by shifts (`>> 5` floors a negative
      // distance too) instead of three float divisions.
      const firstWord = to >>> 5;
      const lastWord = (end - 1) >>> 5;
      const k = distance >> 5;
      if (firstWord + k >= 0 && lastWord + k + 1 < words.length && lastWord < words.length) {
        this.#moveWords(words, firstWord, lastWord, k, distance, to, end);
        return;
      }
    } else if (words !== null) {
      const firstWord = Math.floor(to / 32);
      const lastWord = Math.floor((end - 1) / 32);
      const k = Math.floor(distance / 32);
      if (firstWord + k >= 0 && lastWord + k + 1 < words.length && lastWord < words.length) {
        this.#moveWords(words, firstWord, lastWord, k, distance, to, end);
        return;
      }
    }
    moveBits(this.memory, from, this.memory, to, size);
  }

  /**
   * The word moves of {@link shiftBits}: destination words `firstWord..lastWord`, each from source
   * words `j + k` and `j + k + 1` (k = ⌊distance / 32⌋), the end words merged under the masks of
   * bits `to` and `end - 1`.
   */
  #moveWords(
    words: Uint32Array,
    firstWord: number,
    lastWord: number,
    k: number,
    distance: number,
    to: number,
    end: number,
  ): void {
    const shift = distance & 31; // ToInt32: |distance| < 2^53, and & 31 is the right residue
    const back = 32 - shift; // 1..32 when shift > 0 (the shift === 0 paths do not use it)
    const headMask = -1 << (to & 31);
    const tailMask = -1 >>> (31 - ((end - 1) & 31));
    if (firstWord === lastWord) {
      const mask = headMask & tailMask;
      const value =
        shift === 0
          ? words[firstWord + k]!
          : (words[firstWord + k]! >>> shift) | (words[firstWord + k + 1]! << back);
      words[firstWord] = (words[firstWord]! & ~mask) | (value & mask);
      return;
    }
    if (distance > 0) {
      // Down: ascending, each source word read before anything at or above it is written.
      let value =
        shift === 0
          ? words[firstWord + k]!
          : (words[firstWord + k]! >>> shift) | (words[firstWord + k + 1]! << back);
      words[firstWord] = (words[firstWord]! & ~headMask) | (value & headMask);
      if (shift === 0) {
        for (let j = firstWord + 1; j < lastWord; j++) words[j] = words[j + k]!;
      } else {
        // Each source word is read once and carried to the next step as the low half of its pair.
        let low = words[firstWord + 1 + k]!;
        for (let j = firstWord + 1; j < lastWord; j++) {
          const high = words[j + k + 1]!;
          words[j] = (low >>> shift) | (high << back);
          low = high;
        }
      }
      value =
        shift === 0
          ? words[lastWord + k]!
          : (words[lastWord + k]! >>> shift) | (words[lastWord + k + 1]! << back);
      words[lastWord] = (words[lastWord]! & ~tailMask) | (value & tailMask);
    } else {
      // Up: descending, each source word read before anything at or below it is written.
      let value =
        shift === 0
          ? words[lastWord + k]!
          : (words[lastWord + k]! >>> shift) | (words[lastWord + k + 1]! << back);
      words[lastWord] = (words[lastWord]! & ~tailMask) | (value & tailMask);
      if (shift === 0) {
        for (let j = lastWord - 1; j > firstWord; j--) words[j] = words[j + k]!;
      } else {
        // Each source word is read once and carried to the next step as the high half of its pair.
        let high = words[lastWord + k]!;
        for (let j = lastWord - 1; j > firstWord; j--) {
          const low = words[j + k]!;
          words[j] = (low >>> shift) | (high << back);
          high = low;
        }
      }
      value =
        shift === 0
          ? words[firstWord + k]!
          : (words[firstWord + k]! >>> shift) | (words[firstWord + k + 1]! << back);
      words[firstWord] = (words[firstWord]! & ~headMask) | (value & headMask);
    }
  }

  /** Close `size` bits at bit `offset` of list `i`, moving the shorter side (delete_bits). */
  deleteBits(i: number, offset: number, size: number): void {
    const totalSize = this.listSize(i);
    const beforeSize = offset;
    const afterSize = totalSize - offset - size;
    const beforeFlag =
      beforeSize < afterSize ? true : afterSize < beforeSize ? false : this.freeBefore(i) < this.freeAfter(i);
    this.setListSize(i, totalSize - size);
    const start = this.listStart(i);
    if (beforeFlag) {
      this.setListStart(i, start + size);
      if (beforeSize > 0) this.shiftBits(start, start + size, beforeSize);
    } else if (afterSize > 0) {
      const destination = start + offset;
      this.shiftBits(destination + size, destination, afterSize);
    }
  }
}
