// The store's one error class, StoreError, and its stable codes. Failures of the packages below
// (the page layer, the exception store, the dedup index, a storage adapter) reach the caller
// wrapped in a StoreError with the same concept's code and the original error as `cause`.

/**
 * The stable error codes of `@deja/store`.
 *
 * | code | meaning |
 * | --- | --- |
 * | `ERR_NOT_FOUND` | no store at that place, or no snapshot (version) with that name |
 * | `ERR_EXISTS` | a store already exists there, or a snapshot name is taken |
 * | `ERR_LOCKED` | another handle (this process or another) has the store open |
 * | `ERR_CORRUPT_DATA` | bytes of a store file failed a check; the message names the file and page |
 * | `ERR_UNSUPPORTED_VERSION` | a store file written in a format this code does not read |
 * | `ERR_OUT_OF_RANGE` | an offset or length outside the volume |
 * | `ERR_NO_SPACE` | the medium is full, or the store reached its page limit |
 * | `ERR_TOO_MANY_SNAPSHOTS` | every snapshot slot of the store is in use |
 * | `ERR_READ_ONLY` | a write to a store opened read-only |
 * | `ERR_CLOSED` | a call after `close()` |
 * | `ERR_IO` | the medium failed; the store refuses further writes: close and reopen |
 * | `ERR_INVALID_STATE` | an operation the store's state does not allow (rolling back to a snapshot being written, a bad diff stream for this store) |
 * | `ERR_BAD_STREAM` | a diff stream or image stream that is malformed or truncated |
 * | `ERR_ABORTED` | a long operation stopped by its `AbortSignal` |
 */
export type StoreErrorCode =
  | 'ERR_NOT_FOUND'
  | 'ERR_EXISTS'
  | 'ERR_LOCKED'
  | 'ERR_CORRUPT_DATA'
  | 'ERR_UNSUPPORTED_VERSION'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_NO_SPACE'
  | 'ERR_TOO_MANY_SNAPSHOTS'
  | 'ERR_READ_ONLY'
  | 'ERR_CLOSED'
  | 'ERR_IO'
  | 'ERR_INVALID_STATE'
  | 'ERR_BAD_STREAM'
  | 'ERR_ABORTED';

/** Every code of {@link StoreErrorCode}. */
export const STORE_ERROR_CODES: readonly StoreErrorCode[] = Object.freeze([
  'ERR_NOT_FOUND',
  'ERR_EXISTS',
  'ERR_LOCKED',
  'ERR_CORRUPT_DATA',
  'ERR_UNSUPPORTED_VERSION',
  'ERR_OUT_OF_RANGE',
  'ERR_NO_SPACE',
  'ERR_TOO_MANY_SNAPSHOTS',
  'ERR_READ_ONLY',
  'ERR_CLOSED',
  'ERR_IO',
  'ERR_INVALID_STATE',
  'ERR_BAD_STREAM',
  'ERR_ABORTED',
]);

const MARKER = Symbol.for('@deja/store.error');

/** The error `@deja/store` rejects with for state, medium and format failures. */
export class StoreError extends Error {
  /** The stable code; see {@link StoreErrorCode}. */
  readonly code: StoreErrorCode;

  /**
   * @param code - the stable code.
   * @param message - what failed and where (file, page, offset, snapshot).
   * @param options - `cause` when wrapping another error.
   */
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
    Object.defineProperty(this, MARKER, { value: true });
  }
}

/**
 * Whether `value` is a {@link StoreError} (optionally with `code`); works across duplicated
 * installs of the package (a `Symbol.for` marker).
 */
export function isStoreError(value: unknown, code?: StoreErrorCode): value is StoreError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[MARKER] !== true) return false;
  return code === undefined || (value as StoreError).code === code;
}

const PASS_THROUGH = new Set<string>(STORE_ERROR_CODES);

/**
 * @internal Wraps an error of a lower package into a StoreError with the same concept's code.
 * Errors that are already StoreErrors, TypeErrors or RangeErrors pass unchanged.
 */
export function wrapError(error: unknown, where: string): unknown {
  if (isStoreError(error)) return error;
  if (error instanceof TypeError || error instanceof RangeError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  let mapped: StoreErrorCode = 'ERR_IO';
  if (typeof code === 'string') {
    if (code === 'ERR_CRASHED' || code === 'ERR_PERMISSION') mapped = 'ERR_IO';
    else if (code === 'ERR_INVALID_ARGUMENT' || code === 'ERR_BUSY') mapped = 'ERR_INVALID_STATE';
    else if (PASS_THROUGH.has(code)) mapped = code as StoreErrorCode;
  }
  return new StoreError(mapped, `${where}: ${message}`, { cause: error });
}
