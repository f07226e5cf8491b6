// The error class of @deja/volume-geometry. Every failure this package reports is a parameter that
// cannot describe a UDS index volume, so the class extends RangeError (wrong use of the API) and
// adds a stable string `code` that callers and tests match on.

/** Stable error codes of {@link VolumeGeometryError}. */
export type VolumeGeometryErrorCode =
  /** A geometry parameter, or a combination of them, cannot describe an index volume. */
  | 'ERR_INVALID_GEOMETRY'
  /** A memory configuration is not one UDS defines (0.25, 0.5, 0.75 GB or 1..1024 whole GB). */
  | 'ERR_INVALID_MEMORY_SIZE'
  /** A configuration parameter (zone count, sample rate, mean delta) is out of range. */
  | 'ERR_INVALID_CONFIGURATION';

/**
 * Thrown when geometry or configuration parameters are invalid. It is a `RangeError`, so code that
 * only distinguishes wrong use from bad data keeps working; `code` says which rule was broken.
 */
export class VolumeGeometryError extends RangeError {
  /** Stable machine-readable code; see the README's errors table. */
  readonly code: VolumeGeometryErrorCode;

  /**
   * @param code - the stable error code
   * @param message - what is wrong, naming the parameter and its value
   */
  constructor(code: VolumeGeometryErrorCode, message: string) {
    super(message);
    this.name = 'VolumeGeometryError';
    this.code = code;
  }
}
