// Long crash sweeps of the page layer (pnpm --filter @deja/storage test:slow): the default run's
// configurations over many more seeds and transactions, every crash point in every mode, plus a
// long workload sampled at every third crash point. Each recovered image is checked against the
// model exactly (see test/_page-sweep.ts).
import { describe, expect, test } from 'vitest';
import { pageStoreSweep } from './_page-sweep';

const CONFIGS = [
  { pageSize: 512, pageCount: 40, journalPages: 16, cachePages: 2, plan: { maxOps: 6, abortRate: 0.15 } },
  { pageSize: 1024, pageCount: 120, journalPages: 40, cachePages: 4, plan: { maxOps: 14, abortRate: 0.1 } },
  {
    pageSize: 512,
    pageCount: 12,
    maxPageCount: 12,
    journalPages: 12,
    cachePages: 3,
    plan: { maxOps: 5, abortRate: 0.1 },
  },
  { pageSize: 4096, pageCount: 64, journalPages: 48, cachePages: 8, plan: { maxOps: 8, abortRate: 0.1 } },
  { pageSize: 2048, pageCount: 300, journalPages: 24, cachePages: 2, plan: { maxOps: 20, abortRate: 0.05 } },
  {
    pageSize: 512,
    pageCount: 4,
    maxPageCount: 400,
    journalPages: 16,
    cachePages: 2,
    plan: { maxOps: 8, abortRate: 0.1, growRate: 0.05 },
  },
];

describe('PageStore crash sweeps (slow)', () => {
  for (const [c, config] of CONFIGS.entries()) {
    for (const seed of [1001, 2002, 3003, 4004, 5005, 6006]) {
      test(`config ${c} (${config.pageSize} B pages, ${config.pageCount} pages), seed ${seed}`, async () => {
        const outcome = await pageStoreSweep({ ...config, setup: 10, txns: 40, seed });
        expect(outcome.runs).toBeGreaterThan(100);
      });
    }
  }

  test('a long workload, every third crash point', async () => {
    const outcome = await pageStoreSweep({ ...CONFIGS[1]!, setup: 20, txns: 150, seed: 77, stride: 3 });
    expect(outcome.runs).toBeGreaterThan(500);
  });
});
