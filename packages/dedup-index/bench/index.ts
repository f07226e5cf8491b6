// Benchmarks of @deja/dedup-index: post throughput with 10% and 50% duplicate names (single posts,
// and batches through postMany), query
// throughput for present and absent names, the volume index lookup alone, memory per record (and
// bits per entry at full density) and storage per record, each with a Map-based index measured in
// the same process as the baseline (the machines are shared and noisy; absolute figures drift,
// ratios less so).
//
// Sizes: 1M records on the real 0.25 GB dense configuration (65536-record chapters); 10M records
// on the same configuration. Storage is a MemoryStorage. Set DEDUP_BENCH_10M=0 to skip the 10M run,
// DEDUP_BENCH_SIZE=0 to run only the volume index sections. DEDUP_BENCH_CLOCK=cpu times every section
// on the process's CPU time (process.cpuUsage) instead of the wall clock: steadier on a shared,
// loaded machine, where the wall clock counts other jobs' time slices.

import os from 'node:os';
import { MemoryStorage } from '@deja/storage';
import { createConfiguration, createGeometry, type IndexConfiguration } from '@deja/volume-geometry';
import { VolumeIndex, VolumeIndexRecord } from '../src/advanced';
import { DedupIndex } from '../src/index';
import { makeNames } from './_names';

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`@deja/dedup-index bench on ${cpu} (${os.cpus().length} cores), Node ${process.version}`);

/** The clock of every timed section, in milliseconds: wall time, or CPU time (DEDUP_BENCH_CLOCK=cpu). */
const onCpu = process.env.DEDUP_BENCH_CLOCK === 'cpu';
function now(): number {
  if (!onCpu) return performance.now();
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
console.log(`clock: ${onCpu ? 'CPU time of the process (process.cpuUsage)' : 'wall time'}`);

/** A post sequence: `count` posts, a fraction `dup` of which repeat an earlier name. */
function postOrder(count: number, dup: number, seed: number): Uint32Array {
  const order = new Uint32Array(count);
  let a = seed >>> 0;
  const next = () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a;
  };
  let fresh = 0;
  for (let i = 0; i < count; i++) {
    if (fresh > 0 && next() / 2 ** 32 < dup) order[i] = next() % fresh;
    else order[i] = fresh++;
  }
  return order;
}

/** The Map baseline's key: the 16 name bytes as a latin1 string. */
function key(buffer: Buffer, start: number, end: number): string {
  return buffer.toString('latin1', start, end);
}

function rate(count: number, ms: number): string {
  return `${(((count / ms) * 1000) / 1e6).toFixed(3)} M/s`;
}

function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(2)}x`;
}

const config = createConfiguration({ memorySize: 0.25 });
const metadata = new Uint8Array(16);

interface RunResult {
  postMs: number;
  mapPostMs: number;
  posts: number;
}

/** Names posted per postMany call in the batch runs. */
const BATCH = 1024;

async function postRun(
  count: number,
  dup: number,
  names: Buffer,
  batch = 0,
): Promise<{ index: DedupIndex; result: RunResult; storage: MemoryStorage }> {
  const order = postOrder(count, dup, 9);
  // Map baseline: name (latin1 string) -> metadata.
  const map = new Map<string, Uint8Array>();
  let t = now();
  let mapFound = 0;
  for (let i = 0; i < count; i++) {
    const at = order[i]! * 16;
    const name = key(names, at, at + 16);
    const old = map.get(name);
    if (old !== undefined) mapFound++;
    else map.set(name, metadata.slice());
  }
  const mapPostMs = now() - t;
  map.clear();
  const storage = new MemoryStorage();
  const index = await DedupIndex.create(storage, { configuration: config, cachePages: 4096 });
  let found = 0;
  let postMs: number;
  if (batch === 0) {
    t = now();
    for (let i = 0; i < count; i++) {
      const at = order[i]! * 16;
      if ((await index.post(names.subarray(at, at + 16), metadata)) !== undefined) found++;
    }
    postMs = now() - t;
  } else {
    // The names of each batch are gathered into one array first, outside the timing, as a caller
    // with a batch of chunks to post has them (the single posts take their views for free).
    const batchNames = new Uint8Array(count * 16);
    for (let i = 0; i < count; i++)
      batchNames.set(names.subarray(order[i]! * 16, order[i]! * 16 + 16), i * 16);
    const batchMetadata = new Uint8Array(batch * 16);
    t = now();
    for (let i = 0; i < count; i += batch) {
      const n = Math.min(batch, count - i);
      const answers = await index.postMany(
        batchNames.subarray(i * 16, (i + n) * 16),
        batchMetadata.subarray(0, n * 16),
      );
      for (const answer of answers) if (answer !== undefined) found++;
    }
    postMs = now() - t;
  }
  if (found !== mapFound) throw new Error(`the index found ${found} duplicates, the Map ${mapFound}`);
  return { index, storage, result: { postMs, mapPostMs, posts: count } };
}

async function queryRun(index: DedupIndex, names: Buffer, present: number, count: number): Promise<void> {
  const absent = makeNames(count, 777);
  let a = 5;
  const pick = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    pick[i] = a % present;
  }
  // Warm up the page cache and the JIT.
  for (let i = 0; i < Math.min(count, 50_000); i++)
    await index.query(names.subarray(pick[i]! * 16, pick[i]! * 16 + 16));
  const before = index.getStats();
  let t = now();
  let hits = 0;
  for (let i = 0; i < count; i++) {
    const at = pick[i]! * 16;
    if ((await index.query(names.subarray(at, at + 16))) !== undefined) hits++;
  }
  const presentMs = now() - t;
  const after = index.getStats();
  t = now();
  let misses = 0;
  for (let i = 0; i < count; i++)
    if ((await index.query(absent.subarray(i * 16, i * 16 + 16))) === undefined) misses++;
  const absentMs = now() - t;
  // The same queries in batches (queryMany of BATCH names), gathered outside the timing.
  const presentBatch = new Uint8Array(count * 16);
  for (let i = 0; i < count; i++) presentBatch.set(names.subarray(pick[i]! * 16, pick[i]! * 16 + 16), i * 16);
  const batched = async (all: Uint8Array, want: boolean): Promise<number> => {
    const start = now();
    let wrong = 0;
    for (let i = 0; i < count; i += BATCH) {
      const n = Math.min(BATCH, count - i);
      for (const answer of await index.queryMany(all.subarray(i * 16, (i + n) * 16))) {
        if ((answer !== undefined) !== want) wrong++;
      }
    }
    if (wrong !== 0) throw new Error(`queryMany: ${wrong} wrong answers`);
    return now() - start;
  };
  const presentManyMs = await batched(presentBatch, true);
  const absentManyMs = await batched(absent, false);
  // The Map baseline, built only now so that it does not weigh on the index's garbage collections.
  const heapBefore = process.memoryUsage().heapUsed;
  const map = new Map<string, Uint8Array>();
  for (let i = 0; i < present; i++) map.set(key(names, i * 16, i * 16 + 16), metadata.slice());
  const mapBytes = process.memoryUsage().heapUsed - heapBefore;
  t = now();
  for (let i = 0; i < count; i++) if (map.get(key(names, pick[i]! * 16, pick[i]! * 16 + 16))) hits--;
  const mapPresentMs = now() - t;
  t = now();
  for (let i = 0; i < count; i++) if (map.get(key(absent, i * 16, i * 16 + 16)) === undefined) misses--;
  const mapAbsentMs = now() - t;
  map.clear();
  if (hits !== 0) throw new Error(`query of present names: ${hits} mismatches`);
  if (misses !== 0) throw new Error(`query of absent names: ${misses} mismatches`);
  const lookups = after.cacheHits + after.cacheMisses - before.cacheHits - before.cacheMisses;
  const missRate = (after.cacheMisses - before.cacheMisses) / lookups;
  console.log(
    `  query present: ${rate(count, presentMs)} (Map ${rate(count, mapPresentMs)}, ${ratio(mapPresentMs, presentMs)}); ` +
      `page cache miss rate ${(missRate * 100).toFixed(1)}%`,
  );
  console.log(
    `  query present, queryMany of ${BATCH}: ${rate(count, presentManyMs)} (single queries: ${ratio(presentMs, presentManyMs)}; ` +
      `Map ${ratio(mapPresentMs, presentManyMs)}); query absent, queryMany: ${rate(count, absentManyMs)} ` +
      `(single: ${ratio(absentMs, absentManyMs)}; Map ${ratio(mapAbsentMs, absentManyMs)})`,
  );
  console.log(
    `  Map baseline memory: about ${(mapBytes / present).toFixed(0)} bytes per entry (heap growth, approximate)`,
  );
  console.log(
    `  query absent:  ${rate(count, absentMs)} (Map ${rate(count, mapAbsentMs)}, ${ratio(mapAbsentMs, absentMs)})`,
  );
}

function memoryReport(index: DedupIndex, records: number): void {
  const stats = index.getStats();
  const g = index.geometry;
  console.log(
    `  volume index: ${(stats.volumeIndexBytes / 2 ** 20).toFixed(1)} MiB allocated for ${g.recordsPerVolume} records = ` +
      `${stats.bytesPerRecord.toFixed(3)} bytes/record (${stats.entries} entries, ${stats.collisions} collisions)`,
  );
  console.log(
    `  storage: ${(stats.storageBytes / 2 ** 30).toFixed(2)} GiB for a full volume = ${(stats.storageBytes / g.recordsPerVolume).toFixed(1)} bytes/record; ` +
      `${stats.chaptersWritten} chapters written for ${records} records; cache ${stats.cacheHits} hits / ${stats.cacheMisses} misses`,
  );
}

/**
 * Bits per volume index entry at full density. The bits in use divided by the entries mean little on
 * nearly empty lists (1M records in an index sized for 67M: the deltas are 67 times the mean, about
 * 94 bits each), so this fills a volume index of 1,048,576 records coded as the 0.25 GB
 * configuration's (mean delta 4096, 1024 chapters: the same delta and payload widths) to capacity.
 */
function fullDensityReport(): void {
  const geometry = createGeometry({ bytesPerPage: 32768, recordPagesPerChapter: 1, chaptersPerVolume: 1024 });
  const dense: IndexConfiguration = Object.freeze({ ...config, geometry, memorySize: 0 });
  const vi = new VolumeIndex(dense);
  const count = geometry.recordsPerVolume;
  const perChapter = geometry.recordsPerChapter;
  const names = makeNames(count, 5);
  const record = new VolumeIndexRecord();
  vi.setOpenChapter(0);
  for (let i = 0; i < count; i++) {
    if (i > 0 && i % perChapter === 0) vi.setOpenChapter(i / perChapter);
    vi.lookup(names.subarray(i * 16, i * 16 + 16), record);
    if (!record.isFound) vi.put(record, Math.floor(i / perChapter));
  }
  const stats = vi.getStats();
  const bits = stats.usedBits / stats.entries;
  console.log(
    `volume index at full density (${count} records, mean delta ${config.volumeIndexMeanDelta}, ${geometry.chaptersPerVolume} chapters): ` +
      `${bits.toFixed(2)} bits = ${(bits / 8).toFixed(3)} bytes per entry in use (${stats.entries} entries, ` +
      `${stats.overflows} dropped); ${(stats.memoryBytes / count).toFixed(3)} bytes per record allocated`,
  );
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log(
    `configuration: 0.25 GB dense, ${config.geometry.recordsPerChapter} records/chapter, ${config.geometry.chaptersPerVolume} chapters`,
  );
  const sizes = process.env.DEDUP_BENCH_SIZE
    ? [Number(process.env.DEDUP_BENCH_SIZE)]
    : process.env.DEDUP_BENCH_10M === '0'
      ? [1_000_000]
      : [1_000_000, 10_000_000];
  for (const size of sizes.filter((n) => n > 0)) {
    const names = makeNames(size, 1);
    for (const dup of [0.1, 0.5]) {
      const { index, result } = await postRun(size, dup, names);
      console.log(
        `${size / 1e6}M posts, ${dup * 100}% duplicates: ${rate(result.posts, result.postMs)} ` +
          `(Map ${rate(result.posts, result.mapPostMs)}, ${ratio(result.mapPostMs, result.postMs)})`,
      );
      if (dup === 0.1) {
        // The same posts in batches (postMany), on a fresh index, against the single posts above.
        const batched = await postRun(size, dup, names, BATCH);
        console.log(
          `${size / 1e6}M posts, ${dup * 100}% duplicates, postMany of ${BATCH}: ${rate(size, batched.result.postMs)} ` +
            `(single posts ${rate(size, result.postMs)}: ${ratio(result.postMs, batched.result.postMs)}; ` +
            `Map ${rate(size, batched.result.mapPostMs)}, ${ratio(batched.result.mapPostMs, batched.result.postMs)})`,
        );
      }
      if (dup === 0.1) {
        const distinct = index.getStats().entries;
        await queryRun(index, names, Math.min(distinct, size * 0.9), Math.min(size, 500_000));
        memoryReport(index, size);
      }
    }
  }
  // The volume index alone (the reference measured 0.58 M lookups/s on a full 0.25 GB index).
  const vi = new VolumeIndex(config);
  vi.setOpenChapter(0);
  const count = 1_000_000;
  const names = makeNames(count, 3);
  const record = new VolumeIndexRecord();
  let t = now();
  for (let i = 0; i < count; i++) {
    const name = names.subarray(i * 16, i * 16 + 16);
    vi.lookup(name, record);
    if (!record.isFound) vi.put(record, 0);
  }
  const putMs = now() - t;
  t = now();
  let found = 0;
  for (let i = 0; i < count; i++) if (vi.lookup(names.subarray(i * 16, i * 16 + 16), record).isFound) found++;
  const lookupMs = now() - t;
  const map = new Map<string, number>();
  t = now();
  for (let i = 0; i < count; i++) map.set(key(names, i * 16, i * 16 + 16), 0);
  const mapPutMs = now() - t;
  t = now();
  for (let i = 0; i < count; i++) if (map.get(key(names, i * 16, i * 16 + 16)) !== undefined) found--;
  const mapLookupMs = now() - t;
  if (found !== 0) throw new Error('volume index lookups disagree with the Map');
  console.log(
    `volume index alone, 1M names: insert ${rate(count, putMs)} (Map ${rate(count, mapPutMs)}), ` +
      `lookup ${rate(count, lookupMs)} (Map ${rate(count, mapLookupMs)}, ${ratio(mapLookupMs, lookupMs)}); reference C: 1.05 M inserts/s, 0.58 M lookups/s`,
  );
  fullDensityReport();
  console.log(`whole run: ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

await main();
