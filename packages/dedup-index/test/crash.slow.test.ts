// The long crash sweeps: more chapters (several wrap-arounds), two zones, a sparse index.

import { describe, expect, it } from 'vitest';
import { runSweep } from './_crash';
import { SMALL } from './_helpers';

describe('crash at every storage operation (slow)', () => {
  it('three wrap-arounds, one zone', async () => {
    const result = await runSweep({ geometry: SMALL, first: 2000, second: 1500, seed: 2 });
    expect(result.runs).toBe((result.operations + 1) * 4);
  });

  it('two zones', async () => {
    const result = await runSweep({ geometry: SMALL, zoneCount: 2, first: 1500, second: 1000, seed: 3 });
    expect(result.runs).toBe((result.operations + 1) * 4);
  });

  it('a sparse index', async () => {
    const geometry = {
      bytesPerPage: 1024,
      recordPagesPerChapter: 4,
      chaptersPerVolume: 10,
      sparseChaptersPerVolume: 7,
    };
    const result = await runSweep({ geometry, sparseSampleRate: 4, first: 1500, second: 1000, seed: 4 });
    expect(result.runs).toBe((result.operations + 1) * 4);
  });
});
