// The error class of @deja/dedup-index and its stable codes. Wrong use of the API (a name that is
// not 16 bytes, an option out of range) throws TypeError / RangeError; what comes from storage (a
// page, a save, the superblock) or from the state of the index throws DedupIndexError.

/**
 * Stable error codes of {@link DedupIndexError}.
 *
 * - `ERR_NO_INDEX`: the storage holds no index (no valid superblock) where one was opened.
 * - `ERR_CORRUPT_DATA`: bytes read from storage failed a check (magic, version, checksum, nonce,
 *   structure): the superblock, a save part, a chapter page.
 * - `ERR_UNSUPPORTED_VERSION`: a superblock or save written in a format version this code does not know.
 * - `ERR_CLOSED`: an operation on an index that was closed.
 * - `ERR_STORAGE`: the storage adapter failed; the adapter's error is the `cause`.
 */
export type DedupIndexErrorCode =
  | 'ERR_NO_INDEX'
  | 'ERR_CORRUPT_DATA'
  | 'ERR_UNSUPPORTED_VERSION'
  | 'ERR_CLOSED'
  | 'ERR_STORAGE';

/** The one error class of `@deja/dedup-index`; test `code`, not the message. */
export class DedupIndexError extends Error {
  /** The stable code, see {@link DedupIndexErrorCode}. */
  readonly code: DedupIndexErrorCode;

  /**
   * @param code - the stable code
   * @param message - what went wrong and where (chapter, page, byte offset)
   * @param options - `cause` when wrapping an error of a lower layer
   */
  constructor(code: DedupIndexErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DedupIndexError';
    this.code = code;
  }
}

/** @internal A corrupt-data error. */
export function corrupt(message: string, cause?: unknown): DedupIndexError {
  return new DedupIndexError('ERR_CORRUPT_DATA', message, cause === undefined ? undefined : { cause });
}
