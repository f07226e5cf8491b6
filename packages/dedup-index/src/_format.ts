// Little helpers for the on-storage formats: CRC-32 (zlib's, as node:zlib computes it), a framed
// "part" (magic, version, length, checksum, payload) that every saved structure is wrapped in, and a
// bounds-checked little-endian reader. Every read of a frame validates all four fields first, so a
// damaged part is an ERR_CORRUPT_DATA naming the part, never a wrong value.

import { crc32 as zlibCrc32 } from 'node:zlib';
import { corrupt, DedupIndexError } from './errors';

/** CRC-32 (IEEE, zlib's) of `bytes`. O(bytes). */
export function crc32(bytes: Uint8Array): number {
  return zlibCrc32(bytes) >>> 0;
}

/** Bytes of a part frame header: magic (8), version (u32), payload length (u32), crc32 (u32), pad (u32). */
export const FRAME_HEADER_BYTES = 24;

/** Encode an 8-character ASCII magic. */
export function writeMagic(view: DataView, offset: number, magic: string): void {
  for (let i = 0; i < 8; i++) view.setUint8(offset + i, magic.charCodeAt(i));
}

/** Whether an 8-character ASCII magic is at `offset`. */
export function hasMagic(bytes: Uint8Array, offset: number, magic: string): boolean {
  if (offset + 8 > bytes.length) return false;
  for (let i = 0; i < 8; i++) if (bytes[offset + i] !== magic.charCodeAt(i)) return false;
  return true;
}

/**
 * Wrap a payload in a frame: magic, version, length, CRC-32 of the payload.
 * @returns header followed by the payload
 */
export function frame(magic: string, version: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  writeMagic(view, 0, magic);
  view.setUint32(8, version, true);
  view.setUint32(12, payload.length, true);
  view.setUint32(16, crc32(payload), true);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Read a frame at `offset` of `bytes`, checking magic, version, length and checksum.
 * @returns the payload (a view into `bytes`) and the offset after the frame
 * @throws DedupIndexError ERR_CORRUPT_DATA (ERR_UNSUPPORTED_VERSION for another version)
 */
export function unframe(
  bytes: Uint8Array,
  offset: number,
  magic: string,
  version: number,
  what: string,
): { payload: Uint8Array; end: number } {
  if (offset + FRAME_HEADER_BYTES > bytes.length) {
    throw corrupt(`${what}: the frame header at byte ${offset} passes the end (${bytes.length} bytes)`);
  }
  if (!hasMagic(bytes, offset, magic)) throw corrupt(`${what}: bad magic at byte ${offset}, want ${magic}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = view.getUint32(offset + 8, true);
  if (found !== version) {
    throw new DedupIndexError(
      'ERR_UNSUPPORTED_VERSION',
      `${what}: version ${found}, this code reads ${version}`,
    );
  }
  if (view.getUint32(offset + 20, true) !== 0)
    throw corrupt(`${what}: the frame's reserved word is not zero`);
  const length = view.getUint32(offset + 12, true);
  const start = offset + FRAME_HEADER_BYTES;
  if (start + length > bytes.length) {
    throw corrupt(`${what}: a payload of ${length} bytes at byte ${start} passes the end (${bytes.length})`);
  }
  const payload = bytes.subarray(start, start + length);
  if (crc32(payload) !== view.getUint32(offset + 16, true)) throw corrupt(`${what}: checksum mismatch`);
  return { payload, end: start + length };
}

/** A bounds-checked little-endian reader; every overrun is ERR_CORRUPT_DATA naming `what`. */
export class Reader {
  position = 0;
  readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  need(count: number): number {
    const at = this.position;
    if (count < 0 || at + count > this.bytes.length) {
      throw corrupt(`${this.what}: ends at byte ${this.bytes.length}, reading ${count} bytes at ${at}`);
    }
    this.position = at + count;
    return at;
  }

  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }

  /** A u64 stored as a double-safe integer (bounded by 2^53, checked). */
  u64(): number {
    const at = this.need(8);
    const low = this.view.getUint32(at, true);
    const high = this.view.getUint32(at + 4, true);
    if (high >= 0x20_0000) throw corrupt(`${this.what}: a 64-bit count at byte ${at} passes 2^53`);
    return high * 0x1_0000_0000 + low;
  }

  bytesOf(count: number): Uint8Array {
    const at = this.need(count);
    return this.bytes.subarray(at, at + count);
  }
}

/** A growable little-endian writer. */
export class Writer {
  #bytes = new Uint8Array(256);
  #view = new DataView(this.#bytes.buffer);
  length = 0;

  #reserve(count: number): number {
    const at = this.length;
    if (at + count > this.#bytes.length) {
      const next = new Uint8Array(Math.max(this.#bytes.length * 2, at + count));
      next.set(this.#bytes.subarray(0, at));
      this.#bytes = next;
      this.#view = new DataView(next.buffer);
    }
    this.length = at + count;
    return at;
  }

  u32(value: number): void {
    const at = this.#reserve(4);
    this.#view.setUint32(at, value >>> 0, true);
  }

  /** A non-negative safe integer as a u64. */
  u64(value: number): void {
    const at = this.#reserve(8);
    this.#view.setUint32(at, value % 0x1_0000_0000, true);
    this.#view.setUint32(at + 4, Math.floor(value / 0x1_0000_0000), true);
  }

  bytes(data: Uint8Array): void {
    const at = this.#reserve(data.length);
    this.#bytes.set(data, at);
  }

  finish(): Uint8Array {
    return this.#bytes.slice(0, this.length);
  }
}

/** Round `value` up to a multiple of `unit`. */
export function roundUp(value: number, unit: number): number {
  return Math.ceil(value / unit) * unit;
}
