// The package's one error class, ExceptionStoreError, and its stable codes. Bad bytes read back
// from the page layer (a leaf whose offsets point outside the page, a header with a wrong magic)
// and misuse of the store's state (an unknown snapshot name, a full snapshot table) throw it;
// wrong arguments (a negative chunk, a name that is not a string) throw TypeError/RangeError.

/**
 * The stable error codes of `@deja/exception-store`.
 *
 * | code | meaning |
 * | --- | --- |
 * | `ERR_CORRUPT_DATA` | a header, snapshot table page, B-tree node or leaf failed validation |
 * | `ERR_NOT_FOUND` | no store under the root name, or no snapshot with that name |
 * | `ERR_EXISTS` | a store already exists under the root name, or a snapshot name is taken |
 * | `ERR_TOO_MANY_SNAPSHOTS` | every snapshot id of the share mask is in use |
 * | `ERR_INVALID_STATE` | the store is closed or marked invalid, or a transaction is in an unexpected state |
 * | `ERR_UNSUPPORTED_VERSION` | the store was written in an older format version (2: full-width masks in leaves) |
 */
export type ExceptionStoreErrorCode =
  | 'ERR_CORRUPT_DATA'
  | 'ERR_NOT_FOUND'
  | 'ERR_EXISTS'
  | 'ERR_TOO_MANY_SNAPSHOTS'
  | 'ERR_INVALID_STATE'
  | 'ERR_UNSUPPORTED_VERSION';

/** Every code of {@link ExceptionStoreErrorCode}, for exhaustive tests and documentation. */
export const EXCEPTION_STORE_ERROR_CODES: readonly ExceptionStoreErrorCode[] = Object.freeze([
  'ERR_CORRUPT_DATA',
  'ERR_NOT_FOUND',
  'ERR_EXISTS',
  'ERR_TOO_MANY_SNAPSHOTS',
  'ERR_INVALID_STATE',
  'ERR_UNSUPPORTED_VERSION',
]);

/** The error this package throws for bad bytes and for misuse of the store's state. */
export class ExceptionStoreError extends Error {
  /** The stable code; see {@link ExceptionStoreErrorCode}. */
  readonly code: ExceptionStoreErrorCode;

  /**
   * @param code - the stable code.
   * @param message - what failed and where (page, offset, snapshot).
   * @param options - `cause` when wrapping another error.
   */
  constructor(code: ExceptionStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ExceptionStoreError';
    this.code = code;
  }
}

/**
 * Whether `value` is an {@link ExceptionStoreError} (optionally with `code`), by name and code so
 * it also recognises errors from another copy of the package.
 *
 * @param value - anything caught.
 * @param code - the code to require, if any.
 * @returns `true` if it is one.
 */
export function isExceptionStoreError(
  value: unknown,
  code?: ExceptionStoreErrorCode,
): value is ExceptionStoreError {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as { name?: unknown; code?: unknown };
  if (e.name !== 'ExceptionStoreError' || typeof e.code !== 'string') return false;
  return code === undefined || e.code === code;
}

/** @internal A corrupt-data error naming the page and what is wrong. */
export function corrupt(what: string, page: number, detail: string): ExceptionStoreError {
  return new ExceptionStoreError('ERR_CORRUPT_DATA', `${what} at page ${page}: ${detail}`);
}
