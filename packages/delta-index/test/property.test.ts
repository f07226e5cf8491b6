// Property tests against the model (see _property.ts), seeded; the long run is property.slow.test.ts.
import { describe, expect, it } from 'vitest';
import { runModelProperty } from './_property';

describe('delta index against a model', () => {
  it('survives random operation sequences with collisions, rebalancing and overflow', () => {
    const reached = runModelProperty(20261121, 200);
    // The runs must have reached the interesting paths.
    expect(reached.rebalances).toBeGreaterThan(50);
    for (const [path, count] of Object.entries(reached)) expect(count, path).toBeGreaterThan(5);
  });
});
