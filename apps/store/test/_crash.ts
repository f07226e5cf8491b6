// The crash sweep shared by crash.test.ts and crash.slow.test.ts: a crash at every storage
// operation of a store workload, in every FaultyStorage mode. After reopen the store is at a
// completed flush (the last acknowledged one, or the one in flight when the power failed) in
// every version, check() passes and no chunk leaked. The dedup index lives on a
// medium that does not crash but is copied as it was at the crash: its advice may name chunks the
// crash took back, which the store must refuse.
import { MemoryStorage } from '@deja/storage';
import { crashSweep, type FaultyStorage } from '@deja/storage/testing';
import { expect } from 'vitest';
import { LIVE, Store } from '../src/index';
import { content, mixedContent, prng } from './_helpers';

type State = Map<string, Uint8Array>;
const CS = 512;

function copy(s: State): State {
  return new Map([...s].map(([k, v]) => [k, v.slice()]));
}

async function matches(store: Store, state: State): Promise<string | undefined> {
  const names = store
    .listSnapshots()
    .map((s) => s.name)
    .sort();
  const want = [...state.keys()].filter((k) => k !== LIVE).sort();
  if (names.join() !== want.join()) return `snapshots ${names.join()} instead of ${want.join()}`;
  for (const [version, bytes] of state) {
    const v = store.volume(version);
    if (v.size !== bytes.length) return `${version}: size ${v.size} instead of ${bytes.length}`;
    const got = await v.read(0, bytes.length);
    for (let i = 0; i < bytes.length; i++)
      if (got[i] !== bytes[i]) return `${version}: byte ${i} is ${got[i]}, expected ${bytes[i]}`;
  }
  return undefined;
}

export async function sweep(
  seed: number,
  points?: number[],
  compression?: 'zstd' | 'deflate',
): Promise<number> {
  // States the store may legally open at: index i = after the i-th completed commit point.
  let states: State[] = [];
  let done = 0;
  let index = new MemoryStorage();
  const result = await crashSweep({
    seed,
    create: () => new MemoryStorage(),
    reopen: (medium) => new MemoryStorage({ data: (medium as MemoryStorage).snapshot() }),
    ...(points ? { points } : {}),
    workload: async (storage: FaultyStorage) => {
      index = new MemoryStorage();
      const rand = prng(seed);
      const model: State = new Map([[LIVE, new Uint8Array(24 * CS)]]);
      states = [];
      done = -1;
      const commit = async (fn: () => Promise<unknown>) => {
        states.push(copy(model));
        await fn();
        done = states.length - 1;
      };
      let store!: Store;
      await commit(async () => {
        store = await Store.create(
          { data: storage, index },
          {
            size: 24 * CS,
            chunkSize: CS,
            initialPages: 256,
            maxSnapshots: 32,
            cachePages: 8,
            ...(compression ? { compression } : {}),
          },
        );
      });
      const write = async (version: string) => {
        const bytes = model.get(version) as Uint8Array;
        const offset = Math.floor(rand() * (bytes.length - 1));
        // Compressed stores pack what whole chunks a write covers: longer writes there.
        const length = Math.min(bytes.length - offset, 1 + Math.floor(rand() * (compression ? 8 : 3) * CS));
        const data = (compression ? mixedContent : content)(rand, length, 3);
        await store.volume(version).write(offset, data);
        bytes.set(data, offset);
      };
      for (let i = 0; i < 4; i++) await write(LIVE);
      await commit(() => store.flush());
      model.set('a', (model.get(LIVE) as Uint8Array).slice());
      await commit(() => store.createSnapshot('a'));
      for (let i = 0; i < 4; i++) await write(LIVE);
      await write('a');
      await commit(() => store.flush());
      model.set('b', (model.get(LIVE) as Uint8Array).slice());
      await commit(() => store.createSnapshot('b'));
      await store.discard(3 * CS, 5 * CS);
      (model.get(LIVE) as Uint8Array).fill(0, 3 * CS, 8 * CS);
      await write('b');
      await commit(() => store.flush());
      model.delete('a');
      await commit(() => store.deleteSnapshot('a'));
      model.set(LIVE, (model.get('b') as Uint8Array).slice());
      await commit(() => store.rollback('b'));
      await commit(() => store.flush());
      // A compressed workload packs (written whole-chunk ranges go through the batched path),
      // and compacts: a crash in it leaves the old pages or the new ones, the content unchanged.
      if (compression) {
        expect((await store.stats()).packedPages).toBeGreaterThan(0);
        const dead = (await store.stats()).deadFragmentBytes;
        let moved = 0;
        await commit(async () => {
          moved = (await store.compact({ minDead: 0.01 })).pagesCompacted;
        });
        if (dead > 0) expect(moved).toBeGreaterThan(0);
        if (process.env.DEJA_CRASH_LOG)
          console.log(`seed ${seed}: ${dead} dead bytes, ${moved} pages compacted`);
      }
      // A clean close checkpoints and discards the journal region: a crash inside it leaves the
      // store at its last flush.
      await commit(() => store.close());
    },
    check: async (image, info) => {
      const idx = new MemoryStorage({ data: index.snapshot() });
      let store: Store;
      try {
        store = await Store.open({ data: image, index: idx });
      } catch (e) {
        // Before create completed there is no store; that is the only time open may fail.
        if (done < 0 && ['ERR_NOT_FOUND', 'ERR_CORRUPT_DATA'].includes((e as { code?: string }).code ?? ''))
          return;
        throw e;
      }
      try {
        const candidates = [states[done], states[done + 1]].filter((s): s is State => s !== undefined);
        const reasons: string[] = [];
        let ok = false;
        for (const c of candidates) {
          const why = await matches(store, c);
          if (why === undefined) {
            ok = true;
            break;
          }
          reasons.push(why);
        }
        if (!ok)
          throw new Error(
            `crash at ${info.crashAt} (${info.mode}): matches no completed flush: ${reasons.join(' / ')}`,
          );
        const report = await store.check({ data: true });
        if (!report.ok)
          throw new Error(
            `check after crash at ${info.crashAt}: ${report.problems.map((p) => p.message).join('; ')}`,
          );
        // The store works after recovery.
        await store.write(0, new Uint8Array(CS).fill(5));
        await store.flush();
      } finally {
        await store.close();
      }
    },
  });
  expect(result.runs).toBeGreaterThan(0);
  return result.operations;
}
