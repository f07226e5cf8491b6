// The property test machinery: random put/remove/get/set-value/reset/save-restore sequences against
// the model, with many collisions (small key ranges, few names) and tiny zones so rebalancing and
// zone overflow happen, and the invariant checker after every step. fast-check prints the seed and
// path of a failure, which replay it.
import fc from 'fast-check';
import { expect } from 'vitest';
import { DeltaIndex, DeltaIndexError } from '../src/index';
import { checkInvariants, hexName, type Model, modelFind, modelInsert, modelRemoveAt } from './_model';

const NAMES = Array.from({ length: 3 }, (_, i) => new Uint8Array(16).fill(i * 37 + 1).map((b, j) => b ^ j));

type Op =
  | { t: 'insert'; list: number; key: number; value: number; name: number }
  | { t: 'remove' | 'get'; list: number; key: number; name: number }
  | { t: 'set'; list: number; key: number; name: number; value: number }
  | { t: 'removeList'; list: number }
  | { t: 'reset' }
  | { t: 'saveRestore'; zones: number; memory: number };

interface Config {
  zoneCount: number;
  listCount: number;
  meanDelta: number;
  payloadBits: number;
  memorySize: number;
  keyMax: number;
}

/** The largest zone count <= wanted that leaves the last zone at least one list (as the seed requires). */
function fitZones(listCount: number, wanted: number): number {
  let zones = Math.min(wanted, listCount);
  while (listCount <= (zones - 1) * Math.ceil(listCount / zones)) zones--;
  return zones;
}

const configArb: fc.Arbitrary<Config> = fc
  .record({
    zoneCount: fc.integer({ min: 1, max: 3 }),
    extraLists: fc.integer({ min: 0, max: 6 }),
    meanDelta: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 100, max: 70_000 })),
    payloadBits: fc.integer({ min: 0, max: 16 }),
    zoneBytes: fc.oneof(fc.integer({ min: 12, max: 160 }), fc.integer({ min: 160, max: 1200 })),
    keyMax: fc.constantFrom(40, 3000, 1 << 22),
  })
  .map((r) => ({
    zoneCount: fitZones(r.zoneCount + r.extraLists, r.zoneCount),
    listCount: r.zoneCount + r.extraLists,
    meanDelta: r.meanDelta,
    payloadBits: r.payloadBits,
    memorySize: r.zoneBytes * r.zoneCount,
    keyMax: r.keyMax,
  }));

function opArb(config: Config): fc.Arbitrary<Op> {
  const list = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: config.listCount - 1 }));
  const key = fc.oneof(
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 12 }),
    fc.integer({ min: 0, max: config.keyMax }),
  );
  const value = fc.integer({ min: 0, max: 2 ** config.payloadBits - 1 });
  const name = fc.integer({ min: -1, max: NAMES.length - 1 });
  return fc.oneof(
    { weight: 8, arbitrary: fc.record({ t: fc.constant('insert' as const), list, key, value, name }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('remove' as const), list, key, name }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('get' as const), list, key, name }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('set' as const), list, key, name, value }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('removeList' as const), list }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('reset' as const) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('saveRestore' as const),
        zones: fc.integer({ min: 1, max: 3 }),
        memory: fc.integer({ min: 8, max: 250 }),
      }),
    },
  );
}

function makeIndex(config: Config, zoneCount = config.zoneCount, memorySize = config.memorySize): DeltaIndex {
  return new DeltaIndex({
    zoneCount,
    listCount: config.listCount,
    meanDelta: config.meanDelta,
    payloadBits: config.payloadBits,
    memorySize,
    exactZoneMemory: true,
  });
}

/** How often the runs reached each interesting path. */
let reached = { collision: 0, duplicate: 0, zoneFull: 0, restored: 0, restoreTooSmall: 0, removed: 0 };

function isOverflow(error: unknown): boolean {
  return error instanceof DeltaIndexError && error.code === 'ERR_OVERFLOW';
}

/** Apply one operation to both the index and the model; returns the index to continue with. */
function step(index: DeltaIndex, model: Model, config: Config, op: Op): DeltaIndex {
  const nameOf = (i: number) => (i < 0 ? null : NAMES[i]!);
  switch (op.t) {
    case 'insert': {
      // The chapter index always passes the record name; a name is needed if the key is present.
      const name = NAMES[Math.max(op.name, 0)]!;
      const entry = index.getEntry(op.list, op.key, name);
      const found = !entry.atEnd && entry.key === op.key;
      const copy = model[op.list]!.map((e) => ({ ...e }));
      const expected = modelInsert(copy, op.key, op.value, hexName(name));
      if (found && entry.isCollision) {
        expect(expected).toBe('duplicate_ignored');
        reached.duplicate++;
        return index;
      }
      try {
        entry.put(op.key, op.value, found ? name : null);
      } catch (error) {
        if (!isOverflow(error)) throw error;
        reached.zoneFull++;
        return index; // nothing changed: the invariants check it
      }
      if (found) reached.collision++;
      expect(expected).toBe(found ? 'collision' : 'inserted');
      model[op.list] = copy;
      expect(entry.key).toBe(op.key);
      expect(entry.value).toBe(op.value);
      return index;
    }
    case 'get': {
      const name = nameOf(op.name);
      const at = modelFind(model[op.list]!, op.key, hexName(name));
      expect(index.get(op.list, op.key, name)).toBe(at < 0 ? undefined : model[op.list]![at]!.value);
      return index;
    }
    case 'remove':
    case 'set': {
      const name = nameOf(op.name);
      const entry = index.getEntry(op.list, op.key, name);
      const at = modelFind(model[op.list]!, op.key, hexName(name));
      expect(!entry.atEnd && entry.key === op.key).toBe(at >= 0);
      if (at < 0) return index;
      expect(entry.isCollision).toBe(model[op.list]![at]!.name !== null);
      if (op.t === 'remove') {
        reached.removed++;
        entry.remove();
        modelRemoveAt(model[op.list]!, at);
      } else if (op.t === 'set') {
        entry.setValue(op.value);
        model[op.list]![at]!.value = op.value;
      }
      return index;
    }
    case 'removeList': {
      const entry = index.startSearch(op.list, 0);
      entry.next();
      while (!entry.atEnd) entry.remove();
      model[op.list] = [];
      return index;
    }
    case 'reset': {
      index.reset();
      for (let i = 0; i < model.length; i++) model[i] = [];
      return index;
    }
    case 'saveRestore': {
      const restored = makeIndex(config, fitZones(config.listCount, op.zones), op.memory * op.zones);
      try {
        restored.restore(index.save());
      } catch (error) {
        if (!isOverflow(error)) throw error;
        expect(restored.getStats().recordCount).toBe(0);
        reached.restoreTooSmall++;
        return index;
      }
      reached.restored++;
      return restored;
    }
  }
}

/**
 * Run `numRuns` random sequences from `seed`; returns how often each interesting path was reached.
 */
export function runModelProperty(seed: number, numRuns: number): Record<string, number> {
  reached = { collision: 0, duplicate: 0, zoneFull: 0, restored: 0, restoreTooSmall: 0, removed: 0 };
  let rebalances = 0;
  fc.assert(
    fc.property(
      configArb.chain((config) =>
        fc.tuple(fc.constant(config), fc.array(opArb(config), { minLength: 20, maxLength: 150 })),
      ),
      ([config, ops]) => {
        let index = makeIndex(config);
        const model: Model = Array.from({ length: config.listCount }, () => []);
        checkInvariants(index, model);
        for (const op of ops) {
          const before = index.getStats().rebalanceCount;
          const next = step(index, model, config, op);
          if (next === index) rebalances += index.getStats().rebalanceCount - before;
          index = next;
          checkInvariants(index, model);
        }
      },
    ),
    { seed, numRuns },
  );
  return { rebalances, ...reached };
}
