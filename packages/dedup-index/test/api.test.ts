// The request API: UDS semantics of post / update / query / delete, argument checks, ordering of
// requests that are not awaited, statistics, close.

import { MemoryStorage } from '@deja/storage';
import { createConfiguration } from '@deja/volume-geometry';
import { describe, expect, it } from 'vitest';
import { DedupIndex, type DedupIndexError } from '../src/index';
import { hex, makeNames, meta, SMALL } from './_helpers';

async function small(): Promise<DedupIndex> {
  return DedupIndex.create(new MemoryStorage(), { geometry: SMALL, nonce: 1 });
}

describe('requests', () => {
  it('post returns the earlier metadata and keeps it; update replaces it', async () => {
    const index = await small();
    const [a] = makeNames(1, 1);
    expect(await index.post(a!, meta(1))).toBeUndefined();
    expect(hex(await index.post(a!, meta(2)))).toBe(hex(meta(1)));
    expect(hex(await index.query(a!))).toBe(hex(meta(1)));
    expect(hex(await index.update(a!, meta(3)))).toBe(hex(meta(1)));
    expect(hex(await index.query(a!))).toBe(hex(meta(3)));
    expect(await index.delete(a!)).toBe(true);
    expect(await index.delete(a!)).toBe(false);
    expect(await index.query(a!)).toBeUndefined();
    expect(await index.update(a!, meta(4))).toBeUndefined();
    expect(hex(await index.query(a!))).toBe(hex(meta(4)));
    const stats = index.getStats();
    expect(stats.postsFound).toBe(1);
    expect(stats.postsNotFound).toBe(1);
    expect(stats.updatesFound).toBe(1);
    expect(stats.updatesNotFound).toBe(1);
    expect(stats.deletesFound).toBe(1);
    expect(stats.deletesNotFound).toBe(1);
    expect(stats.queriesFound).toBe(3);
    expect(stats.queriesNotFound).toBe(1);
  });

  it('returned metadata is a copy', async () => {
    const index = await small();
    const [a] = makeNames(1, 2);
    const m = meta(7);
    await index.post(a!, m);
    m.fill(0);
    const got = (await index.query(a!))!;
    expect(hex(got)).toBe(hex(meta(7)));
    got.fill(1);
    expect(hex(await index.query(a!))).toBe(hex(meta(7)));
  });

  it('a refreshing query keeps a record alive past its chapter; a plain query does not', async () => {
    const index = await small();
    const names = makeNames(2000, 3);
    await index.post(names[0]!, meta(0));
    await index.post(names[1]!, meta(1));
    const perChapter = index.geometry.recordsPerChapter;
    // Fill 6 more chapters, refreshing name 0 now and then.
    for (let i = 2; i < 2 + 6 * perChapter; i++) {
      await index.post(names[i]!, meta(i));
      if (i % perChapter === 0) {
        expect(hex(await index.query(names[0]!, { refresh: true }))).toBe(hex(meta(0)));
        expect(hex(await index.query(names[1]!))).toBe(hex(meta(1)));
      }
    }
    // Two more chapters: name 1's chapter expires, name 0 was refreshed recently.
    for (let i = 2 + 6 * perChapter; i < 2 + 8 * perChapter; i++) await index.post(names[i]!, meta(i));
    expect(hex(await index.query(names[0]!))).toBe(hex(meta(0)));
    expect(await index.query(names[1]!)).toBeUndefined();
    expect(index.getStats().chaptersExpired).toBeGreaterThan(0);
  });

  it('requests called without awaiting run in call order', async () => {
    const index = await small();
    const names = makeNames(700, 4);
    const posts = names.map((n, i) => index.post(n, meta(i)));
    const again = names.map((n, i) => index.post(n, meta(i + 1000)));
    expect((await Promise.all(posts)).every((r) => r === undefined)).toBe(true);
    const seen = await Promise.all(again);
    seen.forEach((r, i) => {
      expect(hex(r)).toBe(hex(meta(i)));
    });
    expect(index.getStats().chaptersWritten).toBeGreaterThanOrEqual(5);
  });

  it('a chapter is cached as it is written: its names are found without a read, and a reopen reads them', async () => {
    const storage = new MemoryStorage();
    const index = await DedupIndex.create(storage, { geometry: SMALL, nonce: 4 });
    const names = makeNames(200, 33);
    for (let i = 0; i < names.length; i++) await index.post(names[i]!, meta(i));
    expect(index.getStats().chaptersWritten).toBe(1);
    for (let i = 0; i < 128; i++) expect(hex(await index.query(names[i]!))).toBe(hex(meta(i)));
    expect(index.getStats().cacheMisses).toBe(0);
    await index.close();
    const again = await DedupIndex.open(storage);
    for (let i = 0; i < 128; i++) expect(hex(await again.query(names[i]!))).toBe(hex(meta(i)));
    expect(again.getStats().cacheMisses).toBeGreaterThan(0);
  });

  it('a request that waits uses the name and metadata as they were at the call (issue 17, item 7)', async () => {
    const storage = new MemoryStorage();
    const created = await DedupIndex.create(storage, { geometry: SMALL, nonce: 1 });
    const names = makeNames(200, 30);
    for (let i = 0; i < names.length; i++) await created.post(names[i]!, meta(i));
    expect(created.getStats().chaptersWritten).toBe(1);
    // A chapter's pages are cached as they are written: reopen, so that none is.
    await created.close();
    const index = await DedupIndex.open(storage);
    const [queued, other, other2] = makeNames(3, 31);
    // Name 0 is in closed chapter 0, whose pages are not cached: its query reads a page, and the
    // post called meanwhile waits behind it.
    let buf = queued!.slice();
    let md = meta(500);
    const first = index.query(names[0]!);
    const post = index.post(buf, md);
    buf.set(other!);
    md.set(meta(501));
    expect(hex(await first)).toBe(hex(meta(0)));
    expect(await post).toBeUndefined();
    expect(index.getStats().cacheMisses).toBeGreaterThan(0);
    expect(hex(await index.query(queued!))).toBe(hex(meta(500)));
    expect(await index.query(other!)).toBeUndefined();
    // A request that reads a page itself: after a reopen nothing is cached, and name 1 is in chapter 0.
    await index.close();
    const again = await DedupIndex.open(storage);
    buf = names[1]!.slice();
    md = meta(600);
    const update = again.update(buf, md);
    buf.set(other2!);
    md.set(meta(601));
    expect(hex(await update)).toBe(hex(meta(1)));
    expect(hex(await again.query(names[1]!))).toBe(hex(meta(600)));
    expect(await again.query(other2!)).toBeUndefined();
    expect(again.getStats().cacheMisses).toBeGreaterThan(0);
  });

  it('stats.overflows counts each dropped entry once (issue 17, item 9)', async () => {
    // 800 names with the same bytes 0..7 (one volume index address) in one 1024-record chapter: the
    // delta list overflows and drops some of their collision entries.
    const index = await DedupIndex.create(new MemoryStorage(), {
      geometry: { bytesPerPage: 1024, recordPagesPerChapter: 32, chaptersPerVolume: 8 },
      nonce: 9,
    });
    const names = makeNames(800, 32);
    for (const name of names) name.set(names[0]!.subarray(0, 8));
    for (let i = 0; i < names.length; i++) expect(await index.post(names[i]!, meta(i))).toBeUndefined();
    const stats = index.getStats();
    expect(stats.postsNotFound).toBe(800);
    expect(stats.overflows).toBeGreaterThan(0);
    expect(stats.entries + stats.overflows).toBe(800);
    expect(index.getStats().openChapterRecords).toBe(stats.entries);
  });

  it('wrong arguments are TypeError / RangeError', async () => {
    const index = await small();
    const [a] = makeNames(1, 5);
    await expect(index.post(new Uint8Array(15), meta(1))).rejects.toBeInstanceOf(RangeError);
    await expect(index.post('name' as unknown as Uint8Array, meta(1))).rejects.toBeInstanceOf(TypeError);
    await expect(index.post(a!, new Uint8Array(3))).rejects.toBeInstanceOf(RangeError);
    await expect(index.update(a!, undefined as unknown as Uint8Array)).rejects.toBeInstanceOf(TypeError);
    await expect(DedupIndex.create(new MemoryStorage(), {})).rejects.toBeInstanceOf(TypeError);
    await expect(
      DedupIndex.create(new MemoryStorage(), { geometry: SMALL, cachePages: 1 }),
    ).rejects.toBeInstanceOf(RangeError);
    await expect(
      DedupIndex.create(new MemoryStorage(), { geometry: SMALL, zoneCount: 17 }),
    ).rejects.toBeInstanceOf(RangeError);
  });

  it('cachePages below 2 is a RangeError with code ERR_INVALID_ARGUMENT (issue 17, item 10)', async () => {
    const storage = new MemoryStorage();
    for (const cachePages of [1, 0, 2.5, Number.NaN]) {
      await expect(DedupIndex.create(storage, { geometry: SMALL, cachePages })).rejects.toMatchObject({
        name: 'RangeError',
        code: 'ERR_INVALID_ARGUMENT',
      });
    }
    await (await DedupIndex.create(storage, { geometry: SMALL, cachePages: 2 })).close();
    await expect(DedupIndex.open(storage, { cachePages: 1 })).rejects.toMatchObject({
      name: 'RangeError',
      code: 'ERR_INVALID_ARGUMENT',
    });
    const index = await DedupIndex.open(storage, { cachePages: 2 });
    expect(index.getStats().rebuilt).toBe(false);
    // The other wrong arguments carry codes too.
    await expect(index.post(new Uint8Array(15), meta(1))).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    });
    await expect(index.query('name' as unknown as Uint8Array)).rejects.toMatchObject({
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
    });
  });

  it('deleted records count in openChapterRecords until a close and open (issue 17, item 10)', async () => {
    const storage = new MemoryStorage();
    const index = await DedupIndex.create(storage, { geometry: SMALL, nonce: 10 });
    const names = makeNames(3, 33);
    for (let i = 0; i < names.length; i++) await index.post(names[i]!, meta(i));
    expect(await index.delete(names[1]!)).toBe(true);
    expect(index.getStats().openChapterRecords).toBe(3);
    await index.close();
    const again = await DedupIndex.open(storage);
    expect(again.getStats().openChapterRecords).toBe(2);
    expect(await again.query(names[1]!)).toBeUndefined();
  });

  it('a name deleted from a closed chapter comes back after a rebuild, with its metadata (issue 17, item 10)', async () => {
    const storage = new MemoryStorage();
    const index = await DedupIndex.create(storage, { geometry: SMALL, nonce: 11 });
    const names = makeNames(200, 34);
    for (let i = 0; i < names.length; i++) await index.post(names[i]!, meta(i));
    expect(await index.delete(names[0]!)).toBe(true);
    expect(await index.query(names[0]!)).toBeUndefined();
    const rebuilt = await DedupIndex.open(storage); // no close: a crash
    expect(rebuilt.getStats().rebuilt).toBe(true);
    expect(hex(await rebuilt.query(names[0]!))).toBe(hex(meta(0)));
  });

  it('a closed index rejects requests with ERR_CLOSED; close is idempotent', async () => {
    const index = await small();
    await index.close();
    await index.close();
    expect(index.closed).toBe(true);
    await expect(index.query(makeNames(1, 6)[0]!)).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });

  it('a storage failure while writing a chapter is ERR_NO_SPACE, and the index refuses further work', async () => {
    const storage = new MemoryStorage({ maxSize: 12_000 });
    const index = await DedupIndex.create(storage, { geometry: SMALL, nonce: 2 });
    const names = makeNames(400, 7);
    let error: DedupIndexError | undefined;
    for (let i = 0; i < names.length && error === undefined; i++) {
      await index.post(names[i]!, meta(i)).catch((e: DedupIndexError) => {
        error = e;
      });
    }
    expect(error?.code).toBe('ERR_NO_SPACE');
    await expect(index.query(names[0]!)).rejects.toMatchObject({ code: 'ERR_NO_SPACE' });
    await index.close();
  });

  it('a memory configuration: sizes from volume-geometry, about 3.25 bytes per record', async () => {
    const storage = new MemoryStorage();
    const index = await DedupIndex.create(storage, { memorySize: 0.25, cachePages: 64 });
    expect(index.geometry.recordsPerChapter).toBe(65536);
    const stats = index.getStats();
    expect(stats.bytesPerRecord).toBeGreaterThan(3.1);
    expect(stats.bytesPerRecord).toBeLessThan(3.4);
    const [a] = makeNames(1, 8);
    expect(await index.post(a!, meta(1))).toBeUndefined();
    expect(hex(await index.query(a!))).toBe(hex(meta(1)));
    const same = await DedupIndex.create(new MemoryStorage(), {
      configuration: createConfiguration({ memorySize: 0.25, zoneCount: 2 }),
    });
    expect(same.config.zoneCount).toBe(2);
  });
});

describe('a reduced (LVM-converted) geometry with a remapped chapter', () => {
  it('wraps around, answers only right metadata, finds the recent chapters, survives a rebuild', async () => {
    const geometry = { ...SMALL, chaptersPerVolume: 7, remappedVirtual: 3, remappedPhysical: 2 };
    const storage = new MemoryStorage();
    const index = await DedupIndex.create(storage, { geometry, nonce: 12, cachePages: 4 });
    const names = makeNames(3000, 40);
    const perChapter = index.geometry.recordsPerChapter;
    for (let i = 0; i < names.length; i++) await index.post(names[i]!, meta(i));
    const newest = index.getStats().openChapter;
    expect(newest).toBeGreaterThan(3 * 7);
    expect(index.getStats().chaptersExpired).toBeGreaterThan(0);
    const check = async (target: DedupIndex, recentFrom: number, openLost: boolean) => {
      for (let i = 0; i < names.length; i++) {
        const got = await target.query(names[i]!);
        if (got !== undefined) expect(hex(got)).toBe(hex(meta(i)));
        // The last five closed chapters are always there (and the open chapter, but for a rebuild).
        else expect(i < recentFrom || (openLost && i >= newest * perChapter)).toBe(true);
      }
    };
    await check(index, (newest - 5) * perChapter, false);
    const rebuilt = await DedupIndex.open(storage, { cachePages: 4 });
    expect(rebuilt.getStats().rebuilt).toBe(true);
    await check(rebuilt, (newest - 5) * perChapter, true);
  });
});
