// Argument checks shared by the public functions. The hot field functions test their arguments
// with one cheap combined condition and only call into here to build the precise error.

import { MAX_BIT_OFFSET } from './constants';
import { badOffset, badSize, invalidMemory } from './errors';

/** True when `offset` is an integer bit offset in 0..MAX_BIT_OFFSET. */
export function isBitOffset(offset: number): boolean {
  return Number.isSafeInteger(offset) && offset >= 0;
}

/** True when `size` is an integer in 0..max. */
export function isBitSize(size: number, max: number): boolean {
  return Number.isSafeInteger(size) && size >= 0 && size <= max;
}

/**
 * Throws the error for the first bad argument of a field call (memory, offset, size).
 * @throws TypeError `ERR_INVALID_ARG_TYPE`, RangeError `ERR_BIT_OFFSET` or `ERR_BIT_SIZE`
 */
export function throwFieldArgs(
  fn: string,
  memory: unknown,
  offset: number,
  size: number,
  max: number,
): never {
  checkMemory(fn, 'memory', memory);
  if (!isBitOffset(offset)) throw badOffset(fn, 'offset', offset, MAX_BIT_OFFSET);
  throw badSize(fn, 'size', size, max);
}

/** @throws TypeError `ERR_INVALID_ARG_TYPE` unless `memory` is a Uint8Array. */
export function checkMemory(fn: string, name: string, memory: unknown): asserts memory is Uint8Array {
  if (!(memory instanceof Uint8Array)) throw invalidMemory(fn, name, memory);
}

/**
 * Checks a bit range: `offset` a valid bit offset, `size` a non-negative integer, and the range
 * ending at or before MAX_BIT_OFFSET.
 * @throws RangeError `ERR_BIT_OFFSET` or `ERR_BIT_SIZE`
 */
export function checkRange(fn: string, name: string, offset: number, size: number): void {
  if (!isBitOffset(offset)) throw badOffset(fn, name, offset, MAX_BIT_OFFSET);
  if (!isBitSize(size, MAX_BIT_OFFSET - offset)) throw badSize(fn, 'size', size, MAX_BIT_OFFSET - offset);
}
