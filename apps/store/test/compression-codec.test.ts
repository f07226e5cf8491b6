// Chunk codecs (src/_codec.ts): round trips at every chunk size, the "worth packing" rule, and
// hostile fragments (garbage, truncation, mutations, wrong sizes, bombs, lying zstd headers): each
// is ERR_CORRUPT_DATA or exactly chunkSize bytes, never another error, never a hang or a big
// allocation. fast-check prints the seed of a failure; replay with DEJA_CODEC_SEED=<seed>.
import { deflateRawSync } from 'node:zlib';
import * as zstd from '@bokuweb/zstd-wasm';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  type ChunkCodec,
  deflateCodec,
  loadCodec,
  OFF_CODEC,
  zstdCodec,
  zstdFrameContentSize,
} from '../src/_codec';
import { maxFragmentBytes } from '../src/_packed';
import { isStoreError } from '../src/errors';

const SEED = process.env.DEJA_CODEC_SEED === undefined ? undefined : Number(process.env.DEJA_CODEC_SEED);
const params = (numRuns: number) => (SEED === undefined ? { numRuns } : { numRuns, seed: SEED });

/** Byte equality without vitest's element-by-element deep equality (slow on 64 KiB arrays). */
function same(a: Uint8Array, b: Uint8Array | undefined): boolean {
  return (
    b !== undefined &&
    Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))
  );
}

const codecs: Record<string, ChunkCodec> = {};
beforeAll(async () => {
  codecs.deflate = deflateCodec(1);
  codecs.zstd = await zstdCodec(1);
});

/** A chunk: a text-like prefix, then random bytes, then a run of one byte (sizes drawn). */
const chunkArb = fc
  .tuple(
    fc.constantFrom(512, 1024, 2048, 4096, 8192, 16384, 32768, 65536),
    fc.double({ min: 0, max: 1, noNaN: true }),
    fc.double({ min: 0, max: 1, noNaN: true }),
    fc.nat(),
  )
  .map(([size, a, b, seed]) => {
    const out = new Uint8Array(size);
    const textEnd = Math.floor(size * a);
    const randEnd = textEnd + Math.floor((size - textEnd) * b * 0.5);
    let x = seed | 1;
    const rnd = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    for (let i = 0; i < textEnd; i++) out[i] = 97 + (rnd() % 8);
    for (let i = textEnd; i < randEnd; i++) out[i] = rnd() & 255;
    out.fill(seed & 255, randEnd);
    return out;
  });

function expectCorrupt(fn: () => unknown): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(isStoreError(error, 'ERR_CORRUPT_DATA'), String(error)).toBe(true);
}

/** Either ERR_CORRUPT_DATA or exactly `size` bytes: never another error, never another size. */
function corruptOrExact(codec: ChunkCodec, fragment: Uint8Array, size: number): 'corrupt' | 'bytes' {
  try {
    const out = codec.decompress(fragment, size);
    expect(out.length).toBe(size);
    return 'bytes';
  } catch (e) {
    expect(isStoreError(e, 'ERR_CORRUPT_DATA'), String(e)).toBe(true);
    return 'corrupt';
  }
}

describe.each(['deflate', 'zstd'])('%s codec', (which) => {
  const codec = () => codecs[which] as ChunkCodec;

  test('round trip at every chunk size; fragments fit a packed page or are undefined', () => {
    fc.assert(
      fc.property(chunkArb, (chunk) => {
        const f = codec().compress(chunk);
        if (f === undefined) return;
        expect(f.length).toBeLessThanOrEqual(maxFragmentBytes(chunk.length));
        expect(same(codec().decompress(f, chunk.length) as Uint8Array, chunk)).toBe(true);
      }),
      params(80),
    );
  });

  test('random bytes do not shrink enough (undefined); zeros and text do', () => {
    const random = new Uint8Array(4096);
    for (let i = 0; i < random.length; i++) random[i] = (Math.imul(i, 2654435761) >>> 13) & 255;
    expect(codec().compress(crypto.getRandomValues(new Uint8Array(4096)))).toBeUndefined();
    const zeros = codec().compress(new Uint8Array(4096));
    expect(zeros?.length).toBeLessThan(64);
    const text = new TextEncoder().encode('kernel: block device sda1 mounted read-write\n'.repeat(100));
    expect(codec().compress(text.subarray(0, 4096))?.length).toBeLessThan(1024);
  });

  test('garbage, truncation and every single-byte mutation: ERR_CORRUPT_DATA or exactly chunkSize bytes', () => {
    const chunk = new TextEncoder().encode('snapshot journal commit inode 42 '.repeat(200)).subarray(0, 4096);
    const f = codec().compress(chunk) as Uint8Array;
    expectCorrupt(() => codec().decompress(new Uint8Array(0), 4096));
    expectCorrupt(() => codec().decompress(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 4096));
    for (let n = 0; n < f.length; n++) expectCorrupt(() => codec().decompress(f.subarray(0, n), 4096));
    const seen = { corrupt: 0, bytes: 0 };
    for (let at = 0; at < f.length; at++) {
      for (const v of [0x00, 0xff, (f[at] as number) ^ 1]) {
        const bad = f.slice();
        bad[at] = v;
        seen[corruptOrExact(codec(), bad, 4096)]++;
      }
    }
    expect(seen.corrupt).toBeGreaterThan(0);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), fc.nat(), (junk, cut) => {
        corruptOrExact(codec(), junk, 4096);
        const spliced = new Uint8Array([...f.subarray(0, cut % (f.length + 1)), ...junk]);
        corruptOrExact(codec(), spliced, 4096);
      }),
      params(300),
    );
  });

  test('a fragment of another chunk size is corrupt, both ways', () => {
    for (const n of [4095, 4097, 8192, 512]) {
      const f = codec().compress(new Uint8Array(n).fill(5)) as Uint8Array;
      expectCorrupt(() => codec().decompress(f, 4096));
    }
  });
});

describe('decompression bombs', () => {
  test('deflate: 16 MiB of zeros in a 16 KiB fragment stops at chunkSize + 1 bytes, quickly', () => {
    // deflate's best ratio is about 1032:1: 16 MiB of zeros in about 16 KiB.
    const bomb = deflateRawSync(new Uint8Array(16 << 20), { level: 9 });
    const t0 = performance.now();
    expectCorrupt(() => codecs.deflate?.decompress(bomb, 4096));
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  test('zstd: a frame declaring 16 MiB is refused from its header, before any allocation', () => {
    const bomb = zstd.compress(new Uint8Array(16 << 20), 1);
    expect(bomb.length).toBeLessThan(8192);
    expect(zstdFrameContentSize(bomb)).toBe(16 << 20);
    const t0 = performance.now();
    expectCorrupt(() => codecs.zstd?.decompress(bomb, 4096));
    expect(performance.now() - t0).toBeLessThan(100);
  });

  test('zstd: a header that lies about the content size is corrupt (the decoder checks it)', () => {
    // 8192 bytes with the 2-byte size field rewritten to say 4096.
    const f = zstd.compress(new Uint8Array(8192).fill(1), 1);
    expect(f[4]).toBe(0x60); // single segment, 2-byte content size
    const lie = f.slice();
    new DataView(lie.buffer).setUint16(5, 4096 - 256, true);
    expect(zstdFrameContentSize(lie)).toBe(4096);
    expectCorrupt(() => codecs.zstd?.decompress(lie, 4096));
    // And the other way: 2048 bytes said to be 4096.
    const g = zstd.compress(new Uint8Array(2048).fill(1), 1);
    const lie2 = g.slice();
    new DataView(lie2.buffer).setUint16(5, 4096 - 256, true);
    expectCorrupt(() => codecs.zstd?.decompress(lie2, 4096));
  });
});

describe('zstd frame headers', () => {
  test('content sizes of the frames the codec writes, and headers it refuses', () => {
    for (const n of [512, 4096, 65536, 300, 100000]) {
      expect(zstdFrameContentSize(zstd.compress(new Uint8Array(n).fill(3), 1))).toBe(n);
    }
    const f = zstd.compress(new Uint8Array(4096), 1);
    expect(zstdFrameContentSize(f.subarray(0, 5))).toBeUndefined();
    const noMagic = f.slice();
    noMagic[0] = 0;
    expect(zstdFrameContentSize(noMagic)).toBeUndefined();
    const dict = f.slice();
    dict[4] = (dict[4] as number) | 1;
    expect(zstdFrameContentSize(dict)).toBeUndefined();
    const reserved = f.slice();
    reserved[4] = (reserved[4] as number) | 8;
    expect(zstdFrameContentSize(reserved)).toBeUndefined();
    const unknown = f.slice();
    unknown[4] = 0x00; // no content size, a window descriptor
    expect(zstdFrameContentSize(unknown)).toBeUndefined();
    const huge = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0x10, 0, 0, 0, 0, 0, 1]);
    expect(zstdFrameContentSize(huge)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('zstd module loading', () => {
  test('codecs asked for at once share one load of the module, and work at once', async () => {
    const chunk = new TextEncoder().encode('inode table, block bitmap, '.repeat(200)).subarray(0, 4096);
    const all = await Promise.all([zstdCodec(1), zstdCodec(2), loadCodec(2), zstdCodec(3)]);
    for (const c of all) {
      const f = c?.compress(chunk) as Uint8Array;
      expect(zstdFrameContentSize(f)).toBe(4096);
      expect(same(codecs.zstd?.decompress(f, 4096) as Uint8Array, chunk)).toBe(true);
    }
  });
});

describe('codec selection', () => {
  test('off, ids, levels', async () => {
    expect(OFF_CODEC.compress(new Uint8Array(4096))).toBeUndefined();
    expectCorrupt(() => OFF_CODEC.decompress(new Uint8Array(10), 4096));
    expect((await loadCodec(0))?.name).toBe('off');
    expect((await loadCodec(1))?.name).toBe('deflate');
    expect((await loadCodec(2, 3))?.name).toBe('zstd');
    expect(await loadCodec(3)).toBeUndefined();
    expect(() => deflateCodec(0)).toThrow(RangeError);
    expect(() => deflateCodec(10)).toThrow(RangeError);
    await expect(zstdCodec(0)).rejects.toThrow(RangeError);
    // Any level reads back with the codec of the same id.
    const chunk = new TextEncoder().encode('x y z '.repeat(1000)).subarray(0, 4096);
    const z19 = (await zstdCodec(19)).compress(chunk) as Uint8Array;
    expect(same(codecs.zstd?.decompress(z19, 4096) as Uint8Array, chunk)).toBe(true);
    const d9 = deflateCodec(9).compress(chunk) as Uint8Array;
    expect(same(codecs.deflate?.decompress(d9, 4096) as Uint8Array, chunk)).toBe(true);
  });
});
