// A short benchmark of the page cache miss path: 2M posts into the 0.25 GB configuration, then
// queries of present names with a page cache far smaller than the pages written (about a quarter of
// the page lookups miss, as in the 10M run of bench/index.ts), through `query` and through
// `queryMany` of 1024. Run: tsx --conditions=@deja/source bench/miss.ts (DEDUP_BENCH_CLOCK=cpu times
// on the process's CPU time, as bench/index.ts; DEDUP_MISS_RECORDS and DEDUP_MISS_CACHE resize it).

import os from 'node:os';
import { MemoryStorage } from '@deja/storage';
import { createConfiguration } from '@deja/volume-geometry';
import { DedupIndex } from '../src/index';
import { makeNames } from './_names';

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const onCpu = process.env.DEDUP_BENCH_CLOCK === 'cpu';
console.log(
  `@deja/dedup-index miss-path bench on ${cpu}, Node ${process.version}, clock: ${onCpu ? 'CPU time' : 'wall time'}, ` +
    `load ${os.loadavg()[0]!.toFixed(1)}`,
);
function now(): number {
  if (!onCpu) return performance.now();
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
const records = Number(process.env.DEDUP_MISS_RECORDS ?? 2_000_000);
const cachePages = Number(process.env.DEDUP_MISS_CACHE ?? 1024);
const queries = 300_000;
const BATCH = 1024;

const config = createConfiguration({ memorySize: 0.25 });
const names = makeNames(records, 1);
const metadata = new Uint8Array(16);
const storage = new MemoryStorage();
const index = await DedupIndex.create(storage, { configuration: config, cachePages });
for (let i = 0; i < records; i++) await index.post(names.subarray(i * 16, i * 16 + 16), metadata);
let a = 5;
const pick = new Uint32Array(queries);
for (let i = 0; i < queries; i++) {
  a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
  pick[i] = a % records;
}
const picked = new Uint8Array(queries * 16);
for (let i = 0; i < queries; i++) picked.set(names.subarray(pick[i]! * 16, pick[i]! * 16 + 16), i * 16);
// Warm-up: the JIT and the cache.
for (let i = 0; i < 50_000; i++) await index.query(names.subarray(pick[i]! * 16, pick[i]! * 16 + 16));
for (let i = 0; i < 50_000; i += BATCH) await index.queryMany(picked.subarray(i * 16, (i + BATCH) * 16));

function report(label: string, ms: number, before: ReturnType<DedupIndex['getStats']>): void {
  const after = index.getStats();
  const misses = after.cacheMisses - before.cacheMisses;
  const lookups = misses + after.cacheHits - before.cacheHits;
  console.log(
    `${records / 1e6}M records, ${after.chaptersWritten} chapters, cache ${cachePages} pages: ${label} ` +
      `${(((queries / ms) * 1000) / 1e6).toFixed(3)} M/s, page miss rate ${lookups === 0 ? 'n/a (no page was read)' : `${((misses / lookups) * 100).toFixed(1)}%`}`,
  );
}

for (let round = 0; round < 3; round++) {
  let before = index.getStats();
  let t = now();
  let found = 0;
  for (let i = 0; i < queries; i++) {
    const at = pick[i]! * 16;
    if ((await index.query(names.subarray(at, at + 16))) !== undefined) found++;
  }
  report('query present', now() - t, before);
  before = index.getStats();
  t = now();
  for (let i = 0; i < queries; i += BATCH) {
    const n = Math.min(BATCH, queries - i);
    for (const answer of await index.queryMany(picked.subarray(i * 16, (i + n) * 16))) {
      if (answer !== undefined) found++;
    }
  }
  report(`queryMany of ${BATCH} present`, now() - t, before);
  if (found !== 2 * queries) throw new Error(`${2 * queries - found} present names not found`);
}
