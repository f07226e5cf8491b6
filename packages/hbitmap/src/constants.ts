// Public bounds of @deja/hbitmap: the word size of every level and the largest sizes a bitmap takes.
// Positions are plain numbers, exact below 2^53; the bottom level is a typed array, at most 2^32
// 32-bit words here, so larger item ranges need a coarser granularity.

/** Bits per word of every level (QEMU uses the host's long, 64 bits; serialization is identical). */
export const BITS_PER_WORD = 32;

/** Largest number of bits (granularity groups) in the bottom level: 2^37, 2^32 words of 32 bits. */
export const MAX_BITS = 2 ** 37;

/** Largest size in items; item positions run up to MAX_ITEMS - 1 = 2^53 - 1. */
export const MAX_ITEMS = 2 ** 53;
