// The error class of @deja/chapter-index and its stable codes. Wrong use of the API (a name that is
// not 16 bytes, a record page out of range) throws TypeError / RangeError; everything that comes
// from bytes (a chapter index page, a saved open chapter) or from the state of the index throws
// ChapterIndexError.

/**
 * The stable error codes of `@deja/chapter-index`, in one frozen list. The codes shared with the
 * other Deja packages (`ERR_CORRUPT_DATA`, `ERR_EXISTS`) mean the same thing everywhere.
 *
 * | code | meaning |
 * | --- | --- |
 * | `ERR_CORRUPT_DATA` | a chapter index page or a saved open chapter failed validation (bad nonce, offsets, entries, magic, version or record count), or a saved open chapter ends before its header or the records its header announces |
 * | `ERR_OVERFLOW` | a chapter index entry or list cannot fit (a delta list over 65535 bits, the chapter index memory is full, or no list can be removed to make the last page fit) |
 * | `ERR_EXISTS` | a record name put a third time into one chapter index: it already has a collision entry (the seed's "chunk appears more than once in chapter") |
 */
export const CHAPTER_INDEX_ERROR_CODES = Object.freeze([
  'ERR_CORRUPT_DATA',
  'ERR_OVERFLOW',
  'ERR_EXISTS',
] as const);

/** One of {@link CHAPTER_INDEX_ERROR_CODES}. */
export type ChapterIndexErrorCode = (typeof CHAPTER_INDEX_ERROR_CODES)[number];

/** Marks ChapterIndexErrors of every copy of this package (a registered symbol is the same in all). */
const MARKER = Symbol.for('@deja/chapter-index.error');

/** The one error class of `@deja/chapter-index`; test `code`, not the message. */
export class ChapterIndexError extends Error {
  /** The stable code, see {@link CHAPTER_INDEX_ERROR_CODES}. */
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
    Object.defineProperty(this, MARKER, { value: true });
  }
}

/**
 * Whether `value` is a {@link ChapterIndexError}, optionally with a given code. It looks for a
 * `Symbol.for` marker rather than using `instanceof`, so it also recognises errors from another
 * copy of the package.
 *
 * @param value - anything caught
 * @param code - the code to require, if any
 * @returns `true` if `value` is a ChapterIndexError (with that code)
 */
export function isChapterIndexError(
  value: unknown,
  code?: ChapterIndexErrorCode,
): value is ChapterIndexError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[MARKER] !== true) return false;
  return code === undefined || (value as ChapterIndexError).code === code;
}
