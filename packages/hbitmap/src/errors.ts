// Errors of @deja/hbitmap. Wrong use of the API (a bad argument type, a position outside the bitmap,
// a range that breaks QEMU's alignment rules) throws a standard TypeError or RangeError carrying a
// stable string `code`, the way Node's own argument errors do. Wrong use of the bitmap's state (a
// second meta bitmap, freeing a meta bitmap that does not exist, serializing a bitmap whose
// granularity is too coarse to serialize) throws the package's own HBitmapError, also with a code.
// Codes for concepts every Deja package shares (already there, not there) have the shared names.

/**
 * The stable error codes of `@deja/hbitmap`, in one frozen list. Argument errors are TypeErrors and
 * RangeErrors carrying the code; state errors are {@link HBitmapError}s.
 *
 * | code | class | when |
 * | --- | --- | --- |
 * | `ERR_INVALID_ARG_TYPE` | TypeError | a buffer is not a Uint8Array |
 * | `ERR_OUT_OF_RANGE` | RangeError | a size, position, count or granularity out of range |
 * | `ERR_MISALIGNED` | RangeError | a range breaks an alignment rule (reset, serialization chunks) |
 * | `ERR_BUFFER_TOO_SMALL` | RangeError | a caller's buffer is too small for the serialized chunk |
 * | `ERR_EXISTS` | HBitmapError | `createMeta` on a bitmap that already has a meta bitmap |
 * | `ERR_NOT_FOUND` | HBitmapError | `freeMeta` on a bitmap without a meta bitmap |
 * | `ERR_NOT_SERIALIZABLE` | HBitmapError | serialization of a bitmap whose granularity is 58 or more |
 */
export const HBITMAP_ERROR_CODES = Object.freeze([
  'ERR_INVALID_ARG_TYPE',
  'ERR_OUT_OF_RANGE',
  'ERR_MISALIGNED',
  'ERR_BUFFER_TOO_SMALL',
  'ERR_EXISTS',
  'ERR_NOT_FOUND',
  'ERR_NOT_SERIALIZABLE',
] as const);

/** One of {@link HBITMAP_ERROR_CODES}. */
export type HBitmapErrorCode = (typeof HBITMAP_ERROR_CODES)[number];

/**
 * @deprecated Use the code strings (listed in {@link HBITMAP_ERROR_CODES}); goes in the next minor
 * release. The meta-bitmap codes are now the shared `ERR_EXISTS` and `ERR_NOT_FOUND`.
 */
export const HBitmapErrorCode = Object.freeze({
  INVALID_ARG_TYPE: 'ERR_INVALID_ARG_TYPE',
  OUT_OF_RANGE: 'ERR_OUT_OF_RANGE',
  MISALIGNED: 'ERR_MISALIGNED',
  BUFFER_TOO_SMALL: 'ERR_BUFFER_TOO_SMALL',
  META_EXISTS: 'ERR_EXISTS',
  NO_META: 'ERR_NOT_FOUND',
  NOT_SERIALIZABLE: 'ERR_NOT_SERIALIZABLE',
} as const);

/** Marks HBitmapErrors of every copy of this package (a registered symbol is the same in all). */
const MARKER = Symbol.for('@deja/hbitmap.error');

export class HBitmapError extends Error {
  /** The stable code: one of {@link HBitmapErrorCode}. */
  readonly code: HBitmapErrorCode;

  /**
   * @param code - the stable code
   * @param message - what went wrong and where
   * @param options - the standard `cause`, when wrapping another error
   */
  constructor(code: HBitmapErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HBitmapError';
    this.code = code;
    Object.defineProperty(this, MARKER, { value: true });
  }
}

/** A TypeError or RangeError with the stable `code` of this package. */
/**
 * Whether `value` is an {@link HBitmapError} (a state error), optionally with a given code. It looks
 * for a `Symbol.for` marker rather than using `instanceof`, so it also recognises errors from
 * another copy of the package. Argument errors are plain TypeErrors/RangeErrors: check their `code`.
 *
 * @param value - anything caught.
 * @param code - the code to require, if any.
 * @returns `true` if `value` is an HBitmapError (with that code).
 */
export function isHBitmapError(value: unknown, code?: HBitmapErrorCode): value is HBitmapError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[MARKER] !== true) return false;
  return code === undefined || (value as HBitmapError).code === code;
}

export type HBitmapArgumentError = (TypeError | RangeError) & { readonly code: HBitmapErrorCode };

/** @internal A RangeError carrying `code`. */
export function rangeError(code: HBitmapErrorCode, message: string): RangeError {
  return Object.assign(new RangeError(message), { code });
}

/** @internal A TypeError carrying `code`. */
export function typeError(code: HBitmapErrorCode, message: string): TypeError {
  return Object.assign(new TypeError(message), { code });
}
