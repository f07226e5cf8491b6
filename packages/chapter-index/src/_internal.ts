// Private helpers shared by the chapter-index files.

/** Linux bits_per(n): bits needed to hold n, with bits_per(0) = bits_per(1) = 1 (n < 2^32). */
export function bitsPer(n: number): number {
  return n <= 1 ? 1 : 32 - Math.clz32(n);
}
