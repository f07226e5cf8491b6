// The NBD server's exact-length reader (src/nbd/_reader.ts) over a PassThrough stream: reads of
// exact sizes across and within the stream's chunks, tryRead (bytes already buffered, no
// promise), the end of the stream, and the bound on what it buffers (the stream is paused beyond
// the read-ahead, resumed when the bytes are taken).

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ByteReader, EndOfStream } from '../src/nbd/_reader';

/** Lets the stream deliver what was written to it. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('NBD ByteReader', () => {
  it('reads exact lengths across chunks, and tryRead takes only what has arrived', async () => {
    const s = new PassThrough();
    const r = new ByteReader(s, 64);
    const bytes = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
    s.write(bytes.subarray(0, 10));
    await settle();
    expect(r.tryRead(11)).toBeUndefined();
    expect(r.tryRead(4)).toEqual(bytes.subarray(0, 4));
    expect(r.buffered).toBe(6);
    const pending = r.read(20);
    // While a read waits, tryRead takes nothing (the bytes are the pending read's).
    expect(r.tryRead(1)).toBeUndefined();
    s.write(bytes.subarray(10, 30));
    expect(await pending).toEqual(bytes.subarray(4, 24));
    s.write(bytes.subarray(30, 100));
    await settle();
    expect(r.tryRead(0)).toEqual(Buffer.alloc(0));
    expect(r.tryRead(76)).toEqual(bytes.subarray(24, 100));
    expect(r.tryRead(1)).toBeUndefined();
    s.end();
    await expect(r.read(1)).rejects.toBeInstanceOf(EndOfStream);
  });

  it('pauses the stream beyond its read-ahead and resumes it when bytes are taken', async () => {
    const s = new PassThrough();
    const r = new ByteReader(s, 16);
    s.write(Buffer.alloc(40, 1));
    await settle();
    expect(r.buffered).toBe(40);
    expect(s.isPaused()).toBe(true);
    expect(r.tryRead(30)?.length).toBe(30);
    expect(s.isPaused()).toBe(false);
  });
});
