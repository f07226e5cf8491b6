// Crash sweeps of the page layer (bounded for the default run; test/page-store.slow.test.ts runs
// many more): every storage operation of a random transactional workload, in every crash mode
// (drop, keep, torn at 512-byte sectors, random subset of unflushed writes), recovered and checked
// against the model. See test/_page-sweep.ts.
import { describe, expect, test } from 'vitest';
import { pageStoreSweep } from './_page-sweep';

describe('PageStore crash sweeps', () => {
  test('small pages, tiny cache and journal: spills, wraps and checkpoints at every crash point', async () => {
    const outcome = await pageStoreSweep({
      pageSize: 512,
      pageCount: 40,
      journalPages: 16,
      cachePages: 2,
      setup: 6,
      txns: 30,
      plan: { maxOps: 6, abortRate: 0.15 },
      seed: 11,
    });
    expect(outcome.operations).toBeGreaterThan(30);
    expect(outcome.recoveredPending).toBeGreaterThan(0);
  });

  test('pages of two sectors (torn pages), larger transactions', async () => {
    const outcome = await pageStoreSweep({
      pageSize: 1024,
      pageCount: 120,
      journalPages: 40,
      cachePages: 4,
      setup: 4,
      txns: 20,
      plan: { maxOps: 14, abortRate: 0.1 },
      seed: 23,
    });
    expect(outcome.runs).toBeGreaterThan(100);
  });

  test('a nearly full store', async () => {
    const outcome = await pageStoreSweep({
      pageSize: 512,
      pageCount: 12,
      journalPages: 12,
      cachePages: 3,
      setup: 8,
      txns: 25,
      plan: { maxOps: 5, abortRate: 0.1 },
      seed: 5,
    });
    expect(outcome.runs).toBeGreaterThan(100);
  });

  test('4 KiB pages (eight sectors each), a roomy journal: commits of one flush', async () => {
    const outcome = await pageStoreSweep({
      pageSize: 4096,
      pageCount: 64,
      journalPages: 48,
      cachePages: 8,
      setup: 3,
      txns: 25,
      plan: { maxOps: 8, abortRate: 0.1 },
      seed: 42,
    });
    expect(outcome.runs).toBeGreaterThan(100);
  });
});
