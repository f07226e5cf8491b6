// A single-workload driver for profiling and A/B runs of @deja/hbitmap at 2^30 items (granularity 0),
// the workloads of the issue-19 goals: `dirty` (the dirty-tracking round, and with `dirty-parts` its
// set, reset, nextDirtyArea and nextDirty alone), `nz` and `alloc` (99% full, scattered holes),
// `bits` (1M random single bits), `ranges` (10k random ranges), `deser` (deserialize the 10k
// ranges, alternated with a flat copy of the same bytes in the same process), and `iter` (the walks
// over the 10k ranges: nextWord() with the caller taking the bits out as the benchmark does, one
// next() per item; then the word walk over 1M random single bits).
//
// Each figure is the best per-operation CPU time (process.cpuUsage, so time spent waiting for a core
// on a shared machine is not counted) over repeated samples during `secs` seconds of wall time.
//
//   cd packages/hbitmap && npx tsx --conditions=@deja/source bench/profile.ts dirty 2
//   node --cpu-prof --conditions=@deja/source --import tsx bench/profile.ts deser   (a CPU profile)
//
// For an A/B against an earlier commit, run the same command in a worktree of that commit, and
// alternate the two several times: figures drift by 2x and more when other processes load the machine.

import { HBitmap } from '../src/index';
import { rng } from './harness';

const workload = process.argv[2] ?? 'dirty';
const secs = Number(process.argv[3] ?? 2);
const size = 2 ** 30;
const rand = rng(0x12345678);
const hb = new HBitmap(size, 0);

const cpuNs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};

/** Best CPU ns per operation of `fn(n)` over the samples of `secs` seconds; `before` is untimed. */
function time(fn: (n: number) => void, n: number, before = () => {}): number {
  before();
  fn(Math.min(n, 1000));
  let best = Number.POSITIVE_INFINITY;
  const end = Date.now() + secs * 1000;
  while (Date.now() < end) {
    before();
    const t = cpuNs();
    fn(n);
    best = Math.min(best, (cpuNs() - t) / n);
  }
  return best;
}

const nRound = 1 << 14;
const qs = Float64Array.from({ length: nRound }, () => rand(size));
let k = 0;
const out: string[] = [];

if (workload === 'dirty' || workload === 'dirty-parts') {
  for (let i = 0; i < 1024; i++) hb.set(rand(size - 65536), 1 + rand(65536));
  const ws = Float64Array.from({ length: nRound }, () => rand(size - 8192));
  const wl = Float64Array.from({ length: nRound }, () => 1 + rand(4096));
  const xs = Float64Array.from({ length: nRound }, () => rand(size - 8192));
  const xl = Float64Array.from({ length: nRound }, () => 1 + rand(4096));
  const area = { start: 0, count: 0 };
  const inf = Number.POSITIVE_INFINITY;
  const step = () => (k = (k + 1) & (nRound - 1));
  const round = (n: number) => {
    for (let i = 0; i < n; i++, step()) {
      hb.set(ws[k]!, wl[k]!);
      hb.reset(xs[k]!, xl[k]!);
      hb.nextDirtyArea(qs[k]!, inf, inf, area);
    }
  };
  out.push(`round ${time(round, 1 << 16).toFixed(1)} ns`);
  if (workload === 'dirty-parts') {
    const set = (n: number) => {
      for (let i = 0; i < n; i++, step()) hb.set(ws[k]!, wl[k]!);
    };
    const reset = (n: number) => {
      for (let i = 0; i < n; i++, step()) hb.reset(xs[k]!, xl[k]!);
    };
    const area_ = (n: number) => {
      for (let i = 0; i < n; i++, step()) hb.nextDirtyArea(qs[k]!, inf, inf, area);
    };
    const dirty = (n: number) => {
      for (let i = 0; i < n; i++, step()) hb.nextDirty(qs[k]!);
    };
    out.push(`set ${time(set, 1 << 16).toFixed(1)} ns`, `reset ${time(reset, 1 << 16).toFixed(1)} ns`);
    out.push(
      `nextDirtyArea ${time(area_, 1 << 16).toFixed(1)} ns`,
      `nextDirty ${time(dirty, 1 << 16).toFixed(1)} ns`,
    );
  }
} else if (workload === 'nz' || workload === 'alloc') {
  hb.set(0, size);
  for (let i = 0; i < size / 100; i++) hb.reset(rand(size), 1);
  if (workload === 'nz') {
    const nz = (n: number) => {
      for (let i = 0; i < n; i++, k = (k + 1) & (nRound - 1)) hb.nextZero(qs[k]!);
    };
    out.push(`nextZero ${time(nz, 1 << 18).toFixed(2)} ns`);
  } else {
    // As the benchmark: allocate from a moving cursor, free the taken groups (untimed) between samples.
    const taken = new Float64Array(Math.floor(size / 400));
    let nTaken = 0;
    let cursor = 0;
    const alloc = (n: number) => {
      for (let i = 0; i < n; i++) {
        let z = hb.allocate(cursor);
        if (z < 0) z = hb.allocate(0);
        taken[nTaken++] = z;
        cursor = z + 1 < size ? z + 1 : 0;
      }
    };
    const free = () => {
      for (let i = 0; i < nTaken; i++) hb.reset(taken[i]!, 1);
      nTaken = 0;
    };
    out.push(`allocate ${time(alloc, taken.length, free).toFixed(2)} ns`);
  }
} else if (workload === 'bits') {
  const pos = Float64Array.from({ length: 1 << 20 }, () => rand(size));
  const set = (n: number) => {
    for (let i = 0; i < n; i++) hb.set(pos[i]!, 1);
  };
  out.push(`set bit ${time(set, 1 << 20, () => hb.resetAll()).toFixed(1)} ns`);
} else if (workload === 'ranges' || workload === 'deser') {
  const rs = Float64Array.from({ length: 10000 }, () => rand(size - 65536));
  const rl = Float64Array.from({ length: 10000 }, () => 1 + rand(65536));
  if (workload === 'ranges') {
    const set = (n: number) => {
      for (let i = 0; i < n; i++) hb.set(rs[i]!, rl[i]!);
    };
    out.push(`set range ${time(set, 10000, () => hb.resetAll()).toFixed(1)} ns`);
  } else {
    for (let i = 0; i < 10000; i++) hb.set(rs[i]!, rl[i]!);
    const buf = new Uint8Array(hb.serializationSize(0, size));
    hb.serializePart(buf, 0, size);
    const flat = new Uint32Array(size / 32);
    let bestH = Number.POSITIVE_INFINITY;
    let bestF = Number.POSITIVE_INFINITY;
    const end = Date.now() + secs * 1000;
    for (let r = 0; r < 3 || Date.now() < end; r++) {
      let t = cpuNs();
      hb.deserializePart(buf, 0, size, true);
      bestH = Math.min(bestH, cpuNs() - t);
      t = cpuNs();
      new Uint8Array(flat.buffer).set(buf);
      bestF = Math.min(bestF, cpuNs() - t);
    }
    out.push(`deserialize ${(bestH / 1e6).toFixed(2)} ms`, `flat copy ${(bestF / 1e6).toFixed(2)} ms`);
    out.push(`ratio ${(bestH / bestF).toFixed(2)}x`);
  }
} else if (workload === 'iter') {
  let sink = 0;
  /** The benchmark's word walk (bench/impls.ts, granularity 0): per set bit, per word. */
  const words = (): number => {
    const it = hb.iter(0);
    let n = 0;
    let x32 = 0;
    for (let w = it.nextWord(); w >= 0; w = it.nextWord()) {
      const b31 = w * 32 + 31;
      for (let x = it.word | 0; x !== 0; x &= x - 1) {
        x32 ^= b31 - Math.clz32(x & -x);
        n = (n + 1) | 0;
      }
    }
    sink += x32;
    return n;
  };
  const next = (): number => {
    const it = hb.iter(0);
    let n = 0;
    let sum = 0;
    for (let x = it.next(); x >= 0; x = it.next()) {
      sum += x;
      n++;
    }
    sink += sum;
    return n;
  };
  /** Best CPU ns per visited bit of `walk` over the samples of `secs` seconds. */
  const perBit = (walk: () => number): number => {
    walk();
    let best = Number.POSITIVE_INFINITY;
    const end = Date.now() + secs * 1000;
    while (Date.now() < end) {
      const t = cpuNs();
      const n = walk();
      best = Math.min(best, (cpuNs() - t) / n);
    }
    return best;
  };
  for (let i = 0; i < 10000; i++) hb.set(rand(size - 65536), 1 + rand(65536));
  out.push(`nextWord walk ${perBit(words).toFixed(3)} ns/bit`, `next() ${perBit(next).toFixed(3)} ns/bit`);
  hb.resetAll();
  for (let i = 0; i < 1 << 20; i++) hb.set(rand(size), 1);
  out.push(`1M bits, nextWord walk ${perBit(words).toFixed(1)} ns/bit`);
  if (sink === 0.5) out.push('');
} else {
  throw new Error(`unknown workload ${workload}: dirty, dirty-parts, nz, alloc, bits, ranges, deser, iter`);
}
console.log(`${workload}: ${out.join(', ')}`);
