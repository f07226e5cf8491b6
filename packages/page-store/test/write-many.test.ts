// writeDataMany: several data pages in one storage writev, the same as writeData of each: contents
// before and after commit and reopen (the data lists' CRCs hold: recovery drops nothing), and
// argument errors with nothing written.
import { MemoryStorage } from '@deja/storage';
import { describe, expect, test } from 'vitest';
import { PageStore } from '../src/index';

const OPTS = { pageSize: 512, pageCount: 64, journalPages: 32, cachePages: 4 };

function pageBytes(seed: number): Uint8Array {
  const out = new Uint8Array(512);
  for (let i = 0; i < out.length; i++) out[i] = (seed * 31 + i * 7) & 0xff;
  return out;
}

describe('PageTransaction.writeDataMany', () => {
  test('writes what writeData of each would, durably', async () => {
    const disk = new MemoryStorage();
    const store = await PageStore.create(disk, OPTS);
    const tx = store.begin();
    const pages: number[] = [];
    for (let i = 0; i < 20; i++) pages.push(await tx.allocate('data'));
    const data = new Uint8Array(20 * 512);
    for (let i = 0; i < 20; i++) data.set(pageBytes(i), i * 512);
    // Out of order and with gaps: page i gets pageBytes(i) whatever its number.
    const order = [5, 0, 19, 3, 4, 6, 7, 1, 2, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18];
    const batch = new Uint8Array(20 * 512);
    for (const [j, k] of order.entries()) batch.set(pageBytes(k), j * 512);
    await tx.writeDataMany(
      order.map((k) => pages[k] as number),
      batch,
    );
    for (let i = 0; i < 20; i++) expect(await tx.readData(pages[i] as number)).toEqual(pageBytes(i));
    await tx.commit();
    await store.close();
    const again = await PageStore.open(new MemoryStorage({ data: disk.snapshot() }));
    for (let i = 0; i < 20; i++) expect(await again.readData(pages[i] as number)).toEqual(pageBytes(i));
    expect(again.recovery.dropped).toBeUndefined();
    await again.close();
  });

  test('wrong use is refused before anything is written', async () => {
    const store = await PageStore.create(new MemoryStorage(), OPTS);
    const tx = store.begin();
    const a = await tx.allocate('data');
    const m = await tx.allocate('meta');
    await expect(tx.writeDataMany([a, m], new Uint8Array(1024))).rejects.toBeInstanceOf(RangeError);
    await expect(tx.writeDataMany([a], new Uint8Array(511))).rejects.toBeInstanceOf(RangeError);
    await expect(tx.writeDataMany([a], [] as unknown as Uint8Array)).rejects.toBeInstanceOf(TypeError);
    expect(await tx.readData(a)).toEqual(new Uint8Array(512));
    await tx.writeDataMany([], new Uint8Array(0));
    tx.abort();
    await store.close();
  });
});

describe('writeDataMany with offsets', () => {
  test('writes each page from where it lies in a larger buffer', async () => {
    const disk = new MemoryStorage();
    const store = await PageStore.create(disk, OPTS);
    const tx = store.begin();
    const pages = await tx.allocateMany('data', 5);
    const big = new Uint8Array(10 * 512);
    for (let i = 0; i < 10; i++) big.set(pageBytes(100 + i), i * 512);
    const at = [9, 0, 4, 7, 2].map((k) => k * 512);
    await tx.writeDataMany(pages, big, at);
    for (const [i, p] of pages.entries())
      expect(await tx.readData(p)).toEqual(pageBytes(100 + (at[i] as number) / 512));
    await expect(tx.writeDataMany(pages, big, at.slice(1))).rejects.toBeInstanceOf(RangeError);
    await expect(tx.writeDataMany(pages.slice(0, 1), big, [9 * 512 + 1])).rejects.toBeInstanceOf(RangeError);
    await tx.commit();
    await store.close();
    const again = await PageStore.open(new MemoryStorage({ data: disk.snapshot() }));
    expect(again.recovery.dropped).toBeUndefined();
    for (const [i, p] of pages.entries())
      expect(await again.readData(p)).toEqual(pageBytes(100 + (at[i] as number) / 512));
    await again.close();
  });
});
