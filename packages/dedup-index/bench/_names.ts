// Record names for the benchmarks: a 32-bit PRNG (mulberry32 steps), so every run posts the same names.

/** `count` names from a 32-bit PRNG seeded with `seed`, back to back in one buffer (16 bytes each). */
export function makeNames(count: number, seed: number): Buffer {
  const out = Buffer.alloc(count * 16);
  let a = seed >>> 0;
  for (let i = 0; i < count * 4; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out.writeUInt32LE((t ^ (t >>> 14)) >>> 0, i * 4);
  }
  return out;
}
