// The package's one error class, ExceptionStoreError, and its stable codes. Bad bytes read back
// from the page layer (a leaf whose offsets point outside the page, a header with a wrong magic)
// and misuse of the store's state (an unknown snapshot name, a full snapshot table) throw it;
// wrong arguments (a negative chunk, a name that is not a string) throw TypeError/RangeError. A
// failure of the packages below (the page layer, a storage adapter) reaches the caller wrapped in
// an ExceptionStoreError of the same concept, the original as `cause` (fromLowerError below). A
// concept shared with the other Deja packages has the same code everywhere.

/**
 * The stable error codes of `@deja/exception-store`, in one frozen list.
 *
 * | code | meaning |
 * | --- | --- |
 * | `ERR_CORRUPT_DATA` | a page of the store (header, snapshot table, node, leaf) fails a check, or the page layer found bad bytes |
 * | `ERR_UNSUPPORTED_VERSION` | a store written in a format version this code does not read |
 * | `ERR_NOT_FOUND` | no store under the root name, or no snapshot with that name |
 * | `ERR_EXISTS` | a store already exists under the root name, or a snapshot name is taken |
 * | `ERR_TOO_MANY_SNAPSHOTS` | every snapshot id (the mask width) is in use |
 * | `ERR_CLOSED` | the store or the volume was used after `close()`, or the page layer is closed |
 * | `ERR_INVALID_STATE` | the store is marked invalid, or an operation its transaction state does not allow (deleting while attached to a caller's transaction, writing a chunk with no transaction open) |
 * | `ERR_BUSY` | the page layer has another writer's transaction open |
 * | `ERR_NO_SPACE` | the page layer has no free page left |
 * | `ERR_READ_ONLY` | a change on a page layer over read-only storage |
 * | `ERR_IO` | the page layer or the storage failed (the `cause` says how) |
 */
export const EXCEPTION_STORE_ERROR_CODES = Object.freeze([
  'ERR_CORRUPT_DATA',
  'ERR_UNSUPPORTED_VERSION',
  'ERR_NOT_FOUND',
  'ERR_EXISTS',
  'ERR_TOO_MANY_SNAPSHOTS',
  'ERR_CLOSED',
  'ERR_INVALID_STATE',
  'ERR_BUSY',
  'ERR_NO_SPACE',
  'ERR_READ_ONLY',
  'ERR_IO',
] as const);

/** One of {@link EXCEPTION_STORE_ERROR_CODES}. */
export type ExceptionStoreErrorCode = (typeof EXCEPTION_STORE_ERROR_CODES)[number];

/** Marks ExceptionStoreErrors of every copy of this package (a registered symbol is the same in all). */
const MARKER = Symbol.for('@deja/exception-store.error');

/** The error `@deja/exception-store` rejects with for bad bytes, state and lower failures. */
export class ExceptionStoreError extends Error {
  /** The stable code; see {@link EXCEPTION_STORE_ERROR_CODES}. */
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
    Object.defineProperty(this, MARKER, { value: true });
  }
}

/**
 * Whether `value` is an {@link ExceptionStoreError}, optionally with a given code. It looks for a
 * `Symbol.for` marker rather than using `instanceof`, so it also recognises errors from another
 * copy of the package.
 *
 * @param value - anything caught.
 * @param code - the code to require, if any.
 * @returns `true` if `value` is an ExceptionStoreError (with that code).
 */
export function isExceptionStoreError(
  value: unknown,
  code?: ExceptionStoreErrorCode,
): value is ExceptionStoreError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[MARKER] !== true) return false;
  return code === undefined || (value as ExceptionStoreError).code === code;
}

/** Codes of the packages below that keep their meaning here. */
const SAME_CONCEPT = new Set<string>([
  'ERR_CORRUPT_DATA',
  'ERR_UNSUPPORTED_VERSION',
  'ERR_CLOSED',
  'ERR_BUSY',
  'ERR_NO_SPACE',
  'ERR_READ_ONLY',
  'ERR_IO',
]);

/**
 * The error to reject with for `error`: this package's errors, TypeErrors and RangeErrors pass
 * unchanged; an error of the page layer or of a storage adapter becomes an ExceptionStoreError with
 * the same concept's code (`ERR_IO` for every code that has no meaning here, such as a storage's
 * `ERR_NOT_FOUND` for a missing file, which is not a missing snapshot) and the original as `cause`.
 */
export function fromLowerError(error: unknown): unknown {
  if (isExceptionStoreError(error) || error instanceof TypeError || error instanceof RangeError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const mapped = (
    typeof code === 'string' && SAME_CONCEPT.has(code) ? code : 'ERR_IO'
  ) as ExceptionStoreErrorCode;
  const message = error instanceof Error ? error.message : String(error);
  return new ExceptionStoreError(mapped, message, { cause: error });
}

/** An `ERR_CORRUPT_DATA` error naming the structure and its page. */
export function corrupt(what: string, page: number, detail: string): ExceptionStoreError {
  return new ExceptionStoreError('ERR_CORRUPT_DATA', `${what} at page ${page}: ${detail}`);
}
