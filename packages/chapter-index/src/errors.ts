// The error class of @deja/chapter-index and its stable codes. Wrong use of the API (a name that is
// not 16 bytes, a record page out of range) throws TypeError / RangeError; everything that comes
// from bytes (a chapter index page, a saved open chapter) or from the state of the index throws
// ChapterIndexError.

/**
 * Stable error codes of {@link ChapterIndexError}.
 *
 * - `ERR_CORRUPT_DATA`: a chapter index page or a saved open chapter failed validation (bad nonce,
 *   offsets, entries, magic, version or record count).
 * - `ERR_TRUNCATED`: a saved open chapter ends before the records its header announces.
 * - `ERR_OVERFLOW`: a chapter index entry or list cannot fit (a delta list over 65535 bits, the
 *   chapter index memory is full, or no list can be removed to make the last page fit).
 * - `ERR_DUPLICATE_NAME`: a record name was put twice into one chapter index (the seed's
 *   "chunk appears more than once in chapter").
 */
export type ChapterIndexErrorCode =
  | 'ERR_CORRUPT_DATA'
  | 'ERR_TRUNCATED'
  | 'ERR_OVERFLOW'
  | 'ERR_DUPLICATE_NAME';

/** The one error class of `@deja/chapter-index`; test `code`, not the message. */
export class ChapterIndexError extends Error {
  /** The stable code, see {@link ChapterIndexErrorCode}. */
  readonly code: ChapterIndexErrorCode;

  /**
   * @param code - the stable code
   * @param message - what went wrong and where (chapter, page, list, offset)
   * @param options - `cause` when wrapping an error of `@deja/delta-index`
   */
  constructor(code: ChapterIndexErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChapterIndexError';
    this.code = code;
  }
}
