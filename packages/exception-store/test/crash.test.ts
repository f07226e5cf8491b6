// Crash at every storage operation of a workload (real PageStore + FaultyStorage + crashSweep):
// reopen gives exactly the last committed state. The sweep itself is in _crash.ts.

import { describe, expect, it } from 'vitest';
import { sweep } from './_crash';

describe('crash at every storage operation (real PageStore + FaultyStorage + crashSweep)', () => {
  it('reopens at exactly the last committed state, in every crash mode', async () => {
    const r = await sweep(7, 3, 12);
    expect(r.operations).toBeGreaterThan(20);
    expect(r.runs).toBe((r.operations + 1) * 4);
    // some crashes hit a commit in flight after its switch reached the disk
    expect(r.recoveredPending).toBeGreaterThan(0);
  });
});
