// Chunk codecs for compressed stores (issue 15; not wired into the store yet). A codec turns one
// chunk into a fragment for a packed page (src/_packed.ts) and back. The store keeps the codec's
// one-byte id in its header, fixed at creation, and every packed page repeats it.
//
// Two codecs besides 'off' (bench/compression.ts measured them and four others at 4 KiB; see
// the README's "Compression" section):
//
// - 'zstd' (id 2, the choice): Zstandard frames through @bokuweb/zstd-wasm (WebAssembly, the .wasm
//   inside the package: no native build, no download at install). Level 1 by default. About twice
//   node:zlib's deflate both ways at 4 KiB, and a better ratio once packed (VM-like data). The
//   fragment is a standard zstd frame, so Node's own zstd (node:zlib, Node >= 22.15) can replace
//   the WebAssembly later without a format change. The module loads asynchronously: zstdCodec() resolves once it has,
//   and is the only caller of the library's init() (once per thread: a second init() re-instantiates
//   the module asynchronously, and calls made meanwhile then read zeros from a stale heap — seen in
//   the benchmark before it went through zstdCodec()).
// - 'deflate' (id 1): raw deflate from node:zlib, no dependency at all, with the window and the hash
//   memory sized to the chunk (windowBits = log2(chunk size), memLevel 5). The smaller window costs
//   no ratio on a chunk no longer than it and cuts the per-call setup of zlib's sync API, which
//   allocates its window, hash chains and buffers on every call (with the defaults about 256 KiB,
//   zlib's (1 << (windowBits + 2)) + (1 << (memLevel + 9)); 32 KiB here at 4 KiB chunks): level 1
//   on 4 KiB calls took 1.8-3.2x the time per byte of 64 KiB calls in the benchmark.
//
// Decompression is defensive: a zstd frame must declare exactly the chunk size in its header before
// the decoder allocates anything (the library would otherwise allocate what a hostile header says)
// and name no dictionary; deflate's output is capped at the chunk size plus one byte. Output must be
// exactly the chunk size; every failure is a StoreError ERR_CORRUPT_DATA, which the packed-page
// reader names by page and slot.

import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { maxFragmentBytes } from './_packed';
import { StoreError } from './errors';

/** A chunk codec: one chunk in, one fragment out, and back. */
export interface ChunkCodec {
  /** The name the store's options and `stats()` use ('off', 'deflate', 'zstd'). */
  readonly name: string;
  /** The byte kept in the store header and in every packed page (0: off). */
  readonly id: number;
  /** The level it compresses at (0 for off). */
  readonly level: number;
  /**
   * The fragment for `chunk`, or `undefined` when it does not shrink enough to be packed (longer
   * than maxFragmentBytes(chunk.length)): the store writes that chunk raw in a page of its own.
   */
  compress(chunk: Uint8Array): Uint8Array | undefined;
  /**
   * The chunk a fragment holds, exactly `chunkSize` bytes.
   * @throws StoreError `ERR_CORRUPT_DATA` when the fragment is not valid or inflates to another size.
   */
  decompress(fragment: Uint8Array, chunkSize: number): Uint8Array;
}

function corrupt(what: string, cause?: unknown): StoreError {
  return new StoreError('ERR_CORRUPT_DATA', what, cause === undefined ? undefined : { cause });
}

/** No compression: every chunk is stored raw; a packed page never names this codec. */
export const OFF_CODEC: ChunkCodec = Object.freeze({
  name: 'off',
  id: 0,
  level: 0,
  compress: (): undefined => undefined,
  decompress: (): never => {
    throw corrupt('a packed fragment in a store without compression');
  },
});

/** log2 of a chunk size 512..65536, as deflate's windowBits (9..15; 64 KiB uses 15). */
export function windowBits(chunkSize: number): number {
  return Math.min(15, Math.max(9, 31 - Math.clz32(chunkSize - 1) + 1));
}

/**
 * Raw deflate (node:zlib) with the window sized to the chunk.
 * @param level - 1 (fast, the default) .. 9.
 * @returns the codec, id 1 (the level is the writer's choice; any level reads back).
 * @throws RangeError for a level out of 1..9.
 */
export function deflateCodec(level = 1): ChunkCodec {
  if (!Number.isInteger(level) || level < 1 || level > 9)
    throw new RangeError(`deflate level ${level} out of 1..9`);
  return Object.freeze({
    name: 'deflate',
    id: 1,
    level,
    compress(chunk: Uint8Array): Uint8Array | undefined {
      const out = deflateRawSync(chunk, { level, windowBits: windowBits(chunk.length), memLevel: 5 });
      // A copy: zlib's output may be a view of a larger buffer, which a packer holding the fragment
      // would keep alive.
      return out.length > maxFragmentBytes(chunk.length) ? undefined : new Uint8Array(out);
    },
    decompress(fragment: Uint8Array, chunkSize: number): Uint8Array {
      let out: Buffer;
      try {
        // Window 15 reads every stream a smaller window wrote; the cap stops a bomb at chunkSize + 1.
        out = inflateRawSync(fragment, { windowBits: 15, maxOutputLength: chunkSize + 1 });
      } catch (e) {
        if (e instanceof RangeError) throw corrupt(`deflate: fragment inflates past ${chunkSize} bytes`, e);
        throw corrupt(`deflate: ${e instanceof Error ? e.message : String(e)}`, e);
      }
      if (out.length !== chunkSize)
        throw corrupt(`deflate: fragment inflates to ${out.length} bytes, not ${chunkSize}`);
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    },
  });
}

const ZSTD_MAGIC = 0xfd2fb528;

/**
 * The content size a zstd frame header declares, or undefined when the bytes are not a frame
 * header this codec writes (no magic, a reserved bit, a dictionary, no content size). O(1).
 */
export function zstdFrameContentSize(frame: Uint8Array): number | undefined {
  if (frame.length < 6) return undefined;
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (dv.getUint32(0, true) !== ZSTD_MAGIC) return undefined;
  const fhd = frame[4] as number;
  const fcsFlag = fhd >>> 6;
  const single = (fhd >>> 5) & 1;
  if ((fhd & 0x08) !== 0 || (fhd & 0x03) !== 0) return undefined; // reserved bit, dictionary id
  const at = single ? 5 : 6; // a window descriptor byte unless single-segment
  const bytes = [single, 2, 4, 8][fcsFlag] as number;
  if (bytes === 0 || at + bytes > frame.length) return undefined;
  if (bytes === 1) return frame[at] as number;
  if (bytes === 2) return dv.getUint16(at, true) + 256;
  if (bytes === 4) return dv.getUint32(at, true);
  return dv.getUint32(at + 4, true) === 0 ? dv.getUint32(at, true) : Number.POSITIVE_INFINITY;
}

/** The zstd module, loaded on first use (a store without zstd never pays for it). */
let zstdReady: Promise<typeof import('@bokuweb/zstd-wasm')> | undefined;

/**
 * Zstandard (WebAssembly) at `level`; loads the module once per thread.
 * @param level - 1 (fast, the default) .. 19.
 * @returns the codec, id 2 (any level reads back).
 * @throws RangeError for a level out of 1..19.
 */
export async function zstdCodec(level = 1): Promise<ChunkCodec> {
  if (!Number.isInteger(level) || level < 1 || level > 19)
    throw new RangeError(`zstd level ${level} out of 1..19`);
  zstdReady ??= import('@bokuweb/zstd-wasm').then(async (z) => {
    await z.init();
    return z;
  });
  const zstd = await zstdReady;
  return Object.freeze({
    name: 'zstd',
    id: 2,
    level,
    compress(chunk: Uint8Array): Uint8Array | undefined {
      const out = zstd.compress(chunk, level);
      return out.length > maxFragmentBytes(chunk.length) ? undefined : out;
    },
    decompress(fragment: Uint8Array, chunkSize: number): Uint8Array {
      const declared = zstdFrameContentSize(fragment);
      if (declared !== chunkSize) {
        throw corrupt(
          `zstd: the frame header declares ${declared ?? 'no valid'} content size, not ${chunkSize}`,
        );
      }
      let out: Uint8Array;
      try {
        // Allocates the declared size (checked above); more output than that is an error.
        out = zstd.decompress(fragment);
      } catch (e) {
        throw corrupt(`zstd: ${e instanceof Error ? e.message : String(e)}`, e);
      }
      if (out.length !== chunkSize)
        throw corrupt(`zstd: fragment inflates to ${out.length} bytes, not ${chunkSize}`);
      return out;
    },
  });
}

/** The codec named in a store header: its id (0 off, 1 deflate, 2 zstd); undefined for an unknown id. */
export async function loadCodec(id: number, level?: number): Promise<ChunkCodec | undefined> {
  if (id === 0) return OFF_CODEC;
  if (id === 1) return deflateCodec(level);
  if (id === 2) return zstdCodec(level);
  return undefined;
}
