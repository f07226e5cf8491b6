// Record names and how they are cut up (the seed's hash-utils.h). A record name is a 16-byte hash
// of a chunk. Bytes 0..7 (big-endian u64) feed the volume index, bytes 8..13 (big-endian 48 bits)
// the chapter index and the open chapter's hash table, bytes 14..15 (big-endian u16) the sparse
// sampling decision. The parts are disjoint so that the structures stay statistically independent.
//
// The hash-utils.h functions themselves live in @deja/delta-index (its src/hash-utils.ts, the one
// port); this file re-exports them and adds the geometry-taking forms, the record sizes and
// volumeIndexListOf (volume-index.c's extract_dlist_num(), in 32-bit halves).

import { chapterDeltaAddressAt, chapterDeltaListAt, RECORD_NAME_SIZE } from '@deja/delta-index';

export { RECORD_NAME_SIZE };
/** Bytes of metadata stored with each record. */
export const RECORD_DATA_SIZE = 16;
/** Bytes of one record: name then metadata. */
export const RECORD_SIZE = RECORD_NAME_SIZE + RECORD_DATA_SIZE;

/** Where each part of a name lives (VOLUME_INDEX_BYTES_OFFSET and friends). */
export const VOLUME_INDEX_BYTES_OFFSET = 0;
export const VOLUME_INDEX_BYTES_COUNT = 8;
export const CHAPTER_INDEX_BYTES_OFFSET = 8;
export const CHAPTER_INDEX_BYTES_COUNT = 6;
export const SAMPLE_BYTES_OFFSET = 14;
export const SAMPLE_BYTES_COUNT = 2;

/** The geometry fields the name mapping needs (an `IndexGeometry` has them). */
export interface ChapterAddressing {
  /** Address bits of a chapter index key. */
  readonly chapterAddressBits: number;
  /** log2 of the delta lists per chapter. */
  readonly chapterDeltaListBits: number;
}

/**
 * Checks that `name` is a 16-byte Uint8Array.
 * @throws TypeError if it is not a Uint8Array, RangeError if it is not 16 bytes
 */
export function checkName(name: Uint8Array, what = 'name'): void {
  if (!(name instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  if (name.length !== RECORD_NAME_SIZE) {
    throw new RangeError(`${what} must be ${RECORD_NAME_SIZE} bytes, got ${name.length}`);
  }
}

/**
 * The chapter index bytes, sampling bytes and volume index bytes of a name, and the open chapter
 * hash slot (uds_extract_*_bytes(), uds_name_to_hash_slot()): re-exported from @deja/delta-index,
 * the project's one port of hash-utils.h. They validate the name (TypeError / RangeError).
 */
export {
  extractChapterIndexBytes,
  extractSamplingBytes,
  extractVolumeIndexBytes,
  nameToHashSlot,
} from '@deja/delta-index';

/**
 * The chapter delta list of a name: the chapter index bytes above the address bits, masked to the
 * list count (uds_hash_to_chapter_delta_list(); computed by @deja/delta-index's chapterDeltaListAt).
 * `@deja/delta-index`'s `hashToChapterDeltaList(name, addressBits, listBits)` is the checked form.
 *
 * @param name - a 16-byte record name (not checked, for speed)
 * @param geometry - chapterAddressBits and chapterDeltaListBits
 * @returns the list number, in [0, 2^chapterDeltaListBits). O(1).
 */
export function chapterDeltaListOf(name: Uint8Array, geometry: ChapterAddressing): number {
  return chapterDeltaListAt(name, 0, geometry.chapterAddressBits, geometry.chapterDeltaListBits);
}

/**
 * The chapter delta address of a name: the low chapterAddressBits of its chapter index bytes
 * (uds_hash_to_chapter_delta_address(); computed by @deja/delta-index's chapterDeltaAddressAt).
 * `@deja/delta-index`'s `hashToChapterDeltaAddress(name, addressBits)` is the checked form.
 *
 * @param name - a 16-byte record name (not checked, for speed)
 * @param geometry - chapterAddressBits
 * @returns the address, in [0, 2^chapterAddressBits). O(1).
 */
export function chapterDeltaAddressOf(name: Uint8Array, geometry: ChapterAddressing): number {
  return chapterDeltaAddressAt(name, 0, geometry.chapterAddressBits);
}

/**
 * The volume index delta list of a name: its volume index bytes shifted right by `addressBits`,
 * modulo `listCount` (extract_dlist_num() of volume-index.c), computed without 64-bit integers.
 *
 * @param name - a 16-byte record name (not checked, for speed)
 * @param addressBits - the volume index address bits, in [0, 32]
 * @param listCount - the volume index list count, in [1, 2^32)
 * @returns the list number. O(1).
 */
export function volumeIndexListOf(name: Uint8Array, addressBits: number, listCount: number): number {
  return volumeIndexListAt(name, 0, addressBits, listCount);
}

/**
 * {@link volumeIndexListOf} of the name at byte `offset` of `bytes` (names back to back, as a batch
 * holds them), unchecked. O(1).
 * @param bytes - a buffer holding a 16-byte name at `offset` (not checked)
 * @param offset - the name's byte offset
 * @param addressBits - the volume index address bits, in [0, 32]
 * @param listCount - the volume index list count, in [1, 2^32)
 * @returns the list number
 */
export function volumeIndexListAt(
  bytes: Uint8Array,
  offset: number,
  addressBits: number,
  listCount: number,
): number {
  const high =
    ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>>
    0;
  const low =
    ((bytes[offset + 4]! << 24) |
      (bytes[offset + 5]! << 16) |
      (bytes[offset + 6]! << 8) |
      bytes[offset + 7]!) >>>
    0;
  if (
    addressBits >= 1 &&
    addressBits <= 31 &&
    listCount <= 0x4000_0000 &&
    (listCount & (listCount - 1)) === 0
  ) {
    // A power-of-two list count (the dense configurations of 0.25, 0.5, 1 and 2 GB ...): the list
    // is the bits above the address, which the low 32 bits of (volume bytes >> addressBits) hold.
    return ((high << (32 - addressBits)) | (low >>> addressBits)) & (listCount - 1);
  }
  // (high * 2^32 + low) >> addressBits = high * 2^(32 - addressBits) + (low >>> addressBits),
  // reduced modulo listCount step by step so that every product stays below 2^53. The remainders
  // go through modulo() since `%` of a double above 2^31 is a call into the runtime (fmod).
  const lowPart = addressBits >= 32 ? 0 : low >>> addressBits;
  let acc = modulo(high, listCount);
  let shift = 32 - addressBits;
  while (shift > 0) {
    const step = Math.min(shift, 20);
    acc = modulo(acc * 2 ** step, listCount);
    shift -= step;
  }
  return modulo(acc + modulo(lowPart, listCount), listCount);
}

/**
 * `x mod n` for integers 0 <= x < 2^53 and 1 <= n < 2^32, by a division: the quotient rounded to a
 * double can be one too high, never too low, when x / n lies just below an integer. O(1).
 */
function modulo(x: number, n: number): number {
  const r = x - Math.floor(x / n) * n;
  return r < 0 ? r + n : r;
}
