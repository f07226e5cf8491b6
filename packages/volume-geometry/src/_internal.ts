// Private helpers: the kernel's bits_per() and argument checks shared by the geometry files.

import { VolumeGeometryError, type VolumeGeometryErrorCode } from './errors';

/**
 * Linux bits_per(n): the number of bits needed to hold n, with bits_per(0) = bits_per(1) = 1.
 * Valid for 0 <= n < 2^53.
 */
export function bitsPer(n: number): number {
  if (n <= 1) return 1;
  if (n < 0x1_0000_0000) return 32 - Math.clz32(n);
  // Above 32 bits: split into the high word (exact for n < 2^53).
  return 32 + bitsPer(Math.floor(n / 0x1_0000_0000));
}

/** Throws a {@link VolumeGeometryError} unless `value` is a safe integer in [min, max]. */
export function checkInteger(
  code: VolumeGeometryErrorCode,
  name: string,
  value: unknown,
  min: number,
  max: number,
): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new TypeError(`${name} must be a safe integer, got ${String(value)}`);
  }
  if (value < min || value > max) {
    throw new VolumeGeometryError(code, `${name} must be in [${min}, ${max}], got ${value}`);
  }
  return value;
}

/**
 * Checks a virtual chapter number: a TypeError unless it is a safe integer, a RangeError if it is
 * negative. Chapter numbers are u64 in the C code; here they are bounded by 2^53 - 1.
 */
export function checkChapter(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new TypeError(`${name} must be a safe integer, got ${String(value)}`);
  }
  if (value < 0) throw new RangeError(`${name} must not be negative, got ${value}`);
  return value;
}
