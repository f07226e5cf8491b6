// Damaged page stores: one or both superblocks corrupted, an unknown format version, truncated
// storage, damaged space-map and metadata pages, misdirected and stale page writes, a damaged
// journal transaction before intact ones, and random byte flips over every metadata region. The
// answer is always a typed error (ERR_CORRUPT_DATA naming the page, or ERR_UNSUPPORTED_VERSION) or
// a state that some committed transaction produced — never a wrong one.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { MemoryStorage } from '@deja/storage';
import { FileStorage } from '@deja/storage-file';
import { splitmix32 } from '@deja/test-helpers';
import { afterAll, describe, expect, test } from 'vitest';
import { isPageStoreError, PageStore } from '../src/index';
import { emptyModel, expectBytes, type Model, randomTransaction } from './_page-model';

const dir = fs.mkdtempSync(join(tmpdir(), 'deja-pagestore-corrupt-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const PAGE = 512;
const PAGE_COUNT = 48;
const JOURNAL = 24;
const SPACE_MAP_START = 2 + JOURNAL; // one space-map page (60 entries of 8 bytes)
const USER_START = SPACE_MAP_START + 1;
const PLAN = { maxOps: 6, abortRate: 0.1 };

interface Built {
  /** Every committed state, oldest first (index = sequence). */
  history: Model[];
  /** An image whose latest state is all checkpointed home (the journal is empty). */
  home: Uint8Array;
  /** The sequence of `home`'s state. */
  homeSequence: number;
  /** The same store after more commits: the latest state partly lives in the journal. */
  journaled: Uint8Array;
}

async function build(seed: number): Promise<Built> {
  const disk = new MemoryStorage();
  let store = await PageStore.create(disk, { pageSize: PAGE, pageCount: PAGE_COUNT, journalPages: JOURNAL });
  const random = splitmix32(seed);
  const history: Model[] = [emptyModel()];
  const commit = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const last = history.at(-1)!;
      const next = await randomTransaction(store, last, random, PLAN, () => {});
      if (next !== undefined && next.sequence !== last.sequence) history.push(next);
    }
  };
  await commit(12);
  // Reopen: a writable open checkpoints everything home.
  store = await PageStore.open(new MemoryStorage({ data: disk.snapshot() }));
  const homeDisk = store.storage as MemoryStorage;
  const home = homeDisk.snapshot();
  const homeSequence = store.sequence;
  await commit(3);
  const journaled = homeDisk.snapshot();
  return { history, home, homeSequence, journaled };
}

/** The newest superblock slot of an image (highest superblock sequence). */
function newestSuperblock(image: Uint8Array): number {
  const seq = (slot: number) => new DataView(image.buffer, slot * PAGE + 32 + 24, 8).getUint32(0, true);
  return seq(1) > seq(0) ? 1 : 0;
}

function flip(image: Uint8Array, offset: number, mask = 0x10): Uint8Array {
  const copy = image.slice();
  copy[offset]! ^= mask;
  return copy;
}

async function open(image: Uint8Array): Promise<PageStore> {
  return PageStore.open(new MemoryStorage({ data: image }));
}

async function errorCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
  return undefined;
}

/**
 * Opens a damaged image and checks the outcome: a typed error, or the state of some committed
 * transaction (each metadata read either verified-equal or a typed error). Data pages are compared
 * when the recovered state is the latest one (older states may have had data pages reused since;
 * their integrity is the caller's content hash).
 * @returns 'error' | 'state'
 */
async function outcome(image: Uint8Array, history: Model[]): Promise<'error' | 'state'> {
  let store: PageStore;
  try {
    store = await open(image);
  } catch (error) {
    expect(
      isPageStoreError(error, 'ERR_CORRUPT_DATA') || isPageStoreError(error, 'ERR_UNSUPPORTED_VERSION'),
    ).toBe(true);
    return 'error';
  }
  const model = history[store.sequence];
  expect(model, `recovered sequence ${store.sequence}`).toBeDefined();
  const latest = store.sequence === history.length - 1;
  expect(store.roots()).toEqual(model!.roots);
  expect(store.getUserData()).toEqual(model!.userData);
  for (let page = 0; page < PAGE_COUNT; page++) {
    const p = model!.pages.get(page);
    expect(store.refCount(page), `refCount(${page})`).toBe(p?.refs ?? 0);
    if (p === undefined) continue;
    if (p.kind === 'data') {
      if (latest) expectBytes(await store.readData(page), p.bytes, `readData(${page})`);
      continue;
    }
    try {
      expectBytes(await store.readMeta(page), p.bytes, `readMeta(${page})`);
    } catch (error) {
      expect(isPageStoreError(error, 'ERR_CORRUPT_DATA'), String(error)).toBe(true);
    }
  }
  return 'state';
}

describe('damaged superblocks', () => {
  test('the older superblock damaged: the newest is used, state exact', async () => {
    const { history, home, homeSequence } = await build(1);
    const damaged = flip(home, (1 - newestSuperblock(home)) * PAGE + 100);
    expect((await open(damaged)).sequence).toBe(homeSequence);
    expect(await outcome(damaged, history)).toBe('state');
  });

  test('the newest superblock damaged: the other one and the journal give the latest state, or a typed error — never a rollback', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const { history, home, homeSequence, journaled } = await build(seed);
      for (const [image, latest] of [
        [home, homeSequence],
        [journaled, history.length - 1],
      ] as const) {
        const newest = newestSuperblock(image);
        for (const at of [0, 5, 40, 70, PAGE - 1]) {
          const damaged = flip(image, newest * PAGE + at);
          if ((await outcome(damaged, history)) === 'state')
            expect((await open(damaged)).sequence).toBe(latest);
        }
      }
    }
  });

  test('both superblocks damaged: ERR_CORRUPT_DATA', async () => {
    const { home } = await build(2);
    expect(await errorCode(open(flip(flip(home, 60), PAGE + 60)))).toBe('ERR_CORRUPT_DATA');
  });

  test('an unknown format version (with a valid checksum), or version 1: ERR_UNSUPPORTED_VERSION', async () => {
    const { home } = await build(3);
    for (const version of [3, 1]) {
      const image = home.slice();
      for (const slot of [0, 1]) {
        const at = slot * PAGE;
        image[at + 7] = version;
        new DataView(image.buffer).setUint32(at, crc32(image.subarray(at + 4, at + PAGE)), true);
      }
      expect(await errorCode(open(image))).toBe('ERR_UNSUPPORTED_VERSION');
    }
  });
});

describe('damaged pages and storage', () => {
  test('a truncated storage: ERR_CORRUPT_DATA', async () => {
    const { home } = await build(4);
    expect(await errorCode(open(home.slice(0, home.length - PAGE)))).toBe('ERR_CORRUPT_DATA');
    expect(await errorCode(open(home.slice(0, 100)))).toBe('ERR_CORRUPT_DATA');
    expect(await errorCode(open(home.slice(0, PAGE * 3)))).toBe('ERR_CORRUPT_DATA');
  });

  test('a truncated file: ERR_CORRUPT_DATA', async () => {
    const path = join(dir, 'truncated.img');
    const created = await FileStorage.open(path, { create: true });
    const store = await PageStore.create(created, { pageSize: 4096, pageCount: 32 });
    const tx = store.begin();
    tx.writeMeta(await tx.allocate('meta'), new Uint8Array([1]));
    await tx.commit();
    await store.close();
    await created.close();
    fs.truncateSync(path, fs.statSync(path).size - 4096);
    const file = await FileStorage.open(path);
    await expect(PageStore.open(file)).rejects.toMatchObject({
      code: 'ERR_CORRUPT_DATA',
      message: expect.stringContaining('truncated'),
    });
    expect(file.closed).toBe(false); // a failed open leaves the storage to the caller
    await file.close();
  });

  test('a damaged space-map page: ERR_CORRUPT_DATA at open, naming it', async () => {
    const { home } = await build(5);
    await expect(open(flip(home, SPACE_MAP_START * PAGE + 77))).rejects.toMatchObject({
      code: 'ERR_CORRUPT_DATA',
      message: expect.stringContaining('space-map page 0'),
    });
  });

  test('a damaged, misdirected or stale metadata page: ERR_CORRUPT_DATA naming the page', async () => {
    const { history, home, homeSequence } = await build(6);
    const model = history[homeSequence]!;
    const metas = [...model.pages].filter(([, p]) => p.kind === 'meta').map(([page]) => page);
    expect(metas.length).toBeGreaterThan(1);
    const [a, b] = metas as [number, number];
    // Damaged.
    let store = await open(flip(home, (USER_START + a) * PAGE + 200));
    await expect(store.readMeta(a)).rejects.toMatchObject({
      code: 'ERR_CORRUPT_DATA',
      message: expect.stringContaining(`page ${a}`),
    });
    // Misdirected: page a's image written over page b.
    const misdirected = home.slice();
    misdirected.copyWithin((USER_START + b) * PAGE, (USER_START + a) * PAGE, (USER_START + a + 1) * PAGE);
    store = await open(misdirected);
    await expect(store.readMeta(b)).rejects.toMatchObject({
      code: 'ERR_CORRUPT_DATA',
      message: expect.stringContaining(`page ${b}`),
    });
    expectBytes(await store.readMeta(a), model.pages.get(a)!.bytes, 'the intact page');
  });

  test('a stale metadata page (a lost write left the previous version): ERR_CORRUPT_DATA', async () => {
    const disk = new MemoryStorage();
    let store = await PageStore.create(disk, {
      pageSize: PAGE,
      pageCount: PAGE_COUNT,
      journalPages: JOURNAL,
    });
    let tx = store.begin();
    const page = await tx.allocate('meta');
    tx.writeMeta(page, new Uint8Array([1]));
    await tx.commit();
    store = await PageStore.open(new MemoryStorage({ data: disk.snapshot() })); // checkpoint: v1 home
    const v1 = (store.storage as MemoryStorage).snapshot();
    tx = store.begin();
    tx.writeMeta(page, new Uint8Array([2]));
    await tx.commit();
    store = await PageStore.open(new MemoryStorage({ data: (store.storage as MemoryStorage).snapshot() }));
    const v2 = (store.storage as MemoryStorage).snapshot();
    expect((await store.readMeta(page))[0]).toBe(2);
    const stale = v2.slice();
    stale.set(
      v1.subarray((USER_START + page) * PAGE, (USER_START + page + 1) * PAGE),
      (USER_START + page) * PAGE,
    );
    const reopened = await open(stale);
    await expect(reopened.readMeta(page)).rejects.toMatchObject({ code: 'ERR_CORRUPT_DATA' });
  });

  test('a damaged journal transaction followed by intact ones: ERR_CORRUPT_DATA, not a silent rollback', async () => {
    const disk = new MemoryStorage();
    const store = await PageStore.create(disk, {
      pageSize: PAGE,
      pageCount: PAGE_COUNT,
      journalPages: 64,
    });
    for (let i = 0; i < 3; i++) {
      const tx = store.begin();
      tx.writeMeta(await tx.allocate('meta'), new Uint8Array([i + 1]));
      await tx.commit();
    }
    const image = disk.snapshot();
    // Transaction 1 wrote slots 0 (its page), 1 (space map), 2 (commit). Damage slot 0.
    expect(await errorCode(open(flip(image, 2 * PAGE + 100)))).toBe('ERR_CORRUPT_DATA');
    // Damaging the last transaction's commit page is indistinguishable from a crash: state 2.
    const lastCommit = 2 + 8;
    const rolledBack = await open(flip(image, lastCommit * PAGE + 100));
    expect(rolledBack.sequence).toBe(2);
  });

  test('random byte flips in metadata regions: a typed error or a committed state, every time', async () => {
    const random = splitmix32(99);
    let errors = 0;
    let states = 0;
    for (const seed of [7, 8]) {
      const { history, home, journaled } = await build(seed);
      const model = history.at(-1)!;
      const metaPages = [...model.pages]
        .filter(([, p]) => p.kind === 'meta')
        .map(([page]) => USER_START + page);
      const regions = [0, 1, ...Array.from({ length: JOURNAL + 1 }, (_, i) => 2 + i), ...metaPages];
      for (let i = 0; i < 60; i++) {
        const base = random() % 2 === 0 ? home : journaled;
        let image = base;
        const flips = 1 + (random() % 3);
        for (let f = 0; f < flips; f++) {
          const page = regions[random() % regions.length]!;
          image = flip(image, page * PAGE + (random() % PAGE), 1 << (random() % 8));
        }
        if ((await outcome(image, history)) === 'error') errors++;
        else states++;
      }
    }
    expect(errors).toBeGreaterThan(0);
    expect(states).toBeGreaterThan(0);
  });
});
