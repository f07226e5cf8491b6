// A sparse index: sampled names (sampling bytes divisible by the rate) stay in the volume index for
// every chapter, the others only for the dense chapters; a sampled name found in a sparse chapter
// brings that chapter into the sparse cache, where the other names of that chapter are found again.

import { MemoryStorage } from '@deja/storage';
import { FaultyStorage } from '@deja/storage/testing';
import { describe, expect, it } from 'vitest';
import { DedupIndex } from '../src/index';
import { hex, makeNames, meta } from './_helpers';

const GEOMETRY = {
  bytesPerPage: 1024,
  recordPagesPerChapter: 4,
  chaptersPerVolume: 10,
  sparseChaptersPerVolume: 7,
};

function withSampling(name: Uint8Array, sampled: boolean, rate: number): Uint8Array {
  let value = ((name[14]! << 8) | name[15]!) - (((name[14]! << 8) | name[15]!) % rate);
  if (!sampled) value += 1;
  name[14] = (value >> 8) & 0xff;
  name[15] = value & 0xff;
  return name;
}

describe('sparse index', () => {
  it('finds sampled names in sparse chapters, and the others through the sparse cache', async () => {
    const rate = 4;
    const index = await DedupIndex.create(new MemoryStorage(), {
      geometry: GEOMETRY,
      sparseSampleRate: rate,
      nonce: 4,
    });
    expect(index.config.sparseSampleRate).toBe(rate);
    const hook = withSampling(makeNames(1, 1)[0]!, true, rate);
    const plain = withSampling(makeNames(1, 2)[0]!, false, rate);
    await index.post(hook, meta(1));
    await index.post(plain, meta(2));
    // Fill chapters until chapter 0 is sparse (older than the 3 dense chapters).
    const filler = makeNames(5 * index.geometry.recordsPerChapter, 3);
    for (let i = 0; i < filler.length && index.getStats().openChapter < 5; i++)
      await index.post(filler[i]!, meta(100 + i));
    expect(index.getStats().openChapter).toBe(5);
    // The plain name left the volume index with its dense chapter; the sparse cache is empty.
    expect(await index.query(plain)).toBeUndefined();
    // The sampled name is still indexed; finding it caches chapter 0.
    expect(hex(await index.query(hook))).toBe(hex(meta(1)));
    // Now the plain name is found in the cached sparse chapter, and a post refreshes it.
    expect(hex(await index.query(plain))).toBe(hex(meta(2)));
    expect(hex(await index.post(plain, meta(3)))).toBe(hex(meta(2)));
    expect(hex(await index.query(plain))).toBe(hex(meta(2)));
  });

  it('a rebuild keeps only sampled names of chapters that will be sparse', async () => {
    const rate = 2;
    const storage = new MemoryStorage();
    const index = await DedupIndex.create(storage, { geometry: GEOMETRY, sparseSampleRate: rate, nonce: 6 });
    const names = makeNames(6 * index.geometry.recordsPerChapter, 9);
    for (let i = 0; i < names.length; i++) await index.post(names[i]!, meta(i));
    const rebuilt = await DedupIndex.open(storage);
    expect(rebuilt.getStats().rebuilt).toBe(true);
    const newest = rebuilt.getStats().openChapter;
    let sampledOld = 0;
    let plainOld = 0;
    const isSampled = (name: Uint8Array) => ((name[14]! << 8) | name[15]!) % rate === 0;
    const isOld = (i: number) => Math.floor(i / index.geometry.recordsPerChapter) + 3 <= newest;
    // Plain names first: a sampled name found in a sparse chapter would bring its chapter into the
    // sparse cache, where the plain names are found again.
    for (let i = 0; i < names.length; i++) {
      if (isSampled(names[i]!)) continue;
      const got = await rebuilt.query(names[i]!);
      if (got !== undefined) expect(hex(got)).toBe(hex(meta(i)));
      if (isOld(i) && got !== undefined) plainOld++;
    }
    for (let i = 0; i < names.length; i++) {
      if (!isSampled(names[i]!)) continue;
      const got = await rebuilt.query(names[i]!);
      if (got !== undefined) expect(hex(got)).toBe(hex(meta(i)));
      if (isOld(i) && got !== undefined) sampledOld++;
    }
    expect(sampledOld).toBeGreaterThan(0);
    expect(plainOld).toBe(0);
  });

  it('a search that needs record page windows in two sparse chapters completes (issue 17, item 6)', async () => {
    // One record page per chapter, 2 dense chapters of 6, a 2-page cache: X and X' (same bytes
    // 0..13, so the same chapter index address) sit on the record pages of sparse chapters 0 and 1,
    // both in the sparse cache and both evicted from the page cache. A never-posted twin of X is then
    // searched for in both chapters, each through a window read of its record page. Reads are
    // counted: a request that cannot progress fails with an injected I/O error instead of hanging
    // (on MemoryStorage a hung request would even starve the timers).
    const rate = 4;
    let armed = false;
    let reads = 0;
    const storage = await FaultyStorage.wrap(new MemoryStorage(), {
      failWhen: (op) => armed && op.kind === 'read' && ++reads > 20,
    });
    const index = await DedupIndex.create(storage, {
      geometry: {
        bytesPerPage: 1024,
        recordPagesPerChapter: 1,
        chaptersPerVolume: 6,
        sparseChaptersPerVolume: 4,
      },
      sparseSampleRate: rate,
      cachePages: 2,
      nonce: 17,
    });
    const twinOf = (name: Uint8Array, low: number): Uint8Array => {
      const twin = name.slice();
      twin[14] = 0x12;
      twin[15] = 0x34 - (0x34 % rate) + low; // sampling bytes not divisible by the rate
      return twin;
    };
    const x = twinOf(makeNames(1, 20)[0]!, 1);
    const x2 = twinOf(x, 2);
    const twin = twinOf(x, 3);
    const [s0, s1] = makeNames(2, 21).map((n) => withSampling(n, true, rate));
    const filler = makeNames(8 * index.geometry.recordsPerChapter, 22);
    let next = 0;
    const fillTo = async (chapter: number) => {
      while (index.getStats().openChapter < chapter) await index.post(filler[next]!, meta(1000 + next++));
    };
    await index.post(x, meta(1));
    await index.post(s0!, meta(2));
    await fillTo(1);
    await index.post(x2, meta(3));
    await index.post(s1!, meta(4));
    await fillTo(4);
    const inChapter3 = filler[next - 1]!;
    // Chapters 0 and 1 enter the sparse cache; then a query of chapter 3 evicts their pages.
    expect(hex(await index.query(s0!))).toBe(hex(meta(2)));
    expect(hex(await index.query(s1!))).toBe(hex(meta(4)));
    expect(hex(await index.query(inChapter3))).toBe(hex(meta(1000 + next - 1)));
    armed = true;
    await expect(index.query(twin)).resolves.toBeUndefined();
    expect(reads).toBeLessThanOrEqual(20);
    // And the twins that were posted are found in their sparse chapters.
    expect(hex(await index.query(x2))).toBe(hex(meta(3)));
    expect(hex(await index.query(x))).toBe(hex(meta(1)));
  });
});
