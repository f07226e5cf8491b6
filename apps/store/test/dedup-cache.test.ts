// The write path's dedup check against the cache of checked chunks: a chunk met again and again
// (the same block in many places) is compared with the stored copy once and then with the copy
// kept in memory, not read each time; and the cache never lets a write share a page that no
// longer holds those bytes (a page freed and reused for other content).
import { Readable, Writable } from 'node:stream';
import { MemoryStorage } from '@deja/storage';
import { describe, expect, it } from 'vitest';
import { exportVersion, importImage, LIVE, Store } from '../src/index';
import { prng } from './_helpers';

const CS = 512;

/** A MemoryStorage that counts the bytes read from it. */
class CountingStorage extends MemoryStorage {
  bytesRead = 0;
  protected override _read(offset: number, length: number, into?: Uint8Array): Uint8Array {
    this.bytesRead += length;
    return super._read(offset, length, into);
  }
}

/** A chunk of random bytes (distinct from every other). */
function random(rand: () => number): Uint8Array {
  return Uint8Array.from({ length: CS }, () => Math.floor(rand() * 256));
}

/** A chunk that compresses (runs of a few symbols), distinct from every other. */
function compressible(rand: () => number): Uint8Array {
  const out = new Uint8Array(CS);
  for (let i = 0; i < CS; ) {
    const run = 1 + Math.floor(rand() * 12);
    out.fill(Math.floor(rand() * 6), i, Math.min(CS, i + run));
    i += run;
  }
  return out;
}

/** `chunks` chunks: `popular` contents repeated in turn every `every` chunks, random ones between. */
function image(seed: number, chunks: number, popular: Uint8Array[], every: number): Uint8Array {
  const rand = prng(seed);
  const out = new Uint8Array(chunks * CS);
  for (let i = 0; i < chunks; i++) {
    const c = i % every === 0 ? (popular[(i / every) % popular.length] as Uint8Array) : random(rand);
    out.set(c, i * CS);
  }
  return out;
}

async function exported(store: Store, version: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const sink = new Writable({
    write(chunk: Uint8Array, _enc, done) {
      parts.push(Uint8Array.from(chunk));
      done();
    },
  });
  await exportVersion(store, version, sink, { workers: 0 });
  return new Uint8Array(Buffer.concat(parts));
}

describe('dedup check with the checked-chunk cache', () => {
  it('reads a chunk met many times once, and stores it once', async () => {
    const rand = prng(7);
    const popular = Array.from({ length: 8 }, () => random(rand));
    const img = image(1, 2400, popular, 3);
    const data = new CountingStorage();
    const store = await Store.create(
      { data, index: new MemoryStorage() },
      { size: img.length, chunkSize: CS },
    );
    const before = data.bytesRead;
    await importImage(store, Readable.from([img]), { workers: 0 });
    // 800 occurrences of 8 contents in 10 batches of 256 chunks: without the cache each batch
    // reads the 8 candidates (about 110 pages in all with the metadata the import reads); with
    // it, the first batch only (about 40).
    expect(data.bytesRead - before).toBeLessThan(60 * CS);
    expect((await store.stats()).distinctChunks).toBe(1600 + 8);
    expect(await exported(store, LIVE)).toEqual(img);
    expect((await store.check({ data: true })).problems).toEqual([]);
    await store.close();
  });

  it('in a compressed store, compares a fragment met many times with its kept bytes', async () => {
    const rand = prng(9);
    const popular = Array.from({ length: 8 }, () => compressible(rand));
    const img = image(6, 2400, popular, 3);
    const data = new CountingStorage();
    const store = await Store.create(
      { data, index: new MemoryStorage() },
      { size: img.length, chunkSize: CS, compression: 'zstd' },
    );
    const before = data.bytesRead;
    await importImage(store, Readable.from([img]), { workers: 0 });
    expect(data.bytesRead - before).toBeLessThan(60 * CS);
    const stats = await store.stats();
    expect(stats.distinctChunks).toBe(1600 + 8);
    expect(stats.packedPages).toBeGreaterThan(0);
    expect(await exported(store, LIVE)).toEqual(img);
    expect((await store.check({ data: true })).problems).toEqual([]);
    await store.close();
  });

  it('never shares a page freed and reused for other bytes', async () => {
    const rand = prng(11);
    const popular = Array.from({ length: 4 }, () => random(rand));
    const chunks = 600;
    const store = await Store.create(
      { data: new MemoryStorage(), index: new MemoryStorage() },
      { size: chunks * CS, chunkSize: CS },
    );
    // 1. The popular chunks stored and cached (met many times).
    const a = image(2, chunks, popular, 2);
    await importImage(store, Readable.from([a]), { workers: 0 });
    // 2. They go: every chunk replaced, no snapshot keeps them, so their pages are freed.
    const b = image(3, chunks, [random(rand)], chunks + 1);
    await importImage(store, Readable.from([b]), { workers: 0 });
    // 3. New content fills the freed pages; 4. the old popular chunks come back.
    const c = image(4, chunks, [random(rand)], chunks + 1);
    await importImage(store, Readable.from([c]), { workers: 0 });
    const d = image(5, chunks, popular, 2);
    await importImage(store, Readable.from([d]), { workers: 0 });
    expect(await exported(store, LIVE)).toEqual(d);
    expect((await store.check({ data: true })).problems).toEqual([]);
    await store.close();
  });
});
