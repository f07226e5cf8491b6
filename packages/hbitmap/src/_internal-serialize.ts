// Serialization of an HBitmap's bottom level, byte for byte as QEMU writes it (little-endian 64-bit
// words, in chunks aligned to 64 << granularity items), its loading back, and QEMU's SHA-256 of the
// bottom level. Not on any hot path; kept apart from hbitmap.ts so the bitmap's own operations read
// on their own. The public entry points are HBitmap's methods, which call these.
import { createHash } from 'node:crypto';
import { isIndex, LITTLE_ENDIAN_HOST, wordOf } from './_internal';
import { copySummarize } from './_internal-wasm';
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
 * Loads bottom words lo..hi-1 with `fill` (a copy or a constant), clears the bits past the end, then
 * brings the upper levels and the count up to date (`finish`) or marks them stale.
 *
 * With `finish` on a bitmap whose levels are current, only the chunk's part of the structure is
 * redone: the 32-word blocks that hold the chunk are counted before the load (through the summary
 * levels, which skip empty and full blocks) and summarized after it (_summarize), and only the words
 * above them are recomputed (_rebuildAbove): O(chunk / 32 + levels) instead of QEMU's whole
 * O(bits / 32) rebuild, with the same result. When the bytes come from a buffer (`src`), the blocks
 * that lie wholly inside the chunk and below the end of the bitmap are copied and summarized in one
 * pass by the WebAssembly kernel (_internal-wasm.ts); the edge blocks take the JavaScript path.
 * Otherwise (levels already stale, or no `finish`) the whole rebuild happens at finish, as in QEMU.
 *
 * @param fill - loads words a..c-1 of the chunk (lo <= a <= c <= hi)
 * @param src - the serialized bytes, word lo at byte 0, if the chunk is a copy
 */
function load(
  hb: HBitmap,
  lo: number,
  hi: number,
  finish: boolean,
  fill: (a: number, c: number) => void,
  src?: Uint8Array,
): void {
  const b = hb._bottom;
  const partial = finish && !hb._pending;
  const whole = lo === 0 && hi === b.length;
  const kLo = Math.floor(lo / 32);
  const kHi = Math.ceil(hi / 32);
  const before = partial && !whole ? hb._countWords(kLo * 32, Math.min(b.length, kHi * 32), 0) : 0;
  // Blocks kA..kB-1 are wholly inside the chunk and hold no bit past the end of the bitmap.
  const kA = Math.ceil(lo / 32);
  const kB = Math.min(Math.floor(hi / 32), Math.floor(hb._size / 1024));
  let middle: number | undefined;
  // Words of the level above the lowest summary level that the kernel wrote (see copySummarize).
  let doneLo = 0;
  let doneHi = 0;
  if (partial && src !== undefined && LITTLE_ENDIAN_HOST && kA < kB) {
    const n = hb._levels.length;
    const [up, full] = [hb._levels[n - 2]!, hb._full[n - 2]!];
    // One level higher too, unless that is the top word (its sentinel is _rebuildAbove's).
    const [up2, full2] = n > 3 ? [hb._levels[n - 3], hb._full[n - 3]] : [undefined, undefined];
    middle = copySummarize(src, (kA * 32 - lo) * 4, b, up, full, up2, full2, kA, kB);
    if (middle !== undefined && up2 !== undefined && kA % 32 === 0) {
      doneLo = kA / 32;
      doneHi = Math.floor(kB / 32);
    }
  }
  if (middle === undefined) {
    fill(lo, hi);
  } else {
    fill(lo, kA * 32);
    fill(kB * 32, hi);
  }
  let w = wordOf(hb._size);
  const r = hb._size & 31;
  if (r !== 0) {
    b[w] = b[w]! & ((1 << r) - 1);
    w++;
  }
  for (; w < b.length; w++) b[w] = 0;
  if (partial) {
    const after =
      middle === undefined
        ? hb._summarize(kLo, kHi)
        : middle + hb._summarize(kLo, kA) + hb._summarize(kB, kHi);
    hb._rebuildAbove(kLo, kHi, doneLo, doneHi);
    hb._count = (whole ? 0 : hb._count - before) + after;
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
  const lo = first * 2;
  const fill = (a: number, c: number) => {
    if (a >= c) return;
    if (LITTLE_ENDIAN_HOST) {
      new Uint8Array(b.buffer, b.byteOffset + a * 4, (c - a) * 4).set(
        buf.subarray((a - lo) * 4, (c - lo) * 4),
      );
    } else {
      const view = new DataView(buf.buffer, buf.byteOffset, bytes);
      for (let i = a; i < c; i++) b[i] = view.getInt32((i - lo) * 4, true);
    }
  };
  load(hb, lo, (first + elements) * 2, finish, fill, buf);
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
