// The error class of @deja/dedup-index and its stable codes. Wrong use of the API (a name that is
// not 16 bytes, an option out of range) throws TypeError / RangeError, tagged with a code as Node's
// own errors are (`ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARGUMENT` as in @deja/delta-index); what comes
// from storage (a page, a save, the superblock) or from the state of the index throws DedupIndexError.

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
   * For the rejection of a batch (`postMany`, ...): the position of the request that failed. The
   * requests before it took effect; it and those after it did not complete.
   */
  readonly batchIndex: number | undefined;

  /**
   * @param code - the stable code
   * @param message - what went wrong and where (chapter, page, byte offset)
   * @param options - `cause` when wrapping an error of a lower layer; `batchIndex` for a batch
   */
  constructor(
    code: DedupIndexErrorCode,
    message: string,
    options?: { cause?: unknown; batchIndex?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DedupIndexError';
    this.code = code;
    this.batchIndex = options?.batchIndex;
  }
}

/** A RangeError for an argument out of range, tagged `ERR_INVALID_ARGUMENT`. */
export type InvalidArgumentError = RangeError & { code: 'ERR_INVALID_ARGUMENT' };

/** A TypeError for an argument of the wrong type, tagged `ERR_INVALID_ARG_TYPE`. */
export type InvalidTypeError = TypeError & { code: 'ERR_INVALID_ARG_TYPE' };

/** @internal The RangeError thrown for an argument out of range. */
export function invalidArgument(message: string): InvalidArgumentError {
  const error = new RangeError(message) as InvalidArgumentError;
  error.code = 'ERR_INVALID_ARGUMENT';
  return error;
}

/** @internal The TypeError thrown for an argument of the wrong type. */
export function invalidType(message: string): InvalidTypeError {
  const error = new TypeError(message) as InvalidTypeError;
  error.code = 'ERR_INVALID_ARG_TYPE';
  return error;
}

/** @internal A corrupt-data error. */
export function corrupt(message: string, cause?: unknown): DedupIndexError {
  return new DedupIndexError('ERR_CORRUPT_DATA', message, cause === undefined ? undefined : { cause });
}
