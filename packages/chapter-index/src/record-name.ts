// Record names and how they are cut up (the seed's hash-utils.h). A record name is a 16-byte hash
// of a chunk. Bytes 0..7 (big-endian u64) feed the volume index, bytes 8..13 (big-endian 48 bits)
// the chapter index and the open chapter's hash table, bytes 14..15 (big-endian u16) the sparse
// sampling decision. The parts are disjoint so that the structures stay statistically independent.
//
// Everything here works on plain numbers: the 48-bit chapter index bytes are exact in a double, and
// the 64-bit volume index bytes are handled as two 32-bit halves.

/** Bytes in a record name. */
export const RECORD_NAME_SIZE = 16;
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
 * The chapter index bytes of a name: bytes 8..13 as a big-endian 48-bit integer
 * (uds_extract_chapter_index_bytes()). Exact: < 2^48.
 *
 * @param name - a 16-byte record name (not checked, for speed)
 * @returns an integer in [0, 2^48). O(1).
 */
export function extractChapterIndexBytes(name: Uint8Array): number {
  const high = (name[8]! << 8) | name[9]!;
  const low = ((name[10]! << 24) | (name[11]! << 16) | (name[12]! << 8) | name[13]!) >>> 0;
  return high * 0x1_0000_0000 + low;
}

/**
 * The volume index bytes of a name: bytes 0..7 as a big-endian u64
 * (uds_extract_volume_index_bytes()). A bigint, for tests and tools; the volume index itself uses
 * {@link volumeIndexListOf}, which stays in 32-bit arithmetic.
 *
 * @param name - a 16-byte record name
 * @returns the u64 value. O(1).
 */
export function extractVolumeIndexBytes(name: Uint8Array): bigint {
  checkName(name);
  return new DataView(name.buffer, name.byteOffset, name.byteLength).getBigUint64(0, false);
}

/**
 * The sampling bytes of a name: bytes 14..15 as a big-endian u16 (uds_extract_sampling_bytes()).
 *
 * @param name - a 16-byte record name (not checked, for speed)
 * @returns an integer in [0, 65535]. O(1).
 */
export function extractSamplingBytes(name: Uint8Array): number {
  return (name[14]! << 8) | name[15]!;
}

/**
 * The chapter delta list of a name: the chapter index bytes above the address bits, masked to the
 * list count (uds_hash_to_chapter_delta_list()).
 *
 * @param name - a 16-byte record name (not checked, for speed)
 * @param geometry - chapterAddressBits and chapterDeltaListBits
 * @returns the list number, in [0, 2^chapterDeltaListBits). O(1).
 */
export function hashToChapterDeltaList(name: Uint8Array, geometry: ChapterAddressing): number {
  return chapterDeltaListAt(name, 0, geometry.chapterAddressBits, geometry.chapterDeltaListBits);
}

/**
 * @internal The chapter delta list of the name at `offset` in `bytes`. With 1 <= addressBits <= 31
 * and listBits <= 31 (every UDS geometry) it stays in 32-bit arithmetic: the list is the low
 * listBits of (chapter bytes >> addressBits), and those bits come from the low 32 bits of
 * (high16 << (32 - addressBits)) | (low32 >>> addressBits). Bits shifted out above bit 31 are not
 * needed.
 */
export function chapterDeltaListAt(
  bytes: Uint8Array,
  offset: number,
  addressBits: number,
  listBits: number,
): number {
  if (addressBits >= 1 && addressBits <= 31 && listBits <= 31) {
    const high = (bytes[offset + 8]! << 8) | bytes[offset + 9]!;
    const low =
      ((bytes[offset + 10]! << 24) |
        (bytes[offset + 11]! << 16) |
        (bytes[offset + 12]! << 8) |
        bytes[offset + 13]!) >>>
      0;
    // A mask of listBits ones (none for a single list); listBits <= 31 keeps the result non-negative.
    return listBits === 0
      ? 0
      : ((high << (32 - addressBits)) | (low >>> addressBits)) & (-1 >>> (32 - listBits));
  }
  const x = extractChapterIndexBytes(
    offset === 0 ? bytes : bytes.subarray(offset, offset + RECORD_NAME_SIZE),
  );
  return Math.floor(x / 2 ** addressBits) % 2 ** listBits;
}

/** @internal The chapter delta address of the name at `offset` in `bytes` (see chapterDeltaListAt). */
export function chapterDeltaAddressAt(bytes: Uint8Array, offset: number, addressBits: number): number {
  if (addressBits <= 31) {
    const low =
      ((bytes[offset + 10]! << 24) |
        (bytes[offset + 11]! << 16) |
        (bytes[offset + 12]! << 8) |
        bytes[offset + 13]!) >>>
      0;
    return addressBits === 0 ? 0 : (low & (-1 >>> (32 - addressBits))) >>> 0;
  }
  const x = extractChapterIndexBytes(
    offset === 0 ? bytes : bytes.subarray(offset, offset + RECORD_NAME_SIZE),
  );
  return x % 2 ** addressBits;
}

/**
 * The chapter delta address of a name: the low chapterAddressBits of its chapter index bytes
 * (uds_hash_to_chapter_delta_address()).
 *
 * @param name - a 16-byte record name (not checked, for speed)
 * @param geometry - chapterAddressBits
 * @returns the address, in [0, 2^chapterAddressBits). O(1).
 */
export function hashToChapterDeltaAddress(name: Uint8Array, geometry: ChapterAddressing): number {
  return chapterDeltaAddressAt(name, 0, geometry.chapterAddressBits);
}

/**
 * The open chapter hash slot of a name: its chapter index bytes modulo the slot count
 * (uds_name_to_hash_slot()).
 *
 * @param name - a 16-byte record name (not checked, for speed)
 * @param slotCount - the number of hash slots, >= 1
 * @returns the slot, in [0, slotCount). O(1).
 */
export function nameToHashSlot(name: Uint8Array, slotCount: number): number {
  return extractChapterIndexBytes(name) % slotCount;
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
  const high = ((name[0]! << 24) | (name[1]! << 16) | (name[2]! << 8) | name[3]!) >>> 0;
  const low = ((name[4]! << 24) | (name[5]! << 16) | (name[6]! << 8) | name[7]!) >>> 0;
  // (high * 2^32 + low) >> addressBits = high * 2^(32 - addressBits) + (low >>> addressBits),
  // reduced modulo listCount step by step so that every product stays below 2^53.
  const lowPart = addressBits >= 32 ? 0 : low >>> addressBits;
  let acc = high % listCount;
  let shift = 32 - addressBits;
  while (shift > 0) {
    const step = Math.min(shift, 20);
    acc = (acc * 2 ** step) % listCount;
    shift -= step;
  }
  return (acc + (lowPart % listCount)) % listCount;
}
