// The bit-by-bit reference model the tests and the benchmark compare against: every operation is a
// loop over single bits, written straight from the definition (bit k of a stream is bit k mod 8 of
// byte floor(k / 8), fields little-endian), with bytes past the end reading as zero and writes
// there dropped. Slow and obviously right.

/** Reads bit `k`; bits past the end read as 0. */
export function modelGetBit(memory: Uint8Array, k: number): number {
  const byte = Math.floor(k / 8);
  return byte < memory.length ? (memory[byte]! >> (k % 8)) & 1 : 0;
}

/** Writes bit `k`; writes past the end are dropped. */
export function modelSetBit(memory: Uint8Array, k: number, bit: number): void {
  const byte = Math.floor(k / 8);
  if (byte >= memory.length) return;
  if (bit) memory[byte]! |= 1 << (k % 8);
  else memory[byte]! &= ~(1 << (k % 8));
}

/** Reads a field of `size` bits (any width up to 53) one bit at a time. */
export function modelGetField(memory: Uint8Array, offset: number, size: number): number {
  let value = 0;
  for (let i = size - 1; i >= 0; i--) value = value * 2 + modelGetBit(memory, offset + i);
  return value;
}

/** Writes the low `size` bits of a non-negative integer `value` one bit at a time. */
export function modelSetField(value: number, memory: Uint8Array, offset: number, size: number): void {
  for (let i = 0; i < size; i++) {
    modelSetBit(memory, offset + i, value % 2);
    value = Math.floor(value / 2);
  }
}

/** Clears `size` bits one at a time. */
export function modelSetZero(memory: Uint8Array, offset: number, size: number): void {
  for (let i = 0; i < size; i++) modelSetBit(memory, offset + i, 0);
}

/** Moves `size` bits through a temporary array of bits, so overlap cannot matter. */
export function modelMoveBits(
  from: Uint8Array,
  fromOffset: number,
  to: Uint8Array,
  toOffset: number,
  size: number,
): void {
  const bits = new Uint8Array(size);
  for (let i = 0; i < size; i++) bits[i] = modelGetBit(from, fromOffset + i);
  for (let i = 0; i < size; i++) modelSetBit(to, toOffset + i, bits[i]!);
}
