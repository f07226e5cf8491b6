// fillDeltaIndex against two models: the same entries put one by one (same pages, same stats), and
// the entry list itself (a walk of every list returns exactly the entries given). Small indexes,
// tiny pages and narrow memory reach collisions, page splits, list overflow and a full zone.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeltaIndex, fillDeltaIndex, isDeltaIndexError, packDeltaIndexPage } from '../src/index';
import { mulberry32 } from './_rng';

const SEED = 20261207;

interface Planned {
  key: number;
  value: number;
  name: Uint8Array;
}

/** Random entries per list, each list's keys ascending, some keys shared by 2-4 names. */
function plan(
  random: () => number,
  listCount: number,
  meanDelta: number,
  payloadBits: number,
  perList: number,
) {
  const lists: Planned[][][] = []; // list -> key group -> names in put order
  for (let l = 0; l < listCount; l++) {
    const groups: Planned[][] = [];
    const n = Math.floor(random() % (perList + 1));
    let key = random() % 3 === 0 ? 0 : random() % (2 * meanDelta);
    for (let i = 0; i < n; i++) {
      const size = random() % 10 === 0 ? 2 + (random() % 3) : 1;
      const group: Planned[] = [];
      for (let g = 0; g < size; g++) {
        const name = new Uint8Array(16);
        for (let b = 0; b < 16; b++) name[b] = random() & 0xff;
        group.push({ key, value: payloadBits === 0 ? 0 : random() % 2 ** payloadBits, name });
      }
      groups.push(group);
      key += 1 + (random() % (2 * meanDelta));
    }
    lists.push(groups);
  }
  return lists;
}

/** The entries in list order: each group's first name, then the others latest first. */
function sorted(lists: Planned[][][]) {
  const ordered: Planned[] = [];
  const listStarts = new Uint32Array(lists.length + 1);
  lists.forEach((groups, l) => {
    for (const group of groups) {
      ordered.push(group[0]!);
      for (let g = group.length - 1; g > 0; g--) ordered.push(group[g]!);
    }
    listStarts[l + 1] = ordered.length;
  });
  const names = new Uint8Array(ordered.length * 16);
  for (const [i, e] of ordered.entries()) names.set(e.name, i * 16);
  return {
    ordered,
    entries: {
      listStarts,
      keys: Uint32Array.from(ordered, (e) => e.key),
      values: Uint32Array.from(ordered, (e) => e.value),
      names,
      nameOffsets: Uint32Array.from(ordered, (_, i) => i * 16),
    },
  };
}

/** Put every name in put order; returns false at the first overflow. */
function putAll(index: DeltaIndex, lists: Planned[][][]): boolean {
  try {
    lists.forEach((groups, l) => {
      for (const group of groups) {
        group.forEach((e, g) => {
          const entry = index.getEntry(l, e.key, g === 0 ? null : e.name);
          entry.put(e.key, e.value, g === 0 ? null : e.name);
        });
      }
    });
    return true;
  } catch (error) {
    if (isDeltaIndexError(error, 'ERR_OVERFLOW')) return false;
    throw error;
  }
}

/** Every page packDeltaIndexPage makes, until all lists are packed or one fits no page. */
function packAll(index: DeltaIndex, pageBytes: number): string[] {
  const pages: string[] = [];
  for (let first = 0; first < index.listCount; ) {
    const page = new Uint8Array(pageBytes);
    const n = packDeltaIndexPage(index, 9n, page, 3n, first);
    if (n === 0) break;
    pages.push(Buffer.from(page).toString('hex'));
    first += n;
  }
  return pages;
}

/** Walk every list: key, value, collision flag and name of each entry. */
function walk(index: DeltaIndex) {
  const out: { key: number; value: number; collision: boolean; name: string | null }[] = [];
  for (let l = 0; l < index.listCount; l++) {
    const entry = index.startSearch(l, 0);
    for (entry.next(); !entry.atEnd; entry.next()) {
      out.push({
        key: entry.key,
        value: entry.value,
        collision: entry.isCollision,
        name: entry.isCollision ? Buffer.from(entry.collisionName()).toString('hex') : null,
      });
    }
  }
  return out;
}

describe('fillDeltaIndex', () => {
  it('gives the lists, stats and pages that putting the same entries one by one gives (model)', () => {
    let compared = 0;
    let filledOnly = 0;
    let refused = 0;
    fc.assert(
      fc.property(
        fc.integer(),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 2, max: 14 }),
        fc.constantFrom(4, 64, 1024, 65536),
        fc.integer({ min: 0, max: 25 }),
        fc.integer({ min: 0, max: 12 }),
        fc.constantFrom(64, 200, 512, 4096),
        fc.constantFrom(0, 64, 256, 4096),
        (seed, zoneCount, listsPerZone, meanDelta, payloadBits, perList, memorySize, pageBytes) => {
          const listCount = zoneCount * listsPerZone;
          const random = mulberry32(seed);
          const lists = plan(random, listCount, meanDelta, payloadBits, perList);
          const { ordered, entries } = sorted(lists);
          const options = { zoneCount, listCount, meanDelta, payloadBits, memorySize, exactZoneMemory: true };
          const filled = new DeltaIndex(options);
          const put = new DeltaIndex(options);
          const ok = fillDeltaIndex(filled, entries, pageBytes);
          const putOk = putAll(put, lists);
          if (!ok) {
            refused++;
            expect(filled.getStats().recordCount).toBe(0);
            expect(walk(filled)).toEqual([]);
            return;
          }
          // The naive model: every list holds exactly the entries given, in that order.
          expect(walk(filled)).toEqual(
            ordered.map((e, i) => {
              const list = entries.listStarts.findIndex((s, l) => s <= i && i < entries.listStarts[l + 1]!);
              const collision = i > entries.listStarts[list]! && e.key === ordered[i - 1]!.key;
              return {
                key: e.key,
                value: e.value,
                collision,
                name: collision ? Buffer.from(e.name).toString('hex') : null,
              };
            }),
          );
          for (const [i, e] of ordered.entries()) {
            const list = entries.listStarts.findIndex((s, l) => s <= i && i < entries.listStarts[l + 1]!);
            expect(filled.getEntry(list, e.key, e.name).value).toBe(e.value);
          }
          if (!putOk) {
            filledOnly++;
            return;
          }
          compared++;
          const a = filled.getStats();
          const b = put.getStats();
          expect([a.recordCount, a.collisionCount]).toEqual([b.recordCount, b.collisionCount]);
          expect(walk(filled)).toEqual(walk(put));
          for (const bytes of [64, 96, 256, 4096])
            expect(packAll(filled, bytes)).toEqual(packAll(put, bytes));
          // The filled index stays an ordinary mutable index: remove and put again.
          if (ordered.length > 0) {
            const e = ordered[0]!;
            const entry = filled.getEntry(0, e.key);
            if (!entry.atEnd && entry.key === e.key) {
              entry.remove();
              expect(filled.getStats().recordCount).toBe(a.recordCount - 1);
            }
          }
        },
      ),
      { numRuns: 300, seed: SEED },
    );
    expect(compared).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(5);
    expect(filledOnly + compared + refused).toBeGreaterThan(200);
  });

  it('refuses a list longer than 65535 bits and leaves the index empty', () => {
    const index = new DeltaIndex({ listCount: 1, meanDelta: 4, payloadBits: 8, memorySize: 65536 });
    const count = 65535 / 8; // at least 8 + 3 bits per entry
    const entries = {
      listStarts: Uint32Array.of(0, count),
      keys: Uint32Array.from({ length: count }, (_, i) => i),
      values: new Uint32Array(count),
      names: new Uint8Array(0),
      nameOffsets: new Uint32Array(count),
    };
    expect(fillDeltaIndex(index, entries)).toBe(false);
    expect(index.getStats().recordCount).toBe(0);
  });

  it('refuses memory that holds the bits but leaves puts one by one no sure room, and leaves the index empty', () => {
    // 4 lists of 12 entries of about 8 + 7 bits: 90 bytes of bits (112 bytes hold them with the
    // guard), but with a byte per list's span and phase, the tail guard and room for two of the
    // largest entries (a collision entry, over 140 bits) the bound is about 140 bytes.
    const make = (memorySize: number) =>
      new DeltaIndex({ listCount: 4, meanDelta: 64, payloadBits: 8, memorySize, exactZoneMemory: true });
    const perList = 12;
    const count = 4 * perList;
    const entries = {
      listStarts: Uint32Array.of(0, perList, 2 * perList, 3 * perList, count),
      keys: Uint32Array.from({ length: count }, (_, i) => 1 + (i % perList) * 40),
      values: Uint32Array.from({ length: count }, (_, i) => i),
      names: new Uint8Array(0),
      nameOffsets: new Uint32Array(count),
    };
    const tight = make(112);
    expect(fillDeltaIndex(tight, entries)).toBe(false);
    expect(tight.getStats().recordCount).toBe(0);
    const roomy = make(160);
    expect(fillDeltaIndex(roomy, entries)).toBe(true);
    expect(roomy.getStats().recordCount).toBe(count);
  });

  it('rejects entries out of order or out of range', () => {
    const index = new DeltaIndex({ listCount: 2, meanDelta: 64, payloadBits: 4, memorySize: 4096 });
    const base = {
      listStarts: Uint32Array.of(0, 2, 2),
      keys: Uint32Array.of(5, 9),
      values: Uint32Array.of(1, 2),
      names: new Uint8Array(0),
      nameOffsets: new Uint32Array(2),
    };
    expect(fillDeltaIndex(index, base)).toBe(true);
    const cases = [
      { ...base, listStarts: Uint32Array.of(0, 2) },
      { ...base, listStarts: Uint32Array.of(0, 2, 1) },
      { ...base, keys: Uint32Array.of(9, 5) },
      { ...base, values: Uint32Array.of(1, 16) },
      { ...base, keys: Uint32Array.of(5, 5) }, // a collision whose name lies outside `names`
      { ...base, keys: Uint32Array.of(5) },
    ];
    for (const entries of cases) {
      expect(() => fillDeltaIndex(index, entries)).toThrow(RangeError);
    }
  });
});
