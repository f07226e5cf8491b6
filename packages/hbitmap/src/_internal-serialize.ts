// Serialization of an HBitmap's bottom level, byte for byte as QEMU writes it (little-endian 64-bit
// words, in chunks aligned to 64 << granularity items), its loading back, and QEMU's SHA-256 of the
// bottom level. Not on any hot path; kept apart from hbitmap.ts so the bitmap's own operations read
// on their own. The public entry points are HBitmap's methods, which call these.
import { createHash } from 'node:crypto';
import { isIndex, LITTLE_ENDIAN_HOST, wordOf } from './_internal';
import { MAX_ITEMS } from './constants';
import { HBitmapError, rangeError, typeError } from './errors';
import type { HBitmap } from './hbitmap';

/** Throws `ERR_NOT_SERIALIZABLE` for a granularity of 58 or more (64 << granularity overflows). */
export function checkSerializable(hb: HBitmap, fn: string): void {
  if (hb._granularity >= 58) {
    throw new HBitmapError(
      'ERR_NOT_SERIALIZABLE',
      `HBitmap.${fn}: granularity ${hb._granularity} is too coarse to serialize (must be below 58)`,
    );
  }
}

function checkBuffer(fn: string, buf: Uint8Array): void {
  if (!(buf instanceof Uint8Array)) {
    throw typeError('ERR_INVALID_ARG_TYPE', `HBitmap.${fn}: buf must be a Uint8Array`);
  }
}

function checkRoom(fn: string, buf: Uint8Array, bytes: number): void {
  if (buf.length < bytes) {
    throw rangeError(
      'ERR_BUFFER_TOO_SMALL',
      `HBitmap.${fn}: the chunk takes ${bytes} bytes, buf holds ${buf.length}`,
    );
  }
}

/** QEMU serialization_chunk: first 64-bit element and element count of a chunk. */
function chunk(hb: HBitmap, fn: string, start: number, count: number): [number, number] {
  checkSerializable(hb, fn);
  if (!isIndex(start, MAX_ITEMS) || !isIndex(count, MAX_ITEMS)) hb._badRange(fn, start, count);
  const align = 64 * hb._scale;
  const lastBit = Math.floor((start + count - 1) * hb._inv);
  if (lastBit >= hb._size) hb._badRange(fn, start, count);
  if (start % align !== 0 || (lastBit !== hb._size - 1 && count % align !== 0)) {
    throw rangeError(
      'ERR_MISALIGNED',
      `HBitmap.${fn}: chunk start ${start} and count ${count} must be multiples of ${align} ` +
        '(serializationAlign) unless the chunk ends the bitmap',
    );
  }
  const firstEl = Math.floor(Math.floor(start * hb._inv) / 64);
  return [firstEl, Math.floor(lastBit / 64) - firstEl + 1];
}

/**
 * Loads bottom words lo..hi-1 with `load` (a copy or a fill), clears the bits past the end, then
 * brings the upper levels and the count up to date (`finish`) or marks them stale.
 *
 * With `finish` on a bitmap whose levels are current, only the chunk's part of the structure is
 * redone: the 32-word blocks that hold the chunk are counted before the load (through the summary
 * levels, which skip empty and full blocks) and summarized after it (_summarize), and only the words
 * above them are recomputed (_rebuildAbove): O(chunk / 32 + levels) instead of QEMU's whole
 * O(bits / 32) rebuild, with the same result. Otherwise (levels already stale, or no `finish`) the
 * whole rebuild happens at finish, as in QEMU.
 */
function load(
  hb: HBitmap,
  lo: number,
  hi: number,
  finish: boolean,
  fill: (lo: number, hi: number) => void,
): void {
  const b = hb._bottom;
  const partial = finish && !hb._pending;
  const kLo = Math.floor(lo / 32);
  const kHi = Math.ceil(hi / 32);
  const before =
    partial && !(lo === 0 && hi === b.length) ? hb._countWords(kLo * 32, Math.min(b.length, kHi * 32), 0) : 0;
  fill(lo, hi);
  let w = wordOf(hb._size);
  const r = hb._size & 31;
  if (r !== 0) {
    b[w] = b[w]! & ((1 << r) - 1);
    w++;
  }
  for (; w < b.length; w++) b[w] = 0;
  if (partial) {
    const after = hb._summarize(kLo, kHi);
    hb._rebuildAbove(kLo, kHi);
    hb._count = (lo === 0 && hi === b.length ? 0 : hb._count - before) + after;
  } else if (finish) {
    hb._rebuild();
  } else {
    hb._pending = true;
  }
}

/** QEMU hbitmap_serialization_size: 8 bytes per 64-bit word of the chunk. */
export function serializationSize(hb: HBitmap, start: number, count: number): number {
  if (count === 0) return 0;
  const [, elements] = chunk(hb, 'serializationSize', start, count);
  return elements * 8;
}

/** QEMU hbitmap_serialize_part; see HBitmap.serializePart. O(bytes). */
export function serializePart(hb: HBitmap, buf: Uint8Array, start: number, count: number): number {
  checkBuffer('serializePart', buf);
  if (count === 0) return 0;
  const [first, elements] = chunk(hb, 'serializePart', start, count);
  const bytes = elements * 8;
  checkRoom('serializePart', buf, bytes);
  const b = hb._bottom;
  if (LITTLE_ENDIAN_HOST) {
    buf.set(new Uint8Array(b.buffer, b.byteOffset + first * 8, bytes));
  } else {
    const view = new DataView(buf.buffer, buf.byteOffset, bytes);
    for (let i = 0; i < elements * 2; i++) view.setInt32(i * 4, b[first * 2 + i]!, true);
  }
  return bytes;
}

/** QEMU hbitmap_deserialize_part; see HBitmap.deserializePart. O(bytes). */
export function deserializePart(
  hb: HBitmap,
  buf: Uint8Array,
  start: number,
  count: number,
  finish: boolean,
): void {
  checkBuffer('deserializePart', buf);
  if (count === 0) return;
  const [first, elements] = chunk(hb, 'deserializePart', start, count);
  const bytes = elements * 8;
  checkRoom('deserializePart', buf, bytes);
  const b = hb._bottom;
  load(hb, first * 2, (first + elements) * 2, finish, () => {
    if (LITTLE_ENDIAN_HOST) {
      new Uint8Array(b.buffer, b.byteOffset + first * 8, bytes).set(buf.subarray(0, bytes));
    } else {
      const view = new DataView(buf.buffer, buf.byteOffset, bytes);
      for (let i = 0; i < elements * 2; i++) b[first * 2 + i] = view.getInt32(i * 4, true);
    }
  });
}

/** QEMU hbitmap_deserialize_zeroes (`word` 0) and hbitmap_deserialize_ones (`word` -1). */
export function deserializeFill(
  hb: HBitmap,
  fn: string,
  word: 0 | -1,
  start: number,
  count: number,
  finish: boolean,
): void {
  if (count === 0) return;
  const [first, elements] = chunk(hb, fn, start, count);
  load(hb, first * 2, (first + elements) * 2, finish, (lo, hi) => hb._bottom.fill(word, lo, hi));
}

/** QEMU hbitmap_sha256: SHA-256 of every 64-bit word of the bottom level, little-endian, in hex. */
export function sha256(hb: HBitmap): string {
  const b = hb._bottom;
  const hash = createHash('sha256');
  if (LITTLE_ENDIAN_HOST) {
    hash.update(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  } else {
    const bytes = new Uint8Array(b.byteLength);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < b.length; i++) view.setInt32(i * 4, b[i]!, true);
    hash.update(bytes);
  }
  return hash.digest('hex');
}
