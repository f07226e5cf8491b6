// The package's one error class, StorageError, and its stable codes. Every adapter maps its
// failures onto these codes so callers (the page layer, the store) can branch on `code` alone,
// whatever medium sits underneath. The codes a concept shares with the other Deja packages carry
// the same name everywhere (ERR_CLOSED, ERR_NOT_FOUND, ERR_IO, ...); the rest are this package's own.

/**
 * The stable error codes of `@deja/storage`, in one frozen list. Tests and callers branch on these,
 * never on messages.
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
 */
export const STORAGE_ERROR_CODES = Object.freeze([
  'ERR_OUT_OF_RANGE',
  'ERR_NOT_FOUND',
  'ERR_LOCKED',
  'ERR_NO_SPACE',
  'ERR_PERMISSION',
  'ERR_READ_ONLY',
  'ERR_CLOSED',
  'ERR_IO',
  'ERR_CRASHED',
] as const);

/** One of {@link STORAGE_ERROR_CODES}. */
export type StorageErrorCode = (typeof STORAGE_ERROR_CODES)[number];

/** Marks StorageErrors of every copy of this package (a registered symbol is the same in all). */
const MARKER = Symbol.for('@deja/storage.error');

/**
 * The error every adapter rejects with for a failure of the medium or of the store's state. Wrong
 * use of the API (a negative offset, a string instead of bytes) is a `RangeError` or `TypeError`
 * instead.
 */
export class StorageError extends Error {
  /** The stable code; see {@link STORAGE_ERROR_CODES}. */
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
    Object.defineProperty(this, MARKER, { value: true });
  }
}

/**
 * Whether `value` is a {@link StorageError}, optionally with a given code. It looks for a
 * `Symbol.for` marker rather than using `instanceof`, so it also recognises errors from another
 * copy of the package (two versions installed side by side).
 *
 * @param value - anything caught.
 * @param code - the code to require, if any.
 * @returns `true` if `value` is a StorageError (with that code).
 */
export function isStorageError(value: unknown, code?: StorageErrorCode): value is StorageError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[MARKER] !== true) return false;
  return code === undefined || (value as StorageError).code === code;
}
