// Model-based tests: random sequences of snapshot create/delete, origin and snapshot writes,
// reads, diffs, commits, reopens, crashes and aborts against a naive model, with the invariant
// checker after every step (the machinery is in _model.ts and _harness.ts).

import { describe, expect, it } from 'vitest';
import { Harness } from './_harness';
import { CONFIGS, runModel } from './_model';

describe('model-based: random operations against a map-per-snapshot model', () => {
  for (const cfg of CONFIGS) {
    it(cfg.label, async () => {
      await runModel(cfg);
    });
  }
  it('reached deep trees, deletes that merge levels away and freed exceptions', () => {
    // The runs above must have exercised root growth, delete_tree_range on multi-level trees
    // and level removal; otherwise the parameters are too gentle to test anything.
    expect(Harness.stats.maxLevel).toBeGreaterThanOrEqual(3);
    expect(Harness.stats.deepDeletes).toBeGreaterThan(10);
    expect(Harness.stats.levelDrops).toBeGreaterThan(0);
    expect(Harness.stats.freed).toBeGreaterThan(100);
    // the runs with wide masks filled every snapshot id (ERR_TOO_MANY_SNAPSHOTS answered)
    expect(Harness.stats.full).toBeGreaterThan(0);
  });
});
