// Crash sweeps shared by the default and slow runs, through the real page layer: a workload of
// snapshot creates/deletes, origin and snapshot writes and commits runs on a FaultyStorage and is crashed at every storage operation,
// in every crash mode (drop, keep, torn sectors, random subsets). Each image must reopen to exactly
// the last committed state — or, for a crash while commit() was under way, the state that commit
// would have produced (the page layer's atomic switch may have reached the disk) — with every view
// of every chunk equal to the model, the tree checker passing and every live page accounted for;
// then the recovered store must take more work.

import { crashSweep, MemoryStorage, PageStore, type Storage } from '@deja/storage';
import { ExceptionStore } from '../src/index';
import { cloneModel, Harness, type Model, type Op, RealBackend } from './_harness';

const PAGE = 512;
const PAGE_OPTIONS = { pageSize: PAGE, pageCount: 160, journalPages: 24, cachePages: 8 };

function xorshift(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

/** A deterministic plan: batches of operations, each followed by a commit. */
function makePlan(seed: number, batches: number, perBatch: number): Op[][] {
  const rnd = xorshift(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const plan: Op[][] = [];
  for (let b = 0; b < batches; b++) {
    const ops: Op[] = [];
    for (let i = 0; i < perBatch; i++) {
      const r = rnd();
      if (r < 0.12) ops.push({ op: 'create', name: int(6) });
      else if (r < 0.18) ops.push({ op: 'delete', name: int(6) });
      else if (r < 0.55) ops.push({ op: 'writeOrigin', chunk: int(40) });
      else if (r < 0.65) ops.push({ op: 'writeOriginRange', chunk: int(40), n: 1 + int(12) });
      else ops.push({ op: 'writeSnap', name: int(6), chunk: int(40) });
    }
    plan.push(ops);
  }
  return plan;
}

const TOUCHED = Array.from({ length: 60 }, (_, i) => i);

export async function sweep(
  seed: number,
  batches: number,
  perBatch: number,
  modes?: ('drop' | 'keep' | 'torn' | 'random')[],
) {
  // Base image: a store with history (snapshots, exceptions, splits) committed before the sweep.
  const disk = new MemoryStorage();
  const basePages = await PageStore.create(disk, PAGE_OPTIONS);
  const baseStore = await ExceptionStore.create(basePages, { maskWidth: 32, fanout: 3 });
  const base = Harness.over(
    new RealBackend(basePages, disk),
    baseStore,
    { origin: new Map(), snaps: new Map() },
    1,
  );
  for (const ops of makePlan(seed ^ 0xabcdef, 3, 25)) {
    for (const o of ops) await base.step(o);
    await base.step({ op: 'commit' });
  }
  const baseModel: Model = cloneModel(base.committed);
  const baseStamp = base.stamp;
  await baseStore.close();
  await basePages.close();
  const baseImage = disk.snapshot();

  const plan = makePlan(seed, batches, perBatch);
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
      for (const o of makePlan(seed + 1, 1, 10)[0] as Op[]) await h.step(o);
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
