// Benchmark of @deja/hbitmap against a flat Uint32Array bitmap and CRoaring (native `roaring`), in
// one process, at 2^30 items (granularity 0) and 2^40 items (granularity 9): random single bits,
// random ranges, iteration, a dirty-tracking round, next-zero and allocation on a 99% full bitmap
// (scattered and front-filled), count, serialize and deserialize. Run: pnpm --filter @deja/hbitmap bench
// (BENCH_QUICK=1 for a small smoke run). Every contender first runs the whole suite on a small bitmap
// to warm the JIT up.

import os from 'node:os';
import { measure, once, rng } from './harness';
import { type Contender, FlatContender, HBitmapContender, RoaringContender } from './impls';

type Make = (size: number, granularity: number) => Contender;
const contenders: [string, Make][] = [
  ['HBitmap', (s, g) => new HBitmapContender(s, g)],
  ['flat', (s, g) => new FlatContender(s, g)],
  ['roaring', (s, g) => new RoaringContender(s, g)],
];

/** QEMU's C hbitmap on a machine of this kind, median ns at 2^30 items (from the issue). */
const qemu: Record<string, string> = {
  'set 1M random bits (ns/bit)': '311',
  'set 10k random ranges (ns/range)': '1,322',
  'iterate ranges (ns/set bit)': '1.97',
  'dirty-tracking round (ns/round)': '922',
  'next-zero 99% scattered (ns/op)': '56',
  'allocate 99% scattered (ns/op)': '29',
};

type Results = Map<string, Map<string, number>>;

function record(r: Results, workload: string, who: string, ns: number): void {
  let m = r.get(workload);
  if (m === undefined) {
    m = new Map();
    r.set(workload, m);
  }
  m.set(who, ns);
}

function suite(size: number, g: number, make: Make, who: string, r: Results, quick: boolean): void {
  const scale = 2 ** g;
  const align = (x: number) => x - (x % scale);
  const c = make(size, g);
  const rand = rng(0x5eed ^ g);

  // 1. 1M random single bits, then iterate.
  const nBits = quick ? 1 << 14 : 1 << 20;
  const pos = Float64Array.from({ length: nBits }, () => rand(size));
  const setBits = () => {
    for (let i = 0; i < pos.length; i++) c.set(pos[i]!, 1);
  };
  const samples: number[] = [];
  for (let s = 0; s < 3; s++) {
    c.clear();
    const t = process.hrtime.bigint();
    setBits();
    samples.push(Number(process.hrtime.bigint() - t) / nBits);
  }
  record(r, 'set 1M random bits (ns/bit)', who, samples.sort((a, b) => a - b)[1]!);
  let visited = 0;
  const itBits = once(() => {
    visited = c.iterate();
  });
  record(r, 'iterate 1M bits (ns/set bit)', who, itBits / visited);

  // 2. 10k random ranges of 1..65536 items, then iterate, count, serialize.
  const nRanges = quick ? 1000 : 10000;
  const rs = Float64Array.from({ length: nRanges }, () => rand(size - 65536));
  const rl = Float64Array.from({ length: nRanges }, () => 1 + rand(65536));
  const ranges: number[] = [];
  for (let s = 0; s < 3; s++) {
    c.clear();
    const t = process.hrtime.bigint();
    for (let i = 0; i < nRanges; i++) c.set(rs[i]!, rl[i]!);
    ranges.push(Number(process.hrtime.bigint() - t) / nRanges);
  }
  record(r, 'set 10k random ranges (ns/range)', who, ranges.sort((a, b) => a - b)[1]!);
  const itRanges = once(() => {
    visited = c.iterate();
  }, 2);
  record(r, 'iterate ranges (ns/set bit)', who, itRanges / visited);
  if (c instanceof HBitmapContender) {
    const itNext = once(() => {
      visited = c.iterateNext();
    }, 2);
    record(r, 'iterate ranges, one next() per item (ns/set bit)', who, itNext / visited);
  }
  record(
    r,
    'count (ns/op)',
    who,
    measure((n) => {
      for (let i = 0; i < n; i++) c.count();
    }),
  );
  let bytes = c.serialize();
  record(
    r,
    'serialize ranges (ms)',
    who,
    once(() => {
      bytes = c.serialize();
    }) / 1e6,
  );
  record(r, 'deserialize ranges (ms)', who, once(() => c.deserialize(bytes)) / 1e6);
  record(r, 'memory after ranges (MiB)', who, c.memory() / 2 ** 20);
  bytes = new Uint8Array(0);

  // 3. Dirty-tracking round: over 1024 background ranges, a write (set 1..4096 items), a copy-out
  // (reset an aligned range) and a scan for the next dirty area from a random point.
  c.clear();
  for (let i = 0; i < 1024; i++) c.set(rand(size - 65536), 1 + rand(65536));
  const nRound = 1 << 14;
  const ws = Float64Array.from({ length: nRound }, () => rand(size - 8192));
  const wl = Float64Array.from({ length: nRound }, () => 1 + rand(4096));
  const cs = Float64Array.from({ length: nRound }, () => align(rand(size - 8192)));
  const cl = Float64Array.from({ length: nRound }, () => align(rand(4096)) + scale);
  const qs = Float64Array.from({ length: nRound }, () => rand(size));
  const out = [0, 0];
  let k = 0;
  record(
    r,
    'dirty-tracking round (ns/round)',
    who,
    measure((n) => {
      for (let i = 0; i < n; i++, k = (k + 1) & (nRound - 1)) {
        c.set(ws[k]!, wl[k]!);
        c.reset(cs[k]!, cl[k]!);
        c.nextDirtyArea(qs[k]!, out);
      }
    }),
  );

  // 4. 99% full, scattered: next-zero from random points, allocation from a moving cursor.
  c.clear();
  c.set(0, size);
  const groups = Math.ceil(size / scale);
  for (let i = 0; i < groups / 100; i++) c.reset(rand(groups) * scale, scale);
  record(
    r,
    'next-zero 99% scattered (ns/op)',
    who,
    measure((n) => {
      for (let i = 0; i < n; i++, k = (k + 1) & (nRound - 1)) c.nextZero(qs[k]!);
    }),
  );
  // Each call allocates at most a quarter of the free groups; they are freed again before the next.
  let cursor = 0;
  const taken = new Float64Array(Math.floor(groups / 400));
  let nTaken = 0;
  const free = () => {
    for (let i = 0; i < nTaken; i++) c.reset(taken[i]!, scale);
    nTaken = 0;
  };
  record(
    r,
    'allocate 99% scattered (ns/op)',
    who,
    measure(
      (n) => {
        for (let i = 0; i < n; i++) {
          let z = c.allocate(cursor);
          if (z < 0) z = c.allocate(0);
          taken[nTaken++] = z;
          cursor = z + scale < size ? z + scale : 0;
        }
      },
      { maxOps: taken.length, before: free },
    ),
  );

  // 5. 99% full, front-filled: the first 99% set, next-zero and allocation from 0.
  c.clear();
  const front = align(Math.floor(size * 0.99));
  c.set(0, front);
  record(
    r,
    'next-zero 99% front-filled (ns/op)',
    who,
    measure((n) => {
      for (let i = 0; i < n; i++) c.nextZero(0);
    }),
  );
  record(
    r,
    'allocate 99% front-filled (ns/op)',
    who,
    measure(
      (n) => {
        for (let i = 0; i < n; i++) c.allocate(0);
      },
      { maxOps: Math.floor(groups / 400), before: () => c.reset(front, size - front) },
    ),
  );
  c.clear();
}

function fmt(x: number | undefined): string {
  if (x === undefined) return '-';
  if (x >= 100) return Math.round(x).toLocaleString('en-US');
  return x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined ? '-' : `${(a / b).toFixed(2)}x`;
}

function report(title: string, r: Results, withQemu: boolean): void {
  console.log(`\n## ${title}\n`);
  const head = ['workload', 'HBitmap', 'flat', 'roaring', 'flat / HBitmap', 'roaring / HBitmap'];
  if (withQemu) head.push('QEMU C (issue)');
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => ' --- ').join('|')}|`);
  for (const [workload, m] of r) {
    const h = m.get('HBitmap');
    const row = [workload, fmt(h), fmt(m.get('flat')), fmt(m.get('roaring'))];
    row.push(ratio(m.get('flat'), h), ratio(m.get('roaring'), h));
    if (withQemu) row.push(qemu[workload] ?? '-');
    console.log(`| ${row.join(' | ')} |`);
  }
}

const quick = process.env.BENCH_QUICK === '1';
const cpu = os.cpus();
console.log('# @deja/hbitmap benchmark');
console.log(
  `machine: ${cpu[0]?.model ?? 'unknown CPU'} x${cpu.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `Node ${process.version} (${os.platform()} ${os.arch()}), load average ${os.loadavg()[0]!.toFixed(2)}`,
);
console.log(
  'each figure is a median; ratios above 1x mean HBitmap is faster (the baselines run in this process)',
);

// Warm-up: every contender runs the whole suite once on a small bitmap, unrecorded.
for (const [who, make] of contenders) suite(1 << 20, 0, make, who, new Map(), true);

const configs: [string, number, number][] = quick
  ? [['2^22 items, granularity 0 (quick)', 2 ** 22, 0]]
  : [
      ['2^30 items, granularity 0', 2 ** 30, 0],
      ['2^40 items, granularity 9 (2^31 groups)', 2 ** 40, 9],
    ];
for (const [title, size, g] of configs) {
  const r: Results = new Map();
  for (const [who, make] of contenders) {
    suite(size, g, make, who, r, quick);
    (globalThis as { gc?: () => void }).gc?.();
  }
  report(title, r, g === 0 && !quick);
}
