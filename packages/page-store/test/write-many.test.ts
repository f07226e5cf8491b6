// writeDataMany: several data pages in one storage writev, the same as writeData of each: contents
// before and after commit and reopen (the data lists' CRCs hold: recovery drops nothing), and
// argument errors with nothing written.
import { MemoryStorage } from '@deja/storage';
import fc from 'fast-check';
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

describe('writeDataMany runs', () => {
  test('20 neighbouring pages from one buffer are one request', async () => {
    const disk = new MemoryStorage();
    const store = await PageStore.create(disk, { ...OPTS, pageSize: 4096, journalPages: 16 });
    const tx = store.begin();
    const pages = await tx.allocateMany('data', 20);
    expect(pages).toEqual(pages.map((_, i) => (pages[0] as number) + i));
    let requests = 0;
    const writev = disk.writev.bind(disk);
    disk.writev = (reqs) => {
      requests += reqs.length;
      return writev(reqs);
    };
    await tx.writeDataMany(pages, new Uint8Array(20 * 4096).fill(5));
    expect(requests).toBe(1);
    // every other page from every other place: ten requests
    requests = 0;
    const odd = pages.filter((_, i) => i % 2 === 1);
    await tx.writeDataMany(
      odd,
      new Uint8Array(20 * 4096).fill(6),
      odd.map((_, i) => i * 2 * 4096),
    );
    expect(requests).toBe(10);
    tx.abort();
    await store.close();
  });

  test('neighbours on the medium and in the buffer go in one request; any mix reads back right', async () => {
    await fc.assert(
      fc.asyncProperty(
        // which of 150 pages (several space-map groups at 512-byte pages) to write, and where
        // each one's bytes lie: after the previous one's, or somewhere else
        fc.uniqueArray(fc.nat(149), { minLength: 1, maxLength: 60 }),
        fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }),
        fc.boolean(),
        async (picks, follow, sorted) => {
          const disk = new MemoryStorage();
          const store = await PageStore.create(disk, { ...OPTS, pageCount: 160, journalPages: 64 });
          const tx = store.begin();
          const all = await tx.allocateMany('data', 150);
          const chosen = (sorted ? [...picks].sort((a, b) => a - b) : picks).map((i) => all[i] as number);
          const at: number[] = [];
          let next = 0;
          for (let i = 0; i < chosen.length; i++) {
            if (i > 0 && !follow[i]) next += 512 * 3; // a gap in the buffer
            at.push(next);
            next += 512;
          }
          const buf = new Uint8Array(next);
          for (let i = 0; i < chosen.length; i++) buf.set(pageBytes(chosen[i] as number), at[i] as number);
          let requests = 0;
          const writev = disk.writev.bind(disk);
          disk.writev = (reqs) => {
            requests += reqs.length;
            return writev(reqs);
          };
          await tx.writeDataMany(chosen, buf, at);
          disk.writev = writev;
          // never more requests than pages (one per run of neighbours)
          expect(requests).toBeLessThanOrEqual(chosen.length);
          for (const p of chosen) expect(await tx.readData(p)).toEqual(pageBytes(p));
          await tx.commit();
          await store.close();
          const again = await PageStore.open(new MemoryStorage({ data: disk.snapshot() }));
          expect(again.recovery.dropped).toBeUndefined();
          for (const p of chosen) expect(await again.readData(p)).toEqual(pageBytes(p));
          await again.close();
        },
      ),
      { numRuns: 60 },
    );
  });
});
