// Public entry point of @deja/bitfield: little-endian bit-stream fields over Uint8Array, the
// bit-level primitives under the Deja delta index (a port of dm-vdo's delta-index.c utilities).

export {
  GUARD_BITS,
  MAX_BIG_FIELD_BITS,
  MAX_BIT_OFFSET,
  MAX_FIELD_BITS,
  MAX_SAFE_FIELD_BITS,
  POST_FIELD_GUARD_BYTES,
} from './constants';
export {
  BITFIELD_ERROR_CODES,
  type BitfieldArgumentError,
  BitfieldErrorCode,
  isBitfieldError,
} from './errors';
export { getBigField, getField, setBigField, setField } from './field';
export { moveBits, moveBitsDown, moveBitsUp } from './move';
export { setZero } from './zero';
