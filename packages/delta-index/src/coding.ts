// The Huffman code of the delta index and the size helpers built on it: compute_coding_constants,
// uds_compute_delta_index_size, uds_get_delta_index_page_count and uds_compute_delta_index_save_bytes
// of the seed. Other packages (volume geometry, chapter index) size their memory and pages with these.

import { checkInteger, invalidArgument } from './errors';

/** The Huffman code parameters derived from a mean delta (the seed's MINBITS, BASE and INCR). */
export interface CodingConstants {
  /** The number of bits in the shortest key code. */
  readonly minBits: number;
  /** The number of deltas coded in `minBits` bits (BASE): deltas `0 .. minKeys - 1`. */
  readonly minKeys: number;
  /** The number of deltas coded with each additional bit (INCR), about ln 2 · mean. */
  readonly incrKeys: number;
}

/** The largest value any u32 argument of the seed may take. */
const U32_MAX = 0xffff_ffff;

/** The largest payload (value) width in bits an index accepts: one 25-bit field. */
export const MAX_PAYLOAD_BITS = 25;

/**
 * The largest mean delta a {@link DeltaIndex} or {@link DeltaIndexPage} accepts: the largest mean
 * whose shortest code (`minBits`) still fits in one 25-bit field, as the seed's 32-bit reads assume.
 */
export const MAX_MEAN_DELTA = 48_408_810;

/** The bytes of the immutable page header (nonce u64, virtual chapter u64, first list u16, count u16). */
export const PAGE_HEADER_BYTES = 20;

/** Each list on an immutable page costs one 19-bit start offset (the seed's IMMUTABLE_HEADER_SIZE). */
export const IMMUTABLE_HEADER_SIZE = 19;

/**
 * Bytes of the seed's per-zone save header (DI-00002): magic, zone number, zone count, first list,
 * list count, record and collision counts.
 */
export const SEED_SAVE_HEADER_BYTES = 40;

/** Bytes DI-00003 adds after the seed's header: mean delta (u32), payload bits (u8), 3 zero bytes. */
export const SAVE_PARAMETERS_BYTES = 8;

/** Bytes of this port's per-zone save header (DI-00003). */
export const SAVE_HEADER_BYTES = SEED_SAVE_HEADER_BYTES + SAVE_PARAMETERS_BYTES;

/** Bytes of the per-list save record (tag, bit offset, byte count, list number). */
export const SAVE_INFO_BYTES = 8;

/** Zone memory is rounded up to a multiple of this many bytes. */
const ALLOC_BOUNDARY = 64 * 1024;

/** bits_per(n): the number of bits needed to write n, with bits_per(0) = 1 as in the seed. */
function bitsPer(n: number): number {
  return n <= 1 ? 1 : Math.floor(Math.log2(n)) + 1;
}

/**
 * Compute the Huffman code for a mean delta (the seed's `compute_coding_constants`). INCR is
 * round(ln 2 · mean) computed as `(836158 · mean + 603160) / 1206321` in integers (exact in a double:
 * the product stays below 2^53), MINBITS is bits_per(INCR + 1) and BASE = 2^MINBITS − INCR.
 *
 * For means where INCR + 1 is a power of two (1, 2, 4, 5, 10, 21, 22, 45, 91, …) BASE exceeds INCR;
 * the seed's `set_delta` then wraps a u32 for small deltas and corrupts the list. This port returns
 * the same constants and handles those means correctly: the code length of a delta d is MINBITS when
 * d < BASE and MINBITS + 1 + ⌊(d − BASE) / INCR⌋ otherwise, which is what the decoder reads.
 *
 * @param meanDelta - the expected mean distance between keys, an integer in [1, 2^32 − 1]
 * @returns the code parameters
 * @throws RangeError (`ERR_INVALID_ARGUMENT`) if meanDelta is not an integer in range
 * O(1).
 */
export function computeCodingConstants(meanDelta: number): CodingConstants {
  checkInteger('meanDelta', meanDelta, 1, U32_MAX);
  const incrKeys = Math.floor((836158 * meanDelta + 603160) / 1206321);
  const minBits = bitsPer(incrKeys + 1);
  const minKeys = 2 ** minBits - incrKeys;
  return { minBits, minKeys, incrKeys };
}

/**
 * The number of key bits the code spends on `delta` (correct for every mean, see
 * {@link computeCodingConstants}).
 * @internal
 */
export function keyBitsFor(delta: number, minBits: number, minKeys: number, incrKeys: number): number {
  return delta < minKeys ? minBits : minBits + 1 + Math.floor((delta - minKeys) / incrKeys);
}

/**
 * Estimate the bits a delta index needs for its entries (the seed's `uds_compute_delta_index_size`):
 * each entry costs its payload plus about MINBITS + 1.5 key bits, `n·(payload + minBits + 1) + ⌊n/2⌋`.
 * The seed computes this in u32 and wraps above 2^32; this port returns the exact value.
 *
 * @param entryCount - the number of entries, an integer in [0, 2^32 − 1]
 * @param meanDelta - the mean delta, an integer in [1, 2^32 − 1]
 * @param payloadBits - the payload width, an integer in [0, 32]
 * @returns the estimated size in bits
 * @throws RangeError (`ERR_INVALID_ARGUMENT`) for an out-of-range argument
 * O(1).
 */
export function computeDeltaIndexSize(entryCount: number, meanDelta: number, payloadBits: number): number {
  checkInteger('entryCount', entryCount, 0, U32_MAX);
  checkInteger('payloadBits', payloadBits, 0, 32);
  const { minBits } = computeCodingConstants(meanDelta);
  return entryCount * (payloadBits + minBits + 1) + Math.floor(entryCount / 2);
}

/**
 * The number of immutable pages a chapter index of `entryCount` entries reserves (the seed's
 * `uds_get_delta_index_page_count`): the estimated bits plus 19 bits per list, over the page bits less
 * the 20-byte header, one list offset and one average list (internal fragmentation), rounded up.
 *
 * @param entryCount - the expected number of entries, an integer in [0, 2^32 − 1]
 * @param listCount - the number of delta lists, an integer in [1, 2^32 − 1]
 * @param meanDelta - the mean delta, an integer in [1, 2^32 − 1]
 * @param payloadBits - the payload width, an integer in [0, 32]
 * @param bytesPerPage - the page size in bytes
 * @returns the number of pages
 * @throws RangeError (`ERR_INVALID_ARGUMENT`) for an out-of-range argument, or when the page is too
 *   small to hold one average list
 * O(1).
 */
export function getDeltaIndexPageCount(
  entryCount: number,
  listCount: number,
  meanDelta: number,
  payloadBits: number,
  bytesPerPage: number,
): number {
  checkInteger('listCount', listCount, 1, U32_MAX);
  checkInteger('bytesPerPage', bytesPerPage, PAGE_HEADER_BYTES + 1, Number.MAX_SAFE_INTEGER / 8);
  let bitsPerIndex = computeDeltaIndexSize(entryCount, meanDelta, payloadBits);
  const bitsPerDeltaList = Math.floor(bitsPerIndex / listCount);
  bitsPerIndex += listCount * IMMUTABLE_HEADER_SIZE;
  const bitsPerPage = (bytesPerPage - PAGE_HEADER_BYTES) * 8 - (IMMUTABLE_HEADER_SIZE + bitsPerDeltaList);
  if (bitsPerPage <= 0) {
    throw invalidArgument(
      `a page of ${bytesPerPage} bytes cannot hold a delta list of ${bitsPerDeltaList} bits`,
    );
  }
  return Math.ceil(bitsPerIndex / bitsPerPage);
}

/**
 * The memory of one zone: `memorySize / zoneCount` rounded up to a multiple of 64 KiB (the seed's
 * `get_zone_memory_size`).
 *
 * @param zoneCount - the number of zones, at least 1
 * @param memorySize - the total list memory in bytes
 * @returns the bytes of each zone
 * O(1).
 */
export function getZoneMemorySize(zoneCount: number, memorySize: number): number {
  return Math.ceil(Math.floor(memorySize / zoneCount) / ALLOC_BOUNDARY) * ALLOC_BOUNDARY;
}

/**
 * The bytes to reserve for saving a delta index (the seed's `uds_compute_delta_index_save_bytes`):
 * one 40-byte header, 9 bytes per list and the memory of a single zone (one zone needs at least as
 * much as any other zone count). This is the seed's figure for its DI-00002 streams, kept as is so
 * that index geometries match the C; this port's DI-00003 streams carry 8 more header bytes per zone
 * (the coding parameters), well inside the slack the zone memory term leaves in practice.
 *
 * @param listCount - the number of delta lists, an integer in [0, 2^32 − 1]
 * @param memorySize - the list memory given to the index, in bytes
 * @returns the number of bytes
 * @throws RangeError (`ERR_INVALID_ARGUMENT`) for an out-of-range argument
 * O(1).
 */
export function computeDeltaIndexSaveBytes(listCount: number, memorySize: number): number {
  checkInteger('listCount', listCount, 0, U32_MAX);
  checkInteger('memorySize', memorySize, 0, Number.MAX_SAFE_INTEGER / 8);
  return SEED_SAVE_HEADER_BYTES + listCount * (SAVE_INFO_BYTES + 1) + getZoneMemorySize(1, memorySize);
}
