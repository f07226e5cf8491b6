// The seed's hash-utils.h: how a 16-byte record name is cut into the parts the index uses (bytes
// 0–7 for the volume index, 8–13 for the chapter index, 14–15 for sparse sampling), and the
// chapter delta list, chapter address and open-chapter hash slot derived from them.

import { checkInteger, invalidArgument } from './errors';

/** The size of a record name in bytes (UDS_RECORD_NAME_SIZE). */
export const RECORD_NAME_SIZE = 16;

function checkName(name: Uint8Array): void {
  if (!(name instanceof Uint8Array) || name.length < RECORD_NAME_SIZE) {
    throw invalidArgument('a record name must be a Uint8Array of 16 bytes');
  }
}

/**
 * Bytes 8–13 of a name as a 48-bit big-endian number (uds_extract_chapter_index_bytes); exact as a
 * JavaScript number. O(1).
 * @param name - the 16-byte record name
 * @returns the chapter index bytes, in [0, 2^48)
 * @throws RangeError (ERR_INVALID_ARGUMENT) for a name that is not 16 bytes
 */
export function extractChapterIndexBytes(name: Uint8Array): number {
  checkName(name);
  const high = (name[8]! << 8) | name[9]!;
  const low = ((name[10]! << 24) | (name[11]! << 16) | (name[12]! << 8) | name[13]!) >>> 0;
  return high * 0x1_0000_0000 + low;
}

/**
 * Bytes 0–7 of a name as a 64-bit big-endian number (uds_extract_volume_index_bytes). A bigint: a
 * u64 does not fit a number exactly. O(1).
 * @param name - the 16-byte record name
 * @returns the volume index bytes
 * @throws RangeError (ERR_INVALID_ARGUMENT) for a name that is not 16 bytes
 */
export function extractVolumeIndexBytes(name: Uint8Array): bigint {
  checkName(name);
  return new DataView(name.buffer, name.byteOffset, RECORD_NAME_SIZE).getBigUint64(0, false);
}

/**
 * Bytes 14–15 of a name as a 16-bit big-endian number (uds_extract_sampling_bytes). O(1).
 * @param name - the 16-byte record name
 * @returns the sampling bytes, in [0, 65536)
 * @throws RangeError (ERR_INVALID_ARGUMENT) for a name that is not 16 bytes
 */
export function extractSamplingBytes(name: Uint8Array): number {
  checkName(name);
  return (name[14]! << 8) | name[15]!;
}

/**
 * The chapter delta list of a name (uds_hash_to_chapter_delta_list):
 * `(chapterIndexBytes >> chapterAddressBits) & (2^chapterDeltaListBits - 1)`. O(1).
 * @param name - the 16-byte record name
 * @param chapterAddressBits - the geometry's chapter address bits, in [0, 48]
 * @param chapterDeltaListBits - the geometry's chapter delta list bits, in [0, 31]
 * @returns the delta list number
 * @throws RangeError (ERR_INVALID_ARGUMENT) for an argument out of range
 */
export function hashToChapterDeltaList(
  name: Uint8Array,
  chapterAddressBits: number,
  chapterDeltaListBits: number,
): number {
  checkInteger('chapterAddressBits', chapterAddressBits, 0, 48);
  checkInteger('chapterDeltaListBits', chapterDeltaListBits, 0, 31);
  const shifted = Math.floor(extractChapterIndexBytes(name) / 2 ** chapterAddressBits);
  return shifted % 2 ** chapterDeltaListBits;
}

/**
 * The chapter delta address (key) of a name (uds_hash_to_chapter_delta_address):
 * `chapterIndexBytes & (2^chapterAddressBits - 1)`. O(1).
 * @param name - the 16-byte record name
 * @param chapterAddressBits - the geometry's chapter address bits, in [0, 32]
 * @returns the address
 * @throws RangeError (ERR_INVALID_ARGUMENT) for an argument out of range
 */
export function hashToChapterDeltaAddress(name: Uint8Array, chapterAddressBits: number): number {
  checkInteger('chapterAddressBits', chapterAddressBits, 0, 32);
  return extractChapterIndexBytes(name) % 2 ** chapterAddressBits;
}

/**
 * The open-chapter hash slot of a name (uds_name_to_hash_slot): `chapterIndexBytes mod slotCount`.
 * O(1).
 * @param name - the 16-byte record name
 * @param slotCount - the number of slots, in [1, 2^32 − 1]
 * @returns the slot
 * @throws RangeError (ERR_INVALID_ARGUMENT) for an argument out of range
 */
export function nameToHashSlot(name: Uint8Array, slotCount: number): number {
  checkInteger('slotCount', slotCount, 1, 0xffff_ffff);
  return extractChapterIndexBytes(name) % slotCount;
}
