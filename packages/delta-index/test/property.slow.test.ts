// The long property run (pnpm test:slow): a fresh seed each run unless PROPERTY_SEED is set; the
// seed is in the test name so a failure can be replayed.
import { describe, expect, it } from 'vitest';
import { runModelProperty } from './_property';

const seed = Number(process.env.PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));

describe(`delta index against a model, long run (PROPERTY_SEED=${seed})`, () => {
  it('survives many random operation sequences', () => {
    const reached = runModelProperty(seed, 5000);
    expect(reached.rebalances).toBeGreaterThan(500);
  });
});
