// PageStore growth: a store created small grows as pages are allocated (doubling, bounded steps) or
// with tx.grow; the growth commits with its transaction and vanishes with an abort; maxPageCount;
// a full medium while growing; page numbers and contents stable across growths and reopens; open
// cost and storage size that follow the pages in use, not the maximum. Crash sweeps over growing
// workloads are in page-store-crash.test.ts.

import { MemoryStorage } from '@deja/storage';
import { FaultyStorage } from '@deja/storage/testing';
import { describe, expect, test } from 'vitest';
import { PageStore } from '../src/index';
import { emptyModel, expectState, runTransactions } from './_page-model';

async function code(promise: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).name;
  }
  return undefined;
}

const reopen = (disk: MemoryStorage) => PageStore.open(new MemoryStorage({ data: disk.snapshot() }));

describe('PageStore growth', () => {
  test('allocate grows a full store by doubling; the growth commits and survives reopen; pages do not move', async () => {
    const disk = new MemoryStorage();
    const store = await PageStore.create(disk, { pageSize: 512, pageCount: 4, journalPages: 16 });
    const sizeAtCreate = await disk.size();
    expect(sizeAtCreate).toBe((2 + 16 + 1 + 4) * 512);
    const counts: number[] = [];
    const written = new Map<number, number>();
    for (let round = 0; round < 7; round++) {
      const tx = store.begin();
      for (let i = 0; i < 12; i++) {
        const page = await tx.allocate(i % 2 === 0 ? 'meta' : 'data');
        const byte = (round * 12 + i) & 0xff;
        if (i % 2 === 0) tx.writeMeta(page, new Uint8Array([byte]));
        else await tx.writeData(page, new Uint8Array(512).fill(byte));
        written.set(page, byte);
      }
      await tx.commit();
      counts.push(store.pageCount);
    }
    // 4 -> 12 -> 24 -> 48 -> 96 (crossing the 60-page group) -> 192.
    expect(counts).toEqual([12, 24, 48, 48, 96, 96, 96]);
    expect(store.stats.growths).toBe(4);
    expect(written.size).toBe(84);
    const again = await reopen(disk);
    expect(again.pageCount).toBe(96);
    for (const [page, byte] of written) {
      expect(again.refCount(page)).toBe(1);
      expect((await readEither(again, page))[0], `page ${page}`).toBe(byte);
    }
    await again.verify();
    // The storage ends at the last user page: page 0 of the fixed part, 2 groups of 60, 96 user pages.
    expect(await disk.size()).toBe((2 + 16 + 2 + 96) * 512);
  });

  test('the layout interleaves a space-map page before every group of user pages', async () => {
    const disk = new MemoryStorage();
    const store = await PageStore.create(disk, { pageSize: 512, pageCount: 130, journalPages: 8 });
    const tx = store.begin();
    await tx.grow(130);
    const pages: number[] = [];
    for (let i = 0; i < 130; i++) pages.push(await tx.allocate('data'));
    for (const page of [0, 59, 60, 119, 120, 129])
      await tx.writeData(page, new Uint8Array(512).fill(page + 1));
    await tx.commit();
    // 512-byte pages: superblocks fill pages 0-1, the journal 2..9; group g starts at 10 + 61 g with
    // its space-map page; user page u sits at 10 + 61 floor(u / 60) + 1 + u mod 60.
    for (const page of [0, 59, 60, 119, 120, 129]) {
      const physical = 10 + 61 * Math.floor(page / 60) + 1 + (page % 60);
      expect((await disk.read(physical * 512, 512))[0]).toBe(page + 1);
    }
  });

  test('an aborted growth vanishes: the old page count, its pages free again, the next growth reuses them', async () => {
    const disk = new MemoryStorage();
    const store = await PageStore.create(disk, { pageSize: 512, pageCount: 2, journalPages: 16 });
    let tx = store.begin();
    await tx.allocate('meta');
    await tx.allocate('meta');
    await tx.commit();
    tx = store.begin();
    const grown = await tx.allocate('data');
    expect(grown).toBe(2);
    expect(tx.pageCount).toBe(10);
    expect(store.pageCount).toBe(2); // committed count unchanged until the commit
    expect(store.freePageCount()).toBe(7); // the open transaction's view: 10 pages, 3 taken
    tx.abort();
    expect(store.pageCount).toBe(2);
    expect(store.freePageCount()).toBe(0);
    expect((await reopen(disk)).pageCount).toBe(2);
    await store.verify();
    tx = store.begin();
    expect(await tx.allocate('meta')).toBe(2);
    await tx.commit();
    expect(store.pageCount).toBe(10);
    const again = await reopen(disk);
    expect(again.pageCount).toBe(10);
    expect(again.refCount(2)).toBe(1);
    await again.verify();
  });

  test('tx.grow: explicit growth, a no-op below the count, ERR_NO_SPACE past maxPageCount, bad arguments', async () => {
    const disk = new MemoryStorage();
    const store = await PageStore.create(disk, {
      pageSize: 1024,
      pageCount: 8,
      maxPageCount: 300,
      journalPages: 8,
    });
    expect(store.maxPageCount).toBe(300);
    const tx = store.begin();
    await tx.grow(4);
    expect(tx.pageCount).toBe(8);
    await tx.grow(250);
    expect(tx.pageCount).toBe(250);
    expect(store.freePageCount()).toBe(250);
    expect(await code(tx.grow(301))).toBe('ERR_NO_SPACE');
    expect(await code(tx.grow(0))).toBe('RangeError');
    expect(await code(tx.grow(2.5))).toBe('RangeError');
    expect(await code(tx.grow('9' as never))).toBe('TypeError');
    await tx.commit(); // a transaction that only grew commits
    expect(store.sequence).toBe(1);
    expect(store.pageCount).toBe(250);
    const again = await reopen(disk);
    expect(again.pageCount).toBe(250);
    expect(again.maxPageCount).toBe(300);
    await again.verify();
  });

  test('maxPageCount: growth stops there and allocate fails with ERR_NO_SPACE', async () => {
    const store = await PageStore.create(new MemoryStorage(), {
      pageSize: 512,
      pageCount: 3,
      maxPageCount: 20,
    });
    const tx = store.begin();
    for (let i = 0; i < 20; i++) await tx.allocate('data');
    expect(tx.pageCount).toBe(20);
    expect(await code(tx.allocate('data'))).toBe('ERR_NO_SPACE');
    await tx.commit();
    expect(store.pageCount).toBe(20);
    expect(store.freePageCount()).toBe(0);
  });

  test('concurrent allocations of one transaction share one growth', async () => {
    const store = await PageStore.create(new MemoryStorage(), {
      pageSize: 512,
      pageCount: 2,
      journalPages: 16,
    });
    const tx = store.begin();
    const pages = await Promise.all(Array.from({ length: 9 }, () => tx.allocate('meta')));
    expect(new Set(pages).size).toBe(9);
    expect(tx.pageCount).toBe(10);
    expect(store.stats.growths).toBe(1);
    await tx.commit();
    await store.verify();
  });

  test('a full medium while growing: ERR_NO_SPACE from allocate, the transaction and the store go on at the old size', async () => {
    const geometry = { pageSize: 512, pageCount: 4, journalPages: 8 };
    const probe = new MemoryStorage();
    await PageStore.create(probe, geometry);
    const disk = new MemoryStorage({ maxSize: (await probe.size()) + 2 * 512 });
    const store = await PageStore.create(disk, geometry);
    const tx = store.begin();
    const pages = [];
    for (let i = 0; i < 4; i++) pages.push(await tx.allocate('meta'));
    tx.writeMeta(pages[0]!, new Uint8Array([5]));
    expect(await code(tx.allocate('meta'))).toBe('ERR_NO_SPACE');
    expect(tx.pageCount).toBe(4);
    await tx.commit(); // what it did before still commits
    expect(store.pageCount).toBe(4);
    expect((await store.readMeta(pages[0]!))[0]).toBe(5);
    await store.verify();
    const again = await PageStore.open(new MemoryStorage({ data: disk.snapshot() }));
    expect(again.pageCount).toBe(4);
    await again.verify();
  });

  test('a failed flush while growing fails the store with ERR_IO (cause: the flush error)', async () => {
    const inner = new MemoryStorage();
    await (await PageStore.create(inner, { pageSize: 512, pageCount: 2, journalPages: 8 })).close();
    let failFlush = false;
    const faulty = await FaultyStorage.wrap(new MemoryStorage({ data: inner.snapshot() }), {
      failWhen: (op) => failFlush && op.kind === 'flush',
    });
    const store = await PageStore.open(faulty);
    const tx = store.begin();
    await tx.allocate('meta');
    await tx.allocate('meta');
    failFlush = true;
    expect(await code(tx.allocate('meta'))).toBe('ERR_IO');
    expect(await code(() => store.begin())).toBe('ERR_IO');
  });

  test('open reads and memory follow the pages in use: a tiny store with the largest maxPageCount', async () => {
    const disk = new MemoryStorage();
    const created = await PageStore.create(disk, { pageSize: 4096, pageCount: 16, journalPages: 64 });
    expect(created.maxPageCount).toBeGreaterThan(4_000_000_000);
    await created.close();
    const counted = await FaultyStorage.wrap(new MemoryStorage({ data: disk.snapshot() }));
    const store = await PageStore.open(counted);
    // Both superblocks (1 read), the journal (64 pages in one batch), one space-map page, then the
    // checkpoint's writes and flushes: a handful of operations, not one per possible page.
    expect(counted.operations).toBeLessThan(10);
    expect(await counted.size()).toBe((1 + 64 + 1 + 16) * 4096);
    expect(store.pageCount).toBe(16);
  });

  test('random transactions on a store that starts at one page: the model after every reopen', async () => {
    let disk = new MemoryStorage();
    let store = await PageStore.create(disk, {
      pageSize: 512,
      pageCount: 1,
      journalPages: 24,
      cachePages: 3,
    });
    let model = emptyModel(1);
    for (let round = 0; round < 6; round++) {
      model = await runTransactions(store, model, 100 + round, 8, {
        maxOps: 10,
        abortRate: 0.2,
        growRate: 0.05,
      });
      await expectState(store, model);
      disk = new MemoryStorage({ data: disk.snapshot() });
      store = await PageStore.open(disk, { cachePages: 3 });
      await expectState(store, model);
    }
    expect(store.pageCount).toBeGreaterThan(60); // more than one space-map group
  });
});

/** A metadata page's payload, or a data page's bytes (readMeta refuses data pages). */
async function readEither(store: PageStore, page: number): Promise<Uint8Array> {
  try {
    return await store.readMeta(page);
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return await store.readData(page);
  }
}
