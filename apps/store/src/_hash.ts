// Content names and zero detection. A chunk's name is the first 16 bytes of its SHA-256, through
// node:crypto (native, SHA-NI where the CPU has it). The store's benchmark compares it with the
// alternatives (bench/hash.ts): xxHash128 is about three times as fast but not collision
// resistant, so a store running with `verify: false` could be made to share a crafted chunk;
// BLAKE3 in WebAssembly is half the speed of the native SHA-256. Truncated to 128 bits, SHA-256
// keeps a 2^64 birthday bound against deliberate collisions and 2^-128 per pair by accident.

import { hash } from 'node:crypto';

/** Bytes in a content name (the UDS record name size). */
export const NAME_BYTES = 16;

/** The 16-byte content name of `chunk`. O(chunk). */
export function nameOf(chunk: Uint8Array): Uint8Array {
  const digest = hash('sha256', chunk, 'buffer') as Buffer;
  return new Uint8Array(digest.buffer, digest.byteOffset, NAME_BYTES);
}

let zeros = new Uint8Array(0);

/** Whether every byte of `bytes` is zero (a native compare against a zero buffer). */
export function isZero(bytes: Uint8Array): boolean {
  if (zeros.length < bytes.length) zeros = new Uint8Array(bytes.length);
  return sameBytes(bytes, zeros.subarray(0, bytes.length));
}

const equals = Buffer.prototype.equals;

/**
 * Whether two byte ranges are equal: Node's native compare, called on the views themselves
 * (`Buffer#equals` takes any Uint8Array as `this`), so no Buffer is made per call.
 */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return equals.call(a as Buffer, b);
}
