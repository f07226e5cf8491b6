// Posts with the zones on worker threads (zoneWorkers) against the single-thread index: 1M posts
// (10% duplicates, postMany of 1024) on the 0.25 GB dense configuration, with one zone in-thread,
// two zones in-thread, two zones on workers, and the last two again while another thread hashes
// (a worker_thread running node:crypto sha256 over 4 KiB blocks in a loop: the store's write path
// stand-in). Timed on the wall clock (threads working at once is the point), with the process's CPU
// time beside it. Run: tsx --conditions=@deja/source bench/zones.ts (DEDUP_ZONES_POSTS, _ROUNDS, _BATCH).

import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { MemoryStorage } from '@deja/storage';
import { createConfiguration } from '@deja/volume-geometry';
import { DedupIndex } from '../src/index';
import { makeNames } from './_names';

const posts = Number(process.env.DEDUP_ZONES_POSTS ?? 1_000_000);
const rounds = Number(process.env.DEDUP_ZONES_ROUNDS ?? 2);
const BATCH = Number(process.env.DEDUP_ZONES_BATCH ?? 1024);
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(
  `@deja/dedup-index zones bench on ${cpu} (${os.cpus().length} cores), Node ${process.version}, ` +
    `load ${os.loadavg()[0]!.toFixed(1)}; ${posts / 1e6}M posts, 10% duplicates, postMany of ${BATCH}`,
);

// The same post order as bench/index.ts: a tenth of the posts repeat an earlier name.
const names = makeNames(posts, 1);
const order = new Uint8Array(posts * 16);
{
  let a = 9;
  let fresh = 0;
  for (let i = 0; i < posts; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    let pick: number;
    if (fresh > 0 && a / 2 ** 32 < 0.1) {
      a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
      pick = a % fresh;
    } else pick = fresh++;
    order.set(names.subarray(pick * 16, pick * 16 + 16), i * 16);
  }
}
const metadata = new Uint8Array(BATCH * 16);

/** A thread hashing 4 KiB blocks with sha256 until stopped; counts its blocks. */
function startHashing(): { stop(): Promise<number> } {
  const flag = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     const { hash } = require('node:crypto');
     const flag = workerData;
     const block = new Uint8Array(4096).map((_, i) => i * 31);
     let n = 0;
     while (Atomics.load(flag, 0) === 0) { block[n & 4095] = n; hash('sha256', block, 'buffer'); n++; }
     Atomics.store(flag, 1, n);`,
    { eval: true, workerData: flag },
  );
  return {
    async stop() {
      Atomics.store(flag, 0, 1);
      await new Promise((resolve) => worker.once('exit', resolve));
      return Atomics.load(flag, 1);
    },
  };
}

async function run(
  label: string,
  zoneCount: number,
  zoneWorkers: boolean,
  hashing: boolean,
): Promise<number> {
  const config = createConfiguration({ memorySize: 0.25, zoneCount });
  const index = await DedupIndex.create(new MemoryStorage(), {
    configuration: config,
    cachePages: 4096,
    zoneWorkers,
  });
  // Warm the JIT (and the workers) on a few batches of other names, not timed.
  const warm = makeNames(20 * BATCH, 7);
  for (let i = 0; i < warm.length / 16; i += BATCH)
    await index.postMany(warm.subarray(i * 16, (i + BATCH) * 16), metadata);
  const hasher = hashing ? startHashing() : null;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let found = 0;
  for (let i = 0; i < posts; i += BATCH) {
    const n = Math.min(BATCH, posts - i);
    for (const answer of await index.postMany(
      order.subarray(i * 16, (i + n) * 16),
      metadata.subarray(0, n * 16),
    ))
      if (answer !== undefined) found++;
  }
  const ms = performance.now() - t0;
  const used = process.cpuUsage(cpu0);
  const hashed = hasher === null ? 0 : await hasher.stop();
  await index.close();
  const rate = posts / ms / 1000;
  console.log(
    `${label}: ${rate.toFixed(3)} M posts/s wall (${(ms / 1000).toFixed(2)} s, process CPU (all threads) ${((used.user + used.system) / 1e6).toFixed(2)} s` +
      `${hashing ? `; the hashing thread meanwhile: ${((hashed * 4096) / 2 ** 20 / (ms / 1000)).toFixed(0)} MiB/s of sha256` : ''}` +
      `; ${found} duplicates found)`,
  );
  return rate;
}

const rows: [string, number, boolean, boolean][] = [
  ['1 zone, in-thread', 1, false, false],
  ['2 zones, in-thread', 2, false, false],
  ['2 zones, on workers', 2, true, false],
  ['1 zone, in-thread, while a thread hashes', 1, false, true],
  ['2 zones, on workers, while a thread hashes', 2, true, true],
];
const rates = new Map<string, number[]>();
for (let r = 0; r < rounds; r++) {
  for (const [label, zones, workers, hashing] of rows) {
    const rate = await run(label, zones, workers, hashing);
    rates.set(label, [...(rates.get(label) ?? []), rate]);
  }
}
const base = rates.get(rows[0]![0])!;
for (const [label, list] of rates) {
  const ratios = list.map((x, i) => (x / base[i]!).toFixed(2));
  console.log(
    `${label}: ${list.map((x) => x.toFixed(3)).join(', ')} M/s (x 1 zone in-thread: ${ratios.join(', ')})`,
  );
}
console.log(`load at the end ${os.loadavg()[0]!.toFixed(1)}`);
