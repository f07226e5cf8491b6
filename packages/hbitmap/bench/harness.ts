// A small timing harness for the benchmark: calibrates a batch size so that one sample takes a few
// milliseconds, warms the JIT up, then reports the best ns per operation over several samples. The
// machines are shared and noisy (load from other processes only adds time), so the best sample and
// same-process ratios say more than averages.
import { randomInt, splitmix32 } from '@deja/test-helpers';

/**
 * Runs `body(n)` (n operations) and returns the best ns per operation over the samples; `before`
 * runs untimed ahead of every call (to restore a state the body consumes).
 */
export function measure(
  body: (n: number) => void,
  opts: { sampleMs?: number; samples?: number; warmupMs?: number; maxOps?: number; before?: () => void } = {},
): number {
  const before = opts.before ?? (() => {});
  const sampleMs = opts.sampleMs ?? 25;
  const samples = opts.samples ?? 7;
  const warmupMs = opts.warmupMs ?? 150;
  const maxOps = opts.maxOps ?? 1 << 22;
  // Calibrate: double n until one call takes sampleMs (this also warms up).
  let n = 1;
  let start = now();
  for (;;) {
    before();
    const t = now();
    body(n);
    const dt = now() - t;
    if (dt >= sampleMs * 1e6 || n >= maxOps) break;
    n = Math.min(maxOps, dt < 1e5 ? n * 8 : n * 2);
  }
  while (now() - start < warmupMs * 1e6) {
    before();
    body(n);
  }
  const per: number[] = [];
  for (let s = 0; s < samples; s++) {
    before();
    start = now();
    body(n);
    per.push((now() - start) / n);
  }
  // The best sample: bursts of load from other processes only ever add time.
  return Math.min(...per);
}

/** Times one call of `fn` (for bulk operations measured as a whole); best of `samples`. */
export function once(fn: () => void, samples = 3): number {
  fn();
  const per: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t = now();
    fn();
    per.push(now() - t);
  }
  return Math.min(...per);
}

function now(): number {
  return Number(process.hrtime.bigint());
}

/** A seeded PRNG (splitmix32 finaliser) returning integers in [0, n). */
export function rng(seed: number): (n: number) => number {
  const next = splitmix32(seed);
  return (n: number) => randomInt(next, n);
}
