// The seed's hash-utils.h: how a 16-byte record name is cut into the parts the index uses (bytes
// 0–7 for the volume index, 8–13 for the chapter index, 14–15 for sparse sampling), and the
// chapter delta list, chapter address and open-chapter hash slot derived from them.
//
// This is the project's one implementation of hash-utils.h: @deja/chapter-index re-exports these
// functions and runs its hot paths on the unchecked `...At` kernels below, which read a name at an
// offset of a larger buffer and stay in 32-bit arithmetic for every UDS geometry.

import { checkInteger, invalidArgument } from './errors';

/** The size of a record name in bytes (UDS_RECORD_NAME_SIZE). */
export const RECORD_NAME_SIZE = 16;

function checkName(name: Uint8Array): void {
  if (!(name instanceof Uint8Array)) throw new TypeError('a record name must be a Uint8Array');
  if (name.length !== RECORD_NAME_SIZE) {
    throw invalidArgument(`a record name must be ${RECORD_NAME_SIZE} bytes, got ${name.length}`);
  }
}

/** Bytes 10–13 of the name at `offset`: the low 32 bits of its chapter index bytes. */
function chapterLow32At(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset + 10]! << 24) |
      (bytes[offset + 11]! << 16) |
      (bytes[offset + 12]! << 8) |
      bytes[offset + 13]!) >>>
    0
  );
}

/**
 * Bytes 8–13 of the name at `offset` in `bytes` as a 48-bit big-endian number, unchecked: the
 * kernel of {@link extractChapterIndexBytes} for callers that validated the name already. O(1).
 * @param bytes - a buffer holding a 16-byte name at `offset` (not checked)
 * @param offset - the name's byte offset in `bytes`
 * @returns the chapter index bytes, in [0, 2^48)
 */
export function chapterIndexBytesAt(bytes: Uint8Array, offset: number): number {
  const high = (bytes[offset + 8]! << 8) | bytes[offset + 9]!;
  const low = chapterLow32At(bytes, offset);
  return high * 0x1_0000_0000 + low;
}

/**
 * The chapter delta list of the name at `offset` in `bytes`, unchecked: the kernel of
 * {@link hashToChapterDeltaList}. With 1 <= addressBits <= 31 and listBits <= 31 (every UDS
 * geometry) it stays in 32-bit arithmetic: the list is the low listBits of (chapter bytes >>
 * addressBits), and those come from the low 32 bits of (high16 << (32 - addressBits)) |
 * (low32 >>> addressBits); bits shifted out above bit 31 are not needed. Other widths take the
 * exact floating-point path. O(1).
 * @param bytes - a buffer holding a 16-byte name at `offset` (not checked)
 * @param offset - the name's byte offset in `bytes`
 * @param addressBits - chapter address bits, in [0, 48] (not checked)
 * @param listBits - chapter delta list bits, in [0, 31] (not checked)
 * @returns the delta list number, in [0, 2^listBits)
 */
export function chapterDeltaListAt(
  bytes: Uint8Array,
  offset: number,
  addressBits: number,
  listBits: number,
): number {
  if (addressBits >= 1 && addressBits <= 31 && listBits <= 31) {
    const high = (bytes[offset + 8]! << 8) | bytes[offset + 9]!;
    const low = chapterLow32At(bytes, offset);
    // A mask of listBits ones (none for a single list); listBits <= 31 keeps the result non-negative.
    return listBits === 0
      ? 0
      : ((high << (32 - addressBits)) | (low >>> addressBits)) & (-1 >>> (32 - listBits));
  }
  return Math.floor(chapterIndexBytesAt(bytes, offset) / 2 ** addressBits) % 2 ** listBits;
}

/**
 * The chapter delta address of the name at `offset` in `bytes`, unchecked: the kernel of
 * {@link hashToChapterDeltaAddress} (32-bit arithmetic up to 31 address bits). O(1).
 * @param bytes - a buffer holding a 16-byte name at `offset` (not checked)
 * @param offset - the name's byte offset in `bytes`
 * @param addressBits - chapter address bits, in [0, 48] (not checked)
 * @returns the address, in [0, 2^addressBits)
 */
export function chapterDeltaAddressAt(bytes: Uint8Array, offset: number, addressBits: number): number {
  if (addressBits <= 31) {
    const low = chapterLow32At(bytes, offset);
    return addressBits === 0 ? 0 : (low & (-1 >>> (32 - addressBits))) >>> 0;
  }
  return chapterIndexBytesAt(bytes, offset) % 2 ** addressBits;
}

/**
 * Bytes 8–13 of a name as a 48-bit big-endian number (uds_extract_chapter_index_bytes); exact as a
 * JavaScript number. O(1).
 * @param name - the 16-byte record name
 * @returns the chapter index bytes, in [0, 2^48)
 * @throws TypeError for a name that is not a Uint8Array; RangeError (ERR_INVALID_ARGUMENT) for a
 *   name that is not 16 bytes
 */
export function extractChapterIndexBytes(name: Uint8Array): number {
  checkName(name);
  return chapterIndexBytesAt(name, 0);
}

/**
 * Bytes 0–7 of a name as a 64-bit big-endian number (uds_extract_volume_index_bytes). A bigint: a
 * u64 does not fit a number exactly. O(1).
 * @param name - the 16-byte record name
 * @returns the volume index bytes
 * @throws TypeError / RangeError (ERR_INVALID_ARGUMENT) for a name that is not a 16-byte Uint8Array
 */
export function extractVolumeIndexBytes(name: Uint8Array): bigint {
  checkName(name);
  return new DataView(name.buffer, name.byteOffset, RECORD_NAME_SIZE).getBigUint64(0, false);
}

/**
 * Bytes 14–15 of a name as a 16-bit big-endian number (uds_extract_sampling_bytes). O(1).
 * @param name - the 16-byte record name
 * @returns the sampling bytes, in [0, 65536)
 * @throws TypeError / RangeError (ERR_INVALID_ARGUMENT) for a name that is not a 16-byte Uint8Array
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
 * @throws RangeError (ERR_INVALID_ARGUMENT) for an argument out of range or a name not of 16 bytes
 */
export function hashToChapterDeltaList(
  name: Uint8Array,
  chapterAddressBits: number,
  chapterDeltaListBits: number,
): number {
  checkInteger('chapterAddressBits', chapterAddressBits, 0, 48);
  checkInteger('chapterDeltaListBits', chapterDeltaListBits, 0, 31);
  checkName(name);
  return chapterDeltaListAt(name, 0, chapterAddressBits, chapterDeltaListBits);
}

/**
 * The chapter delta address (key) of a name (uds_hash_to_chapter_delta_address):
 * `chapterIndexBytes & (2^chapterAddressBits - 1)`. O(1).
 * @param name - the 16-byte record name
 * @param chapterAddressBits - the geometry's chapter address bits, in [0, 32]
 * @returns the address
 * @throws RangeError (ERR_INVALID_ARGUMENT) for an argument out of range or a name not of 16 bytes
 */
export function hashToChapterDeltaAddress(name: Uint8Array, chapterAddressBits: number): number {
  checkInteger('chapterAddressBits', chapterAddressBits, 0, 32);
  checkName(name);
  return chapterDeltaAddressAt(name, 0, chapterAddressBits);
}

/**
 * The open-chapter hash slot of a name (uds_name_to_hash_slot): `chapterIndexBytes mod slotCount`.
 * O(1).
 * @param name - the 16-byte record name
 * @param slotCount - the number of slots, in [1, 2^32 − 1]
 * @returns the slot
 * @throws RangeError (ERR_INVALID_ARGUMENT) for an argument out of range or a name not of 16 bytes
 */
export function nameToHashSlot(name: Uint8Array, slotCount: number): number {
  checkInteger('slotCount', slotCount, 1, 0xffff_ffff);
  checkName(name);
  return chapterIndexBytesAt(name, 0) % slotCount;
}
