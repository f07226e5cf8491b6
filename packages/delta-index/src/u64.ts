// The check of a u64 argument (a nonce, a virtual chapter number) given as a bigint or as a safe
// integer, shared by this package's pages and by @deja/chapter-index, so the family checks such
// arguments one way. BigInt only at the edge: it runs once per page or chapter, never per entry.
import { checkInteger, invalidArgument } from './errors';

/**
 * Check a u64 argument given as a bigint or as a number, and return it as a bigint. O(1).
 *
 * @param name - the argument's name, for the message
 * @param value - a bigint in [0, 2^64), or a safe integer >= 0
 * @returns the value as a bigint
 * @throws TypeError if `value` is neither a bigint nor a number; RangeError (ERR_INVALID_ARGUMENT)
 *   for a negative value, a number that is not a safe integer, or a bigint of 2^64 or more
 */
export function toU64(name: string, value: bigint | number): bigint {
  if (typeof value === 'number') {
    checkInteger(name, value, 0, Number.MAX_SAFE_INTEGER);
    return BigInt(value);
  }
  if (typeof value !== 'bigint') throw new TypeError(`${name} must be a bigint or a number`);
  if (value < 0n || value >= 1n << 64n) throw invalidArgument(`${name} must fit in 64 unsigned bits`);
  return value;
}
