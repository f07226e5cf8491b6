// Benchmark of @deja/bitfield against the bit-by-bit model of test/model.ts, measured in the same
// process: field reads and writes per second (random offsets, widths 1..25, as the delta index's
// decoder uses them) and moveBits throughput in MB/s (long moves in each bit phase and direction,
// and the short overlapping shifts a delta-list insert does). Run: pnpm --filter @deja/bitfield bench

import { cpus } from 'node:os';
import { getBigField, getField, moveBits, setBigField, setField, setZero } from '@deja/bitfield';
import { Bench } from 'tinybench';
import { modelGetField, modelMoveBits, modelSetField, modelSetZero } from '../test/model';
import { randomBytes, rng } from '../test/random';

const BATCH = 4096; // field operations per measured call
const STREAM_BYTES = 1 << 16;
const next = rng(0xbe7c4);
const memory = randomBytes(next, STREAM_BYTES + 8);
const offsets = Float64Array.from({ length: BATCH }, () => next() % ((STREAM_BYTES - 8) * 8));
const sizes = Uint8Array.from({ length: BATCH }, () => 1 + (next() % 25));
const bigSizes = Uint8Array.from({ length: BATCH }, () => 26 + (next() % 28));
const values = Uint32Array.from({ length: BATCH }, () => next());
let sink = 0;

interface Pair {
  readonly what: string;
  readonly unit: 'ops/s' | 'MB/s';
  /** Operations or bytes per call. */
  readonly per: number;
  readonly fast: () => void;
  readonly model: () => void;
}

const pairs: Pair[] = [
  {
    what: 'getField, 1..25 bits at random offsets',
    unit: 'ops/s',
    per: BATCH,
    fast: () => {
      let s = 0;
      for (let i = 0; i < BATCH; i++) s += getField(memory, offsets[i]!, sizes[i]!);
      sink += s;
    },
    model: () => {
      let s = 0;
      for (let i = 0; i < BATCH; i++) s += modelGetField(memory, offsets[i]!, sizes[i]!);
      sink += s;
    },
  },
  {
    what: 'setField, 1..25 bits at random offsets',
    unit: 'ops/s',
    per: BATCH,
    fast: () => {
      for (let i = 0; i < BATCH; i++) setField(values[i]!, memory, offsets[i]!, sizes[i]!);
    },
    model: () => {
      for (let i = 0; i < BATCH; i++) {
        const size = sizes[i]!;
        modelSetField(values[i]! % 2 ** size, memory, offsets[i]!, size);
      }
    },
  },
  {
    what: 'getBigField, 26..53 bits at random offsets',
    unit: 'ops/s',
    per: BATCH,
    fast: () => {
      let s = 0;
      for (let i = 0; i < BATCH; i++) s += getBigField(memory, offsets[i]!, bigSizes[i]!);
      sink += s;
    },
    model: () => {
      let s = 0;
      for (let i = 0; i < BATCH; i++) s += modelGetField(memory, offsets[i]!, bigSizes[i]!);
      sink += s;
    },
  },
  {
    what: 'setBigField, 26..53 bits at random offsets',
    unit: 'ops/s',
    per: BATCH,
    fast: () => {
      for (let i = 0; i < BATCH; i++) setBigField(values[i]! * 4096, memory, offsets[i]!, bigSizes[i]!);
    },
    model: () => {
      for (let i = 0; i < BATCH; i++) {
        const size = bigSizes[i]!;
        modelSetField((values[i]! * 4096) % 2 ** size, memory, offsets[i]!, size);
      }
    },
  },
  ...moveCases(),
  {
    what: 'setZero, 32 KiB run at bit 3',
    unit: 'MB/s',
    per: 1 << 15,
    fast: () => setZero(memory, 3, (1 << 15) * 8),
    model: () => modelSetZero(memory, 3, (1 << 15) * 8),
  },
];

function moveCases(): Pair[] {
  const long = 1 << 15; // bytes
  const cases: [string, number, number, number][] = [
    ['moveBits 32 KiB, same bit phase, down', 8 * 1000 + 3, 3, long * 8],
    ['moveBits 32 KiB, same bit phase, up', 3, 8 * 1000 + 3, long * 8],
    ['moveBits 32 KiB, different phase, down (overlapping)', 8 * 1000 + 5, 3, long * 8],
    ['moveBits 32 KiB, different phase, up (overlapping)', 3, 8 * 1000 + 5, long * 8],
    ['moveBits 800 bits, shift up by 13 bits (list insert)', 4000, 4013, 800],
    ['moveBits 800 bits, shift down by 13 bits (list remove)', 4013, 4000, 800],
  ];
  return cases.map(([what, from, to, size]) => ({
    what,
    unit: 'MB/s',
    per: size / 8,
    fast: () => moveBits(memory, from, memory, to, size),
    model: () => modelMoveBits(memory, from, memory, to, size),
  }));
}

const bench = new Bench({ time: 400, warmup: true, warmupTime: 150 });
for (const pair of pairs) {
  bench.add(`${pair.what} | @deja/bitfield`, pair.fast);
  bench.add(`${pair.what} | bit-by-bit model`, pair.model);
}

console.log('@deja/bitfield benchmark: this package against a bit-by-bit model, same process');
console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, Node ${process.version}`);
await bench.run();

const rate = (name: string, per: number, unit: Pair['unit']) => {
  const task = bench.getTask(name);
  const result = task?.result;
  if (!result || !('throughput' in result)) throw new Error(`no result for ${name}`);
  const perSecond = result.throughput.mean * per;
  return unit === 'MB/s' ? perSecond / 1e6 : perSecond;
};
const format = (n: number, unit: Pair['unit']) =>
  unit === 'MB/s' ? `${n.toFixed(n < 10 ? 3 : 1)} MB/s` : `${(n / 1e6).toFixed(2)} M ops/s`;

const rows = pairs.map((pair) => {
  const fast = rate(`${pair.what} | @deja/bitfield`, pair.per, pair.unit);
  const model = rate(`${pair.what} | bit-by-bit model`, pair.per, pair.unit);
  return {
    measured: pair.what,
    '@deja/bitfield': format(fast, pair.unit),
    'bit-by-bit model': format(model, pair.unit),
    ratio: `${(fast / model).toFixed(1)}x`,
  };
});
console.table(rows);
if (sink === 0.5) console.log(sink); // keeps the reads observable
