// The constants of the dm-vdo bit-field utilities (delta-index.c), kept with the seed's names and
// derivations so a reader of the C finds them, plus the bounds that JavaScript numbers add.

/**
 * The widest field {@link getField} and {@link setField} accept: 25 bits. A 25-bit field at any bit
 * offset (0..7 within its first byte) fits in one byte-aligned 32-bit window, which is how the seed
 * (`(sizeof(u32) - 1) * BITS_PER_BYTE + 1`) and this port read it.
 */
export const MAX_FIELD_BITS = 25;

/**
 * The seed's widest "big field": 57 bits, the most that fit in one byte-aligned 64-bit window. The
 * seed's `move_bits` moves up to this many bits as one big field; {@link moveBits} does the same
 * without BigInt. Big fields returned as a JavaScript number stop at {@link MAX_SAFE_FIELD_BITS}.
 */
export const MAX_BIG_FIELD_BITS = 57;

/**
 * The widest field {@link getBigField} and {@link setBigField} accept: 53 bits, the most a
 * JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER` is 2^53 - 1).
 */
export const MAX_SAFE_FIELD_BITS = 53;

/**
 * Bytes of slack the seed's readers rely on past the end of the last field: its 64-bit windows can
 * touch up to 7 bytes beyond a field (`sizeof(u64) - 1`). This port never reads or writes out of
 * bounds (bytes past the array read as zero, writes there are dropped), but a stream that keeps the
 * seed's layout (a delta zone with its tail guard list) reserves these bytes.
 */
export const POST_FIELD_GUARD_BYTES = 7;

/** {@link POST_FIELD_GUARD_BYTES} in bits (56): the size of the seed's tail guard delta list. */
export const GUARD_BITS = POST_FIELD_GUARD_BYTES * 8;

/**
 * The largest bit offset accepted anywhere (2^53 - 1): offsets are plain numbers, exact up to
 * `Number.MAX_SAFE_INTEGER`, so a stream may be far longer than 2^32 bits. A range
 * (`offset`, `size`) must end at or before this offset.
 */
export const MAX_BIT_OFFSET = Number.MAX_SAFE_INTEGER;
