// Bounded fuzzing of pages and save streams (the long run is fuzz.slow.test.ts).
import { describe, expect, it } from 'vitest';
import { fuzzPages, fuzzSaves } from './_fuzz';

describe('fuzzing', () => {
  it('damaged and random pages give ERR_CORRUPT_DATA or decode cleanly', () => {
    const tally = fuzzPages(1500, 1);
    expect(tally.rejected).toBeGreaterThan(100);
    expect(tally.ok).toBeGreaterThan(100);
    expect(tally['corrupt-list']).toBeGreaterThan(20);
  });

  it('damaged save streams give ERR_CORRUPT_DATA (or ERR_OVERFLOW, ERR_PARAMETER_MISMATCH) or restore consistently', () => {
    const tally = fuzzSaves(600, 2);
    expect(tally.rejected).toBeGreaterThan(300);
    expect(tally.ok).toBeGreaterThan(5);
  });
});
