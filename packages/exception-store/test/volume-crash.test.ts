// Snapshot volumes under a power loss at every storage operation: the sweep is in
// _volume-crash.ts (page layer and origin on one FaultyStorage).

import { describe, it } from 'vitest';
import { volumeSweep } from './_volume-crash';

describe('snapshot volumes survive a crash at every storage operation', () => {
  it('snapshots read their committed content; origin bytes hold a value written to them', async () => {
    await volumeSweep(99, 22);
  });
});
