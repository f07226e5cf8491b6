// The crash sweep of the page layer, shared by the default and the slow test runs: build a store
// with some committed history, then run random transactions on a FaultyStorage and crash them at
// every storage operation in every crash mode; reopen each image and check it equals the model's
// last committed state exactly — or, for a crash while commit() was under way, the state that
// commit would have produced — page by page, with the space map recounted against the model and
// verified on storage; finally commit a little more on the recovered store.

import { MemoryStorage, type Storage } from '@deja/storage';
import { type CrashMode, crashSweep, FaultyStorage } from '@deja/storage/testing';
import { splitmix32 } from '@deja/test-helpers';
import { expect } from 'vitest';
import { PageStore } from '../src/index';
import {
  emptyModel,
  expectState,
  type Model,
  randomTransaction,
  runTransactions,
  type TxnPlan,
} from './_page-model';

export interface SweepConfig {
  readonly pageSize: number;
  /** The initial page count (the store grows from it). */
  readonly pageCount: number;
  readonly maxPageCount?: number;
  readonly journalPages: number;
  readonly cachePages: number;
  /** Transactions committed before the sweep (the base image's history). */
  readonly setup: number;
  /** Transactions in the swept workload. */
  readonly txns: number;
  readonly plan: TxnPlan;
  readonly seed: number;
  readonly modes?: readonly CrashMode[];
  /** Take every n-th crash point only (1: all). */
  readonly stride?: number;
}

export interface SweepOutcome {
  readonly operations: number;
  readonly runs: number;
  /** Runs that recovered the state of a commit that was under way at the crash. */
  readonly recoveredPending: number;
  /** Growths of the store in the workload (committed or not), counted in the run without a crash. */
  readonly growths: number;
  /** Runs whose recovery report named a dropped transaction (always the commit under way). */
  readonly reportedDropped: number;
}

export async function pageStoreSweep(config: SweepConfig): Promise<SweepOutcome> {
  const disk = new MemoryStorage();
  const setupStore = await PageStore.create(disk, {
    pageSize: config.pageSize,
    pageCount: config.pageCount,
    ...(config.maxPageCount !== undefined && { maxPageCount: config.maxPageCount }),
    journalPages: config.journalPages,
    cachePages: config.cachePages,
  });
  const baseModel = await runTransactions(
    setupStore,
    emptyModel(config.pageCount),
    config.seed,
    config.setup,
    config.plan,
  );
  await setupStore.close();
  const baseImage = disk.snapshot();

  let committed: Model = baseModel;
  let pending: Model | undefined;
  let recoveredPending = 0;
  let reportedDropped = 0;
  let growths = 0;
  const stride = config.stride ?? 1;
  let operations = 0;
  const workload = async (storage: Storage): Promise<void> => {
    committed = baseModel;
    pending = undefined;
    const store = await PageStore.open(storage, { cachePages: config.cachePages });
    const random = splitmix32(config.seed ^ 0x5bd1e995);
    try {
      for (let t = 0; t < config.txns; t++) {
        const next = await randomTransaction(store, committed, random, config.plan, (model) => {
          pending = model;
        });
        if (next !== undefined) committed = next;
        pending = undefined;
      }
    } finally {
      growths = Math.max(growths, store.stats.growths);
    }
  };
  // Count the operations once to pick the points (every `stride`-th, and always the last ones).
  if (stride > 1) {
    const probe = await FaultyStorage.wrap(new MemoryStorage({ data: baseImage }));
    await workload(probe);
    operations = probe.operations;
    await probe.close();
  }
  const points =
    stride > 1
      ? Array.from({ length: operations + 1 }, (_, i) => i).filter(
          (i) => i % stride === 0 || i >= operations - 2,
        )
      : undefined;
  const result = await crashSweep({
    create: () => new MemoryStorage({ data: baseImage }),
    workload,
    reopen: (medium) => new MemoryStorage({ data: (medium as MemoryStorage).snapshot() }),
    check: async (image, info) => {
      const store = await PageStore.open(image, { cachePages: config.cachePages });
      const expected = pending !== undefined && store.sequence === pending.sequence ? pending : committed;
      if (expected === pending) recoveredPending++;
      // The report: only a commit under way at the crash can be dropped, and then it was not
      // recovered.
      const { dropped } = store.recovery;
      if (dropped !== undefined) {
        reportedDropped++;
        expect(pending, `dropped ${JSON.stringify(dropped)} with no commit under way`).toBeDefined();
        expect(expected).toBe(committed);
        expect(dropped.transaction).toBe(committed.sequence + 1);
      }
      expect(store.recovery.sequence).toBe(store.sequence);
      await expectState(store, expected);
      // The recovered store takes new transactions and keeps its space map straight.
      const after = await runTransactions(store, expected, info.seed, 2, config.plan);
      await expectState(store, after);
      await store.close();
    },
    seed: config.seed,
    ...(config.modes !== undefined && { modes: config.modes }),
    ...(points !== undefined && { points }),
  });
  expect(result.runs).toBeGreaterThan(0);
  if (process.env.DEJA_SWEEP_LOG)
    console.log(
      JSON.stringify({ ...config, plan: undefined, ...result, recoveredPending, growths, reportedDropped }),
    );
  return { operations: result.operations, runs: result.runs, recoveredPending, growths, reportedDropped };
}
