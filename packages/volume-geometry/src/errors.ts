// The error class of @deja/volume-geometry. Every failure this package reports is a parameter that
// cannot describe a UDS index volume, so the class extends RangeError (wrong use of the API) and
// adds a stable string `code` that callers and tests match on.

/**
 * The stable error codes of `@deja/volume-geometry`, in one frozen list.
 *
 * | code | when |
 * | --- | --- |
 * | `ERR_INVALID_GEOMETRY` | a geometry parameter, or a combination of them, cannot describe an index volume |
 * | `ERR_INVALID_MEMORY_SIZE` | a memory configuration is not one UDS defines (0.25, 0.5, 0.75 GB or 1..1024 whole GB) |
 * | `ERR_INVALID_CONFIGURATION` | a configuration parameter (zone count, sample rate, mean delta) is out of range |
 */
export const VOLUME_GEOMETRY_ERROR_CODES = Object.freeze([
  'ERR_INVALID_GEOMETRY',
  'ERR_INVALID_MEMORY_SIZE',
  'ERR_INVALID_CONFIGURATION',
] as const);

/** One of {@link VOLUME_GEOMETRY_ERROR_CODES}. */
export type VolumeGeometryErrorCode = (typeof VOLUME_GEOMETRY_ERROR_CODES)[number];

/** Marks VolumeGeometryErrors of every copy of this package (a registered symbol is the same in all). */
const MARKER = Symbol.for('@deja/volume-geometry.error');

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
    Object.defineProperty(this, MARKER, { value: true });
  }
}

/**
 * Whether `value` is a {@link VolumeGeometryError}, optionally with a given code. It looks for a
 * `Symbol.for` marker rather than using `instanceof`, so it also recognises errors from another
 * copy of the package.
 *
 * @param value - anything caught.
 * @param code - the code to require, if any.
 * @returns `true` if `value` is a VolumeGeometryError (with that code).
 */
export function isVolumeGeometryError(
  value: unknown,
  code?: VolumeGeometryErrorCode,
): value is VolumeGeometryError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[MARKER] !== true) return false;
  return code === undefined || (value as VolumeGeometryError).code === code;
}
