// A small seeded pseudo-random generator (splitmix32), so fault injection and the conformance
// suite's random workloads are reproducible from one number. Not for anything cryptographic.

/** Returns a generator of uniformly distributed unsigned 32-bit integers, determined by `seed`. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Mixes `value` into `seed`: a new seed per (seed, value) pair, e.g. one per crash-sweep run. */
export function mixSeed(seed: number, value: number): number {
  return createRandom((seed ^ Math.imul(value >>> 0, 0x27d4eb2d)) >>> 0)();
}

/** A uniform integer in `[0, n)` for `n` up to 2^32 (modulo bias is irrelevant at test sizes). */
export function randomBelow(random: () => number, n: number): number {
  return random() % n;
}
