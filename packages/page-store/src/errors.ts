// The package's one error class, PageStoreError, and its stable codes. A concept shared with the
// other Deja packages has the same code everywhere (ERR_CLOSED, ERR_CORRUPT_DATA, ERR_IO, ...).
// Failures of the storage underneath reach the caller wrapped in a PageStoreError with the same
// concept's code and the storage's error as `cause` (fromStorageError below).
import { isStorageError } from '@deja/storage';

/**
 * The stable error codes of `@deja/page-store`, in one frozen list.
 *
 * | code | meaning |
 * | --- | --- |
 * | `ERR_CORRUPT_DATA` | bytes that fail a check (checksum, magic, kind, page number, transaction id, layout), a truncated storage, or a newer superblock found damaged |
 * | `ERR_UNSUPPORTED_VERSION` | a store (or a page) written in a format version this code does not read |
 * | `ERR_BUSY` | `begin()` while another transaction is open |
 * | `ERR_CLOSED` | a store used after `close()`, a transaction after commit or abort, or a storage closed underneath |
 * | `ERR_NO_SPACE` | no free page at `maxPageCount`, a transaction larger than the journal, or the medium full |
 * | `ERR_READ_ONLY` | `create` on, or `begin()` of, a read-only storage |
 * | `ERR_IO` | the storage failed, or any call after a commit's writes or flush failed (close and reopen) |
 */
export const PAGE_STORE_ERROR_CODES = Object.freeze([
  'ERR_CORRUPT_DATA',
  'ERR_UNSUPPORTED_VERSION',
  'ERR_BUSY',
  'ERR_CLOSED',
  'ERR_NO_SPACE',
  'ERR_READ_ONLY',
  'ERR_IO',
] as const);

/** One of {@link PAGE_STORE_ERROR_CODES}. */
export type PageStoreErrorCode = (typeof PAGE_STORE_ERROR_CODES)[number];

/** Marks PageStoreErrors of every copy of this package (a registered symbol is the same in all). */
const MARKER = Symbol.for('@deja/page-store.error');

/**
 * The error `@deja/page-store` rejects with for bad bytes, a store's state and failures of the
 * storage underneath. Wrong use of the API (a page number out of range, a payload of the wrong
 * size) is a `TypeError` or `RangeError` instead.
 */
export class PageStoreError extends Error {
  /** The stable code; see {@link PAGE_STORE_ERROR_CODES}. */
  readonly code: PageStoreErrorCode;

  /**
   * @param code - the stable code.
   * @param message - what failed and where (page, journal slot, transaction).
   * @param options - `cause` when wrapping another error (the storage's, say).
   */
  constructor(code: PageStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PageStoreError';
    this.code = code;
    Object.defineProperty(this, MARKER, { value: true });
  }
}

/**
 * Whether `value` is a {@link PageStoreError}, optionally with a given code. It looks for a
 * `Symbol.for` marker rather than using `instanceof`, so it also recognises errors from another
 * copy of the package.
 *
 * @param value - anything caught.
 * @param code - the code to require, if any.
 * @returns `true` if `value` is a PageStoreError (with that code).
 */
export function isPageStoreError(value: unknown, code?: PageStoreErrorCode): value is PageStoreError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[MARKER] !== true) return false;
  return code === undefined || (value as PageStoreError).code === code;
}

/** A PageStoreError with code `ERR_CORRUPT_DATA`; `message` names the page. */
export function corrupt(message: string): PageStoreError {
  return new PageStoreError('ERR_CORRUPT_DATA', `page store: ${message}`);
}

/**
 * The error to reject with for a failure of the storage: PageStoreErrors, TypeErrors and
 * RangeErrors pass unchanged; a StorageError becomes a PageStoreError of the same concept (a full
 * medium `ERR_NO_SPACE`, a read-only one `ERR_READ_ONLY`, a closed one `ERR_CLOSED`, a read past
 * the end `ERR_CORRUPT_DATA` — the storage is shorter than the store's layout — and every other
 * failure `ERR_IO`) with the original as `cause`.
 */
export function fromStorageError(error: unknown, what: string): unknown {
  if (isPageStoreError(error) || error instanceof TypeError || error instanceof RangeError) return error;
  let code: PageStoreErrorCode = 'ERR_IO';
  if (isStorageError(error)) {
    if (error.code === 'ERR_NO_SPACE' || error.code === 'ERR_READ_ONLY' || error.code === 'ERR_CLOSED') {
      code = error.code;
    } else if (error.code === 'ERR_OUT_OF_RANGE') {
      code = 'ERR_CORRUPT_DATA';
    }
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new PageStoreError(code, `page store: ${what} failed: ${detail}`, { cause: error });
}
