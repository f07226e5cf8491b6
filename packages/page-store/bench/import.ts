// Import-shaped transactions (what @deja/store's first import of a volume does to the page layer):
// each allocates 20,000 data pages, frees a quarter of them again (chunks found to be duplicates),
// writes the rest with writeDataMany and commits; eight of them on a MemoryStorage, so the page
// layer's own bookkeeping shows, not a disk. Reported: milliseconds of allocation and of commit
// per 160,000 pages, best of `rounds`; with the caller's CRC-32s and without (the layer computing
// them). Baseline in the same run: the page-keyed tables' cost, the same 480,000 sets of page
// numbers into three V8 Maps (what the tables were) and into three PageMaps (what they are).

import { crc32 } from 'node:zlib';
import { MemoryStorage } from '@deja/storage';
import { PageMap } from '../src/_internal-page-map';
import { PageStore } from '../src/index';

const PAGES = 20_000;
const TRANSACTIONS = 8;

async function importRound(withCrcs: boolean): Promise<{ alloc: number; write: number; commit: number }> {
  const store = await PageStore.create(new MemoryStorage(), {
    pageSize: 4096,
    pageCount: 1024,
    journalPages: 1024,
    cachePages: 256,
  });
  const data = new Uint8Array(PAGES * 4096);
  for (let i = 0; i < data.length; i += 4096) data[i] = i / 4096;
  const crcs = withCrcs
    ? Array.from({ length: PAGES }, (_, i) => crc32(data.subarray(i * 4096, (i + 1) * 4096)))
    : [];
  let alloc = 0;
  let write = 0;
  let commit = 0;
  for (let k = 0; k < TRANSACTIONS; k++) {
    let t = performance.now();
    const tx = store.begin();
    const pages = await tx.allocateMany('data', PAGES);
    alloc += performance.now() - t;
    t = performance.now();
    const keep: number[] = [];
    const at: number[] = [];
    const keepCrcs: number[] = [];
    for (let i = 0; i < pages.length; i++) {
      if (i % 4 === 3) tx.decRef(pages[i] as number);
      else {
        keep.push(pages[i] as number);
        at.push(i * 4096);
        if (withCrcs) keepCrcs.push(crcs[i] as number);
      }
    }
    await tx.writeDataMany(keep, data, at, withCrcs ? keepCrcs : undefined);
    write += performance.now() - t;
    t = performance.now();
    await tx.commit();
    commit += performance.now() - t;
  }
  await store.close();
  return { alloc, write, commit };
}

function tables(kind: 'Map' | 'PageMap'): number {
  const t = performance.now();
  for (let k = 0; k < TRANSACTIONS; k++) {
    const maps = [0, 1, 2].map(() => (kind === 'Map' ? new Map<number, number>() : new PageMap()));
    for (let i = 0; i < PAGES; i++) for (const m of maps) m.set(100_000 + k * PAGES + i, 1);
  }
  return performance.now() - t;
}

/** Rows: [case, result]. */
export async function importBench(rounds: number): Promise<string[][]> {
  const best = {
    alloc: Infinity,
    commitOwn: Infinity,
    commitGiven: Infinity,
    writeOwn: Infinity,
    writeGiven: Infinity,
  };
  let map = Infinity;
  let pageMap = Infinity;
  for (let r = 0; r < rounds + 1; r++) {
    const own = await importRound(false);
    const given = await importRound(true);
    const m = tables('Map');
    const p = tables('PageMap');
    if (r === 0) continue; // warm-up
    best.alloc = Math.min(best.alloc, own.alloc, given.alloc);
    best.commitOwn = Math.min(best.commitOwn, own.commit);
    best.commitGiven = Math.min(best.commitGiven, given.commit);
    best.writeOwn = Math.min(best.writeOwn, own.write);
    best.writeGiven = Math.min(best.writeGiven, given.write);
    map = Math.min(map, m);
    pageMap = Math.min(pageMap, p);
  }
  const n = PAGES * TRANSACTIONS;
  const ms = (x: number) => `${x.toFixed(0)} ms (${((x * 1000) / n).toFixed(2)} us/page)`;
  return [
    ['allocateMany of 160,000 data pages (8 transactions)', ms(best.alloc)],
    ['writeDataMany of 120,000, the layer computing the CRC-32s', ms(best.writeOwn)],
    ['writeDataMany of 120,000, the CRC-32s given', ms(best.writeGiven)],
    ['8 commits', ms(best.commitOwn)],
    [
      'baseline: 480,000 sets of page numbers into 3 Maps / 3 PageMaps',
      `${map.toFixed(0)} ms / ${pageMap.toFixed(0)} ms (PageMap ${(map / pageMap).toFixed(1)}x faster)`,
    ],
  ];
}
