// The package's error class and its stable codes. Wrong use of the API throws TypeError/RangeError
// (RangeErrors raised by the index carry `code: 'ERR_INVALID_ARGUMENT'`, as Node's own errors do);
// everything the index can meet at run time (a full list, bad bytes, a misused cursor) throws
// DeltaIndexError with one of the codes below.

/**
 * The stable error codes of `@deja/delta-index`, in one frozen list. The codes shared with the other
 * Deja packages (`ERR_CORRUPT_DATA`, `ERR_INVALID_STATE`, `ERR_EXISTS`) mean the same thing
 * everywhere.
 *
 * | code | meaning |
 * | --- | --- |
 * | `ERR_OVERFLOW` | a delta list would exceed 65535 bits, zone memory is exhausted, or a page is too small to hold any list (the seed's `UDS_OVERFLOW`) |
 * | `ERR_CORRUPT_DATA` | a page or save stream failed validation, or decoding ran past the end of a list (the seed's `UDS_CORRUPT_DATA`) |
 * | `ERR_INVALID_STATE` | a cursor used in a state that does not allow the operation: past the end of a list, before `next()`, on an immutable page (the seed's `UDS_BAD_STATE`) |
 * | `ERR_EXISTS` | a collision entry put on a collision entry: the name is already there (the seed's `UDS_DUPLICATE_NAME`) |
 * | `ERR_PARAMETER_MISMATCH` | a save stream written by an index with another mean delta or payload width (no seed counterpart: the seed's format does not record them) |
 */
export const DELTA_INDEX_ERROR_CODES = Object.freeze([
  'ERR_OVERFLOW',
  'ERR_CORRUPT_DATA',
  'ERR_INVALID_STATE',
  'ERR_EXISTS',
  'ERR_PARAMETER_MISMATCH',
] as const);

/** One of {@link DELTA_INDEX_ERROR_CODES}. */
export type DeltaIndexErrorCode = (typeof DELTA_INDEX_ERROR_CODES)[number];

/** Marks DeltaIndexErrors of every copy of this package (a registered symbol is the same in all). */
const MARKER = Symbol.for('@deja/delta-index.error');

/** The one error class of `@deja/delta-index`; test `code`, not the message. */
export class DeltaIndexError extends Error {
  /** The stable code, see {@link DELTA_INDEX_ERROR_CODES}. */
  readonly code: DeltaIndexErrorCode;

  /**
   * @param code - the stable code
   * @param message - what went wrong and where (list, offset, zone)
   * @param options - `cause` when wrapping another error
   */
  constructor(code: DeltaIndexErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DeltaIndexError';
    this.code = code;
    Object.defineProperty(this, MARKER, { value: true });
  }
}

/**
 * Whether `value` is a {@link DeltaIndexError}, optionally with a given code. It looks for a
 * `Symbol.for` marker rather than using `instanceof`, so it also recognises errors from another
 * copy of the package.
 *
 * @param value - anything caught
 * @param code - the code to require, if any
 * @returns `true` if `value` is a DeltaIndexError (with that code)
 */
export function isDeltaIndexError(value: unknown, code?: DeltaIndexErrorCode): value is DeltaIndexError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[MARKER] !== true) return false;
  return code === undefined || (value as DeltaIndexError).code === code;
}

/** A RangeError tagged `ERR_INVALID_ARGUMENT` (the seed's `UDS_INVALID_ARGUMENT`). */
export type InvalidArgumentError = RangeError & { code: 'ERR_INVALID_ARGUMENT' };

/** @internal Build the RangeError thrown for an out-of-range argument. */
export function invalidArgument(message: string): InvalidArgumentError {
  const error = new RangeError(message) as InvalidArgumentError;
  error.code = 'ERR_INVALID_ARGUMENT';
  return error;
}

/** @internal Check that `value` is an integer in [min, max]; throws RangeError otherwise. */
export function checkInteger(name: string, value: number, min: number, max: number): void {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

/**
 * @internal Check a list number in [0, listCount) and a u32 key, the arguments of every lookup. The
 * inline test is the fast path; checkInteger only runs to build the error.
 */
export function checkListAndKey(listNumber: number, key: number, listCount: number): void {
  if (!(listNumber >= 0 && listNumber < listCount && Number.isInteger(listNumber))) {
    checkInteger('listNumber', listNumber, 0, listCount - 1);
  }
  if (!(key >= 0 && key <= 0xffff_ffff && Number.isInteger(key))) checkInteger('key', key, 0, 0xffff_ffff);
}
