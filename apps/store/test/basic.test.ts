import { MemoryStorage } from '@deja/storage';
import { describe, expect, test } from 'vitest';
import { isStoreError, Store } from '../src/index';
import { expectBytes, LIVE, MemStore } from './_helpers';

describe('Store basics', () => {
  test('writes, reads, dedups, snapshots, diffs, deletes', async () => {
    const m = await MemStore.create({ size: 64 * 1024, chunkSize: 4096 });
    const s = m.store;
    const a = new Uint8Array(4096).fill(7);
    await s.write(0, a);
    await s.write(4096, a);
    await s.write(8192 + 100, new Uint8Array([1, 2, 3]));
    expectBytes(await s.read(0, 4096), a, 'chunk 0');
    expect((await s.read(8192 + 99, 5)).join()).toBe('0,1,2,3,0');
    let st = await s.stats();
    expect(st.mappedChunks).toBe(3);
    expect(st.distinctChunks).toBe(2);
    await s.createSnapshot('one');
    await s.write(0, new Uint8Array(4096).fill(9));
    expectBytes(await s.volume('one').read(0, 4096), a, 'snapshot keeps old');
    expect((await s.read(0, 1))[0]).toBe(9);
    expect(await s.diff('one', LIVE)).toEqual([{ offset: 0, length: 4096 }]);
    expect(await s.changedSinceSnapshot()).toEqual([{ offset: 0, length: 4096 }]);
    const usage = await s.snapshotUsage('one');
    expect(usage.exclusiveBytes).toBe(0); // chunk 0's old content is still live in chunk 1
    expect((await s.check()).problems).toEqual([]);
    await m.reopen();
    expectBytes(await m.store.volume('one').read(0, 4096), a, 'after reopen');
    expect(m.store.listSnapshots().map((x) => x.name)).toEqual(['one']);
    await m.store.deleteSnapshot('one');
    expect(m.store.listSnapshots()).toEqual([]);
    st = await m.store.stats();
    expect(st.distinctChunks).toBe(3);
    expect((await m.store.check()).problems).toEqual([]);
    const err = await m.store
      .volume('nope')
      .read(0, 1)
      .catch((e) => e);
    expect(isStoreError(err, 'ERR_NOT_FOUND')).toBe(true);
    const range = await m.store.read(64 * 1024, 1).catch((e) => e);
    expect(isStoreError(range, 'ERR_OUT_OF_RANGE')).toBe(true);
    await m.store.close();
  });
});

describe('dedup advice is never trusted blindly', () => {
  test('a freed and reused chunk is not shared under its old name', async () => {
    // A small page layer, so the next-fit allocator wraps around to P soon.
    const m = await MemStore.create({ size: 16 * 4096, chunkSize: 4096, initialPages: 48 });
    const s = m.store;
    const a = new Uint8Array(4096).fill(1);
    await s.write(0, a); // chunk A stored at some page P; the index learns A -> P
    await s.flush();
    await s.discard(0, 4096); // P freed
    await s.flush(); // reusable from here on
    // New chunks (and metadata) reuse free pages, P among them.
    const others: Uint8Array[] = [];
    for (let round = 0; round < 3; round++) {
      for (let c = 1; c < 15; c++) {
        const d = new Uint8Array(4096).fill(c + 10 * round);
        d[0] = c;
        others[c - 1] = d;
        await s.write(c * 4096, d);
      }
      await s.flush();
    }
    await s.write(15 * 4096, a); // the index still says A -> P: P is in use by something else now
    expectBytes(await s.read(15 * 4096, 4096), a, 'chunk 15');
    for (let c = 1; c < 15; c++)
      expectBytes(await s.read(c * 4096, 4096), others[c - 1] as Uint8Array, `chunk ${c}`);
    expect((await s.check({ data: true })).problems).toEqual([]);
    await s.close();
  });
});

describe('closing and aborting', () => {
  test('close({ discard: true }) leaves the store at its last flush', async () => {
    const m = await MemStore.create({ size: 8 * 4096, chunkSize: 4096 });
    await m.store.write(0, new Uint8Array(4096).fill(1));
    await m.store.createSnapshot('a');
    await m.store.flush();
    await m.store.write(0, new Uint8Array(4096).fill(2));
    await m.store.write(4096, new Uint8Array(4096).fill(3));
    await m.store.close({ discard: true });
    const { Store } = await import('../src/index');
    const { MemoryStorage } = await import('@deja/storage');
    const again = await Store.open({
      data: new MemoryStorage({ data: m.data.snapshot() }),
      index: new MemoryStorage({ data: m.index.snapshot() }),
    });
    expect((await again.read(0, 1))[0]).toBe(1);
    expect((await again.read(4096, 1))[0]).toBe(0);
    expect((await again.check({ data: true })).problems).toEqual([]);
    await again.close();
  });

  test('an aborted import or export is ERR_ABORTED and changes nothing', async () => {
    const { exportVersion, importImage } = await import('../src/index');
    const { PassThrough, Readable } = await import('node:stream');
    const m = await MemStore.create({ size: 0, chunkSize: 4096 });
    const signal = AbortSignal.abort();
    const err = await importImage(m.store, Readable.from([new Uint8Array(4096).fill(7)]), { signal }).catch(
      (e) => e,
    );
    expect(isStoreError(err, 'ERR_ABORTED')).toBe(true);
    expect(m.store.size).toBe(0);
    const err2 = await exportVersion(m.store, '@live', new PassThrough(), { signal }).catch((e) => e);
    expect(isStoreError(err2 ?? { code: 'none' }, 'ERR_ABORTED') || err2 === 0).toBe(true);
    await m.store.close();
  });
});

describe('the dedup index follows the volume', () => {
  test('sized by the volume, it is rebuilt larger when the volume grows, and keeps its names', async () => {
    const m = await MemStore.create({ size: 0, chunkSize: 512 });
    const s = m.store;
    const a = new Uint8Array(512).fill(3);
    await s.resize(4096);
    await s.write(0, a);
    expect((await s.stats()).indexRecords).toBe(65536);
    await s.resize(100_000 * 512);
    const st = await s.stats();
    expect(st.indexRecords).toBeGreaterThanOrEqual(200_000);
    // The rebuilt index still knows the chunk stored before: a copy shares it.
    await s.write(90_000 * 512, a);
    expect((await s.stats()).distinctChunks).toBe(1);
    await m.reopen();
    expect((await m.store.stats()).indexRecords).toBe(st.indexRecords);
    expect((await m.store.check({ data: true })).problems).toEqual([]);
    await m.store.close();
  });

  test('a size the user chose stays', async () => {
    const m = await MemStore.create({ size: 4096, chunkSize: 512, index: { records: 1000 } });
    await m.store.resize(100_000 * 512);
    expect((await m.store.stats()).indexRecords).toBeLessThan(2000);
    await m.reopen();
    expect((await m.store.stats()).indexRecords).toBeLessThan(2000);
    await m.store.close();
  });
});

describe('the generation', () => {
  test('moves with every mutation, not with reads', async () => {
    const m = await MemStore.create({ size: 64 * 1024, chunkSize: 4096 });
    const s = m.store;
    const g0 = s._generation;
    await s.read(0, 4096);
    await s.stats();
    expect(s._generation).toBe(g0);
    await s.write(0, new Uint8Array(4096).fill(1));
    const g1 = s._generation;
    expect(g1).toBeGreaterThan(g0);
    await s.createSnapshot('a');
    expect(s._generation).toBeGreaterThan(g1);
    const g2 = s._generation;
    await s.volume('a').read(0, 10);
    await s.volume('a').write(0, new Uint8Array(10));
    expect(s._generation).toBeGreaterThan(g2);
    await s.close();
  });
});

describe('the dedup index is opened when a write needs it', () => {
  test('snapshot commands leave it untouched; the first write opens it and dedups', async () => {
    const m = await MemStore.create({ size: 16 * 4096, chunkSize: 4096 });
    const a = new Uint8Array(4096).fill(5);
    await m.store.write(0, a);
    await m.store.close();
    let indexOps = 0;
    const counted = (image: Uint8Array) => {
      const storage = new MemoryStorage({ data: image });
      for (const op of ['read', 'write', 'readv', 'writev', 'flush'] as const) {
        const original = (storage[op] as (...args: unknown[]) => Promise<unknown>).bind(storage);
        (storage as unknown as Record<string, unknown>)[op] = (...args: unknown[]) => {
          indexOps++;
          return original(...args);
        };
      }
      return storage;
    };
    const data = new MemoryStorage({ data: m.data.snapshot() });
    let store = await Store.open({ data, index: counted(m.index.snapshot()) });
    await store.createSnapshot('s');
    await store.deleteSnapshot('s');
    await store.check();
    await store.close();
    expect(indexOps).toBe(0);
    const index = counted(m.index.snapshot());
    store = await Store.open({ data: new MemoryStorage({ data: data.snapshot() }), index });
    await store.write(4096, a);
    expect(indexOps).toBeGreaterThan(0);
    expect((await store.stats()).distinctChunks).toBe(1);
    await store.close();
  });
});

describe('who closes what', () => {
  test('adapters handed in stay open; owned ones are closed, also when opening fails', async () => {
    const data = new MemoryStorage();
    const index = new MemoryStorage();
    const store = await Store.create({ data, index }, { size: 4096 });
    await store.close();
    expect(data.closed || index.closed).toBe(false);
    const owned = await Store.open({ data, index, owned: true });
    await owned.close();
    expect(data.closed && index.closed).toBe(true);
    const junk = new MemoryStorage({ data: new Uint8Array(8192).fill(7) });
    await expect(Store.open({ data: junk })).rejects.toBeDefined();
    expect(junk.closed).toBe(false);
    await expect(Store.open({ data: junk, owned: true })).rejects.toBeDefined();
    expect(junk.closed).toBe(true);
  });
});
