// The bulk of a long moveBits: copying whole, byte-aligned destination bytes from source bits that
// may start at any bit. Same-phase copies (source bit offset a multiple of 8) are a native memmove.
// Otherwise each destination unit is assembled from two neighbouring source units: bytes for short
// runs, and for longer ones 32-bit words read and written through Uint32Array views of the
// underlying buffers (cached per array), after a few bytes that bring the destination to a word
// boundary. The word path needs a little-endian platform, where a Uint32Array word holds bytes
// 4w..4w+3 with the lowest byte lowest, so it is skipped on a big-endian one.
//
// Overlap: walking ascending is exact when the destination starts at or below the source (every
// unit written lies below every source bit still to be read); walking descending is exact when it
// starts at or above. Reads of source units that straddle the run only use the run's bits.

/** Runs shorter than this many bytes use the byte loop only. */
const WORD_MIN_BYTES = 32;

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** A Uint32Array over the whole words of an array's buffer, and the array's byte offset in it. */
interface WordView {
  readonly words: Uint32Array;
  readonly byteOffset: number;
}

// Keyed by the Uint8Array, because reading `.buffer` and `.byteOffset` costs more than a lookup.
// A typed array's byte offset never changes; if its buffer is resized the run either fails the
// caller's bounds check (a shrunk array has length 0) or reaches past `words`, which the word
// loops check, falling back to bytes.
const wordViews = new WeakMap<Uint8Array, WordView>();

function viewOf(array: Uint8Array): WordView {
  let view = wordViews.get(array);
  if (view === undefined) {
    const buffer = array.buffer;
    view = {
      words: new Uint32Array(buffer, 0, Math.floor(buffer.byteLength / 4)),
      byteOffset: array.byteOffset,
    };
    wordViews.set(array, view);
  }
  return view;
}

/**
 * Copies `count` whole destination bytes starting at byte `toByte` of `to` from the bits starting
 * at bit `fromOffset` of `from`, walking descending when `descending`. The caller has checked that
 * the source bits lie inside `from` and the destination bytes inside `to`.
 */
export function copyBytes(
  from: Uint8Array,
  fromOffset: number,
  to: Uint8Array,
  toByte: number,
  count: number,
  descending: boolean,
): void {
  if (count === 0) return;
  if ((fromOffset & 7) === 0) {
    const fromByte = fromOffset / 8;
    // Both natively overlap-safe (TypedArray set clones an aliased source first).
    if (from === to) to.copyWithin(toByte, fromByte, fromByte + count);
    else to.set(from.subarray(fromByte, fromByte + count), toByte);
  } else if (count < WORD_MIN_BYTES || !LITTLE_ENDIAN) {
    if (descending) shiftBytesDescending(from, fromOffset, to, toByte, count);
    else shiftBytesAscending(from, fromOffset, to, toByte, count);
  } else if (descending) {
    shiftWordsDescending(from, fromOffset, to, toByte, count);
  } else {
    shiftWordsAscending(from, fromOffset, to, toByte, count);
  }
}

// Each destination byte takes the high (8 - shift) bits of one source byte and the low `shift`
// bits of the next; for shift > 0 the source byte past the run's first `count` bytes holds the
// run's last bits, so it is inside `from`.
//
// The ascending and descending loops are kept as two copies on purpose: the direction decides
// which overlapping moves are safe, and a shared loop with a direction parameter costs a branch or
// an index computation per byte on this hot path.

function shiftBytesAscending(
  from: Uint8Array,
  fromOffset: number,
  to: Uint8Array,
  toByte: number,
  count: number,
) {
  const shift = fromOffset & 7;
  const back = 8 - shift;
  const fromByte = Math.floor(fromOffset / 8);
  let carry = from[fromByte]!;
  for (let i = 0; i < count; i++) {
    const next = from[fromByte + i + 1]!;
    to[toByte + i] = (carry >>> shift) | (next << back); // the store keeps the low 8 bits
    carry = next;
  }
}

function shiftBytesDescending(
  from: Uint8Array,
  fromOffset: number,
  to: Uint8Array,
  toByte: number,
  count: number,
) {
  const shift = fromOffset & 7;
  const back = 8 - shift;
  const fromByte = Math.floor(fromOffset / 8);
  let carry = from[fromByte + count]!;
  for (let i = count - 1; i >= 0; i--) {
    const next = from[fromByte + i]!;
    to[toByte + i] = (next >>> shift) | (carry << back);
    carry = next;
  }
}

// The word loops address both runs as absolute positions in their buffers. The source bit is not
// a multiple of 8 (the same-phase case went to memmove), so its shift within a word is 1..31 and
// `<< (32 - shift)` never meets a shift count of 32 (which JavaScript would take as 0).

function shiftWordsAscending(
  from: Uint8Array,
  fromOffset: number,
  to: Uint8Array,
  toByte: number,
  count: number,
) {
  const source = viewOf(from);
  const target = from === to ? source : viewOf(to);
  const lead = (4 - ((target.byteOffset + toByte) & 3)) & 3; // bytes up to a destination word boundary
  const words = Math.floor((count - lead) / 4);
  const srcBit = source.byteOffset * 8 + fromOffset + lead * 8;
  const srcWord = Math.floor(srcBit / 32);
  const src = source.words;
  const dstWord = (target.byteOffset + toByte + lead) / 4;
  const dst = target.words;
  if (srcWord + words >= src.length || dstWord + words > dst.length) {
    // The run ends in the buffer's last, partial word: no word view reaches it.
    shiftBytesAscending(from, fromOffset, to, toByte, count);
    return;
  }
  shiftBytesAscending(from, fromOffset, to, toByte, lead);
  const shift = srcBit & 31;
  const back = 32 - shift;
  let carry = src[srcWord]!;
  for (let j = 0; j < words; j++) {
    const next = src[srcWord + j + 1]!;
    dst[dstWord + j] = (carry >>> shift) | (next << back);
    carry = next;
  }
  const done = lead + words * 4;
  shiftBytesAscending(from, fromOffset + done * 8, to, toByte + done, count - done);
}

function shiftWordsDescending(
  from: Uint8Array,
  fromOffset: number,
  to: Uint8Array,
  toByte: number,
  count: number,
) {
  const source = viewOf(from);
  const target = from === to ? source : viewOf(to);
  const trail = (target.byteOffset + toByte + count) & 3; // bytes above the last destination word boundary
  const words = Math.floor((count - trail) / 4);
  const lead = count - trail - words * 4; // bytes below the first destination word boundary
  const srcBit = source.byteOffset * 8 + fromOffset + lead * 8;
  const srcWord = Math.floor(srcBit / 32);
  const src = source.words;
  const dstWord = (target.byteOffset + toByte + lead) / 4;
  const dst = target.words;
  if (srcWord + words >= src.length || dstWord + words > dst.length) {
    shiftBytesDescending(from, fromOffset, to, toByte, count);
    return;
  }
  const top = lead + words * 4;
  shiftBytesDescending(from, fromOffset + top * 8, to, toByte + top, trail);
  const shift = srcBit & 31;
  const back = 32 - shift;
  let carry = src[srcWord + words]!;
  for (let j = words - 1; j >= 0; j--) {
    const next = src[srcWord + j]!;
    dst[dstWord + j] = (next >>> shift) | (carry << back);
    carry = next;
  }
  shiftBytesDescending(from, fromOffset, to, toByte, lead);
}
