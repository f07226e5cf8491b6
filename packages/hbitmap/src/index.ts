// Public entry of @deja/hbitmap: the hierarchical bitmap, its iterator, its errors and bounds.
export { BITS_PER_WORD, MAX_BITS, MAX_ITEMS } from './constants';
export type { HBitmapArgumentError } from './errors';
export { HBITMAP_ERROR_CODES, HBitmapError, HBitmapErrorCode, isHBitmapError } from './errors';
export type { DirtyArea, HBitmapStatus } from './hbitmap';
export { HBitmap } from './hbitmap';
export { HBitmapIter } from './iter';
