// PageStore.writeBack: a flush nobody waits for, one at a time, that changes nothing a reader or a
// recovery sees; a failed one makes the next commit fail rather than vanish.
import { MemoryStorage } from '@deja/storage';
import { FaultyStorage } from '@deja/storage/testing';
import { expect, test } from 'vitest';
import { PageStore } from '../src/index';

const OPTS = { pageSize: 512, pageCount: 64, journalPages: 32, cachePages: 4 };

test('starts one flush at a time and leaves the transaction as it was', async () => {
  const disk = new MemoryStorage();
  const store = await PageStore.create(disk, OPTS);
  let flushes = 0;
  const flush = disk.flush.bind(disk);
  disk.flush = () => {
    flushes++;
    return flush();
  };
  const tx = store.begin();
  const pages = await tx.allocateMany('data', 4);
  await tx.writeDataMany(pages, new Uint8Array(4 * 512).fill(7));
  store.writeBack();
  store.writeBack(); // the first is still running: nothing more
  expect(flushes).toBe(1);
  expect(store.stats.writeBacks).toBe(1);
  expect(store.stats.flushes).toBe(0);
  await new Promise((resolve) => setImmediate(resolve));
  store.writeBack(); // the first has finished: another
  expect(flushes).toBe(2);
  expect(await tx.readData(pages[0] as number)).toEqual(new Uint8Array(512).fill(7));
  // Not committed: a reopen of the medium as it is sees none of it.
  const early = await PageStore.open(new MemoryStorage({ data: disk.snapshot() }));
  expect(early.refCount(pages[0] as number)).toBe(0);
  await early.close();
  await tx.commit();
  await store.close();
  const again = await PageStore.open(new MemoryStorage({ data: disk.snapshot() }));
  expect(await again.readData(pages[3] as number)).toEqual(new Uint8Array(512).fill(7));
  await again.close();
});

test('a failed write-back flush fails the next commit; read-only and closed stores ignore it', async () => {
  const disk = new MemoryStorage();
  const base = await PageStore.create(disk, OPTS);
  await base.close();
  let failing = false;
  const faulty = await FaultyStorage.wrap(new MemoryStorage({ data: disk.snapshot() }), {
    failWhen: (op) => failing && op.kind === 'flush',
  });
  const store = await PageStore.open(faulty, { cachePages: 4 });
  const tx = store.begin();
  const [page] = await tx.allocateMany('data', 1);
  await tx.writeData(page as number, new Uint8Array(512).fill(1));
  failing = true;
  store.writeBack();
  failing = false; // only the write-back's flush fails; the commit is refused all the same
  await new Promise((resolve) => setImmediate(resolve));
  await expect(tx.commit()).rejects.toMatchObject({ code: 'ERR_IO' });
  await store.close();

  const ro = await PageStore.open(new MemoryStorage({ data: disk.snapshot(), readOnly: true }));
  ro.writeBack();
  expect(ro.stats.writeBacks).toBe(0);
  await ro.close();
  const closed = await PageStore.open(new MemoryStorage({ data: disk.snapshot() }));
  await closed.close();
  closed.writeBack();
  expect(closed.stats.writeBacks).toBe(0);
});
