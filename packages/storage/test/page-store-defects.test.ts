// Regression tests for the page-layer defects of issue 17 (items 1-4): a damaged superblock must not
// roll committed transactions back, a dropped transaction is reported, a failed write surfaces as
// itself, and data pages are not metadata. Each test failed before its fix.
import { describe, expect, test } from 'vitest';
import { createRandom } from '../src/_internal-random';
import { FaultyStorage, MemoryStorage, PageStore } from '../src/index';

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
    const random = createRandom(1717);
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
