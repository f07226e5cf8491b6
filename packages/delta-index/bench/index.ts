// Benchmark (pnpm bench): the delta index in a volume-index-like and a chapter-index-like
// configuration at 1M and 4M uniformly random entries. Reports bits per entry (in the lists and
// allocated) against the entropy bound log2(e·mean) + payload bits, and inserts/s, hits/s and
// misses/s, next to a JS Map holding the same entries measured in the same process (the baseline),
// and the figures the reference C measured. DELTA_BENCH_CLOCK=cpu times on the process's CPU time
// (process.cpuUsage) instead of the wall clock: steadier on a shared, loaded machine.
//
// The seed's C, built by `pnpm bench:c` (bench/c: the seed's delta-index.c running this workload),
// runs beside each row when its binary is there (DELTA_BENCH_C=0 skips it): the TypeScript row and
// the C row alternate DELTA_BENCH_ROUNDS times (default 1) on the same clock, and the table gives
// the median of the per-pair ratios, the comparison that the machine's load disturbs least.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { computeDeltaIndexSize, DeltaIndex } from '../src/index';

interface Config {
  name: string;
  /** The configuration's name for bench/c/bench.c. */
  cName: string;
  meanDelta: number;
  payloadBits: number;
  keyBits: number;
  perList: number;
  /** What the reference C measured single-threaded at 1M entries (see the package README). */
  reference: string;
  /** The reference C's hits/s at 1M entries. */
  referenceHits: number;
}

const CONFIGS: Config[] = [
  {
    name: 'volume-index-like',
    cName: 'volume',
    meanDelta: 4080,
    payloadBits: 10,
    keyBits: 20,
    perList: 257,
    reference:
      'C at 1M on a quiet machine: 23.48 list bits/entry (bound 23.44), 2.4M inserts/s, 1.4M hits/s, 1.4M misses/s',
    referenceHits: 1.4e6,
  },
  {
    name: 'chapter-index-like',
    cName: 'chapter',
    meanDelta: 65536,
    payloadBits: 8,
    keyBits: 22,
    perList: 64,
    reference: 'C at 1M on a quiet machine: 25.45 list bits/entry, 5.0M inserts/s, 4.2M hits/s',
    referenceHits: 4.2e6,
  },
];

const SIZES = [1 << 20, 4 << 20];
const LOOKUPS = 1 << 20;

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const gc = (globalThis as { gc?: () => void }).gc;

function heapUsed(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

interface Result {
  entries: number;
  listBits: number;
  allocatedBits: number;
  bound: number;
  inserts: number;
  hits: number;
  misses: number;
  mapBytes: number;
  mapInserts: number;
  mapHits: number;
  mapMisses: number;
}

/** The clock of every timed section, in milliseconds: wall time, or CPU time (DELTA_BENCH_CLOCK=cpu). */
const onCpu = process.env.DELTA_BENCH_CLOCK === 'cpu';
function now(): number {
  if (!onCpu) return performance.now();
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function rate(count: number, start: number): number {
  return (count / (now() - start)) * 1000;
}

const NO_MAP = { mapBytes: Number.NaN, mapInserts: Number.NaN, mapHits: Number.NaN, mapMisses: Number.NaN };

/** The machine is shared and noisy: time a lookup pass REPEAT times and keep the best rate. */
const REPEAT = 3;

function best(pass: () => number): number {
  let top = 0;
  for (let i = 0; i < REPEAT; i++) {
    const start = now();
    const count = pass();
    top = Math.max(top, rate(count, start));
  }
  return top;
}

/** One row: the delta index, then (unless `withMap` is false) the Map holding the same entries. */
function run(config: Config, count: number, seed: number, withMap = true): Result {
  const listCount = Math.max(1, Math.round(count / config.perList));
  const keyMask = 2 ** config.keyBits - 1;
  const valueMask = 2 ** config.payloadBits - 1;
  // Entries come from a seeded generator, regenerated for each pass (as the reference C's test
  // does) rather than stored in big arrays whose random reads would add cache misses to every
  // lookup. Insertion order is random over the lists, so looking entries up in insertion order
  // is a random access pattern. Misses use the same lists with keys from another seed (absent with
  // probability ~1 - 1/mean).
  const entries = (s: number) => {
    const random = mulberry32(s);
    return { list: () => random() % listCount, key: () => random() & keyMask };
  };

  // Give the lists 10% more than the expected size, as UDS sizes its volume index (1.06x).
  const memorySize = Math.ceil(
    (computeDeltaIndexSize(count, config.meanDelta, config.payloadBits) * 1.1) / 8,
  );
  const index = new DeltaIndex({
    listCount,
    meanDelta: config.meanDelta,
    payloadBits: config.payloadBits,
    memorySize,
  });
  const entry = index.startSearch(0, 0);
  let source = entries(seed);
  let start = now();
  for (let i = 0; i < count; i++) {
    const list = source.list();
    const key = source.key();
    index.getEntry(list, key, null, entry);
    if (!entry.atEnd && entry.key === key) entry.setValue(i & valueMask);
    else entry.put(key, i & valueMask);
  }
  const inserts = rate(count, start);
  const stats = index.getStats();

  const lookups = Math.min(count, LOOKUPS);
  const hits = best(() => {
    const hit = entries(seed);
    let found = 0;
    for (let i = 0; i < lookups; i++) {
      const list = hit.list();
      if (index.get(list, hit.key()) !== undefined) found++;
    }
    if (found !== lookups) throw new Error(`lost entries: ${lookups - found}`);
    return lookups;
  });
  const misses = best(() => {
    const miss = entries(seed + 1);
    let missed = 0;
    for (let i = 0; i < lookups; i++) {
      const list = miss.list();
      if (index.get(list, miss.key()) === undefined) missed++;
    }
    if (missed < lookups * 0.99) throw new Error('miss keys mostly hit');
    return lookups;
  });

  const listBits = stats.usedBits / stats.recordCount;
  const allocatedBits = (index.memorySize * 8) / stats.recordCount;
  const bound = Math.log2(Math.E * config.meanDelta) + config.payloadBits;
  if (!withMap) {
    const entries = stats.recordCount;
    return { entries, listBits, allocatedBits, bound, inserts, hits, misses, ...NO_MAP };
  }

  // The baseline: a Map from list * 2^keyBits + key to the value.
  const before = heapUsed();
  const map = new Map<number, number>();
  const shift = 2 ** config.keyBits;
  source = entries(seed);
  start = now();
  for (let i = 0; i < count; i++) {
    const list = source.list();
    map.set(list * shift + source.key(), i & valueMask);
  }
  const mapInserts = rate(count, start);
  const mapBytes = heapUsed() - before;
  const mapHits = best(() => {
    const hit = entries(seed);
    let found = 0;
    for (let i = 0; i < lookups; i++) {
      const list = hit.list();
      if (map.get(list * shift + hit.key()) !== undefined) found++;
    }
    if (found !== lookups) throw new Error('map lost entries');
    return lookups;
  });
  const mapMisses = best(() => {
    const miss = entries(seed + 1);
    let missed = 0;
    for (let i = 0; i < lookups; i++) {
      const list = miss.list();
      if (map.get(list * shift + miss.key()) === undefined) missed++;
    }
    if (missed < lookups * 0.99) throw new Error('miss keys mostly hit the map');
    return lookups;
  });
  if (map.size !== stats.recordCount) throw new Error('map and index disagree');

  return {
    entries: stats.recordCount,
    listBits,
    allocatedBits,
    bound,
    inserts,
    hits,
    misses,
    mapBytes: mapBytes / map.size,
    mapInserts,
    mapHits,
    mapMisses,
  };
}

const m = (x: number) => `${(x / 1e6).toFixed(2)}M`;

/** The seed's C running the same row (bench/c/bench.c), or null when it is not built or is skipped. */
const C_BENCH = fileURLToPath(new URL('./c/.build/delta-bench', import.meta.url));
const withC = process.env.DELTA_BENCH_C !== '0' && existsSync(C_BENCH);
const ROUNDS = Math.max(1, Number(process.env.DELTA_BENCH_ROUNDS ?? 1) || 1);

interface CResult {
  entries: number;
  listBits: number;
  inserts: number;
  hits: number;
  misses: number;
}

function runC(config: Config, count: number): CResult {
  const child = spawnSync(C_BENCH, [config.cName, String(count), onCpu ? 'cpu' : 'wall'], {
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`${C_BENCH} failed: ${child.stderr}`);
  return JSON.parse(child.stdout) as CResult;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

console.log('@deja/delta-index benchmark');
console.log(
  `machine: ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores), Node ${process.version}`,
);
console.log(`clock: ${onCpu ? 'CPU time of the process (process.cpuUsage)' : 'wall time'}`);
console.log(`gc exposed: ${gc !== undefined} (Map memory is measured after a forced GC only when it is)`);
console.log(
  `lookup rates: best of ${REPEAT} passes of ${LOOKUPS} lookups in insertion order; inserts: one pass`,
);
console.log('hits vs C: against the reference figure (1M entries, a quiet machine, another process)');
console.log(
  withC
    ? `the seed's C: ${C_BENCH}, alternating with each row ${ROUNDS} time(s), same clock`
    : "the seed's C: not run (build it with `pnpm bench:c`; DELTA_BENCH_C=0 skips it)",
);
console.log('warming up...');
for (const config of CONFIGS) run(config, 1 << 16, 99);

for (const config of CONFIGS) {
  console.log(
    `\n## ${config.name}: mean delta ${config.meanDelta}, ${config.payloadBits}-bit payload, ` +
      `${config.keyBits}-bit keys, ~${config.perList} entries per list`,
  );
  console.log(`reference ${config.reference}`);
  console.log(
    '| entries | list bits/entry | allocated bits/entry | bound | inserts/s | hits/s | misses/s | Map bytes/entry | Map sets/s | Map hits/s | Map misses/s | hits vs Map | hits vs C |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const pairs: string[] = [];
  for (const count of SIZES) {
    const r = run(config, count, count);
    console.log(
      `| ${r.entries} | ${r.listBits.toFixed(2)} | ${r.allocatedBits.toFixed(2)} | ${r.bound.toFixed(2)} | ` +
        `${m(r.inserts)} | ${m(r.hits)} | ${m(r.misses)} | ${r.mapBytes.toFixed(1)} (${(r.mapBytes * 8).toFixed(0)} bits) | ` +
        `${m(r.mapInserts)} | ${m(r.mapHits)} | ${m(r.mapMisses)} | ${(r.hits / r.mapHits).toFixed(2)}x | ` +
        `${(r.hits / config.referenceHits).toFixed(2)}x |`,
    );
    if (!withC) continue;
    // The TypeScript and the C alternate, so that both see about the same load.
    const ts: Result[] = [r];
    const c: CResult[] = [runC(config, count)];
    for (let round = 1; round < ROUNDS; round++) {
      ts.push(run(config, count, count, false));
      c.push(runC(config, count));
    }
    if (c[0]!.entries !== r.entries || Math.abs(c[0]!.listBits - r.listBits) > 1e-3) {
      throw new Error(`the C row holds other entries: ${JSON.stringify(c[0])}`);
    }
    const ratio = (key: 'inserts' | 'hits' | 'misses') =>
      median(ts.map((t, i) => t[key] / c[i]![key])).toFixed(2);
    const mid = (rows: { inserts: number; hits: number; misses: number }[]) =>
      `${m(median(rows.map((x) => x.inserts)))} / ${m(median(rows.map((x) => x.hits)))} / ${m(median(rows.map((x) => x.misses)))}`;
    pairs.push(
      `| ${r.entries} | ${ROUNDS} | ${mid(ts)} | ${mid(c)} | ${ratio('inserts')}x / ${ratio('hits')}x / ${ratio('misses')}x |`,
    );
  }
  if (pairs.length > 0) {
    console.log(`\nagainst the seed's C, alternating (medians; ratio: median of the per-pair ratios)`);
    console.log(
      '| entries | pairs | TS inserts / hits / misses per s | C inserts / hits / misses per s | TS / C |',
    );
    console.log('|---|---|---|---|---|');
    for (const line of pairs) console.log(line);
  }
}
