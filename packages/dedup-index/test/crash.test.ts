// Crash at every storage operation of a workload (every crash mode of FaultyStorage), then reopen:
// the index opens (once its creation was flushed), never answers a metadata the name did not have,
// and keeps working. Larger sweeps are in crash.slow.test.ts.

import { describe, expect, it } from 'vitest';
import { runSweep } from './_crash';
import { SMALL } from './_helpers';

describe('crash at every storage operation', () => {
  it('create, 700 requests, close, open, 400 posts, close: every point, every mode', async () => {
    const result = await runSweep({ geometry: SMALL, first: 700, second: 400 });
    expect(result.operations).toBeGreaterThan(15);
    expect(result.runs).toBe((result.operations + 1) * 4);
  });
});
