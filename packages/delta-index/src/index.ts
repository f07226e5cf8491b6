// Public entry point of @deja/delta-index: named re-exports only.
export type { CodingConstants } from './coding';
export {
  computeCodingConstants,
  computeDeltaIndexSaveBytes,
  computeDeltaIndexSize,
  getDeltaIndexPageCount,
  getZoneMemorySize,
  IMMUTABLE_HEADER_SIZE,
  MAX_MEAN_DELTA,
  MAX_PAYLOAD_BITS,
  PAGE_HEADER_BYTES,
} from './coding';
export type { DeltaIndexErrorCode, InvalidArgumentError } from './errors';
export { DeltaIndexError } from './errors';
