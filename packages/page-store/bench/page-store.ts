// Benchmark of the page layer: commit latency and page writes per second for transactions that
// rewrite 1, 16 and 256 metadata pages of 4 KiB on a FileStorage, with the storage flushes each
// commit costs (checkpoints included, averaged), against writing the same pages with plain
// `fs.writeSync` + `fs.fdatasync` (no atomicity) in the same run. Rounds alternate between the
// two after a warm-up; the best round of each is kept, since the machine is shared.

import * as fs from 'node:fs';
import { join } from 'node:path';
import { FileStorage } from '@deja/storage-file';
import { PageStore } from '../src/index';

const PAGE = 4096;
const PAGE_COUNT = 4096; // 16 MiB of user pages
const JOURNAL_PAGES = 2048;
const SIZES = [1, 16, 256];

/** Runs `op` repeatedly for about `ms` milliseconds; returns operations per second. */
async function rate(op: () => Promise<void>, ms: number): Promise<number> {
  const start = performance.now();
  let n = 0;
  let now = start;
  while (now - start < ms) {
    await op();
    n++;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

/** Rows for the report: [case, baseline rate, PageStore rate, ratio, flushes per commit, latency]. */
export async function pageStoreBench(dir: string, roundMs: number, rounds: number): Promise<string[][]> {
  const storePath = join(dir, 'pages.img');
  const store = await PageStore.create(await FileStorage.open(storePath, { create: true }), {
    pageSize: PAGE,
    pageCount: PAGE_COUNT,
    journalPages: JOURNAL_PAGES,
    cachePages: 512,
  });
  // Allocate every page once, as metadata.
  let tx = store.begin();
  for (let i = 0; i < PAGE_COUNT; i++) await tx.allocate('meta');
  await tx.commit();

  const plainPath = join(dir, 'plain.img');
  const fd = fs.openSync(plainPath, 'w+');
  fs.writeSync(fd, new Uint8Array(PAGE), 0, PAGE, PAGE_COUNT * PAGE - PAGE);
  fs.fsyncSync(fd);
  const fdatasync = () =>
    new Promise<void>((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve())));
  const data = new Uint8Array(PAGE).map((_, i) => i * 13);
  const payload = data.subarray(0, store.metaPayloadSize);

  const rows: string[][] = [];
  try {
    for (const size of SIZES) {
      let cursor = 0;
      const next = (): number => {
        const first = cursor;
        cursor = (cursor + size) % (PAGE_COUNT - size);
        return first;
      };
      const plain = async (): Promise<void> => {
        const first = next();
        for (let k = 0; k < size; k++) fs.writeSync(fd, data, 0, PAGE, (first + k) * PAGE);
        await fdatasync();
      };
      const commit = async (): Promise<void> => {
        const first = next();
        tx = store.begin();
        for (let k = 0; k < size; k++) tx.writeMeta(first + k, payload);
        await tx.commit();
      };
      console.log(`transactions of ${size} dirty page${size === 1 ? '' : 's'} ...`);
      await rate(plain, roundMs / 3);
      await rate(commit, roundMs / 3);
      let bestPlain = 0;
      let bestStore = 0;
      const commitsBefore = store.stats.commits;
      const flushesBefore = store.stats.flushes;
      for (let round = 0; round < rounds; round++) {
        bestPlain = Math.max(bestPlain, await rate(plain, roundMs));
        bestStore = Math.max(bestStore, await rate(commit, roundMs));
      }
      const flushesPerCommit =
        (store.stats.flushes - flushesBefore) / Math.max(1, store.stats.commits - commitsBefore);
      rows.push([
        `${size} x 4 KiB`,
        `${fmt(bestPlain)} /s (${fmt(bestPlain * size)} pages/s)`,
        `${fmt(bestStore)} /s (${fmt(bestStore * size)} pages/s)`,
        `${(1000 / bestStore).toFixed(2)} ms`,
        flushesPerCommit.toFixed(2),
        `${(bestStore / bestPlain).toFixed(2)}x`,
      ]);
    }
  } finally {
    fs.closeSync(fd);
    await store.close();
    await store.storage.close();
  }
  return rows;
}

/**
 * Allocation on a nearly full store: `allocate()` + `abort()` per operation on a store of 2^20
 * pages with 64 free ones scattered, against the same on an empty store, and against the obvious
 * alternative — a linear `indexOf(0)` scan of a byte-per-page map from a next-fit cursor.
 * @returns rows [case, rate].
 */
export async function allocationBench(dir: string, roundMs: number, rounds: number): Promise<string[][]> {
  const pages = 1 << 20;
  const make = async (name: string) =>
    PageStore.create(await FileStorage.open(join(dir, name), { create: true }), {
      pageSize: 512,
      pageCount: pages,
      journalPages: 20000,
      cachePages: 64,
    });
  const empty = await make('empty.img');
  const full = await make('full.img');
  let tx = full.begin();
  for (let i = 0; i < pages; i++) await tx.allocate('data');
  await tx.commit();
  const bytes = new Uint8Array(pages).fill(1);
  tx = full.begin();
  for (let i = 0; i < 64; i++) {
    const page = (i * 16381 + 7) % pages;
    tx.decRef(page);
    bytes[page] = 0;
  }
  await tx.commit();
  // Data pages: on a store full of data a metadata page would have no region of its own and grow
  // the store by one (see the README's Locality section), which is not what this measures.
  const allocateOn = (store: PageStore) => async (): Promise<void> => {
    const t = store.begin();
    await t.allocate('data');
    t.abort();
  };
  let cursor = 0;
  const scan = async (): Promise<void> => {
    let page = bytes.indexOf(0, cursor);
    if (page < 0) page = bytes.indexOf(0);
    cursor = page + 1;
  };
  const best: Record<string, number> = { empty: 0, full: 0, scan: 0 };
  const variants: [string, () => Promise<void>][] = [
    ['empty', allocateOn(empty)],
    ['full', allocateOn(full)],
    ['scan', scan],
  ];
  for (const [, op] of variants) await rate(op, roundMs / 3);
  for (let round = 0; round < rounds; round++) {
    for (const [name, op] of variants) best[name] = Math.max(best[name]!, await rate(op, roundMs));
  }
  await empty.close();
  await empty.storage.close();
  await full.close();
  await full.storage.close();
  return [
    ['allocate + abort, empty store of 2^20 pages', `${fmt(best.empty!)} /s`],
    [
      'allocate + abort, 64 of 2^20 pages free',
      `${fmt(best.full!)} /s (${(best.full! / best.empty!).toFixed(2)}x the empty store)`,
    ],
    [
      'baseline: next-fit indexOf(0) over a byte per page, same 64 free',
      `${fmt(best.scan!)} /s (PageStore: ${(best.full! / best.scan!).toFixed(1)}x)`,
    ],
  ];
}

/**
 * Growth: 2^16 data pages of 4 KiB allocated in transactions of 256 pages (allocate only; what
 * growth adds is the space-map pages, the storage extension and one flush per growth), on a store
 * created with 16 pages (it grows) against one created with all 2^16 pages, in alternating runs.
 * Then what the grown store costs to open, against a store created with 2^20 pages of which the
 * same 2^16 are in use: open time and storage size follow the page count, not the maximum.
 * @returns rows [case, result].
 */
export async function growthBench(dir: string, rounds: number): Promise<string[][]> {
  const total = 1 << 16;
  const fill = async (name: string, pageCount: number): Promise<{ ms: number; store: PageStore }> => {
    const path = join(dir, name);
    fs.rmSync(path, { force: true });
    const store = await PageStore.create(await FileStorage.open(path, { create: true }), {
      pageSize: PAGE,
      pageCount,
    });
    const start = performance.now();
    for (let done = 0; done < total; done += 256) {
      const tx = store.begin();
      for (let k = 0; k < 256; k++) await tx.allocate('data');
      await tx.commit();
    }
    return { ms: performance.now() - start, store };
  };
  let grownMs = Number.POSITIVE_INFINITY;
  let sizedMs = Number.POSITIVE_INFINITY;
  let growths = 0;
  for (let round = 0; round < rounds; round++) {
    const grown = await fill('grown.img', 16);
    grownMs = Math.min(grownMs, grown.ms);
    growths = grown.store.stats.growths;
    await grown.store.close();
    await grown.store.storage.close();
    const sized = await fill('sized.img', total);
    sizedMs = Math.min(sizedMs, sized.ms);
    await sized.store.close();
    await sized.store.storage.close();
  }
  const big = await PageStore.create(await FileStorage.open(join(dir, 'big.img'), { create: true }), {
    pageSize: PAGE,
    pageCount: 1 << 20,
  });
  for (let done = 0; done < total; done += 256) {
    const tx = big.begin();
    for (let k = 0; k < 256; k++) await tx.allocate('data');
    await tx.commit();
  }
  await big.close();
  await big.storage.close();
  const openMs = async (name: string): Promise<number> => {
    let best = Number.POSITIVE_INFINITY;
    for (let round = 0; round < rounds; round++) {
      const start = performance.now();
      const store = await PageStore.open(await FileStorage.open(join(dir, name)));
      best = Math.min(best, performance.now() - start);
      await store.close();
      await store.storage.close();
    }
    return best;
  };
  const mib = (name: string) => (fs.statSync(join(dir, name)).size / 2 ** 20).toFixed(1);
  const grownOpen = await openMs('grown.img');
  const bigOpen = await openMs('big.img');
  return [
    [
      `2^16 data pages in transactions of 256, store created with 16 pages (${growths} growths)`,
      `${fmt(total / (grownMs / 1000))} pages/s (${(sizedMs / grownMs).toFixed(2)}x the pre-sized store)`,
    ],
    ['same, store created with 2^16 pages', `${fmt(total / (sizedMs / 1000))} pages/s`],
    [
      'open, 2^16 pages (grown store)',
      `${grownOpen.toFixed(1)} ms, file ${mib('grown.img')} MiB (apparent size)`,
    ],
    [
      'open, 2^20 pages of which 2^16 in use',
      `${bigOpen.toFixed(1)} ms, file ${mib('big.img')} MiB (apparent size)`,
    ],
  ];
}

function fmt(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1);
}
