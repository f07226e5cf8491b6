// PageStore unit and property tests: options, the transaction API and its misuse, reference
// counts and free-page reuse rules, roots and user data, transactions larger than the cache and
// than the journal, a nearly full store, read-only opens, a failed flush, real files, and random
// transactions against the model with reopens and a full verify() after every step.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStorage, type Storage } from '@deja/storage';
import { FaultyStorage } from '@deja/storage/testing';
import { FileStorage } from '@deja/storage-file';
import { splitmix32 } from '@deja/test-helpers';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { PageStore } from '../src/index';
import { emptyModel, expectBytes, expectState, randomTransaction, runTransactions } from './_page-model';

const dir = fs.mkdtempSync(join(tmpdir(), 'deja-pagestore-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SMALL = { pageSize: 512, pageCount: 64, journalPages: 32, cachePages: 4 };

async function small(
  options: Partial<typeof SMALL> & { maxPageCount?: number } = {},
): Promise<{ disk: MemoryStorage; store: PageStore }> {
  const disk = new MemoryStorage();
  const store = await PageStore.create(disk, { ...SMALL, ...options });
  return { disk, store };
}

/** Reopens a store from a copy of its medium (the store is left as it was: not closed, not checkpointed). */
async function reopen(disk: MemoryStorage, cachePages = 4, readOnly = false): Promise<PageStore> {
  return PageStore.open(new MemoryStorage({ data: disk.snapshot(), readOnly }), { cachePages });
}

function payload(byte: number, length = 16): Uint8Array {
  return new Uint8Array(length).fill(byte);
}

async function code(promise: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).name;
  }
  return undefined;
}

describe('PageStore.create / open', () => {
  test('defaults: 4 KiB pages, a journal of 1024 pages, 16 pages on an empty storage, empty state', async () => {
    const empty = new MemoryStorage();
    const small = await PageStore.create(empty);
    expect(small.pageSize).toBe(4096);
    expect(small.metaPayloadSize).toBe(4096 - 32);
    expect(small.userDataSize).toBe(254);
    expect(small.journalPages).toBe(1024);
    expect(small.pageCount).toBe(16);
    // Page 0 (both superblocks), the journal, one space-map page, 16 user pages.
    expect(await empty.size()).toBe((1 + 1024 + 1 + 16) * 4096);
    expect(small.maxPageCount).toBe(0xffffffff - 1025 - Math.ceil((0xffffffff - 1025) / 509));
    // A sized storage: the largest page count that fits. 8 MiB = 2048 pages: page 0, 1024 journal
    // pages, then 3 groups of a space-map page and up to 508 user pages: 1020 user pages.
    const disk = new MemoryStorage({ data: new Uint8Array(8 << 20) });
    const store = await PageStore.create(disk);
    expect(store.pageCount).toBe(1020);
    expect(store.sequence).toBe(0);
    expect(store.freePageCount()).toBe(store.pageCount);
    expect(store.getUserData()).toEqual(new Uint8Array(0));
    expect(store.getRoot('tree')).toBeUndefined();
    expect(await disk.size()).toBe(8 << 20);
    expect(store.recovery).toMatchObject({ replayed: 0, sequence: 0, dropped: undefined });
    await store.verify();
  });

  test('with pageCount the storage grows to fit', async () => {
    const { disk, store } = await small();
    // superblocks (two 512-byte pages), journal, two space-map pages of 60 entries, the user pages
    expect(await disk.size()).toBe((2 + 32 + 2 + 64) * 512);
    const big = new MemoryStorage();
    await PageStore.create(big, { pageSize: 4096, pageCount: 64, journalPages: 16 });
    expect(await big.size()).toBe((1 + 16 + 1 + 64) * 4096); // both superblocks share page 0
    expect(store.pageCount).toBe(64);
    const again = await reopen(disk);
    expect(again.pageCount).toBe(64);
    expect(again.pageSize).toBe(512);
    expect(again.journalPages).toBe(32);
  });

  test('bad options are TypeError/RangeError; a read-only storage is ERR_READ_ONLY', async () => {
    const disk = () => new MemoryStorage();
    // A non-empty storage too small for the journal and one page, without pageCount.
    expect(await code(PageStore.create(new MemoryStorage({ data: new Uint8Array(8192) })))).toBe(
      'RangeError',
    );
    expect(await code(PageStore.create(disk(), { pageCount: 9, maxPageCount: 8 }))).toBe('RangeError');
    expect(await code(PageStore.create(disk(), { maxPageCount: 0xffffffff }))).toBe('RangeError');
    for (const pageSize of [256, 1000, 131072, 4096.5]) {
      expect(await code(PageStore.create(disk(), { pageSize, pageCount: 8 }))).toBe('RangeError');
    }
    expect(await code(PageStore.create(disk(), { pageSize: '4096' as never, pageCount: 8 }))).toBe(
      'TypeError',
    );
    expect(await code(PageStore.create(disk(), { pageCount: 0 }))).toBe('RangeError');
    expect(await code(PageStore.create(disk(), { pageCount: 8, cachePages: 1 }))).toBe('RangeError');
    expect(await code(PageStore.create(disk(), { pageCount: 8, journalPages: 4 }))).toBe('RangeError');
    expect(await code(PageStore.create(new MemoryStorage({ readOnly: true }), { pageCount: 8 }))).toBe(
      'ERR_READ_ONLY',
    );
    expect(await code(PageStore.open(disk(), { cachePages: 0 }))).toBe('RangeError');
  });

  test('opening something that is not a page store is ERR_CORRUPT_DATA', async () => {
    expect(await code(PageStore.open(new MemoryStorage()))).toBe('ERR_CORRUPT_DATA');
    expect(await code(PageStore.open(new MemoryStorage({ data: new Uint8Array(70000).fill(7) })))).toBe(
      'ERR_CORRUPT_DATA',
    );
  });
});

describe('transactions', () => {
  test('allocate, write, read your writes, commit, read committed, survive reopen', async () => {
    const { disk, store } = await small();
    const tx = store.begin();
    expect(tx.id).toBe(1);
    const meta = await tx.allocate('meta');
    const data = await tx.allocate('data');
    expect(await tx.readMeta(meta)).toEqual(new Uint8Array(store.metaPayloadSize)); // never written: zeros
    tx.writeMeta(meta, payload(0xab));
    await tx.writeData(data, new Uint8Array(512).fill(0xcd));
    tx.setRoot('tree', meta);
    tx.setUserData(payload(1, 5));
    expect((await tx.readMeta(meta)).subarray(0, 17)).toEqual(Uint8Array.from([...payload(0xab), 0]));
    expect(tx.refCount(meta)).toBe(1);
    expect(store.refCount(meta)).toBe(0); // not committed yet
    expect(store.getRoot('tree')).toBeUndefined();
    await tx.commit();
    expect(store.sequence).toBe(1);
    expect(store.refCount(meta)).toBe(1);
    expect((await store.readMeta(meta)).subarray(0, 16)).toEqual(payload(0xab));
    expect(await store.readData(data)).toEqual(new Uint8Array(512).fill(0xcd));
    expect(store.getRoot('tree')).toBe(meta);
    expect(store.getUserData()).toEqual(payload(1, 5));
    const again = await reopen(disk);
    expect(again.sequence).toBe(1);
    expect((await again.readMeta(meta)).subarray(0, 16)).toEqual(payload(0xab));
    expect(await again.readData(data)).toEqual(new Uint8Array(512).fill(0xcd));
    expect(again.getRoot('tree')).toBe(meta);
    expect(again.getUserData()).toEqual(payload(1, 5));
    await again.verify();
  });

  test('a commit is one flush; an empty transaction commits without I/O', async () => {
    const { store } = await small({ journalPages: 64 });
    const tx = store.begin();
    tx.writeMeta(await tx.allocate('meta'), payload(1));
    const before = store.stats.flushes;
    await tx.commit();
    expect(store.stats.flushes - before).toBe(1);
    const empty = store.begin();
    await empty.commit();
    expect(store.stats.flushes - before).toBe(1);
    expect(store.sequence).toBe(1);
  });

  test('one writer: a second begin() is ERR_BUSY until commit or abort', async () => {
    const { store } = await small();
    const tx = store.begin();
    expect(await code(() => store.begin())).toBe('ERR_BUSY');
    tx.abort();
    const next = store.begin();
    expect(await code(() => store.begin())).toBe('ERR_BUSY');
    await next.commit();
    store.begin().abort();
  });

  test('a finished transaction and a closed store refuse calls with ERR_CLOSED', async () => {
    const { store } = await small();
    const tx = store.begin();
    const page = await tx.allocate('meta');
    await tx.commit();
    expect(tx.finished).toBe(true);
    expect(await code(() => tx.writeMeta(page, payload(1)))).toBe('ERR_CLOSED');
    expect(await code(tx.allocate('meta'))).toBe('ERR_CLOSED');
    expect(await code(tx.commit())).toBe('ERR_CLOSED');
    tx.abort(); // harmless
    await store.close();
    await store.close();
    expect(await code(store.readMeta(page))).toBe('ERR_CLOSED');
    expect(await code(() => store.begin())).toBe('ERR_CLOSED');
  });

  test('wrong use is TypeError/RangeError', async () => {
    const { store } = await small();
    const tx = store.begin();
    const meta = await tx.allocate('meta');
    const data = await tx.allocate('data');
    expect(await code(tx.allocate('index' as never))).toBe('TypeError');
    expect(await code(() => tx.writeMeta(data, payload(1)))).toBe('TypeError');
    expect(await code(() => tx.writeMeta(meta, new Uint8Array(store.metaPayloadSize + 1)))).toBe(
      'RangeError',
    );
    expect(await code(() => tx.writeMeta(meta, [1, 2] as never))).toBe('TypeError');
    expect(await code(tx.writeData(meta, new Uint8Array(512)))).toBe('RangeError');
    expect(await code(tx.writeData(data, new Uint8Array(511)))).toBe('RangeError');
    expect(await code(tx.readMeta(5))).toBe('RangeError'); // free
    expect(await code(tx.readMeta(64))).toBe('RangeError'); // outside
    expect(await code(tx.readMeta(-1))).toBe('RangeError');
    expect(await code(tx.readMeta('1' as never))).toBe('TypeError');
    expect(await code(() => tx.incRef(7))).toBe('RangeError');
    expect(await code(() => tx.decRef(7))).toBe('RangeError');
    expect(await code(() => tx.setRoot('', meta))).toBe('RangeError');
    expect(await code(() => tx.setRoot('a-name-longer-than-16', meta))).toBe('RangeError');
    expect(await code(() => tx.setRoot('nul\0', meta))).toBe('RangeError');
    expect(await code(() => tx.setRoot('tree', 64))).toBe('RangeError');
    expect(await code(() => tx.setUserData(new Uint8Array(store.userDataSize + 1)))).toBe('RangeError');
    expect(await code(store.readMeta(meta))).toBe('RangeError'); // not committed yet
    expect(await code(store.readData(data))).toBe('RangeError');
    expect(await code(() => store.refCount(1.5))).toBe('RangeError');
    await tx.commit();
    const next = store.begin();
    expect(await code(next.writeData(data, new Uint8Array(512)))).toBe('RangeError'); // not allocated in it
    next.abort();
  });

  test('abort drops everything; pages it allocated are free again', async () => {
    const { store } = await small();
    const tx = store.begin();
    const page = await tx.allocate('meta');
    tx.writeMeta(page, payload(3));
    tx.setRoot('tree', page);
    expect(store.freePageCount()).toBe(63);
    tx.abort();
    expect(store.freePageCount()).toBe(64);
    expect(store.sequence).toBe(0);
    expect(store.getRoot('tree')).toBeUndefined();
    const next = store.begin();
    // Metadata is packed first fit (the lowest free page of its region); data goes next fit.
    expect(await next.allocate('meta')).toBe(page);
    const data = await next.allocate('data');
    expect(await next.allocate('data')).toBe(data + 1);
    next.abort();
  });

  test('reference counts: shared pages, free at zero, reusable only after the commit', async () => {
    const { disk, store } = await small({ pageCount: 4, journalPages: 16, maxPageCount: 4 });
    let tx = store.begin();
    const pages = [];
    for (let i = 0; i < 4; i++) pages.push(await tx.allocate('data'));
    expect(pages).toEqual([0, 1, 2, 3]);
    expect(await code(tx.allocate('meta'))).toBe('ERR_NO_SPACE');
    tx.incRef(2);
    tx.incRef(2);
    await tx.commit();
    expect(store.refCount(2)).toBe(3);
    expect(store.freePageCount()).toBe(0);

    tx = store.begin();
    tx.decRef(1);
    tx.decRef(2);
    expect(tx.refCount(1)).toBe(0);
    expect(store.refCount(1)).toBe(1);
    expect(await code(tx.allocate('data'))).toBe('ERR_NO_SPACE'); // freed, but not yet committed
    expect(await code(tx.readData(1))).toBe('RangeError');
    await tx.commit();
    expect(store.refCount(1)).toBe(0);
    expect(store.refCount(2)).toBe(2);
    expect(store.freePageCount()).toBe(1);

    tx = store.begin();
    expect(await tx.allocate('meta')).toBe(1);
    tx.abort();
    const again = await reopen(disk);
    expect([0, 1, 2, 3].map((p) => again.refCount(p))).toEqual([1, 0, 2, 1]);
    await again.verify();
  });

  test('roots: at most 8 names, cleared with undefined, kept across reopen', async () => {
    const { disk, store } = await small();
    const tx = store.begin();
    for (let i = 0; i < 8; i++) tx.setRoot(`root-${i}`, i);
    expect(await code(() => tx.setRoot('ninth', 1))).toBe('RangeError');
    tx.setRoot('root-3', 33); // replacing an existing name is fine
    tx.setRoot('root-0', undefined);
    tx.setRoot('ünïcödé', 9);
    expect(tx.getRoot('root-3')).toBe(33);
    await tx.commit();
    const again = await reopen(disk);
    expect(again.roots()).toEqual(
      new Map([...[1, 2, 4, 5, 6, 7].map((i) => [`root-${i}`, i] as const), ['root-3', 33], ['ünïcödé', 9]]),
    );
    expect(again.getRoot('root-0')).toBeUndefined();
  });

  test('user data up to userDataSize bytes', async () => {
    const { disk, store } = await small();
    const bytes = Uint8Array.from({ length: store.userDataSize }, (_, i) => i * 7);
    const tx = store.begin();
    tx.setUserData(bytes);
    bytes[0] = 99; // copied
    expect(tx.getUserData()[0]).toBe(0);
    await tx.commit();
    const again = await reopen(disk);
    expect(again.getUserData()).toEqual(Uint8Array.from({ length: store.userDataSize }, (_, i) => i * 7));
  });

  test('a transaction larger than the cache spills to the journal and still reads its own writes', async () => {
    const { disk, store } = await small({ pageCount: 200, journalPages: 120, cachePages: 2 });
    const tx = store.begin();
    const pages: number[] = [];
    for (let i = 0; i < 50; i++) {
      const page = await tx.allocate('meta');
      tx.writeMeta(page, payload(i + 1));
      pages.push(page);
    }
    expect(store.stats.journalWrites).toBe(48); // all but the cache's worth went out before commit
    tx.writeMeta(pages[0]!, payload(200)); // rewrite of a spilled page: same journal slot
    for (const [i, page] of pages.entries()) {
      expect((await tx.readMeta(page))[0]).toBe(i === 0 ? 200 : i + 1);
    }
    await tx.commit();
    for (const [i, page] of pages.entries()) {
      expect((await store.readMeta(page))[0]).toBe(i === 0 ? 200 : i + 1);
    }
    const again = await reopen(disk, 2);
    for (const [i, page] of pages.entries()) {
      expect((await again.readMeta(page))[0]).toBe(i === 0 ? 200 : i + 1);
    }
    await again.verify();
  });

  test('a transaction larger than the journal is ERR_NO_SPACE and changes nothing', async () => {
    const { store } = await small({ pageCount: 64, journalPages: 16, cachePages: 2 });
    const first = store.begin();
    first.writeMeta(await first.allocate('meta'), payload(1));
    await first.commit();
    const tx = store.begin();
    for (let i = 0; i < 20; i++) tx.writeMeta(await tx.allocate('meta'), payload(i));
    expect(await code(tx.commit())).toBe('ERR_NO_SPACE');
    expect(store.sequence).toBe(1);
    expect(store.freePageCount()).toBe(63);
    const next = store.begin();
    next.writeMeta(await next.allocate('meta'), payload(9));
    await next.commit();
    expect(store.sequence).toBe(2);
    await store.verify();
  });

  test('a nearly full store finds its last free pages', async () => {
    const { disk, store } = await small({
      pageCount: 5000,
      journalPages: 200,
      cachePages: 8,
      maxPageCount: 5000,
    });
    let tx = store.begin();
    for (let i = 0; i < 5000; i++) await tx.allocate('data');
    await tx.commit();
    expect(store.freePageCount()).toBe(0);
    tx = store.begin();
    for (const page of [4321, 17, 2500]) tx.decRef(page);
    await tx.commit();
    tx = store.begin();
    const found = [await tx.allocate('meta'), await tx.allocate('meta'), await tx.allocate('meta')];
    expect(found.sort((a, b) => a - b)).toEqual([17, 2500, 4321]);
    expect(await code(tx.allocate('meta'))).toBe('ERR_NO_SPACE');
    await tx.commit();
    const again = await reopen(disk, 8);
    expect(again.freePageCount()).toBe(0);
    await again.verify();
  });

  test('a read-only open replays the journal in memory and refuses transactions', async () => {
    const { disk, store } = await small({ journalPages: 64 });
    const tx = store.begin();
    const page = await tx.allocate('meta');
    tx.writeMeta(page, payload(5));
    await tx.commit();
    const sizeBefore = disk.snapshot();
    const readOnly = await reopen(disk, 4, true);
    expect(readOnly.sequence).toBe(1);
    expect((await readOnly.readMeta(page))[0]).toBe(5);
    expect(await code(() => readOnly.begin())).toBe('ERR_READ_ONLY');
    expect(disk.snapshot()).toEqual(sizeBefore);
  });

  test('committed reads during a commit see the old or the new state, never a mix', async () => {
    const { store } = await small({ cachePages: 2 });
    let tx = store.begin();
    const pages = [];
    for (let i = 0; i < 6; i++) {
      const page = await tx.allocate('meta');
      tx.writeMeta(page, payload(1));
      pages.push(page);
    }
    await tx.commit();
    for (let round = 2; round < 12; round++) {
      tx = store.begin();
      for (const page of pages) tx.writeMeta(page, payload(round));
      const commit = tx.commit();
      const reads = await Promise.all(pages.map((page) => store.readMeta(page)));
      await commit;
      for (const read of reads) expect([round - 1, round]).toContain(read[0]);
    }
  });

  test('a failed flush fails the commit and the store; the image holds the old or the new state', async () => {
    const disk = new MemoryStorage();
    const setup = await PageStore.create(disk, SMALL);
    const t = setup.begin();
    t.writeMeta(await t.allocate('meta'), payload(1));
    await t.commit();
    const image = disk.snapshot();
    const inner = new MemoryStorage({ data: image });
    let failNextFlush = false;
    const faulty = await FaultyStorage.wrap(inner, {
      failWhen: (op) => failNextFlush && op.kind === 'flush',
    });
    const store = await PageStore.open(faulty, { cachePages: 4 });
    const tx = store.begin();
    tx.writeMeta(0, payload(2));
    failNextFlush = true;
    expect(await code(tx.commit())).toBe('ERR_IO');
    expect(await code(() => store.begin())).toBe('ERR_IO');
    await store.close();
    const after = await PageStore.open(new MemoryStorage({ data: inner.snapshot() }));
    expect([1, 2]).toContain((await after.readMeta(0))[0]);
  });

  test('FileStorage: commits survive close and reopen', async () => {
    const path = join(dir, 'store.img');
    const file = await FileStorage.open(path, { create: true });
    const store = await PageStore.create(file, { pageSize: 4096, pageCount: 256 });
    const model = await runTransactions(store, emptyModel(), 3, 12, { maxOps: 10, abortRate: 0.1 });
    await expectState(store, model);
    await store.close();
    expect(file.closed).toBe(false); // the store leaves its storage to the caller
    await file.close();
    {
      await using again = await FileStorage.open(path);
      await using reopened = await PageStore.open(again);
      await expectState(reopened, model);
    }
    // Both were disposed (store first, then its storage), so the file opens again.
    await (await FileStorage.open(path)).close();
  });
});

describe('property: random transactions against the model', () => {
  test('every step: the store equals the model, verify() passes; reopens in between', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.constantFrom(512, 1024, 4096),
        fc.integer({ min: 2, max: 6 }),
        async (seed, pageSize, cachePages) => {
          let disk: Storage = new MemoryStorage();
          let store = await PageStore.create(disk, { pageSize, pageCount: 48, journalPages: 24, cachePages });
          const random = splitmix32(seed);
          let model = emptyModel();
          for (let step = 0; step < 12; step++) {
            model =
              (await randomTransaction(store, model, random, { maxOps: 8, abortRate: 0.2 }, () => {})) ??
              model;
            await expectState(store, model);
            if (random() % 4 === 0) {
              disk = new MemoryStorage({ data: (disk as MemoryStorage).snapshot() });
              store = await PageStore.open(disk, { cachePages });
              await expectState(store, model);
            }
          }
        },
      ),
      { numRuns: 25, seed: 20261121 },
    );
  });
});

describe('journal integrity', () => {
  test('an older copy of a spilled page left in its slot fails the commit chain: the commit is not replayed', async () => {
    const disk = new MemoryStorage();
    const base = await PageStore.create(disk, { ...SMALL, cachePages: 2 });
    let tx = base.begin();
    for (let i = 0; i < 5; i++) tx.writeMeta(await tx.allocate('meta'), payload(1));
    await tx.commit();
    await base.close();
    const image = new MemoryStorage({ data: disk.snapshot() });
    const faulty = await FaultyStorage.wrap(image);
    const store = await PageStore.open(faulty, { cachePages: 2 });
    tx = store.begin();
    tx.writeMeta(0, payload(7)); // spilled below, then rewritten and spilled again into the same slot
    tx.writeMeta(1, payload(7));
    tx.writeMeta(2, payload(7));
    tx.writeMeta(0, payload(8));
    tx.writeMeta(3, payload(7));
    tx.writeMeta(4, payload(7));
    expect((await tx.readMeta(0))[0]).toBe(8); // read back from the journal, after the spills ran
    const spills = faulty.unflushedWrites();
    const first = spills[0]!;
    expect(spills.filter((w) => w.offset === first.offset).length).toBe(2);
    await tx.commit();
    await expect(store.readMeta(0)).resolves.toEqual(expect.objectContaining({ 0: 8 }));
    // Put the first copy back into the slot, as a disk that lost the second write would have.
    const bytes = image.snapshot();
    bytes.set(first.data, first.offset);
    const recovered = await PageStore.open(new MemoryStorage({ data: bytes }));
    expect(recovered.sequence).toBe(1);
    for (let page = 0; page < 5; page++)
      expectBytes((await recovered.readMeta(page)).subarray(0, 16), payload(1), `page ${page}`);
  });
});
