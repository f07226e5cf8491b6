// Seeded randomness for the tests: a small xorshift generator, so every failure can be replayed.
// The seed comes from BITFIELD_SEED when set, otherwise a fixed default; tests print it on failure.

export const SEED = Number(process.env.BITFIELD_SEED ?? 0x5eed_b17f);

/** Returns a generator of 32-bit unsigned integers (xorshift32) seeded with `seed`. */
export function rng(seed: number = SEED): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

/** A Uint8Array of `length` random bytes from `next`. */
export function randomBytes(next: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = next();
  return bytes;
}
