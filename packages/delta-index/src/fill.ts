// Filling a whole delta index at once from entries already in list order: the bulk form of a chapter
// close (the seed's fill_delta_chapter_index puts the names one by one, and packing then moves each
// list onto its page). When every entry is known up front, each list's bit stream can be written in
// one pass, back to back with its neighbours, with no search, no shifting of list tails and no
// rebalancing. The result decodes, searches and packs exactly as the same entries put one by one.
//
// Laid out for packing: given the page size of the immutable pages the index will be packed into,
// the lists that will share a page are written as one run whose bit phase (offset modulo 8) is the
// phase they will have on the page, so packDeltaIndexPage copies each page's lists with one
// byte-aligned memmove instead of shifting every list bit by bit. The page split is computed the way
// packDeltaIndexPage computes it; a few zero bits between runs absorb the phase changes.

import { GUARD_BITS, POST_FIELD_GUARD_BYTES } from '@deja/bitfield';
import { COLLISION_BYTES, MAX_LIST_BITS } from './_zone';
import { IMMUTABLE_HEADER_SIZE, keyBitsFor, PAGE_HEADER_BYTES } from './coding';
import type { DeltaIndex } from './delta-index';
import { invalidArgument } from './errors';

/** Entries in list order for {@link fillDeltaIndex}. */
export interface SortedDeltaEntries {
  /**
   * `listCount + 1` boundaries: the entries of list `l` are `listStarts[l]` to `listStarts[l + 1] - 1`,
   * nondecreasing.
   */
  readonly listStarts: Uint32Array;
  /** The key of each entry, nondecreasing within a list. */
  readonly keys: Uint32Array;
  /** The payload of each entry (below 2^payloadBits). */
  readonly values: Uint32Array;
  /** Bytes holding the record names of collision entries. */
  readonly names: Uint8Array;
  /** For each entry, where its 16-byte name starts in `names` (read only for collision entries). */
  readonly nameOffsets: Uint32Array;
}

/**
 * Empties `index` and fills it with `entries` (the bulk form of uds_put_delta_index_entry for every
 * entry in order). An entry whose key equals the previous entry's key in the same list is a
 * collision entry and carries its name, exactly as a `put` with that name right after the plain entry
 * stores it; the first entry of a list is never a collision. Each zone's lists are written back to
 * back from its start. With `pageBytes`, the lists are laid out so that {@link packDeltaIndexPage}
 * into pages of that size copies whole bytes (see the file comment); the entries and what every
 * search returns do not depend on it.
 *
 * @param index - the index to fill (it is emptied first)
 * @param entries - the entries, in list order
 * @param pageBytes - the size of the pages the index will be packed into, or 0
 * @returns true when filled; false, leaving the index empty, when a list would exceed 65535 bits or a
 *   zone's memory is too tight to be sure that putting the entries one by one would not run out
 *   (the caller then puts entry by entry, which decides which entries are dropped). The memory test
 *   is conservative: the bytes each list spans, one more per list for its bit phase, the tail
 *   guard, and room for the largest insertion must fit the zone.
 * @throws RangeError (ERR_INVALID_ARGUMENT) for boundaries, keys or values out of range or order
 * Cost: O(entries + lists), one pass to size the lists and one to write them.
 */
export function fillDeltaIndex(index: DeltaIndex, entries: SortedDeltaEntries, pageBytes = 0): boolean {
  const { listStarts, keys, values, names, nameOffsets } = entries;
  const listCount = index.listCount;
  if (listStarts.length !== listCount + 1 || listStarts[0] !== 0) {
    throw invalidArgument(`listStarts must hold ${listCount + 1} boundaries from 0`);
  }
  const total = listStarts[listCount]!;
  if (keys.length < total || values.length < total || nameOffsets.length < total) {
    throw invalidArgument(`keys, values and nameOffsets must hold ${total} entries`);
  }
  index.reset();
  const zones = index._zones;
  const valueBits = index.payloadBits;
  const maxValue = 2 ** valueBits;
  const { minBits, minKeys, incrKeys } = zones[0]!;
  // Pass 1: the bit size of every list, checked.
  const sizes = new Uint32Array(listCount);
  let maxKey = 0;
  for (let list = 0; list < listCount; list++) {
    const first = listStarts[list]!;
    const end = listStarts[list + 1]!;
    if (end < first) throw invalidArgument(`listStarts decreases at list ${list}`);
    let bits = 0;
    let previous = 0;
    for (let i = first; i < end; i++) {
      const key = keys[i]!;
      const value = values[i]!;
      if (key < previous) throw invalidArgument(`key ${key} of list ${list} is below the previous key`);
      if (value >= maxValue) throw invalidArgument(`value ${value} does not fit in ${valueBits} bits`);
      let entryBits: number;
      if (key === previous && i !== first) {
        if (nameOffsets[i]! + COLLISION_BYTES > names.length) {
          throw invalidArgument(`the name of collision entry ${i} is outside names`);
        }
        entryBits = valueBits + keyBitsFor(0, minBits, minKeys, incrKeys) + COLLISION_BYTES * 8;
      } else {
        entryBits = valueBits + keyBitsFor(key - previous, minBits, minKeys, incrKeys);
      }
      bits += entryBits;
      previous = key;
    }
    if (previous > maxKey) maxKey = previous;
    if (bits > MAX_LIST_BITS) return false;
    sizes[list] = bits;
  }
  const largest =
    valueBits + Math.max(keyBitsFor(maxKey, minBits, minKeys, incrKeys), minBits + COLLISION_BYTES * 8);
  const phases = pageBytes > 0 ? pagePhases(sizes, pageBytes) : null;
  // Pass 2: lay each zone's lists out and write them.
  for (const zone of zones) {
    const memory = zone.memory;
    const limit = zone.size * 8 - GUARD_BITS;
    let at = 0;
    // What insert_bits' rebalancing could ask for: an insertion writes at most two entries (a new
    // one and the re-encoded one after it), none longer than a collision entry or a delta of maxKey.
    let bound = POST_FIELD_GUARD_BYTES + Math.ceil((2 * largest) / 8);
    for (let slot = 1; slot <= zone.listCount; slot++) {
      const list = zone.firstList + slot - 1;
      if (phases !== null) at += (phases[list]! - at) & 7;
      zone.setListStart(slot, at);
      zone.setListSize(slot, sizes[list]!);
      at += sizes[list]!;
      bound += Math.ceil(sizes[list]! / 8) + 1;
    }
    if (at > limit || bound > zone.size) {
      index.reset();
      return false;
    }
    // One stream of bits from bit 0: each list's entries, zero bits between lists. `acc` holds the
    // `accBits` (< 8 between fields) bits not yet stored; each field adds at most 24 bits.
    let acc = 0;
    let accBits = 0;
    let byte = 0;
    let collisions = 0;
    const put = (value: number, bits: number): void => {
      acc |= value << accBits;
      accBits += bits;
      while (accBits >= 8) {
        memory[byte++] = acc;
        acc >>>= 8;
        accBits -= 8;
      }
    };
    let written = 0;
    for (let slot = 1; slot <= zone.listCount; slot++) {
      const list = zone.firstList + slot - 1;
      for (let gap = zone.listStart(slot) - written; gap > 0; gap -= 16) put(0, Math.min(gap, 16));
      const first = listStarts[list]!;
      const end = listStarts[list + 1]!;
      let previous = 0;
      for (let i = first; i < end; i++) {
        const key = keys[i]!;
        put(values[i]!, valueBits);
        const delta = key - previous;
        if (delta < minKeys) {
          put(delta, minBits);
        } else {
          const temp = delta - minKeys;
          put((temp % incrKeys) + minKeys, minBits);
          let zeros = Math.floor(temp / incrKeys);
          for (; zeros > 16; zeros -= 16) put(0, 16);
          put(1 << zeros, zeros + 1); // the remaining zeros and the terminating 1
        }
        if (delta === 0 && i !== first) {
          collisions++;
          const at = nameOffsets[i]!;
          for (let b = 0; b < COLLISION_BYTES; b++) put(names[at + b]!, 8);
        }
        previous = key;
      }
      written = zone.listStart(slot) + sizes[list]!;
    }
    // The last partial byte keeps the bits above the stream (a gap, or the tail guard's first byte).
    if (accBits > 0) memory[byte] = (memory[byte]! & (0xff << accBits)) | acc;
    const count = listStarts[zone.firstList + zone.listCount]! - listStarts[zone.firstList]!;
    zone.recordCount = count;
    zone.collisionCount = collisions;
  }
  return true;
}

/**
 * The bit phase (offset modulo 8) each list will have on the pages packDeltaIndexPage makes of
 * `pageBytes` bytes, splitting the lists the way it does: as many whole lists per page as fit, at
 * most 65535. Lists past a list that fits no page keep phase 0 (the caller removes lists there).
 */
function pagePhases(sizes: Uint32Array, pageBytes: number): Uint8Array {
  const listCount = sizes.length;
  const phases = new Uint8Array(listCount);
  const header = (n: number) => PAGE_HEADER_BYTES * 8 + n * IMMUTABLE_HEADER_SIZE;
  const capacity = pageBytes * 8 - header(1) - GUARD_BITS;
  let first = 0;
  while (first < listCount) {
    const maxLists = Math.min(listCount - first, 0xffff);
    let count = 0;
    let free = capacity;
    while (count < maxLists && IMMUTABLE_HEADER_SIZE + sizes[first + count]! <= free) {
      free -= IMMUTABLE_HEADER_SIZE + sizes[first + count]!;
      count++;
    }
    if (count === 0) break;
    let offset = header(count + 1);
    for (let i = first; i < first + count; i++) {
      phases[i] = offset & 7;
      offset += sizes[i]!;
    }
    first += count;
  }
  return phases;
}
