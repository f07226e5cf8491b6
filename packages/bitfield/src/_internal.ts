// Unchecked bit-field reads and writes shared by the public functions. Callers have validated their
// arguments: `offset` is a non-negative safe integer and `size` an integer in 0..25. A 25-bit field
// plus its bit shift (0..7) fits in one 32-bit window assembled from four bytes, as in the seed's
// get_unaligned_le32; windows that run past the end of the array take a slower path that reads
// missing bytes as zero and drops writes to them.

/**
 * Reads `size` (0..25) bits at bit `offset`. Bytes past the end of `memory` read as zero.
 * O(1), no allocation.
 */
export function readBits(memory: Uint8Array, offset: number, size: number): number {
  // Math.floor(offset / 8) is exact below 2^53 and optimizes better than `(offset - shift) / 8`;
  // `offset & 7` goes through ToInt32, which keeps the low bits of any integer below 2^53.
  const byte = Math.floor(offset / 8);
  const shift = offset & 7;
  let word: number;
  if (byte + 3 < memory.length) {
    word = memory[byte]! | (memory[byte + 1]! << 8) | (memory[byte + 2]! << 16) | (memory[byte + 3]! << 24);
  } else {
    word = loadTail(memory, byte);
  }
  // size <= 25, so the mask is a positive int32 and the result is a non-negative number.
  return (word >>> shift) & ((1 << size) - 1);
}

/**
 * Writes the low `size` (0..25) bits of `value` at bit `offset`; higher bits of `value` are
 * ignored. Writes that fall past the end of `memory` are dropped. O(1), no allocation.
 */
export function writeBits(value: number, memory: Uint8Array, offset: number, size: number): void {
  const byte = Math.floor(offset / 8);
  const shift = offset & 7;
  // size + shift <= 32; for size 25 and shift 7 the mask sets bit 31 (negative int32), which the
  // bitwise operators below treat as the unsigned pattern it is.
  const mask = ((1 << size) - 1) << shift;
  if (byte + 3 < memory.length) {
    const word =
      memory[byte]! | (memory[byte + 1]! << 8) | (memory[byte + 2]! << 16) | (memory[byte + 3]! << 24);
    const data = (word & ~mask) | ((value << shift) & mask);
    // Uint8Array stores keep the low 8 bits of each value.
    memory[byte] = data;
    memory[byte + 1] = data >>> 8;
    memory[byte + 2] = data >>> 16;
    memory[byte + 3] = data >>> 24;
  } else {
    storeTail(memory, byte, (loadTail(memory, byte) & ~mask) | ((value << shift) & mask));
  }
}

/** Loads the 32-bit little-endian window at `byte`, reading bytes past the end as zero. */
function loadTail(memory: Uint8Array, byte: number): number {
  const length = memory.length;
  let word = 0;
  for (let i = 0; i < 4; i++) {
    if (byte + i < length) word |= memory[byte + i]! << (8 * i);
  }
  return word;
}

/** Stores the 32-bit little-endian window at `byte`, dropping the bytes past the end. */
function storeTail(memory: Uint8Array, byte: number, word: number): void {
  const length = memory.length;
  for (let i = 0; i < 4; i++) {
    if (byte + i < length) memory[byte + i] = word >>> (8 * i);
  }
}
