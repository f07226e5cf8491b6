// Seeded randomness for the tests (xorshift32 from the private @deja/test-helpers), so every failure
// can be replayed. The seed comes from BITFIELD_SEED when set, otherwise a fixed default; tests print
// it on failure.
import { type Random, xorshift32 } from '@deja/test-helpers';

export { randomBytes } from '@deja/test-helpers';

export const SEED = Number(process.env.BITFIELD_SEED ?? 0x5eed_b17f);

/** Returns a generator of 32-bit unsigned integers (xorshift32) seeded with `seed`. */
export function rng(seed: number = SEED): Random {
  return xorshift32(seed);
}
