// The NBD layer's error: what a server refused, what a peer broke, what a request failed with.
// Failures of the store itself (an unknown snapshot, a read-only store) stay StoreErrors.

const MARKER = Symbol.for('@deja/store.nbd-error');

/**
 * Stable codes of {@link NbdError}.
 *
 * | code | meaning |
 * | --- | --- |
 * | `ERR_NBD_PROTOCOL` | the peer broke the protocol (a wrong magic, a malformed reply or option, a reply to no request) |
 * | `ERR_NBD_REFUSED` | the server refused an option (`reply` holds the NBD_REP_ERR_* value): an unknown export, TLS required, a writer already attached |
 * | `ERR_NBD_REQUEST` | a transmission request failed (`errno` holds the NBD error value: EPERM, EIO, EINVAL, ENOSPC, ...) |
 * | `ERR_NBD_DISCONNECTED` | the connection closed before the reply |
 * | `ERR_NBD_TLS_REQUIRED` | a listener beyond loopback without TLS, or a server that needs TLS the client was not given |
 * | `ERR_NBD_TLS` | the TLS handshake failed (a certificate that does not verify, a wrong PSK) |
 */
export type NbdErrorCode =
  | 'ERR_NBD_PROTOCOL'
  | 'ERR_NBD_REFUSED'
  | 'ERR_NBD_REQUEST'
  | 'ERR_NBD_DISCONNECTED'
  | 'ERR_NBD_TLS_REQUIRED'
  | 'ERR_NBD_TLS';

/** An NBD failure with a stable `code`. */
export class NbdError extends Error {
  readonly code: NbdErrorCode;
  /** The NBD_REP_ERR_* value, for `ERR_NBD_REFUSED`. */
  readonly reply: number | undefined;
  /** The NBD error value (1 EPERM, 5 EIO, 22 EINVAL, 28 ENOSPC, ...), for `ERR_NBD_REQUEST`. */
  readonly errno: number | undefined;

  constructor(
    code: NbdErrorCode,
    message: string,
    options?: { cause?: unknown; reply?: number; errno?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NbdError';
    this.code = code;
    this.reply = options?.reply;
    this.errno = options?.errno;
    Object.defineProperty(this, MARKER, { value: true });
  }
}

/** Whether `value` is an {@link NbdError} (optionally with `code`), across duplicated installs. */
export function isNbdError(value: unknown, code?: NbdErrorCode): value is NbdError {
  if (typeof value !== 'object' || value === null || !(MARKER in value)) return false;
  return code === undefined || (value as unknown as NbdError).code === code;
}
