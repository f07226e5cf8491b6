// The error class of @deja/dedup-index and its stable codes. Wrong use of the API (a name that is
// not 16 bytes, an option out of range) throws TypeError / RangeError, tagged with a code as Node's
// own errors are (`ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARGUMENT` as in @deja/delta-index); what comes
// from storage (a page, a save, the superblock) or from the state of the index throws DedupIndexError.
// A failure of the storage adapter is wrapped in a DedupIndexError of the same concept (ERR_IO,
// ERR_CLOSED, ERR_NO_SPACE, ERR_READ_ONLY) with the adapter's error as `cause` (fromStorageError).
import { isStorageError } from '@deja/storage';

/**
 * The stable error codes of `@deja/dedup-index`, in one frozen list. Every one is a concept shared
 * with the other Deja packages and means the same thing everywhere.
 *
 * | code | meaning |
 * | --- | --- |
 * | `ERR_NOT_FOUND` | the storage holds no index (no valid superblock) where one was opened |
 * | `ERR_CORRUPT_DATA` | bytes read from storage failed a check (magic, version, checksum, nonce, structure): the superblock, a save part, a chapter page |
 * | `ERR_UNSUPPORTED_VERSION` | a superblock or save written in a format version this code does not read |
 * | `ERR_CLOSED` | a request to an index that was closed, or on a storage closed underneath |
 * | `ERR_NO_SPACE` | the storage is full, or a save does not fit its slot |
 * | `ERR_READ_ONLY` | `create` on, or a write of the index to, a read-only storage |
 * | `ERR_IO` | the storage failed (the adapter's error is `cause`) |
 */
export const DEDUP_INDEX_ERROR_CODES = Object.freeze([
  'ERR_NOT_FOUND',
  'ERR_CORRUPT_DATA',
  'ERR_UNSUPPORTED_VERSION',
  'ERR_CLOSED',
  'ERR_NO_SPACE',
  'ERR_READ_ONLY',
  'ERR_IO',
] as const);

/** One of {@link DEDUP_INDEX_ERROR_CODES}. */
export type DedupIndexErrorCode = (typeof DEDUP_INDEX_ERROR_CODES)[number];

/** Marks DedupIndexErrors of every copy of this package (a registered symbol is the same in all). */
const MARKER = Symbol.for('@deja/dedup-index.error');

/** The one error class of `@deja/dedup-index`; test `code`, not the message. */
export class DedupIndexError extends Error {
  /** The stable code, see {@link DEDUP_INDEX_ERROR_CODES}. */
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
    Object.defineProperty(this, MARKER, { value: true });
  }
}

/**
 * Whether `value` is a {@link DedupIndexError}, optionally with a given code. It looks for a
 * `Symbol.for` marker rather than using `instanceof`, so it also recognises errors from another
 * copy of the package.
 *
 * @param value - anything caught
 * @param code - the code to require, if any
 * @returns `true` if `value` is a DedupIndexError (with that code)
 */
export function isDedupIndexError(value: unknown, code?: DedupIndexErrorCode): value is DedupIndexError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[MARKER] !== true) return false;
  return code === undefined || (value as DedupIndexError).code === code;
}

/**
 * @internal The error to reject with for a failure of the storage while doing `what`: a
 * DedupIndexError passes unchanged; a StorageError becomes a DedupIndexError of the same concept (a
 * closed storage `ERR_CLOSED`, a full one `ERR_NO_SPACE`, a read-only one `ERR_READ_ONLY`, every
 * other failure `ERR_IO`), and anything else the adapter threw `ERR_IO`, with the original as `cause`.
 */
export function fromStorageError(what: string, error: unknown): DedupIndexError {
  if (isDedupIndexError(error)) return error;
  let code: DedupIndexErrorCode = 'ERR_IO';
  if (isStorageError(error)) {
    if (error.code === 'ERR_CLOSED' || error.code === 'ERR_NO_SPACE' || error.code === 'ERR_READ_ONLY') {
      code = error.code;
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  return new DedupIndexError(code, `${what}: ${message}`, { cause: error });
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
