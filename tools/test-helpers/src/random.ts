// Seeded pseudo-random generators for tests and benchmarks, so a failing run is replayed from one
// printed number. Two generators, because existing suites were tuned (and their failing seeds
// recorded) with each: splitmix32 (the better mixer; the default for new code) and xorshift32.
// Neither is for anything cryptographic. @deja/storage keeps its own splitmix32 in its source,
// since FaultyStorage and the conformance suite are published code and must not import this.

/** A generator of uniformly distributed unsigned 32-bit integers. */
export type Random = () => number;

/**
 * splitmix32: a 32-bit state advanced by the golden-ratio increment, then mixed (murmur3's
 * finalizer). Every seed, 0 included, gives a full-period sequence.
 *
 * @param seed - any number; its low 32 bits are used.
 * @returns a generator of unsigned 32-bit integers.
 */
export function splitmix32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * Marsaglia's xorshift32 (shifts 13, 17, 5). A zero state would stay zero, so seed 0 starts from 1;
 * every other seed gives its own sequence.
 *
 * @param seed - any number; its low 32 bits are used.
 * @returns a generator of unsigned 32-bit integers, never 0.
 */
export function xorshift32(seed: number): Random {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/**
 * A new seed per (seed, value) pair, e.g. one per run of a sweep.
 *
 * @returns an unsigned 32-bit seed.
 */
export function mixSeed(seed: number, value: number): number {
  return splitmix32((seed ^ Math.imul(value >>> 0, 0x27d4eb2d)) >>> 0)();
}

/**
 * A uniform integer in `[0, n)` by the remainder of one draw (the bias, at most n / 2^32, does not
 * matter at test sizes).
 *
 * @param n - the bound, 1..2^32.
 */
export function randomBelow(random: Random, n: number): number {
  return random() % n;
}

/**
 * A uniform integer in `[0, n)` by scaling one draw, for `n` up to 2^53 (beyond 2^32 not every
 * value can come out).
 */
export function randomInt(random: Random, n: number): number {
  return Math.floor((random() / 0x1_0000_0000) * n);
}

/** A uniform number in `[0, 1)` from one draw. */
export function fraction(random: Random): number {
  return random() / 0x1_0000_0000;
}

/** `length` random bytes, one draw each. */
export function randomBytes(random: Random, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = random() & 0xff;
  return bytes;
}
