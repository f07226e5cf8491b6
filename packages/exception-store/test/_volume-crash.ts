// Crash safety of snapshot volumes: the page layer and the origin share one FaultyStorage (two
// regions of it), so a power loss hits both at the same instant. A workload of origin writes,
// snapshot writes, snapshot creation/deletion and flushes is crashed at every storage operation in
// every crash mode. After each crash every snapshot must read exactly its content at the last
// commit (or at the commit in flight): an origin write copies and commits before it touches the
// origin, so no crash can show a snapshot the origin's new data. The origin itself may hold, per
// byte, its last flushed value or any value written since.

import { PageStore } from '@deja/page-store';
import { AbstractStorage, MemoryStorage, type Storage } from '@deja/storage';
import { crashSweep } from '@deja/storage/testing';
import { fraction, xorshift32 } from '@deja/test-helpers';
import { expect } from 'vitest';
import { ExceptionStore, OriginVolume } from '../src/index';

const CS = 512;
const REGION = 256 * 1024; // page layer at [0, REGION), origin at [REGION, REGION + SIZE)
const SIZE = CS * 24;

/** A fixed-size window of another storage (its close leaves the inner storage open). */
class Slice extends AbstractStorage {
  constructor(
    readonly inner: Storage,
    readonly base: number,
    size: number,
  ) {
    super({ location: `slice@${base}`, size, maxSize: size, serial: true });
  }
  protected _read(offset: number, length: number): Promise<Uint8Array> {
    return this.inner.read(this.base + offset, length);
  }
  protected _write(offset: number, data: Uint8Array): Promise<void> {
    return this.inner.write(this.base + offset, data);
  }
  protected _flush(): Promise<void> {
    return this.inner.flush();
  }
  protected _close(): void {}
}

type VOp =
  | { op: 'origin'; offset: number; length: number; seed: number }
  | { op: 'snap'; which: number; offset: number; length: number; seed: number }
  | { op: 'create'; name: string }
  | { op: 'delete'; which: number }
  | { op: 'flush' };

/** Uniform numbers in [0, 1) from xorshift32 (the sequence earlier runs recorded their seeds with). */
function xorshift(seed: number): () => number {
  const next = xorshift32(seed);
  return () => fraction(next);
}

function fill(length: number, seed: number): Uint8Array {
  const b = new Uint8Array(length);
  const r = xorshift(seed);
  for (let i = 0; i < length; i++) b[i] = Math.floor(r() * 256);
  return b;
}

function makePlan(seed: number, n: number): VOp[] {
  const r = xorshift(seed);
  const int = (k: number) => Math.floor(r() * k);
  const ops: VOp[] = [];
  let names = 0;
  for (let i = 0; i < n; i++) {
    const x = r();
    const offset = int(SIZE - 1);
    const length = Math.min(1 + int(CS * 2), SIZE - offset);
    if (x < 0.4) ops.push({ op: 'origin', offset, length, seed: int(1e9) });
    else if (x < 0.65) ops.push({ op: 'snap', which: int(4), offset, length, seed: int(1e9) });
    else if (x < 0.78) ops.push({ op: 'create', name: `v${names++}` });
    else if (x < 0.85) ops.push({ op: 'delete', which: int(4) });
    else ops.push({ op: 'flush' });
  }
  return ops;
}

interface State {
  snaps: Map<string, Uint8Array>;
}

const clone = (s: State): State => ({ snaps: new Map([...s.snaps].map(([k, v]) => [k, v.slice()])) });

async function openAll(storage: Storage, fresh: boolean) {
  const meta = new Slice(storage, 0, REGION);
  const data = new Slice(storage, REGION, SIZE);
  const pages = fresh
    ? await PageStore.create(meta, { pageSize: CS, pageCount: 240, journalPages: 32, cachePages: 8 })
    : await PageStore.open(meta, { cachePages: 8 });
  const store = fresh
    ? await ExceptionStore.create(pages, { maskWidth: 32, fanout: 3, deleteBatchLeaves: 2 })
    : await ExceptionStore.open(pages, { deleteBatchLeaves: 2 });
  return { pages, store, origin: new OriginVolume(store, data, { size: SIZE }) };
}

export async function volumeSweep(planSeed: number, planLength: number): Promise<void> {
  // base image: an origin with data and two snapshots
  const disk = new MemoryStorage();
  const base = await openAll(disk, true);
  await base.origin.write(0, fill(SIZE, 1));
  await base.origin.createSnapshot('base0');
  await base.origin.write(CS * 3, fill(CS * 5, 2));
  await base.origin.createSnapshot('base1');
  await base.origin.write(CS * 10, fill(CS * 4, 3));
  await base.origin.flush();
  const baseState: State = { snaps: new Map() };
  for (const n of ['base0', 'base1']) baseState.snaps.set(n, await base.origin.snapshot(n).read(0, SIZE));
  const baseOrigin = await base.origin.read(0, SIZE);
  await base.pages.close();
  const image = disk.snapshot();

  const plan = makePlan(planSeed, planLength);
  let committed = baseState;
  let pending: { state: State; sequence: number } | undefined;
  // per origin byte: the values it may hold after a crash (unflushed writes may be torn at
  // sectors and land in any subset, so a sector can mix several writes)
  let candidates: Set<number>[] = [];
  let recoveredPending = 0;

  const result = await crashSweep({
    create: () => new MemoryStorage({ data: image }),
    workload: async (storage) => {
      committed = clone(baseState);
      pending = undefined;
      candidates = Array.from(baseOrigin, (b) => new Set([b]));
      const originModel = baseOrigin.slice();
      const cur = clone(baseState);
      const { pages, store, origin } = await openAll(storage, false);
      const names = () => [...cur.snaps.keys()];
      const flushOrigin = () => {
        candidates = Array.from(originModel, (b) => new Set([b]));
      };
      const commitAround = async (next: State, fn: () => Promise<unknown>) => {
        pending = { state: clone(next), sequence: pages.sequence + 1 };
        await fn();
        if (!store.dirty) {
          committed = pending.state;
        }
        pending = undefined;
      };
      for (const o of plan) {
        switch (o.op) {
          case 'origin': {
            const data = fill(o.length, o.seed);
            // the write may land (whole or torn at sectors) as soon as it is issued
            originModel.set(data, o.offset);
            for (let i = 0; i < o.length; i++)
              (candidates[o.offset + i] as Set<number>).add(data[i] as number);
            await commitAround(cur, () => origin.write(o.offset, data));
            break;
          }
          case 'snap': {
            const name = names()[o.which % Math.max(1, names().length)];
            if (name === undefined) break;
            const data = fill(o.length, o.seed);
            await origin.snapshot(name).write(o.offset, data);
            (cur.snaps.get(name) as Uint8Array).set(data, o.offset);
            break;
          }
          case 'create': {
            const next = clone(cur);
            next.snaps.set(o.name, originModel.slice());
            await commitAround(next, () => origin.createSnapshot(o.name));
            flushOrigin();
            cur.snaps.set(o.name, originModel.slice());
            break;
          }
          case 'delete': {
            const name = names()[o.which % Math.max(1, names().length)];
            if (name === undefined) break;
            const next = clone(cur);
            next.snaps.delete(name);
            await commitAround(next, () => origin.deleteSnapshot(name));
            cur.snaps.delete(name);
            break;
          }
          case 'flush':
            await commitAround(cur, () => origin.flush());
            flushOrigin();
            break;
        }
      }
    },
    reopen: (medium) => new MemoryStorage({ data: (medium as MemoryStorage).snapshot() }),
    check: async (img) => {
      const { pages, store, origin } = await openAll(img, false);
      let expected = committed;
      if (pending !== undefined && pages.sequence >= pending.sequence) {
        expected = pending.state;
        recoveredPending++;
      }
      expect(
        store
          .snapshots()
          .map((s) => s.name)
          .sort(),
      ).toEqual([...expected.snaps.keys()].sort());
      for (const [name, bytes] of expected.snaps) {
        const got = await origin.snapshot(name).read(0, SIZE);
        if (!Buffer.from(got).equals(Buffer.from(bytes)))
          throw new Error(`snapshot ${name} differs from its committed content`);
      }
      const now = await origin.read(0, SIZE);
      for (let i = 0; i < SIZE; i++) {
        if (!(candidates[i] as Set<number>).has(now[i] as number)) {
          throw new Error(`origin byte ${i} holds a value never written to it`);
        }
      }
      await store.check();
      await pages.close();
    },
    seed: planSeed,
  });
  expect(result.operations).toBeGreaterThan(30);
  expect(recoveredPending).toBeGreaterThan(0);
}
