// Crash at every storage operation of a workload (real PageStore + FaultyStorage + crashSweep):
// reopen gives exactly the last committed state. The sweep itself is in _crash.ts.

import { describe, expect, it } from 'vitest';
import { sweep, WIDE_1K, WIDE_4K } from './_crash';
import { Harness } from './_harness';

describe('crash at every storage operation (real PageStore + FaultyStorage + crashSweep)', () => {
  it('reopens at exactly the last committed state, in every crash mode', async () => {
    const r = await sweep(7, 3, 12);
    expect(r.operations).toBeGreaterThan(20);
    expect(r.runs).toBe((r.operations + 1) * 4);
    // some crashes hit a commit in flight after its switch reached the disk
    expect(r.recoveredPending).toBeGreaterThan(0);
  });

  it('4 KiB pages with 256-bit masks and 200 snapshots (a chunk with a copy per snapshot)', async () => {
    const r = await sweep(23, 2, 8, ['drop', 'torn'], WIDE_4K);
    expect(r.operations).toBeGreaterThan(10);
    expect(r.runs).toBe((r.operations + 1) * 2);
  });

  it('1 KiB pages with 96-bit masks (the widest that fits), every id in use', async () => {
    const full = Harness.stats.full;
    const r = await sweep(29, 2, 6, ['drop', 'torn'], WIDE_1K);
    expect(r.runs).toBe((r.operations + 1) * 2);
    expect(Harness.stats.full).toBeGreaterThan(full); // some create found every id taken
  });
});
