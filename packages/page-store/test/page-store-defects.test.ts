// Regression tests for the page-layer defects of issue 17 (items 1-4): a damaged superblock must not
// roll committed transactions back, a dropped transaction is reported, a failed write surfaces as
// itself, and data pages are not metadata. Each test failed before its fix.

import { MemoryStorage } from '@deja/storage';
import { FaultyStorage } from '@deja/storage/testing';
import { splitmix32 } from '@deja/test-helpers';
import { describe, expect, test } from 'vitest';
import { PageStore } from '../src/index';

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

async function commitOne(store: PageStore, byte: number): Promise<number> {
  const tx = store.begin();
  const page = await tx.allocate('meta');
  tx.writeMeta(page, payload(byte));
  tx.setRoot(`r${byte % 6}`, page);
  await tx.commit();
  return page;
}

describe('issue 17.1: a damaged superblock never rolls committed transactions back', () => {
  test('the reproduction: create, close, writable open, two commits, byte 540 flipped', async () => {
    const disk = new MemoryStorage();
    const created = await PageStore.create(disk, { pageSize: 4096, pageCount: 16, journalPages: 16 });
    await created.close();
    const store = await PageStore.open(new MemoryStorage({ data: disk.snapshot() }));
    await commitOne(store, 1);
    await commitOne(store, 2);
    const image = (store.storage as MemoryStorage).snapshot();
    await store.close();
    image[540]! ^= 0x10;
    const outcome = await PageStore.open(new MemoryStorage({ data: image })).then(
      (s) => s.sequence,
      (error: { code?: string }) => error.code,
    );
    // Either the journal is recovered in full or the damage is reported; never sequence 0.
    expect(['ERR_CORRUPT_DATA', 2]).toContain(outcome);
  });

  test('random superblock damage over stores with several generations and checkpoints: the latest state or ERR_CORRUPT_DATA', async () => {
    const random = splitmix32(1717);
    let errors = 0;
    let latest = 0;
    for (let seed = 0; seed < 12; seed++) {
      let disk = new MemoryStorage();
      let store = await PageStore.create(disk, { pageSize: 512, pageCount: 64, journalPages: 16 });
      const images: { image: Uint8Array; sequence: number }[] = [];
      const rounds = 1 + (random() % 4);
      for (let r = 0; r < rounds; r++) {
        const commits = random() % 9;
        for (let c = 0; c < commits; c++) await commitOne(store, 1 + ((r * 16 + c) % 200));
        images.push({ image: disk.snapshot(), sequence: store.sequence });
        disk = new MemoryStorage({ data: disk.snapshot() });
        store = await PageStore.open(disk); // a writable open: a checkpoint and a new generation
      }
      for (const { image, sequence } of images) {
        for (let i = 0; i < 20; i++) {
          const damaged = image.slice();
          const flips = 1 + (random() % 2);
          for (let f = 0; f < flips; f++) damaged[random() % 1024]! ^= 1 << (random() % 8);
          const outcome = await PageStore.open(new MemoryStorage({ data: damaged })).then(
            (s) => s.sequence,
            (error: { code?: string }) => error.code,
          );
          if (outcome === 'ERR_CORRUPT_DATA') errors++;
          else {
            expect(outcome, `seed ${seed}: recovered sequence`).toBe(sequence);
            latest++;
          }
        }
      }
    }
    expect(errors).toBeGreaterThan(0);
    expect(latest).toBeGreaterThan(0);
  });
});

describe('issue 17.3: a failed write surfaces as itself, not as ERR_CORRUPT_DATA', () => {
  async function spillingStore(failCode: 'ERR_IO' | 'ERR_NO_SPACE') {
    const inner = new MemoryStorage();
    const setup = await PageStore.create(inner, { pageSize: 512, pageCount: 64, journalPages: 32 });
    const page = await commitOne(setup, 1);
    await setup.close();
    let failWrites = false;
    const faulty = await FaultyStorage.wrap(new MemoryStorage({ data: inner.snapshot() }), {
      failWhen: (op) => failWrites && op.kind === 'write',
      failCode,
    });
    const store = await PageStore.open(faulty, { cachePages: 2 });
    return { store, page, fail: (on: boolean) => (failWrites = on) };
  }

  test('a failed spill: reads of the page and commit() reject with the original error; the store stays usable at the old state', async () => {
    const { store, page, fail } = await spillingStore('ERR_NO_SPACE');
    const tx = store.begin();
    fail(true);
    const pages = [];
    for (let i = 0; i < 4; i++) {
      const p = await tx.allocate('meta');
      tx.writeMeta(p, payload(10 + i)); // the first ones spill, and the spill writes fail
      pages.push(p);
    }
    expect(await code(tx.readMeta(pages[0]!))).toBe('ERR_NO_SPACE');
    fail(false);
    expect(await code(tx.commit())).toBe('ERR_NO_SPACE');
    // Nothing of the transaction was written as committed: the store goes on at the old state.
    expect(store.sequence).toBe(1);
    expect((await store.readMeta(page))[0]).toBe(1);
    await commitOne(store, 2);
    expect(store.sequence).toBe(2);
    await store.verify();
  });

  test('a failed journal write during commit(): the original error, then ERR_IO with it as cause', async () => {
    const { store, fail } = await spillingStore('ERR_NO_SPACE');
    const tx = store.begin();
    tx.writeMeta(await tx.allocate('meta'), payload(3));
    fail(true);
    let caught: unknown;
    await tx.commit().catch((error: unknown) => {
      caught = error;
    });
    expect((caught as { code?: string }).code).toBe('ERR_NO_SPACE');
    let refusal: unknown;
    try {
      store.begin();
    } catch (error) {
      refusal = error;
    }
    expect((refusal as { code?: string }).code).toBe('ERR_IO');
    expect((refusal as { cause?: unknown }).cause).toBe(caught);
  });
});

describe('issue 17.2: open reports what recovery replayed and dropped', () => {
  const GEOMETRY = { pageSize: 512, pageCount: 40, journalPages: 32 };
  // 512-byte pages: superblocks in pages 0-1, journal in 2..33, group 0's space-map page at 34 and
  // its user pages from 35 on.
  const JOURNAL_START = 2;
  const userOffset = (page: number) => (35 + page) * 512;

  /** Two committed transactions, the second writing a data page and a metadata page; not checkpointed. */
  async function twoTransactions() {
    const disk = new MemoryStorage();
    const store = await PageStore.create(disk, GEOMETRY);
    await commitOne(store, 1);
    const tx = store.begin();
    const data = await tx.allocate('data');
    await tx.writeData(data, new Uint8Array(512).fill(0xd7));
    const meta = await tx.allocate('meta');
    tx.writeMeta(meta, payload(9));
    await tx.commit();
    return { image: disk.snapshot(), data, meta };
  }

  test('a clean open: every committed transaction replayed, nothing dropped; a writable open checkpoints', async () => {
    const { image } = await twoTransactions();
    const store = await PageStore.open(new MemoryStorage({ data: image }));
    expect(store.recovery).toEqual({
      superblockSlot: 0,
      otherSuperblockDamaged: false,
      checkpointSequence: 0,
      replayed: 2,
      sequence: 2,
      dropped: undefined,
      checkpointed: true,
    });
    const readOnly = await PageStore.open(new MemoryStorage({ data: image, readOnly: true }));
    expect(readOnly.recovery.checkpointed).toBe(false);
    // After the checkpoint the journal is empty: the next open replays nothing, from slot 1.
    const again = await PageStore.open(
      new MemoryStorage({ data: (store.storage as MemoryStorage).snapshot() }),
    );
    expect(again.recovery).toMatchObject({
      superblockSlot: 1,
      checkpointSequence: 2,
      replayed: 0,
      sequence: 2,
    });
  });

  test('a flipped bit in a data page of the last transaction: dropped, reported with the page', async () => {
    const { image, data } = await twoTransactions();
    image[userOffset(data) + 100]! ^= 0x04;
    const store = await PageStore.open(new MemoryStorage({ data: image }));
    expect(store.sequence).toBe(1);
    expect(store.recovery.replayed).toBe(1);
    expect(store.recovery.dropped).toMatchObject({ transaction: 2, reason: 'data-mismatch', pages: [data] });
    expect(store.recovery.dropped!.detail).toContain('transaction 2');
  });

  test('a flipped bit in a journal record of the last transaction: dropped, reported', async () => {
    const { image } = await twoTransactions();
    // Transaction 1: its page, its space-map page, its commit (slots 0-2). Transaction 2 from slot 3:
    // the metadata page, the space-map page, a data list, the commit page (slot 6).
    image[(JOURNAL_START + 3) * 512 + 200]! ^= 0x01;
    let store = await PageStore.open(new MemoryStorage({ data: image.slice() }));
    expect(store.sequence).toBe(1);
    expect(store.recovery.dropped).toMatchObject({ transaction: 2, reason: 'journal-mismatch', pages: [6] });
    // The commit page itself damaged.
    const { image: other } = await twoTransactions();
    other[(JOURNAL_START + 6) * 512 + 300]! ^= 0x01;
    store = await PageStore.open(new MemoryStorage({ data: other }));
    expect(store.sequence).toBe(1);
    expect(store.recovery.dropped).toMatchObject({ transaction: 2, reason: 'commit-unreadable', pages: [6] });
  });

  test('a damaged older superblock is reported', async () => {
    const { image } = await twoTransactions();
    const store = await PageStore.open(new MemoryStorage({ data: image }));
    const checkpointed = (store.storage as MemoryStorage).snapshot(); // superblocks 0 (old) and 1 (new)
    checkpointed[100]! ^= 0x20;
    const reopened = await PageStore.open(new MemoryStorage({ data: checkpointed }));
    expect(reopened.recovery).toMatchObject({ superblockSlot: 1, otherSuperblockDamaged: true, sequence: 2 });
  });
});

describe('issue 17.4: data pages are not metadata pages, also after reopen', () => {
  test('readMeta of a committed data page and writeMeta over it are TypeErrors; kinds survive reopen', async () => {
    const disk = new MemoryStorage();
    const store = await PageStore.create(disk, { pageSize: 512, pageCount: 16, journalPages: 16 });
    const tx = store.begin();
    const data = await tx.allocate('data');
    await tx.writeData(data, new Uint8Array(512).fill(1));
    const unwritten = await tx.allocate('data'); // allocated, never written: still a data page
    const empty = await tx.allocate('meta'); // never written: reads as zeros
    await tx.commit();
    for (const current of [store, await PageStore.open(new MemoryStorage({ data: disk.snapshot() }))]) {
      for (const page of [data, unwritten]) {
        expect(await code(current.readMeta(page))).toBe('TypeError');
        const next = current.begin();
        expect(await code(() => next.writeMeta(page, payload(2)))).toBe('TypeError');
        expect(await code(next.readMeta(page))).toBe('TypeError');
        next.abort();
      }
      expect(await current.readMeta(empty)).toEqual(new Uint8Array(480));
      await current.verify();
    }
    expect((await store.readData(data))[0]).toBe(1);
  });
});
