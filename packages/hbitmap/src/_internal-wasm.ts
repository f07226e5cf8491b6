// A small WebAssembly kernel for loading serialized bytes: it copies 32-word blocks of the bottom
// level and summarizes each block (whether it is all zero, all ones, which words are nonzero and full,
// how many bits are set) at native speed, with 128-bit SIMD for the common empty and full blocks.
//
// Why: after a bulk load every upper level must be recomputed from the bottom level, which means
// reading every bottom word once. A JavaScript loop does that at about half a nanosecond per word,
// one and a half to two times as long as the copy itself (a memcpy); with this kernel the whole load
// takes under 2x the copy. The module is assembled here from the instruction list below (471 bytes,
// no build step and no dependency), compiled once on first use, and works in its own 192 KiB
// memory: each piece of up to 1024 blocks (128 KiB) is copied in, summarized, and copied out to the
// bitmap while it is in the cache, so the bytes cross main memory once, as with a plain copy. Where
// WebAssembly SIMD is unavailable (or the host is big-endian), `copySummarize` returns undefined and
// the caller takes the JavaScript path, which gives the same result.

/** Blocks per piece: 1024 x 128 bytes = 128 KiB of data, which stays in the L2 cache. */
const PIECE = 1024;
/**
 * Byte offsets in the kernel's memory: data [0, 128 KiB), then the words of the level above the
 * bottom and of the lowest full level (one per block), then the words one level higher (one per 32
 * blocks).
 */
const UP = PIECE * 128;
const FU = UP + PIECE * 4;
const UP2 = FU + PIECE * 4;
const FU2 = UP2 + PIECE / 8;
const PAGES = 3; // 192 KiB >= FU2 + PIECE / 8

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/**
 * The module: one function `scan(n: i32) -> i32` and its memory `mem`. For each block k < n (the 128
 * bytes at k * 128) it stores the nonzero-word mask m at UP + 4k and the full-word mask f at FU + 4k;
 * for each 32 blocks it also stores the words one level higher (bit i: block 32j + i has m != 0, or
 * f == -1) at UP2 + 4j and FU2 + 4j; it returns the total of set bits (n <= PIECE, so it fits in an
 * i32). In the text format:
 *
 *   loop over k: OR and AND the block's eight v128 lanes
 *     OR all zero        -> m = 0, f = 0
 *     AND all ones       -> m = -1, f = -1, count += 1024
 *     else, word by word -> m |= 1 << i if word i != 0, f |= 1 << i if word i == -1,
 *                           count += popcnt(word i)
 *     store m, f; m2 |= (m != 0) << (k & 31); f2 |= (f == -1) << (k & 31)
 *     every 32nd block: store m2, f2 and clear them
 */
function assemble(): Uint8Array {
  // Locals: 0 n (param), 1 k, 2 p, 3 cnt, 4 m, 5 f, 6 i, 7 v, 8 q, 9 m2, 10 f2 (i32);
  // 11 or, 12 and, 13 t (v128).
  const N = 0;
  const K = 1;
  const P = 2;
  const CNT = 3;
  const M = 4;
  const F = 5;
  const I = 6;
  const V = 7;
  const Q = 8;
  const M2 = 9;
  const F2 = 10;
  const OR = 11;
  const AND = 12;
  const T = 13;
  const get = (l: number) => [0x20, l];
  const set = (l: number) => [0x21, l];
  const tee = (l: number) => [0x22, l];
  const i32 = (x: number) => [0x41, ...sleb(x)];
  const v128Load = (off: number) => [0xfd, 0x00, 0x04, ...uleb(off)];
  const i32Load = (off: number) => [0x28, 0x02, ...uleb(off)];
  const i32Store = (off: number) => [0x36, 0x02, ...uleb(off)];
  const v128Or = [0xfd, 0x50];
  const v128And = [0xfd, 0x4e];
  const v128Not = [0xfd, 0x4d];
  const v128AnyTrue = [0xfd, 0x53];
  const [block, loop, ifThen, elseOp, end, br, brIf] = [0x02, 0x03, 0x04, 0x05, 0x0b, 0x0c, 0x0d];
  const [void_, i32Eqz, i32Eq, i32Ne, i32LtU, i32GeU, i32Popcnt, i32Add, i32And, i32Or, i32Shl, i32ShrU] = [
    0x40, 0x45, 0x46, 0x47, 0x49, 0x4f, 0x69, 0x6a, 0x71, 0x72, 0x74, 0x76,
  ];
  const code: number[] = [];
  const e = (...xs: (number | number[])[]) => {
    for (const x of xs) code.push(...(Array.isArray(x) ? x : [x]));
  };
  e(block, void_, loop, void_);
  e(get(K), get(N), i32GeU, brIf, 1); // k >= n: done
  e(get(K), i32(7), i32Shl, set(P)); // p = k * 128
  e(get(P), v128Load(0), tee(OR), set(AND));
  for (let off = 16; off < 128; off += 16) {
    e(get(P), v128Load(off), tee(T), get(OR), v128Or, set(OR));
    e(get(T), get(AND), v128And, set(AND));
  }
  e(get(OR), v128AnyTrue, i32Eqz, ifThen, void_); // all zero
  e(i32(0), set(M), i32(0), set(F));
  e(elseOp, get(AND), v128Not, v128AnyTrue, i32Eqz, ifThen, void_); // all ones
  e(i32(-1), set(M), i32(-1), set(F));
  e(get(CNT), i32(1024), i32Add, set(CNT));
  e(elseOp, i32(0), set(M), i32(0), set(F), i32(0), set(I)); // mixed: word by word
  e(loop, void_);
  e(get(P), get(I), i32(2), i32Shl, i32Add, i32Load(0), tee(V), ifThen, void_);
  e(get(M), i32(1), get(I), i32Shl, i32Or, set(M));
  e(get(V), i32(-1), i32Eq, ifThen, void_, get(F), i32(1), get(I), i32Shl, i32Or, set(F), end);
  e(get(CNT), get(V), i32Popcnt, i32Add, set(CNT));
  e(end);
  e(get(I), i32(1), i32Add, tee(I), i32(32), i32LtU, brIf, 0); // next word
  e(end);
  e(end, end);
  e(get(K), i32(2), i32Shl, tee(Q), get(M), i32Store(UP), get(Q), get(F), i32Store(FU)); // q = 4k
  // One level higher (wasm masks shift counts to 5 bits, so k alone would do; the AND says it).
  e(get(M2), get(M), i32(0), i32Ne, get(K), i32(31), i32And, i32Shl, i32Or, set(M2));
  e(get(F2), get(F), i32(-1), i32Eq, get(K), i32(31), i32And, i32Shl, i32Or, set(F2));
  e(get(K), i32(31), i32And, i32(31), i32Eq, ifThen, void_);
  e(get(K), i32(5), i32ShrU, i32(2), i32Shl, tee(Q), get(M2), i32Store(UP2));
  e(get(Q), get(F2), i32Store(FU2), i32(0), set(M2), i32(0), set(F2));
  e(end);
  e(get(K), i32(1), i32Add, set(K), br, 0); // next block
  e(end, end);
  e(get(CNT), end);
  const func = [2, 10, 0x7f, 3, 0x7b, ...code]; // locals: 10 x i32, 3 x v128
  const section = (id: number, bytes: number[]) => [id, ...uleb(bytes.length), ...bytes];
  const name = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, [1, 0x60, 1, 0x7f, 1, 0x7f]), // type: (i32) -> i32
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(5, [1, 0x00, PAGES]), // memory: PAGES pages, no maximum
    ...section(7, [2, ...name('scan'), 0x00, 0, ...name('mem'), 0x02, 0]), // exports
    ...section(10, [1, ...uleb(func.length), ...func]), // code
  ]);
}

interface Kernel {
  scan: (n: number) => number;
  /** The whole memory, and its data area for a full piece. */
  bytes: Uint8Array;
  piece: Uint8Array;
  up: Int32Array;
  full: Int32Array;
  up2: Int32Array;
  full2: Int32Array;
}

/** The part of the WebAssembly API used here (the project's TypeScript libraries do not declare it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

let kernel: Kernel | null | undefined;

function instantiate(): Kernel | null {
  if (kernel !== undefined) return kernel;
  kernel = null;
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  if (!littleEndian || wasm === undefined) return kernel;
  try {
    const bytes = assemble();
    if (!wasm.validate(bytes)) return kernel;
    const exports = new wasm.Instance(new wasm.Module(bytes)).exports;
    const mem = (exports.mem as { buffer: ArrayBuffer }).buffer;
    kernel = {
      scan: exports.scan as (n: number) => number,
      bytes: new Uint8Array(mem),
      piece: new Uint8Array(mem, 0, PIECE * 128),
      up: new Int32Array(mem, UP, PIECE),
      full: new Int32Array(mem, FU, PIECE),
      up2: new Int32Array(mem, UP2, PIECE / 32),
      full2: new Int32Array(mem, FU2, PIECE / 32),
    };
  } catch {
    // No WebAssembly (or no SIMD) here: the JavaScript path does the same work.
  }
  return kernel;
}

/**
 * Copies bottom blocks kLo..kHi-1 (words 32 kLo .. 32 kHi - 1) from `src`, whose byte `srcByte`
 * holds word 32 kLo, into `b`, and writes their summary words into `up` and `full` (the level above
 * the bottom and the lowest full level) at kLo..kHi-1. When `up2` and `full2` (one level higher) are
 * given and kLo is a multiple of 32, also writes their words kLo / 32 .. floor(kHi / 32) - 1 (the
 * groups of 32 blocks that lie wholly in the range).
 *
 * @returns the number of set bits in those blocks, or undefined (nothing done) where the kernel is
 *   unavailable
 */
export function copySummarize(
  src: Uint8Array,
  srcByte: number,
  b: Int32Array,
  up: Int32Array,
  full: Int32Array,
  up2: Int32Array | undefined,
  full2: Int32Array | undefined,
  kLo: number,
  kHi: number,
): number | undefined {
  const k = instantiate();
  if (k === null) return undefined;
  const dst = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  const higher = up2 !== undefined && full2 !== undefined && kLo % 32 === 0;
  let count = 0;
  for (let at = kLo; at < kHi; at += PIECE) {
    const n = Math.min(PIECE, kHi - at);
    const from = srcByte + (at - kLo) * 128;
    k.bytes.set(src.subarray(from, from + n * 128));
    count += k.scan(n);
    // Full pieces use the views made once (no allocation but the source's subarray).
    dst.set(n === PIECE ? k.piece : k.bytes.subarray(0, n * 128), at * 128);
    up.set(n === PIECE ? k.up : k.up.subarray(0, n), at);
    full.set(n === PIECE ? k.full : k.full.subarray(0, n), at);
    if (higher) {
      // Pieces start at multiples of 32 blocks here, so the kernel's groups are the bitmap's.
      const groups = n >>> 5;
      up2.set(groups === PIECE / 32 ? k.up2 : k.up2.subarray(0, groups), at / 32);
      full2.set(groups === PIECE / 32 ? k.full2 : k.full2.subarray(0, groups), at / 32);
    }
  }
  return count;
}
