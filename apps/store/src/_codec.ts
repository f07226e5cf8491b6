// Chunk codecs for compressed stores (issue 15; not wired into the store yet). A codec turns one
// chunk into a fragment for a packed page (src/_packed.ts) and back. The store keeps the codec's
// one-byte id in its header, fixed at creation, and every packed page repeats it.
//
// The codec is raw deflate from node:zlib, level 1 by default, with the window and the hash
// memory sized to the chunk (windowBits = log2(chunk size), memLevel 5): bench/compression.ts
// measured it against fflate, zstd (WebAssembly), lz4 and snappy at 4 KiB (see the README's
// "Compression" section). It needs no dependency, ships with Node, runs on worker threads,
// and a smaller window does not cost ratio on a chunk no longer than the window, while it cuts
// the per-call setup of zlib's sync API (it allocates and clears the window and hash tables on
// every call: with the defaults, 256 KiB + 128 KiB for each 4 KiB chunk).
//
// Decompression is defensive: output is capped at the chunk size plus one byte (a fragment that
// would inflate further is refused before it allocates more) and must be exactly the chunk size;
// every failure is a StoreError ERR_CORRUPT_DATA that the packed-page reader names by page and slot.

import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { maxFragmentBytes } from './_packed';
import { StoreError } from './errors';

/** A chunk codec: one chunk in, one fragment out, and back. */
export interface ChunkCodec {
  /** The name the store's options and `stats()` use ('off', 'deflate'). */
  readonly name: string;
  /** The byte kept in the store header and in every packed page (0: off). */
  readonly id: number;
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
  compress: (): undefined => undefined,
  decompress: (): never => {
    throw corrupt('a packed fragment in a store without compression');
  },
});

/** log2 of a chunk size 512..65536, as deflate's windowBits (9..15; 64 KiB uses 15). */
function windowBits(chunkSize: number): number {
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
    compress(chunk: Uint8Array): Uint8Array | undefined {
      const out = deflateRawSync(chunk, { level, windowBits: windowBits(chunk.length), memLevel: 5 });
      return out.length > maxFragmentBytes(chunk.length)
        ? undefined
        : new Uint8Array(out.buffer, out.byteOffset, out.length);
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

/** The codec a store header's id names, or undefined for an id this code does not know. */
export function codecById(id: number, level?: number): ChunkCodec | undefined {
  if (id === 0) return OFF_CODEC;
  if (id === 1) return deflateCodec(level);
  return undefined;
}
