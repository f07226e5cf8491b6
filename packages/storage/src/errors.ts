// The package's one error class, StorageError, and its stable codes. Every adapter maps its
// failures onto these codes so callers (the page layer, the store) can branch on `code` alone,
// whatever medium sits underneath.

/**
 * The stable error codes of `@deja/storage`. Tests and callers branch on these, never on messages.
 *
 * | code | meaning |
 * | --- | --- |
 * | `ERR_OUT_OF_RANGE` | a read reaches past the end of the store |
 * | `ERR_NOT_FOUND` | the store to open does not exist (and `create` was not set) |
 * | `ERR_LOCKED` | another handle (this process or another) holds the store's lock |
 * | `ERR_NO_SPACE` | the medium is full (ENOSPC, EDQUOT) or a write passes `maxSize` |
 * | `ERR_PERMISSION` | the OS refused access (EACCES, EPERM, EROFS) |
 * | `ERR_READ_ONLY` | a write on a store opened read-only |
 * | `ERR_CLOSED` | an operation was called after `close()` |
 * | `ERR_IO` | any other I/O failure, an injected failure, or use after a failed flush |
 * | `ERR_CRASHED` | `FaultyStorage` after its simulated power loss |
 * | `ERR_CORRUPT_DATA` | the page layer read bytes that fail a check (checksum, page number, transaction id, layout), or found a newer superblock damaged |
 * | `ERR_BUSY` | `PageStore.begin()` while another transaction is open |
 * | `ERR_UNSUPPORTED_VERSION` | a page store written in a format version this code does not know |
 */
export type StorageErrorCode =
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_NOT_FOUND'
  | 'ERR_LOCKED'
  | 'ERR_NO_SPACE'
  | 'ERR_PERMISSION'
  | 'ERR_READ_ONLY'
  | 'ERR_CLOSED'
  | 'ERR_IO'
  | 'ERR_CRASHED'
  | 'ERR_CORRUPT_DATA'
  | 'ERR_BUSY'
  | 'ERR_UNSUPPORTED_VERSION';

/** Every code of {@link StorageErrorCode}, for exhaustive tests and documentation. */
export const STORAGE_ERROR_CODES: readonly StorageErrorCode[] = Object.freeze([
  'ERR_OUT_OF_RANGE',
  'ERR_NOT_FOUND',
  'ERR_LOCKED',
  'ERR_NO_SPACE',
  'ERR_PERMISSION',
  'ERR_READ_ONLY',
  'ERR_CLOSED',
  'ERR_IO',
  'ERR_CRASHED',
  'ERR_CORRUPT_DATA',
  'ERR_BUSY',
  'ERR_UNSUPPORTED_VERSION',
]);

/**
 * The error every adapter of this package rejects with for a failure of the medium or of the
 * store's state. Wrong use of the API (a negative offset, a string instead of bytes) is a
 * `RangeError` or `TypeError` instead.
 */
export class StorageError extends Error {
  /** The stable code; see {@link StorageErrorCode}. */
  readonly code: StorageErrorCode;

  /**
   * @param code - the stable code.
   * @param message - what failed and where (store, offset, length).
   * @param options - `cause`: the underlying error (an `fs` error, say), when wrapping one.
   */
  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
    this.code = code;
  }
}

/**
 * Whether `value` is a {@link StorageError}, optionally with a given code. It checks `name` and
 * `code` rather than `instanceof`, so it also recognises errors from another copy of the package.
 *
 * @param value - anything caught.
 * @param code - the code to require, if any.
 * @returns `true` if `value` looks like a StorageError (with that code).
 */
export function isStorageError(value: unknown, code?: StorageErrorCode): value is StorageError {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as { name?: unknown; code?: unknown };
  if (e.name !== 'StorageError' || typeof e.code !== 'string') return false;
  return code === undefined || e.code === code;
}
