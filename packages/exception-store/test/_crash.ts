// Crash sweeps shared by the default and slow runs, through the real page layer: a workload of
// snapshot creates/deletes, origin and snapshot writes and commits runs on a FaultyStorage and is crashed at every storage operation,
// in every crash mode (drop, keep, torn sectors, random subsets). Each image must reopen to exactly
// the last committed state — or, for a crash while commit() was under way, the state that commit
// would have produced (the page layer's atomic switch may have reached the disk) — with every view
// of every chunk equal to the model, the tree checker passing and every live page accounted for;
// then the recovered store must take more work.

import { PageStore } from '@deja/page-store';
import { MemoryStorage, type Storage } from '@deja/storage';
import { crashSweep } from '@deja/storage/testing';
import { fraction, xorshift32 } from '@deja/test-helpers';
import { ExceptionStore } from '../src/index';
import { cloneModel, Harness, type Model, type Op, RealBackend } from './_harness';

/** The store's shape in a sweep: page size, share-mask width, and how much history it has. */
export interface SweepShape {
  pageSize: number;
  pageCount: number;
  maskWidth: number;
  /** Names the plan's creates and deletes draw from. */
  names: number;
  /** Chunks the plan writes (0 .. span - 1). */
  span: number;
  /**
   * Snapshots the base image holds besides the plan's history, each created before a write to
   * chunk 1, so chunk 1 has one copy per snapshot (long lists of single-id masks) and the other
   * chunks wide shared masks.
   */
  baseSnapshots: number;
}

/** The default sweep: 512-byte pages, 32-bit masks, fanout 3. */
export const SMALL: SweepShape = {
  pageSize: 512,
  pageCount: 160,
  maskWidth: 32,
  names: 6,
  span: 40,
  baseSnapshots: 0,
};

/** Uniform numbers in [0, 1) from xorshift32 (the sequence earlier runs recorded their seeds with). */
function xorshift(seed: number): () => number {
  const next = xorshift32(seed);
  return () => fraction(next);
}

/** A deterministic plan: batches of operations, each followed by a commit. */
/** 4 KiB pages with 256-bit masks (1-byte ids) and 200 snapshots. */
export const WIDE_4K: SweepShape = {
  pageSize: 4096,
  pageCount: 480,
  maskWidth: 256,
  names: 240,
  span: 12,
  baseSnapshots: 200,
};

/** 1 KiB pages with 96-bit masks (the widest that fits) and every id in use. */
export const WIDE_1K: SweepShape = {
  pageSize: 1024,
  pageCount: 600,
  maskWidth: 96,
  names: 100,
  span: 16,
  baseSnapshots: 96,
};

function makePlan(seed: number, batches: number, perBatch: number, shape: SweepShape): Op[][] {
  const rnd = xorshift(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const plan: Op[][] = [];
  for (let b = 0; b < batches; b++) {
    const ops: Op[] = [];
    for (let i = 0; i < perBatch; i++) {
      const r = rnd();
      const names = shape.names;
      const span = shape.span;
      if (r < 0.12) ops.push({ op: 'create', name: int(names) });
      else if (r < 0.18) ops.push({ op: 'delete', name: int(names) });
      else if (r < 0.55) ops.push({ op: 'writeOrigin', chunk: int(span) });
      else if (r < 0.65) ops.push({ op: 'writeOriginRange', chunk: int(span), n: 1 + int(12) });
      else ops.push({ op: 'writeSnap', name: int(names), chunk: int(span) });
    }
    plan.push(ops);
  }
  return plan;
}

export async function sweep(
  seed: number,
  batches: number,
  perBatch: number,
  modes?: ('drop' | 'keep' | 'torn' | 'random')[],
  shape: SweepShape = SMALL,
) {
  const PAGE_OPTIONS = {
    pageSize: shape.pageSize,
    pageCount: shape.pageCount,
    journalPages: 24,
    cachePages: 8,
  };
  const TOUCHED = Array.from({ length: shape.span + 20 }, (_, i) => i);
  // Base image: a store with history (snapshots, exceptions, splits) committed before the sweep.
  const disk = new MemoryStorage();
  const basePages = await PageStore.create(disk, PAGE_OPTIONS);
  const baseStore = await ExceptionStore.create(basePages, { maskWidth: shape.maskWidth, fanout: 3 });
  const base = Harness.over(
    new RealBackend(basePages, disk),
    baseStore,
    { origin: new Map(), snaps: new Map() },
    1,
  );
  for (let k = 0; k < shape.baseSnapshots; k++) {
    await base.step({ op: 'create', name: 1000 + k });
    await base.step({ op: 'writeOrigin', chunk: 1 });
  }
  for (const ops of makePlan(seed ^ 0xabcdef, 3, 25, shape)) {
    for (const o of ops) await base.step(o);
    await base.step({ op: 'commit' });
  }
  const baseModel: Model = cloneModel(base.committed);
  const baseStamp = base.stamp;
  await baseStore.close();
  await basePages.close();
  const baseImage = disk.snapshot();

  const plan = makePlan(seed, batches, perBatch, shape);
  let committed: Model = baseModel;
  let pending: { model: Model; sequence: number } | undefined;
  let recoveredPending = 0;
  const result = await crashSweep({
    create: () => new MemoryStorage({ data: baseImage }),
    workload: async (storage: Storage) => {
      committed = baseModel;
      pending = undefined;
      const pages = await PageStore.open(storage, { cachePages: PAGE_OPTIONS.cachePages });
      const store = await ExceptionStore.open(pages, { deleteBatchLeaves: 2 });
      const h = Harness.over(new RealBackend(pages, new MemoryStorage()), store, baseModel, baseStamp);
      h.beforeCommit = (model) => {
        pending = { model: cloneModel(model), sequence: pages.sequence + 1 };
      };
      h.afterCommit = () => {
        committed = (pending as { model: Model }).model;
        pending = undefined;
      };
      for (const ops of plan) {
        for (const o of ops) await h.step(o);
        pending = { model: cloneModel(h.model), sequence: pages.sequence + 1 };
        await store.commit();
        committed = pending.model;
        pending = undefined;
      }
    },
    reopen: (medium) => new MemoryStorage({ data: (medium as MemoryStorage).snapshot() }),
    check: async (image) => {
      const pages = await PageStore.open(image, { cachePages: PAGE_OPTIONS.cachePages });
      let expected = committed;
      // a deletion commits in several page-layer transactions: any of them may be the last on disk
      if (pending !== undefined && pages.sequence >= pending.sequence) {
        expected = pending.model;
        recoveredPending++;
      }
      const store = await ExceptionStore.open(pages, { deleteBatchLeaves: 2 });
      const h = Harness.over(new RealBackend(pages, new MemoryStorage()), store, expected, 1e6);
      await h.checkInvariants();
      await h.checkAllReads(TOUCHED);
      // the recovered store takes more work and commits it
      for (const o of makePlan(seed + 1, 1, 10, shape)[0] as Op[]) await h.step(o);
      await store.commit();
      await h.checkInvariants();
      await h.checkAllReads(TOUCHED);
      await pages.close();
    },
    seed,
    ...(modes !== undefined && { modes }),
  });
  return { ...result, recoveredPending };
}
