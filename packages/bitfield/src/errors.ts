// Error codes of @deja/bitfield. Every error this package throws is wrong use of the API (a bad
// argument type or an out-of-range offset, size or field width), so it is a standard TypeError or
// RangeError carrying a stable string `code`, the way Node's own argument errors do. There is no
// package error class for corrupt data: the primitives read bits, they never interpret them.

/** Stable codes carried by the errors this package throws. */
export const BitfieldErrorCode = {
  /** An argument has the wrong type (memory is not a Uint8Array). Thrown as a TypeError. */
  INVALID_ARG_TYPE: 'ERR_INVALID_ARG_TYPE',
  /** A bit offset is not an integer in 0..MAX_BIT_OFFSET. Thrown as a RangeError. */
  BIT_OFFSET: 'ERR_BIT_OFFSET',
  /** A field width or bit count is not an integer in its allowed range. Thrown as a RangeError. */
  BIT_SIZE: 'ERR_BIT_SIZE',
} as const;

/** One of the codes in {@link BitfieldErrorCode}. */
export type BitfieldErrorCode = (typeof BitfieldErrorCode)[keyof typeof BitfieldErrorCode];

/** A TypeError or RangeError with the stable `code` of this package. */
export type BitfieldArgumentError = (TypeError | RangeError) & { readonly code: BitfieldErrorCode };

function withCode<E extends Error>(error: E, code: BitfieldErrorCode): E & { code: BitfieldErrorCode } {
  return Object.assign(error, { code });
}

/** @internal Builds the TypeError thrown when `memory` is not a Uint8Array. */
export function invalidMemory(fn: string, name: string, value: unknown): TypeError {
  const got = value === null ? 'null' : typeof value === 'object' ? value.constructor?.name : typeof value;
  return withCode(
    new TypeError(`${fn}: ${name} must be a Uint8Array, got ${String(got)}`),
    BitfieldErrorCode.INVALID_ARG_TYPE,
  );
}

/** @internal Builds the RangeError thrown for a bad bit offset. */
export function badOffset(fn: string, name: string, value: unknown, max: number): RangeError {
  return withCode(
    new RangeError(`${fn}: ${name} must be an integer bit offset in 0..${max}, got ${String(value)}`),
    BitfieldErrorCode.BIT_OFFSET,
  );
}

/** @internal Builds the RangeError thrown for a bad field width or bit count. */
export function badSize(fn: string, name: string, value: unknown, max: number): RangeError {
  return withCode(
    new RangeError(`${fn}: ${name} must be an integer in 0..${max}, got ${String(value)}`),
    BitfieldErrorCode.BIT_SIZE,
  );
}
