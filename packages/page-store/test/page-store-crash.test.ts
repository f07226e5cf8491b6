// Crash sweeps of the page layer (bounded for the default run; test/page-store.slow.test.ts runs
// many more): every storage operation of a random transactional workload, in every crash mode
// (drop, keep, torn at 512-byte sectors, random subset of unflushed writes), recovered and checked
// against the model. See test/_page-sweep.ts.

import { MemoryStorage } from '@deja/storage';
import { crashSweep } from '@deja/storage/testing';
import { describe, expect, test } from 'vitest';
import { isPageStoreError, PageStore } from '../src/index';
import { emptyModel, expectState, runTransactions } from './_page-model';
import { pageStoreSweep } from './_page-sweep';

describe('PageStore crash sweeps', () => {
  test('small pages, tiny cache and journal: spills, wraps and checkpoints at every crash point', async () => {
    const outcome = await pageStoreSweep({
      pageSize: 512,
      pageCount: 40,
      journalPages: 16,
      cachePages: 2,
      setup: 6,
      txns: 50,
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
      txns: 30,
      plan: { maxOps: 14, abortRate: 0.1 },
      seed: 23,
    });
    expect(outcome.runs).toBeGreaterThan(100);
  });

  test('a nearly full store', async () => {
    const outcome = await pageStoreSweep({
      pageSize: 512,
      pageCount: 12,
      maxPageCount: 12,
      journalPages: 12,
      cachePages: 3,
      setup: 8,
      txns: 50,
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
      txns: 50,
      plan: { maxOps: 8, abortRate: 0.1 },
      seed: 42,
    });
    expect(outcome.runs).toBeGreaterThan(100);
  });
});

describe('PageStore growth under crashes', () => {
  test('a store created with 4 pages grows several times (explicit grow too); every crash point in every mode', async () => {
    const outcome = await pageStoreSweep({
      pageSize: 512,
      pageCount: 4,
      maxPageCount: 200,
      journalPages: 16,
      cachePages: 2,
      setup: 2,
      txns: 45,
      plan: { maxOps: 7, abortRate: 0.15, growRate: 0.05 },
      seed: 31,
    });
    // 512-byte pages: 60 pages per space-map group, so the growths cross group boundaries.
    expect(outcome.growths).toBeGreaterThanOrEqual(4);
    expect(outcome.recoveredPending).toBeGreaterThan(0);
    expect(outcome.reportedDropped).toBeGreaterThan(0);
  });

  test('growth up to maxPageCount, then ERR_NO_SPACE', async () => {
    const outcome = await pageStoreSweep({
      pageSize: 1024,
      pageCount: 2,
      maxPageCount: 30,
      journalPages: 16,
      cachePages: 3,
      setup: 3,
      txns: 40,
      plan: { maxOps: 6, abortRate: 0.1, growRate: 0.05 },
      seed: 8,
    });
    expect(outcome.growths).toBeGreaterThanOrEqual(2);
  });
});

describe('PageStore.create interrupted', () => {
  test('over an old store: the old store intact, no store (ERR_CORRUPT_DATA), or the new empty one', async () => {
    const disk = new MemoryStorage();
    const old = await PageStore.create(disk, { pageSize: 512, pageCount: 30, journalPages: 12 });
    const model = await runTransactions(old, emptyModel(), 4, 6, { maxOps: 5, abortRate: 0 });
    await old.close();
    const image = disk.snapshot();
    const seen = new Set<string>();
    await crashSweep({
      create: () => new MemoryStorage({ data: image }),
      workload: async (storage) => {
        await PageStore.create(storage, { pageSize: 1024, pageCount: 20, journalPages: 10 });
      },
      reopen: (medium) => new MemoryStorage({ data: (medium as MemoryStorage).snapshot() }),
      check: async (reopened) => {
        let store: PageStore;
        try {
          store = await PageStore.open(reopened);
        } catch (error) {
          expect(isPageStoreError(error, 'ERR_CORRUPT_DATA')).toBe(true);
          seen.add('none');
          return;
        }
        if (store.pageSize === 512) {
          await expectState(store, model);
          seen.add('old');
        } else {
          await expectState(store, emptyModel());
          seen.add('new');
        }
      },
    });
    expect([...seen].sort()).toEqual(['new', 'none', 'old']);
  });
});
