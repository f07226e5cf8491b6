// Error codes of @deja/bitfield. Every error this package throws is wrong use of the API (a bad
// argument type or an out-of-range offset, size or field width), so it is a standard TypeError or
// RangeError carrying a stable string `code`, the way Node's own argument errors do. There is no
// package error class for corrupt data: the primitives read bits, they never interpret them.

/**
 * The stable error codes of `@deja/bitfield`, in one frozen list. Every error is wrong use of the API.
 *
 * | code | thrown as | when |
 * | --- | --- | --- |
 * | `ERR_INVALID_ARG_TYPE` | TypeError | memory is not a Uint8Array |
 * | `ERR_BIT_OFFSET` | RangeError | a bit offset is not an integer in 0..MAX_BIT_OFFSET |
 * | `ERR_BIT_SIZE` | RangeError | a field width or bit count is not an integer in its allowed range |
 */
export const BITFIELD_ERROR_CODES = Object.freeze([
  'ERR_INVALID_ARG_TYPE',
  'ERR_BIT_OFFSET',
  'ERR_BIT_SIZE',
] as const);

/** One of {@link BITFIELD_ERROR_CODES}. */
export type BitfieldErrorCode = (typeof BITFIELD_ERROR_CODES)[number];

/** @deprecated Use the code strings (listed in {@link BITFIELD_ERROR_CODES}); goes in the next minor release. */
export const BitfieldErrorCode = Object.freeze({
  INVALID_ARG_TYPE: 'ERR_INVALID_ARG_TYPE',
  BIT_OFFSET: 'ERR_BIT_OFFSET',
  BIT_SIZE: 'ERR_BIT_SIZE',
} as const);

/** A TypeError or RangeError with the stable `code` of this package. */
export type BitfieldArgumentError = (TypeError | RangeError) & { readonly code: BitfieldErrorCode };

/** Marks the errors of every copy of this package (a registered symbol is the same in all). */
const MARKER = Symbol.for('@deja/bitfield.error');

/**
 * Whether `value` is an error this package threw (a {@link BitfieldArgumentError}: the package has
 * no error class of its own), optionally with a given code. It looks for a `Symbol.for` marker, so it
 * also recognises errors from another copy of the package.
 *
 * @param value - anything caught.
 * @param code - the code to require, if any.
 * @returns `true` if `value` was thrown by this package (with that code).
 */
export function isBitfieldError(value: unknown, code?: BitfieldErrorCode): value is BitfieldArgumentError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[MARKER] !== true) return false;
  return code === undefined || (value as BitfieldArgumentError).code === code;
}

function withCode<E extends Error>(error: E, code: BitfieldErrorCode): E & { code: BitfieldErrorCode } {
  Object.defineProperty(error, MARKER, { value: true });
  return Object.assign(error, { code });
}

/** @internal Builds the TypeError thrown when `memory` is not a Uint8Array. */
export function invalidMemory(fn: string, name: string, value: unknown): TypeError {
  const got = value === null ? 'null' : typeof value === 'object' ? value.constructor?.name : typeof value;
  return withCode(
    new TypeError(`${fn}: ${name} must be a Uint8Array, got ${String(got)}`),
    'ERR_INVALID_ARG_TYPE',
  );
}

/** @internal Builds the RangeError thrown for a bad bit offset. */
export function badOffset(fn: string, name: string, value: unknown, max: number): RangeError {
  return withCode(
    new RangeError(`${fn}: ${name} must be an integer bit offset in 0..${max}, got ${String(value)}`),
    'ERR_BIT_OFFSET',
  );
}

/** @internal Builds the RangeError thrown for a bad field width or bit count. */
export function badSize(fn: string, name: string, value: unknown, max: number): RangeError {
  return withCode(
    new RangeError(`${fn}: ${name} must be an integer in 0..${max}, got ${String(value)}`),
    'ERR_BIT_SIZE',
  );
}
