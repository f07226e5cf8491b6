// The long fuzz run (pnpm test:slow): many more pages and save streams, and a fresh seed each run
// unless FUZZ_SEED is set; the seed is printed so a failure can be replayed.
import { describe, expect, it } from 'vitest';
import { fuzzPages, fuzzSaves } from './_fuzz';

const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

describe(`long fuzzing (FUZZ_SEED=${seed})`, () => {
  it('pages', () => {
    const tally = fuzzPages(200_000, seed);
    expect(tally.rejected! + tally.ok! + tally['corrupt-list']!).toBe(200_000);
  });

  it('save streams', () => {
    const tally = fuzzSaves(50_000, seed);
    expect(tally.rejected! + tally.ok!).toBe(50_000);
  });
});
