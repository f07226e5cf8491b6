// Damaged bytes on storage: typed errors, pages skipped by rebuild, never a wrong answer.

import { MemoryStorage } from '@deja/storage';
import { describe, expect, it } from 'vitest';
import { DedupIndex, type DedupIndexError } from '../src/index';
import { hex, makeNames, meta, rng, SMALL } from './_helpers';

const NAMES = makeNames(300, 31);

/** An index with chapters 0 and 1 closed (names 0..255) and 44 names in the open chapter. */
async function filled(): Promise<{ storage: MemoryStorage; index: DedupIndex }> {
  const storage = new MemoryStorage();
  const index = await DedupIndex.create(storage, { geometry: SMALL, nonce: 3, cachePages: 4 });
  for (let i = 0; i < NAMES.length; i++) await index.post(NAMES[i]!, meta(i));
  return { storage, index };
}

function pageAt(index: DedupIndex, physical: number, page: number): number {
  const { layout } = index;
  return layout.volumeOffset + (physical * layout.pagesPerChapter + page) * layout.bytesPerPage;
}

async function flip(storage: MemoryStorage, offset: number, xor = 0x5a): Promise<void> {
  const [byte] = await storage.read(offset, 1);
  await storage.write(offset, new Uint8Array([byte! ^ xor]));
}

/** Query every name; each answer is the right metadata, undefined, or an ERR_CORRUPT_DATA. */
async function checkAnswers(index: DedupIndex): Promise<{ found: number; corrupt: number }> {
  let found = 0;
  let corrupt = 0;
  for (let i = 0; i < NAMES.length; i++) {
    try {
      const got = await index.query(NAMES[i]!);
      if (got !== undefined) {
        found++;
        expect(hex(got)).toBe(hex(meta(i)));
      }
    } catch (error) {
      expect((error as DedupIndexError).code).toBe('ERR_CORRUPT_DATA');
      corrupt++;
    }
  }
  return { found, corrupt };
}

describe('corrupted pages', () => {
  it('a damaged record page is reported once with ERR_CORRUPT_DATA, then skipped', async () => {
    const { storage, index } = await filled();
    const g = index.geometry;
    // Every record page of chapter 0 loses a byte of a record.
    for (let p = 0; p < g.recordPagesPerChapter; p++)
      await flip(storage, pageAt(index, 0, g.indexPagesPerChapter + p) + 40);
    const first = await checkAnswers(index);
    expect(first.corrupt).toBe(g.recordPagesPerChapter);
    expect(first.found).toBe(NAMES.length - 128);
    const second = await checkAnswers(index);
    expect(second.corrupt).toBe(0);
    expect(second.found).toBe(NAMES.length - 128);
    expect(index.getStats().badPages).toBe(g.recordPagesPerChapter);
  });

  it('a damaged index page is reported, then skipped', async () => {
    const { storage, index } = await filled();
    await flip(storage, pageAt(index, 1, 0) + 30);
    const first = await checkAnswers(index);
    expect(first.corrupt).toBe(1);
    expect(first.found).toBeLessThan(NAMES.length);
    expect(first.found).toBeGreaterThanOrEqual(NAMES.length - 128);
  });

  it('a rebuild skips damaged pages and answers the rest', async () => {
    const { storage, index } = await filled();
    const g = index.geometry;
    await flip(storage, pageAt(index, 1, g.indexPagesPerChapter + 2) + 100);
    // No close: the next open rebuilds.
    const rebuilt = await DedupIndex.open(storage);
    const stats = rebuilt.getStats();
    expect(stats.rebuilt).toBe(true);
    expect(stats.badPages).toBe(1);
    const answers = await checkAnswers(rebuilt);
    expect(answers.corrupt).toBe(0);
    // Chapter 0 (128) and chapter 1 without one page of 32 records; the open chapter is lost.
    expect(answers.found).toBe(256 - 32);
  });

  it('a damaged save is ignored: open rebuilds', async () => {
    const { storage, index } = await filled();
    await index.close();
    const { layout } = index;
    // The first save went to slot 1; damage its body.
    await flip(storage, layout.saveOffset + layout.slotBytes + 512 + 100);
    const again = await DedupIndex.open(storage);
    expect(again.getStats().rebuilt).toBe(true);
    expect((await checkAnswers(again)).found).toBe(256);
  });

  it('a bad superblock or empty storage is a typed error', async () => {
    await expect(DedupIndex.open(new MemoryStorage())).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(DedupIndex.open(new MemoryStorage({ data: new Uint8Array(8192) }))).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
    });
    const { storage } = await filled();
    const bad = new MemoryStorage({ data: storage.snapshot() });
    await flip(bad, 30);
    await expect(DedupIndex.open(bad)).rejects.toMatchObject({ code: 'ERR_CORRUPT_DATA' });
    const wrongMagic = new MemoryStorage({ data: storage.snapshot() });
    await flip(wrongMagic, 2);
    await expect(DedupIndex.open(wrongMagic)).rejects.toMatchObject({ code: 'ERR_CORRUPT_DATA' });
    const version = new MemoryStorage({ data: storage.snapshot() });
    await version.write(8, new Uint8Array([9]));
    await expect(DedupIndex.open(version)).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_VERSION' });
  });

  it('random byte damage anywhere: typed errors or right answers, never a wrong one', async () => {
    const { storage, index } = await filled();
    await index.close();
    const image = storage.snapshot();
    const next = rng(77);
    for (let run = 0; run < 40; run++) {
      const damaged = new MemoryStorage({ data: image });
      const count = 1 + (next() % 40);
      for (let i = 0; i < count; i++) await flip(damaged, next() % image.length, 1 + (next() % 255));
      let opened: DedupIndex;
      try {
        opened = await DedupIndex.open(damaged, { cachePages: 4 });
      } catch (error) {
        expect(['ERR_CORRUPT_DATA', 'ERR_UNSUPPORTED_VERSION', 'ERR_NOT_FOUND']).toContain(
          (error as DedupIndexError).code,
        );
        continue;
      }
      await checkAnswers(opened);
      expect(await opened.post(makeNames(1, 1000 + run)[0]!, meta(1))).toBeUndefined();
    }
  });
});
