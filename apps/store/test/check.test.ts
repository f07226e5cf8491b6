// check() finds damaged reference counts and leaked pages and says where; repair fixes them and
// rebuilds the dedup index. Errors for a full device and for bad snapshot names.
import { PageStore } from '@deja/page-store';
import { MemoryStorage } from '@deja/storage';
import { describe, expect, test } from 'vitest';
import { isStoreError, LIVE, Store } from '../src/index';
import { content, expectBytes, prng } from './_helpers';

async function filled(data: MemoryStorage, index: MemoryStorage): Promise<Uint8Array> {
  const store = await Store.create({ data, index }, { size: 64 * 1024, chunkSize: 1024, initialPages: 512 });
  const rand = prng(5);
  const model = new Uint8Array(64 * 1024);
  for (let i = 0; i < 40; i++) {
    const off = Math.floor(rand() * 60 * 1024);
    const d = content(rand, 1 + Math.floor(rand() * 3000), 3);
    await store.write(off, d);
    model.set(d, off);
  }
  await store.createSnapshot('snap');
  await store.write(0, new Uint8Array(5000).fill(9));
  model.fill(9, 0, 5000);
  await store.close();
  return model;
}

describe('check and repair', () => {
  test('a wrong reference count and a leaked page are found, named and repaired', async () => {
    let data = new MemoryStorage();
    let index = new MemoryStorage();
    const model = await filled(data, index);
    // Damage the counts behind the store's back, through the page layer.
    const pages = await PageStore.open(new MemoryStorage({ data: data.snapshot() }));
    const tx = pages.begin();
    let shared = -1;
    for (let p = 0; p < pages.pageCount && shared < 0; p++) if (pages.refCount(p) === 1 && p > 40) shared = p;
    tx.incRef(shared);
    const leaked = await tx.allocate('data');
    await tx.writeData(leaked, new Uint8Array(1024).fill(1));
    await tx.commit();
    const damaged = (pages.storage as MemoryStorage).snapshot();
    await pages.close();
    data = new MemoryStorage({ data: damaged });
    index = new MemoryStorage({ data: index.snapshot() });
    const store = await Store.open({ data, index });
    const report = await store.check();
    expect(report.ok).toBe(false);
    const kinds = report.problems.map((p) => `${p.kind}@${p.page}`);
    expect(kinds).toContain(`leak@${leaked}`);
    expect(report.problems.some((p) => p.page === shared)).toBe(true);
    const fixed = await store.check({ repair: true });
    expect(fixed.repaired).toBeGreaterThan(0);
    const after = await store.check({ data: true });
    expect(after.problems).toEqual([]);
    expectBytes(await store.read(0, model.length), model, 'live after repair');
    await store.close();
  });

  test('a full device is ERR_NO_SPACE; the store then opens at its last flush', async () => {
    const data = new MemoryStorage({ maxSize: 400 * 1024 });
    const store = await Store.create(
      { data, index: new MemoryStorage() },
      { size: 4 << 20, chunkSize: 1024, journalPages: 64 },
    );
    const rand = prng(8);
    await store.write(0, new Uint8Array(1024).fill(4));
    await store.flush();
    let err: unknown;
    for (let i = 0; i < 2000 && err === undefined; i++) {
      err = await store.write((i + 1) * 1024, content(rand, 1024, 1000)).catch((e) => e);
    }
    expect(isStoreError(err, 'ERR_NO_SPACE'), String(err)).toBe(true);
    const next = await store.write(0, new Uint8Array(10)).catch((e) => e);
    expect(isStoreError(next)).toBe(true);
    await store.close().catch(() => {});
    const again = await Store.open({
      data: new MemoryStorage({ data: data.snapshot() }),
      index: new MemoryStorage(),
    });
    expect((await again.read(0, 1024))[5]).toBe(4);
    expect((await again.check()).problems).toEqual([]);
    await again.close();
  });

  test('snapshot names: duplicates, unknown, reserved, too long', async () => {
    const store = await Store.create(
      { data: new MemoryStorage(), index: new MemoryStorage() },
      { size: 8192, initialPages: 64 },
    );
    await store.createSnapshot('a');
    expect(isStoreError(await store.createSnapshot('a').catch((e) => e), 'ERR_EXISTS')).toBe(true);
    expect(isStoreError(await store.deleteSnapshot('b').catch((e) => e), 'ERR_NOT_FOUND')).toBe(true);
    expect(isStoreError(await store.rollback('b').catch((e) => e), 'ERR_NOT_FOUND')).toBe(true);
    expect(await store.createSnapshot(LIVE).catch((e) => e)).toBeInstanceOf(RangeError);
    expect(await store.createSnapshot('x'.repeat(65)).catch((e) => e)).toBeInstanceOf(RangeError);
    expect(await store.read(-1, 1).catch((e) => e)).toBeInstanceOf(RangeError);
    // The store is still usable after refusals.
    await store.write(0, new Uint8Array([1]));
    expect((await store.read(0, 1))[0]).toBe(1);
    await store.close();
  });
});
