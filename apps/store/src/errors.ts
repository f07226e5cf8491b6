// The store's one error class, StoreError, and its stable codes. Failures of the packages below
// (the page layer, the exception store, the dedup index, a storage adapter) reach the caller
// wrapped in a StoreError with the same concept's code and the original error as `cause`.
//
// The NBD server and client (src/nbd) are part of this package, so their failures are
// StoreErrors too, with `ERR_NBD_*` codes for what only NBD has (a peer breaking the protocol, a
// refused option, a failed request, TLS), `nbdReply` / `nbdErrno` for the protocol's own values,
// and the shared concepts' codes where they fit (`ERR_CLOSED` for a call on a closed client,
// `ERR_ABORTED`, `ERR_NOT_FOUND`): a caller of `importNbd` or `serve` checks one guard, as the
// family's contract asks (one error class per package).

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
 * | `ERR_NBD_PROTOCOL` | an NBD peer broke the protocol (a wrong magic, a malformed reply or option, a reply to no request) |
 * | `ERR_NBD_REFUSED` | an NBD server refused an option (`nbdReply` holds the NBD_REP_ERR_* value): an unknown export, a writer already attached |
 * | `ERR_NBD_REQUEST` | an NBD request failed on the server (`nbdErrno` holds the NBD error value: 1 EPERM, 5 EIO, 22 EINVAL, 28 ENOSPC, ...) |
 * | `ERR_NBD_DISCONNECTED` | the NBD connection closed before the reply |
 * | `ERR_NBD_TLS_REQUIRED` | an NBD listener beyond loopback without TLS, or a server that needs TLS the client was not given |
 * | `ERR_NBD_TLS` | the TLS handshake of an NBD connection failed (a certificate that does not verify, a wrong PSK) |
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
  | 'ERR_ABORTED'
  | 'ERR_NBD_PROTOCOL'
  | 'ERR_NBD_REFUSED'
  | 'ERR_NBD_REQUEST'
  | 'ERR_NBD_DISCONNECTED'
  | 'ERR_NBD_TLS_REQUIRED'
  | 'ERR_NBD_TLS';

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
  'ERR_NBD_PROTOCOL',
  'ERR_NBD_REFUSED',
  'ERR_NBD_REQUEST',
  'ERR_NBD_DISCONNECTED',
  'ERR_NBD_TLS_REQUIRED',
  'ERR_NBD_TLS',
]);

const MARKER = Symbol.for('@deja/store.error');

/** The error `@deja/store` rejects with for state, medium and format failures. */
export class StoreError extends Error {
  /** The stable code; see {@link StoreErrorCode}. */
  readonly code: StoreErrorCode;
  /** For `ERR_NBD_REFUSED`: the server's NBD_REP_ERR_* reply type. */
  readonly nbdReply?: number;
  /** For `ERR_NBD_REQUEST`: the NBD error value (1 EPERM, 5 EIO, 22 EINVAL, 28 ENOSPC, ...). */
  readonly nbdErrno?: number;

  /**
   * @param code - the stable code.
   * @param message - what failed and where (file, page, offset, snapshot).
   * @param options - `cause` when wrapping another error; `nbdReply` / `nbdErrno` for NBD failures.
   */
  constructor(
    code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown; nbdReply?: number; nbdErrno?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StoreError';
    this.code = code;
    if (options?.nbdReply !== undefined) this.nbdReply = options.nbdReply;
    if (options?.nbdErrno !== undefined) this.nbdErrno = options.nbdErrno;
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
