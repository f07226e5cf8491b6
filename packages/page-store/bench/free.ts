// Benchmark of freeing data pages: one commit that frees ~3,000 data pages of 4 KiB on a
// FileStorage — scattered (every 4th page: no two neighbours, one hole punch each) and contiguous
// (one run) — after they were written and committed. Measured: the commit's latency (until
// `commit()` resolves), and until the freed blocks are given back (`close()` of the store right
// after the commit waits for every discard the commit queued, then a `flush()`). Baseline in the same run:
// the same commit on a storage that cannot discard (nothing given back). Best of `rounds`.

import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Storage } from '@deja/storage';
import { FileStorage } from '@deja/storage-file';
import { PageStore } from '../src/index';

const PAGE = 4096;
const FREED = 3000;

type Pattern = 'scattered' | 'contiguous';

/** The same storage with `discard` hidden: what a commit costs when nothing is given back. */
function withoutDiscard(storage: Storage): Storage {
  return {
    get readOnly() {
      return storage.readOnly;
    },
    get closed() {
      return storage.closed;
    },
    read: (offset, length) => storage.read(offset, length),
    write: (offset, data) => storage.write(offset, data),
    readv: (requests) => storage.readv(requests),
    writev: (requests) => storage.writev(requests),
    flush: () => storage.flush(),
    size: () => storage.size(),
    close: () => storage.close(),
  };
}

interface FreeRun {
  commitMs: number;
  releasedMs: number;
  released: number;
  /** Bytes the file holds on disk before and after. */
  blocksBefore: number;
  blocksAfter: number;
}

async function freeOnce(dir: string, pattern: Pattern, discard: boolean): Promise<FreeRun> {
  const path = join(dir, `free-${pattern}-${discard}.img`);
  fs.rmSync(path, { force: true });
  const file = await FileStorage.open(path, { create: true });
  const storage = discard ? file : withoutDiscard(file);
  const store = await PageStore.create(storage, { pageSize: PAGE, pageCount: 16 });
  const total = FREED * 4;
  let tx = store.begin();
  const pages = await tx.allocateMany('data', total);
  const bytes = new Uint8Array(total * PAGE);
  for (let i = 0; i < bytes.length; i += 64) bytes[i] = (i >>> 6) & 255;
  await tx.writeDataMany(pages, bytes);
  await tx.commit();
  await file.flush();
  const victims =
    pattern === 'scattered' ? pages.filter((_, i) => i % 4 === 1) : pages.slice(FREED, 2 * FREED);
  const blocksBefore = fs.statSync(path).blocks * 512;
  tx = store.begin();
  for (const page of victims) tx.decRef(page);
  const start = performance.now();
  await tx.commit();
  const commitMs = performance.now() - start;
  await store.close(); // waits for the discards the commit issued (or queued)
  await file.flush();
  const releasedMs = performance.now() - start;
  const released = store.stats.blocksReleased;
  await file.close();
  const blocksAfter = fs.statSync(path).blocks * 512;
  fs.rmSync(path, { force: true });
  return { commitMs, releasedMs, released, blocksBefore, blocksAfter };
}

/** Rows [case, commit latency, until given back, pages given back, MiB freed on disk]. */
export async function freeBench(dir: string, rounds: number): Promise<string[][]> {
  const rows: string[][] = [];
  for (const pattern of ['scattered', 'contiguous'] as const) {
    const best: Record<string, FreeRun | undefined> = {};
    for (let round = 0; round < rounds; round++) {
      for (const discard of [false, true]) {
        const run = await freeOnce(dir, pattern, discard);
        const key = String(discard);
        if (best[key] === undefined || run.releasedMs < best[key].releasedMs) best[key] = run;
      }
    }
    for (const discard of [false, true]) {
      const r = best[String(discard)]!;
      rows.push([
        `${FREED.toLocaleString('en-US')} ${pattern} pages freed, ${discard ? 'discarded' : 'baseline: no discard'}`,
        `${r.commitMs.toFixed(1)} ms`,
        `${r.releasedMs.toFixed(1)} ms`,
        String(r.released),
        ((r.blocksBefore - r.blocksAfter) / 2 ** 20).toFixed(1),
      ]);
    }
  }
  return rows;
}
