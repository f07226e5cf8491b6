// The space map's allocation policy: metadata and data pages come from separate regions. A
// property test with tiny regions drives random reservations, releases, commits (counts set, pages
// freed), held pages and growths against a naive model (an array of page states), checks the index
// with check() after every step, and checks each choice against the policy: a data page lands
// outside metadata regions whenever a free page exists there, a metadata page in a metadata region
// or an empty one whenever such a page is free, and -1 only when nothing is free. Then the effect a
// caller sees: on a PageStore over 4 KiB pages, metadata allocated among many data pages stays in a
// few 4 MiB spans of the medium (it used to be spread over all of them).
import { MemoryStorage } from '@deja/storage';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PageStore } from '../src/index';
import { SpaceMap } from '../src/space-map';

type State = 'free' | 'meta' | 'data' | 'rmeta' | 'rdata' | 'held';

describe('SpaceMap regions', () => {
  test('random operations against a naive model: index consistent, every choice follows the policy', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.nat()), { maxLength: 250 }),
        (per, initial, ops) => {
          const map = new SpaceMap(initial, per);
          const model: State[] = Array.from({ length: initial }, () => 'free');
          const regionOf = (page: number) => Math.floor(page / per);
          for (const [op, arg] of ops) {
            if (op <= 2) {
              const data = op === 0;
              const mix = arg % 3 === 0;
              const page = map.reserve(data, mix);
              const free = model.flatMap((s, p) => (s === 'free' ? [p] : []));
              const metaRegion = (p: number) => {
                const inRegion = model.filter((_, q) => regionOf(q) === regionOf(p));
                const meta = inRegion.filter((s) => s === 'meta' || s === 'rmeta').length;
                return meta > inRegion.filter((s) => s !== 'free').length - meta;
              };
              const empty = (p: number) => !model.some((s, q) => regionOf(q) === regionOf(p) && s !== 'free');
              // The kind's own places: data outside metadata regions; metadata in them or in an empty one.
              const own = free.filter((p) => (data ? !metaRegion(p) : metaRegion(p) || empty(p)));
              const single = model.length <= per; // one region: the kinds mix
              if (page < 0) {
                expect(mix || single ? free : own).toEqual([]);
                continue;
              }
              expect(model[page]).toBe('free');
              if (data) {
                if (own.length > 0) expect(metaRegion(page)).toBe(false);
              } else {
                const lowestRoom = free.find(metaRegion);
                if (lowestRoom !== undefined) expect(page).toBe(lowestRoom);
                else if (own.length > 0) expect(empty(page) && page % per === 0).toBe(true);
              }
              if (own.length === 0) expect(mix || single).toBe(true);
              model[page] = data ? 'rdata' : 'rmeta';
            } else if (op === 3) {
              // Release a reserved page (abort or freed in its transaction).
              const reserved = model.flatMap((s, p) => (s === 'rmeta' || s === 'rdata' ? [p] : []));
              if (reserved.length === 0) continue;
              const page = reserved[arg % reserved.length]!;
              map.release(page);
              model[page] = 'free';
            } else if (op === 4) {
              // Commit: reserved pages become live.
              model.forEach((s, p) => {
                if (s === 'rmeta' || s === 'rdata') {
                  map.setCount(p, 1, s === 'rdata');
                  model[p] = s === 'rdata' ? 'data' : 'meta';
                }
              });
            } else if (op === 5) {
              // Free a live page; data pages are held (their discard queued) half of the time.
              const live = model.flatMap((s, p) => (s === 'meta' || s === 'data' ? [p] : []));
              if (live.length === 0) continue;
              const page = live[arg % live.length]!;
              const wasData = model[page] === 'data';
              map.setCount(page, 0, false);
              model[page] = 'free';
              if (wasData && arg % 2 === 0) {
                map.hold(page);
                model[page] = 'held';
              }
            } else if (op === 6) {
              const held = model.flatMap((s, p) => (s === 'held' ? [p] : []));
              if (held.length === 0) continue;
              const page = held[arg % held.length]!;
              map.unhold(page);
              model[page] = 'free';
            } else {
              const grow = (arg % 13) + 1;
              map.resize(model.length + grow);
              for (let i = 0; i < grow; i++) model.push('free');
            }
            expect(map.check()).toBeUndefined();
            expect(map.free).toBe(model.filter((s) => s === 'free' || s === 'held').length);
            for (let p = 0; p < model.length; p++) {
              const live = model[p] === 'meta' || model[p] === 'data';
              expect(map.count(p)).toBe(live ? 1 : 0);
              if (live) expect(map.isData(p)).toBe(model[p] === 'data');
            }
            expect(map.allFree(0, model.length)).toBe(model.every((s) => s === 'free'));
          }
        },
      ),
      { numRuns: 150, seed: 20261207 },
    );
  });
});

describe('SpaceMap bulk load (open)', () => {
  test('loadCount then finishLoad builds the same map as setCount, page by page', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 120 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.boolean()), { maxLength: 120 }),
        fc.array(fc.tuple(fc.boolean(), fc.boolean()), { maxLength: 40 }),
        (per, size, entries, after) => {
          const bulk = new SpaceMap(size, per);
          const single = new SpaceMap(size, per);
          // Entries in increasing page order (a count of 0 is a free page, skipped as at open).
          entries.slice(0, size).forEach(([count, data], page) => {
            if (count === 0) return;
            bulk.loadCount(page, count, data);
            single.setCount(page, count, data);
          });
          bulk.finishLoad();
          expect(bulk.check()).toBeUndefined();
          expect([bulk.live, bulk.free]).toEqual([single.live, single.free]);
          for (let page = 0; page < size; page++) {
            expect([bulk.count(page), bulk.isData(page)]).toEqual([single.count(page), single.isData(page)]);
          }
          // The regions' flags agree too: every later choice is the same.
          for (const [data, mix] of after) expect(bulk.reserve(data, mix)).toBe(single.reserve(data, mix));
          expect(bulk.check()).toBeUndefined();
        },
      ),
    );
  });
});

describe('SpaceMap runs of data pages', () => {
  test('reserveDataRun takes what as many reserve(true) calls would, one by one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 80 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.boolean()), { maxLength: 80 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 12 }), fc.boolean()), { maxLength: 12 }),
        (per, size, entries, runs) => {
          const a = new SpaceMap(size, per);
          const b = new SpaceMap(size, per);
          entries.slice(0, size).forEach(([count, data], page) => {
            if (count === 0) return;
            a.setCount(page, count, data);
            b.setCount(page, count, data);
          });
          for (const [max, mix] of runs) {
            const run: number[] = [];
            const runLength = a.reserveDataRun(mix, max, run);
            expect(run.length).toBe(runLength);
            const first = runLength > 0 ? (run[0] as number) : -1;
            const one = b.reserve(true, mix);
            expect(first).toBe(one);
            if (first < 0) continue;
            expect(runLength).toBeGreaterThanOrEqual(1);
            expect(runLength).toBeLessThanOrEqual(max);
            for (let k = 1; k < runLength; k++) {
              expect(run[k]).toBe(first + k);
              expect(b.reserve(true, mix)).toBe(first + k);
            }
            // The run stops at max, at the end of its region or of the map, or at a page taken.
            const end = first + runLength;
            if (runLength < max && end % per !== 0 && end < size) expect(a.allFree(end, 1)).toBe(false);
            expect(a.check()).toBeUndefined();
            expect([a.free, a.live]).toEqual([b.free, b.live]);
          }
          for (let page = 0; page < size; page++) expect(a.count(page)).toBe(b.count(page));
        },
      ),
    );
  });
});

describe('SpaceMap: stores written before the regions', () => {
  test('a metadata page among many data pages leaves its region a data region: data reuses its room', () => {
    // As a store allocated from one search has it: a metadata page in every region.
    const map = new SpaceMap(40, 10);
    for (let p = 0; p < 40; p++) map.setCount(p, 1, p % 10 !== 3);
    for (const p of [5, 15, 25]) map.setCount(p, 0, false);
    expect(map.reserve(true, false)).toBe(5); // not -1: the free data pages are reused
    expect(map.reserve(true, false)).toBe(15);
    // Metadata has no region of its own yet: -1 (the transaction grows the store by one region).
    expect(map.reserve(false, false)).toBe(-1);
    map.resize(50);
    expect(map.reserve(false, false)).toBe(40);
    expect(map.reserve(false, false)).toBe(41);
    expect(map.reserve(true, false)).toBe(25);
    expect(map.reserve(true, false)).toBe(-1); // region 4 is metadata's now
    expect(map.reserve(true, true)).toBe(42); // unless the kinds may mix
    expect(map.check()).toBeUndefined();
  });
});

describe('locality on the medium', () => {
  test('metadata allocated among 20,000 data pages lies in one or two 4 MiB spans of the medium', async () => {
    // As an import does: a metadata page now and then among many data pages (4 KiB pages).
    const disk = new MemoryStorage();
    const store = await PageStore.create(disk, { pageSize: 4096, pageCount: 16 });
    const meta: number[] = [];
    for (let round = 0; round < 40; round++) {
      const tx = store.begin();
      await tx.allocateMany('data', 500);
      for (let k = 0; k < 3; k++) {
        const page = await tx.allocate('meta');
        tx.writeMeta(page, new Uint8Array([round, k]));
        meta.push(page);
      }
      await tx.commit();
    }
    // A later commit rewrites a few metadata pages; where do their homes lie?
    const spans = (pages: readonly number[]) => {
      const at = new Set<number>();
      for (const page of pages) at.add(Math.floor(physicalOffset(store, page) / 2 ** 22));
      return at.size;
    };
    const dataSpans = Math.ceil((20_000 * 4096) / 2 ** 22);
    expect(meta).toHaveLength(120);
    // 120 metadata pages: 480 KiB, one or two spans (and apart from the data's spans but at most one).
    expect(spans(meta)).toBeLessThanOrEqual(2);
    expect(dataSpans).toBeGreaterThan(15);
    // A later commit rewrites 12 of them, spread over the whole import: their homes (where the
    // next checkpoint writes them) are as close together.
    const rewritten = meta.filter((_, i) => i % 10 === 0);
    expect(spans(rewritten)).toBeLessThanOrEqual(2);
    const tx = store.begin();
    for (const page of rewritten) tx.writeMeta(page, new Uint8Array([9]));
    await tx.commit();
    await store.verify();
    await store.close();
  });
});

/** Byte offset of a user page: F + J pages, then groups of one space-map page and E user pages. */
function physicalOffset(store: PageStore, page: number): number {
  const entries = (store.pageSize - 32) / 8;
  const groupStart = Math.ceil(1024 / store.pageSize) + store.journalPages;
  const physical = groupStart + Math.floor(page / entries) * (entries + 1) + 1 + (page % entries);
  return physical * store.pageSize;
}
