// allocateMany: the same pages as that many allocate() calls, growing the store as they would;
// a failure gives back what it took.
import { MemoryStorage } from '@deja/storage';
import { describe, expect, test } from 'vitest';
import { PageStore } from '../src/index';

const OPTS = { pageSize: 512, pageCount: 16, journalPages: 32, cachePages: 4 };

describe('PageTransaction.allocateMany', () => {
  test('takes the pages allocate() would, growing the store, durably', async () => {
    const a = await PageStore.create(new MemoryStorage(), OPTS);
    const b = await PageStore.create(new MemoryStorage(), OPTS);
    const ta = a.begin();
    const tb = b.begin();
    const one: number[] = [];
    for (let i = 0; i < 300; i++) one.push(await ta.allocate('data'));
    const many = await tb.allocateMany('data', 300);
    expect(many).toEqual(one);
    expect(tb.pageCount).toBe(ta.pageCount);
    for (const p of many) expect(tb.refCount(p)).toBe(1);
    expect(await tb.allocateMany('meta', 0)).toEqual([]);
    const disk = b.storage as MemoryStorage;
    await tb.commit();
    ta.abort();
    await b.close();
    const again = await PageStore.open(new MemoryStorage({ data: disk.snapshot() }));
    for (const p of many) expect(again.refCount(p)).toBe(1);
    await again.close();
    await a.close();
  });

  test('a failure gives the pages back', async () => {
    const store = await PageStore.create(new MemoryStorage(), { ...OPTS, maxPageCount: 40 });
    const tx = store.begin();
    const before = await tx.allocate('data');
    await expect(tx.allocateMany('data', 100)).rejects.toMatchObject({ code: 'ERR_NO_SPACE' });
    // Only the page taken before is still in use: the commit frees the rest.
    await tx.commit();
    expect(store.pageCount - store.freePageCount()).toBe(1);
    expect(store.refCount(before)).toBe(1);
    const tx2 = store.begin();
    expect((await tx2.allocateMany('data', 39)).length).toBe(39);
    tx2.abort();
    await store.close();
  });

  test('wrong use', async () => {
    const store = await PageStore.create(new MemoryStorage(), OPTS);
    const tx = store.begin();
    await expect(tx.allocateMany('x' as 'data', 1)).rejects.toBeInstanceOf(TypeError);
    await expect(tx.allocateMany('data', -1)).rejects.toBeInstanceOf(RangeError);
    await expect(tx.allocateMany('data', 1.5)).rejects.toBeInstanceOf(RangeError);
    tx.abort();
    await store.close();
  });
});
