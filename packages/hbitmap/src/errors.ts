// Errors of @deja/hbitmap. Wrong use of the API (a bad argument type, a position outside the bitmap,
// a range that breaks QEMU's alignment rules) throws a standard TypeError or RangeError carrying a
// stable string `code`, the way Node's own argument errors do. Wrong use of the bitmap's state (a
// second meta bitmap, freeing a meta bitmap that does not exist, serializing a bitmap whose
// granularity is too coarse to serialize) throws the package's own HBitmapError, also with a code.

/** Stable codes carried by the errors this package throws. */
export const HBitmapErrorCode = {
  /** An argument has the wrong type (a buffer that is not a Uint8Array). Thrown as a TypeError. */
  INVALID_ARG_TYPE: 'ERR_INVALID_ARG_TYPE',
  /** A size, position, count or granularity is not an integer in its allowed range. RangeError. */
  OUT_OF_RANGE: 'ERR_OUT_OF_RANGE',
  /** A range breaks an alignment rule (reset, serialization chunks). Thrown as a RangeError. */
  MISALIGNED: 'ERR_MISALIGNED',
  /** A caller's buffer is too small for the serialized chunk. Thrown as a RangeError. */
  BUFFER_TOO_SMALL: 'ERR_BUFFER_TOO_SMALL',
  /** `createMeta` on a bitmap that already has a meta bitmap. Thrown as an HBitmapError. */
  META_EXISTS: 'ERR_META_EXISTS',
  /** `freeMeta` on a bitmap without a meta bitmap. Thrown as an HBitmapError. */
  NO_META: 'ERR_NO_META',
  /** Serialization on a bitmap whose granularity is 58 or more. Thrown as an HBitmapError. */
  NOT_SERIALIZABLE: 'ERR_NOT_SERIALIZABLE',
} as const;

/** One of the codes in {@link HBitmapErrorCode}. */
export type HBitmapErrorCode = (typeof HBitmapErrorCode)[keyof typeof HBitmapErrorCode];

/** The error class of this package: misuse of a bitmap's state, with a stable `code`. */
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
  }
}

/** A TypeError or RangeError with the stable `code` of this package. */
export type HBitmapArgumentError = (TypeError | RangeError) & { readonly code: HBitmapErrorCode };

/** @internal A RangeError carrying `code`. */
export function rangeError(code: HBitmapErrorCode, message: string): RangeError {
  return Object.assign(new RangeError(message), { code });
}

/** @internal A TypeError carrying `code`. */
export function typeError(code: HBitmapErrorCode, message: string): TypeError {
  return Object.assign(new TypeError(message), { code });
}
