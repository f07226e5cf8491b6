// Freed data pages go back to the medium off the commit's path: the ranges (neighbours and short
// free gaps coalesced, never across a space-map page), a commit that does not wait for its
// discards, pages held back from allocation until their discard is called (and drained when
// nothing else is free), close() waiting for them, and a crash sweep in which freed pages are
// reused while their discards are still queued: the reused pages' new contents always survive.
import { MemoryStorage, type Storage } from '@deja/storage';
import { crashSweep, type FaultyStorage } from '@deja/storage/testing';
import { describe, expect, test } from 'vitest';
import { DISCARDS_IN_FLIGHT, discardRanges, MAX_DISCARD_GAP } from '../src/_internal-discard';
import { layoutFor } from '../src/_internal-layout';
import { PageStore } from '../src/index';

const OPTS = { pageSize: 512, pageCount: 120, journalPages: 32, cachePages: 4 };

function pageBytes(seed: number): Uint8Array {
  const out = new Uint8Array(512);
  for (let i = 0; i < out.length; i++) out[i] = (seed * 31 + i * 7 + 1) & 0xff;
  return out;
}

/** A memory storage whose discards wait until `release()` (they are still ordered like writes). */
class SlowDiscardStorage extends MemoryStorage {
  readonly calls: [number, number][] = [];
  /** Discards that completed. */
  done = 0;
  #gates: (() => void)[] = [];
  override discard(offset: number, length: number): Promise<void> {
    this.calls.push([offset, length]);
    return super.discard(offset, length);
  }
  protected override _discard(offset: number, length: number): Promise<void> {
    return new Promise<void>((resolve) => this.#gates.push(resolve))
      .then(() => super._discard(offset, length))
      .then(() => {
        this.done++;
      });
  }
  /** Lets every discard waiting so far go on. */
  release(): void {
    for (const gate of this.#gates.splice(0)) gate();
  }
  get waiting(): number {
    return this.#gates.length;
  }
}

describe('discardRanges', () => {
  const layout = layoutFor(512, 16)!; // 60 user pages per group
  const none = () => false;
  const all = () => true;

  test('neighbours form one range; order and group boundaries', () => {
    const ranges = discardRanges(layout, [7, 5, 6, 9, 58, 59, 60, 61], none);
    expect(ranges.map((r) => [r.user, r.pages])).toEqual([
      [5, 3],
      [9, 1],
      [58, 2], // 59 and 60 are neighbours as user pages, but group 1's space-map page lies between
      [60, 2],
    ]);
    for (const r of ranges)
      expect(r.physical).toBe(layoutFor(512, 16)!.groupStart + 1 + r.user + Math.floor(r.user / 60));
  });

  test('a gap of free pages is bridged, up to MAX_DISCARD_GAP, a gap with a live page is not', () => {
    const asked: [number, number][] = [];
    const free = (start: number, count: number) => {
      asked.push([start, count]);
      return start !== 20; // [20, ...) holds a live page
    };
    const ranges = discardRanges(layout, [1, 4, 20 - 1, 22, 30], free);
    expect(ranges.map((r) => [r.user, r.pages])).toEqual([
      [1, 19], // 1, gap 2..3, 4, gap 5..18, 19
      [22, 9], // 22, gap 23..29, 30
    ]);
    expect(asked).toEqual([
      [2, 2],
      [5, 14],
      [20, 2],
      [23, 7],
    ]);
    // 4 KiB pages: 508 user pages per group. 0 and 65 have 64 free pages between them (bridged);
    // 66 .. 130 are 65: too many.
    const far = discardRanges(layoutFor(4096, 16)!, [0, MAX_DISCARD_GAP + 1, 2 * MAX_DISCARD_GAP + 3], all);
    expect(far.map((r) => [r.user, r.pages])).toEqual([
      [0, MAX_DISCARD_GAP + 2],
      [2 * MAX_DISCARD_GAP + 3, 1],
    ]);
  });
});

describe('freed data pages', () => {
  test('a commit that frees data pages gives their blocks back to the medium (Storage.discard)', async () => {
    const disk = new MemoryStorage();
    const store = await PageStore.create(disk, OPTS);
    const tx = store.begin();
    const pages = await tx.allocateMany('data', 6);
    const data = new Uint8Array(6 * 512);
    for (let i = 0; i < 6; i++) data.set(pageBytes(i + 1), i * 512);
    await tx.writeDataMany(pages, data);
    await tx.commit();
    const calls: [number, number][] = [];
    const original = disk.discard.bind(disk);
    disk.discard = (offset: number, length: number) => {
      calls.push([offset, length]);
      return original(offset, length);
    };
    const tx2 = store.begin();
    for (const p of pages.slice(0, 4)) tx2.decRef(p);
    // Allocated and freed in the same transaction: never committed, nothing to give back.
    const scratch = await tx2.allocate('data');
    tx2.decRef(scratch);
    await tx2.commit();
    await store.close(); // waits for the discards
    expect(store.stats.blocksReleased).toBe(4);
    expect(store.stats.discards).toBe(1);
    expect(calls).toHaveLength(1);
    expect(calls.reduce((n, [, len]) => n + len, 0)).toBe(4 * 512);
    // The pages still live are untouched; freed ones read as zeros on the medium.
    const again = await PageStore.open(disk);
    expect(await again.readData(pages[4] as number)).toEqual(pageBytes(5));
    expect(await disk.read(calls[0]?.[0] as number, 4 * 512)).toEqual(new Uint8Array(4 * 512));
    await again.close();
  });

  test('commit() does not wait for its discards; the freed pages wait for theirs; close() waits for all', async () => {
    const disk = new SlowDiscardStorage();
    const store = await PageStore.create(disk, OPTS);
    let tx = store.begin();
    const pages = await tx.allocateMany('data', 40);
    const data = new Uint8Array(40 * 512);
    for (let i = 0; i < 40; i++) data.set(pageBytes(i), i * 512);
    await tx.writeDataMany(pages, data);
    await tx.commit();
    const freePages = store.freePageCount();
    // Free every other page: 20 ranges, no two neighbours, no free gap between them.
    tx = store.begin();
    for (let i = 0; i < 40; i += 2) tx.decRef(pages[i] as number);
    await tx.commit(); // resolves although no discard has completed
    expect(disk.waiting).toBe(DISCARDS_IN_FLIGHT);
    expect(disk.calls).toHaveLength(DISCARDS_IN_FLIGHT);
    expect(store.stats.discards).toBe(20);
    expect(store.freePageCount()).toBe(freePages + 20); // held pages count as free
    await store.verify();
    disk.release();
    let closed = false;
    const closing = store.close().then(() => {
      closed = true;
    });
    // close() goes on issuing at the same pace (never more than DISCARDS_IN_FLIGHT at once: the
    // storage orders each new operation against every one in flight) and waits; let the gates
    // open as they come.
    while (!closed) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      expect(disk.calls.length - disk.done).toBeLessThanOrEqual(DISCARDS_IN_FLIGHT);
      disk.release();
    }
    await closing;
    expect(disk.calls).toHaveLength(20);
    for (const [offset, length] of disk.calls)
      expect(await disk.read(offset, length)).toEqual(new Uint8Array(length));
  });

  test('a store with no other free page drains the queue: a freed page is reused, written after its discard', async () => {
    const disk = new SlowDiscardStorage();
    const store = await PageStore.create(disk, { ...OPTS, pageCount: 30, maxPageCount: 30 });
    let tx = store.begin();
    const pages = await tx.allocateMany('data', 30);
    await tx.writeDataMany(pages, new Uint8Array(30 * 512).fill(0xee));
    await tx.commit();
    tx = store.begin();
    for (let i = 0; i < 30; i += 3) tx.decRef(pages[i] as number); // 10 ranges
    await tx.commit();
    expect(disk.calls.length).toBeLessThan(10);
    tx = store.begin();
    const reused = await tx.allocateMany('data', 10); // all of them: the queue is drained
    expect(disk.calls).toHaveLength(10);
    const data = new Uint8Array(10 * 512);
    for (let i = 0; i < 10; i++) data.set(pageBytes(100 + i), i * 512);
    const writing = tx.writeDataMany(reused, data); // called after the discards: waits for them
    disk.release();
    await writing;
    await tx.commit();
    disk.release();
    for (const [i, page] of reused.entries()) expect(await store.readData(page)).toEqual(pageBytes(100 + i));
    await store.close();
    const again = await PageStore.open(disk);
    for (const [i, page] of reused.entries()) expect(await again.readData(page)).toEqual(pageBytes(100 + i));
    await again.verify();
    await again.close();
  });

  test('a storage without discard, or with a failing one, keeps the old bytes: nothing breaks', async () => {
    const failing = new MemoryStorage();
    failing.discard = () => Promise.reject(new Error('no'));
    const none = new MemoryStorage();
    (none as { discard?: unknown }).discard = undefined;
    for (const disk of [failing, none]) {
      const store = await PageStore.create(disk, OPTS);
      let tx = store.begin();
      const pages = await tx.allocateMany('data', 8);
      await tx.writeDataMany(pages, new Uint8Array(8 * 512).fill(3));
      await tx.commit();
      tx = store.begin();
      for (const page of pages) tx.decRef(page);
      await tx.commit();
      await store.close();
      const again = await PageStore.open(disk);
      expect(again.freePageCount()).toBe(again.pageCount);
      await again.verify();
      await again.close();
    }
  });
});

describe('close({ checkpoint: true })', () => {
  test('copies the journal home and discards its region; every commit survives the reopen', async () => {
    const disk = new MemoryStorage();
    const store = await PageStore.create(disk, OPTS);
    const layout = layoutFor(512, OPTS.journalPages) as NonNullable<ReturnType<typeof layoutFor>>;
    const pages: number[] = [];
    for (let round = 0; round < 5; round++) {
      const tx = store.begin();
      const meta = await tx.allocate('meta');
      tx.writeMeta(meta, pageBytes(100 + round).subarray(0, store.metaPayloadSize));
      const data = await tx.allocate('data');
      await tx.writeData(data, pageBytes(round));
      tx.setRoot(`r${round}`, meta);
      await tx.commit();
      pages.push(data);
    }
    const journal = () => disk.read(layout.journalStart * 512, OPTS.journalPages * 512);
    expect((await journal()).some((b) => b !== 0)).toBe(true);
    const calls: [number, number][] = [];
    const original = disk.discard.bind(disk);
    disk.discard = (offset: number, length: number) => {
      calls.push([offset, length]);
      return original(offset, length);
    };
    await store.close({ checkpoint: true });
    expect(calls).toContainEqual([layout.journalStart * 512, OPTS.journalPages * 512]);
    expect((await journal()).every((b) => b === 0)).toBe(true);
    const again = await PageStore.open(disk);
    for (let round = 0; round < 5; round++) {
      const meta = again.getRoot(`r${round}`) as number;
      expect(await again.readMeta(meta)).toEqual(pageBytes(100 + round).subarray(0, again.metaPayloadSize));
      expect(await again.readData(pages[round] as number)).toEqual(pageBytes(round));
    }
    // Commits after the reopen go through the (empty) journal as before.
    const tx = again.begin();
    const data = await tx.allocate('data');
    await tx.writeData(data, pageBytes(9));
    await tx.commit();
    await again.close();
    const third = await PageStore.open(disk);
    expect(await third.readData(data)).toEqual(pageBytes(9));
    await third.close();
  });

  test('a plain close leaves the journal as it is (the next open replays it)', async () => {
    const disk = new MemoryStorage();
    const store = await PageStore.create(disk, OPTS);
    const tx = store.begin();
    const data = await tx.allocate('data');
    await tx.writeData(data, pageBytes(1));
    await tx.commit();
    const layout = layoutFor(512, OPTS.journalPages) as NonNullable<ReturnType<typeof layoutFor>>;
    await store.close();
    const journal = await disk.read(layout.journalStart * 512, OPTS.journalPages * 512);
    expect(journal.some((b) => b !== 0)).toBe(true);
    const again = await PageStore.open(disk);
    expect(await again.readData(data)).toEqual(pageBytes(1));
    await again.close();
  });
});

describe('crash safety of queued discards', () => {
  test('freed pages reused while their discards are queued: every crash point recovers the right bytes', async () => {
    // A full store (maxPageCount): the frees of one commit are more ranges than run at once, and the
    // next transaction must reuse them, so it drains the queue and writes pages whose discards
    // were just called. Each recovered state must hold exactly the committed (or the pending) bytes.
    const setup = new MemoryStorage();
    const geometry = { pageSize: 512, pageCount: 36, maxPageCount: 36, journalPages: 16, cachePages: 2 };
    {
      const store = await PageStore.create(setup, geometry);
      const tx = store.begin();
      const pages = await tx.allocateMany('data', 36);
      const data = new Uint8Array(36 * 512);
      for (let i = 0; i < 36; i++) data.set(pageBytes(i), i * 512);
      await tx.writeDataMany(pages, data);
      await tx.commit();
      await store.close();
    }
    const base = setup.snapshot();
    type State = Map<number, number>; // page -> seed of its bytes
    const initial: State = new Map(Array.from({ length: 36 }, (_, i) => [i, i]));
    let committed: State = initial;
    let pending: State | undefined;
    const workload = async (storage: Storage): Promise<void> => {
      committed = initial;
      pending = undefined;
      const store = await PageStore.open(storage, { cachePages: 2 });
      let seed = 1000;
      for (let round = 0; round < 2; round++) {
        // Free 9 scattered live pages (no neighbours: 9 ranges), commit.
        const live = [...committed.keys()].sort((a, b) => a - b);
        const victims = live.filter((_, i) => i % 4 === round % 4).slice(0, 9);
        let tx = store.begin();
        for (const page of victims) tx.decRef(page);
        const afterFree = new Map(committed);
        for (const page of victims) afterFree.delete(page);
        pending = afterFree;
        await tx.commit();
        committed = afterFree;
        pending = undefined;
        // Take them all again (the store is otherwise full) and write new bytes.
        tx = store.begin();
        const taken = await tx.allocateMany('data', victims.length);
        const data = new Uint8Array(taken.length * 512);
        const next = new Map(committed);
        for (const [i, page] of taken.entries()) {
          data.set(pageBytes(seed), i * 512);
          next.set(page, seed++);
        }
        await tx.writeDataMany(taken, data);
        pending = next;
        await tx.commit();
        committed = next;
        pending = undefined;
      }
      // Closed with a checkpoint: crashes inside it and inside the journal's discard are swept too.
      await store.close({ checkpoint: true });
    };
    const result = await crashSweep({
      create: () => new MemoryStorage({ data: base }),
      workload: (storage: FaultyStorage) => workload(storage),
      reopen: (medium) => new MemoryStorage({ data: (medium as MemoryStorage).snapshot() }),
      check: async (image) => {
        const store = await PageStore.open(image, { cachePages: 2 });
        const candidates = pending === undefined ? [committed] : [committed, pending];
        const matches = async (state: State): Promise<boolean> => {
          if (store.freePageCount() !== 36 - state.size) return false;
          for (const [page, seed] of state) {
            if (store.refCount(page) !== 1) return false;
            const bytes = await store.readData(page);
            if (!bytes.every((b, i) => b === pageBytes(seed)[i])) return false;
          }
          return true;
        };
        let ok = false;
        for (const state of candidates) if (await matches(state)) ok = true;
        expect(ok, `recovered sequence ${store.sequence}`).toBe(true);
        await store.verify();
        await store.close();
      },
      seed: 7,
    });
    expect(result.runs).toBeGreaterThan(100);
  });
});
