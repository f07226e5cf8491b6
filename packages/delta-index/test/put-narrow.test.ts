// The int32 put path (DeltaIndexEntry._putNarrow, taken by plain puts into zones below 2^31 bits)
// against the general path it short-cuts: the same random operations on two indexes, one of them
// with the path switched off, must leave the same bytes, headers, statistics and cursors after every
// step (fast-check, seeded). Tiny zones make both gaps, rebalances and full zones frequent, means
// and payload widths vary (short codes, long tails, entries wider than 25 bits), and the model test
// (property.test.ts) checks the contents themselves.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeltaIndex, type DeltaIndexEntry } from '../src/index';

interface Step {
  list: number;
  key: number;
  value: number;
  op: 'put' | 'remove' | 'collision' | 'late';
}

function make(meanDelta: number, payloadBits: number, memorySize: number, narrow: boolean) {
  const index = new DeltaIndex({ listCount: 8, meanDelta, payloadBits, memorySize, exactZoneMemory: true });
  const zone = index._zones[0]!;
  expect(zone.narrow).toBe(true);
  if (!narrow) (zone as { narrow: boolean }).narrow = false;
  return index;
}

/**
 * Apply one step; returns what happened, for comparing the two indexes. A 'late' put is made after
 * another cursor searched the list further, so that the saved search position is past the new entry.
 */
function apply(index: DeltaIndex, entry: DeltaIndexEntry, step: Step, name: Uint8Array): string {
  index.getEntry(step.list, step.key, null, entry);
  if (step.op === 'late') index.getEntry(step.list, step.key + index.meanDelta * 3, null, LATE);
  try {
    if (step.op === 'remove') {
      if (entry.atEnd) return 'end';
      entry.remove();
      return 'removed';
    }
    if (!entry.atEnd && entry.key === step.key) {
      if (step.op === 'collision' && !entry.isCollision) {
        entry.put(step.key, step.value, name);
        return 'collision';
      }
      entry.setValue(step.value);
      return 'set';
    }
    entry.put(step.key, step.value);
    return 'put';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

const LATE = new DeltaIndex({ listCount: 1, meanDelta: 1, payloadBits: 0, memorySize: 64 }).startSearch(0, 0);

function cursor(entry: DeltaIndexEntry) {
  return [entry.atEnd, entry.key, entry.offset, entry.delta, entry.entryBits, entry.isCollision];
}

describe('DeltaIndexEntry put: the int32 path against the general path', () => {
  it('leaves the same lists, headers, statistics and cursor after every step', () => {
    const step = fc.record({
      list: fc.integer({ min: 0, max: 7 }),
      key: fc.integer({ min: 0, max: 2 ** 16 - 1 }),
      value: fc.nat(),
      op: fc.constantFrom<Step['op']>('put', 'put', 'late', 'remove', 'collision'),
    });
    fc.assert(
      fc.property(
        fc.constantFrom(1, 5, 64, 1024, 4096, 65536, 48_408_810),
        fc.integer({ min: 0, max: 25 }),
        fc.integer({ min: 64, max: 1024 }),
        fc.array(step, { minLength: 1, maxLength: 300 }),
        (meanDelta, payloadBits, memorySize, steps) => {
          const narrow = make(meanDelta, payloadBits, memorySize, true);
          const general = make(meanDelta, payloadBits, memorySize, false);
          const a = narrow.startSearch(0, 0);
          const b = general.startSearch(0, 0);
          const name = new Uint8Array(16);
          for (const [i, s] of steps.entries()) {
            name.fill(i & 0xff);
            const wide = { ...s, key: s.key * Math.max(1, Math.floor(meanDelta / 4096)) };
            wide.value = s.value & ((1 << payloadBits) - 1);
            const result = apply(narrow, a, wide, name);
            expect(apply(general, b, wide, name), `step ${i}`).toBe(result);
            expect(cursor(a), `cursor after step ${i}`).toEqual(cursor(b));
            const za = narrow._zones[0]!;
            const zb = general._zones[0]!;
            expect(za.headers, `headers after step ${i}`).toEqual(zb.headers);
            expect(za.memory, `memory after step ${i}`).toEqual(zb.memory);
          }
          expect(narrow.getStats()).toEqual({
            ...general.getStats(),
            rebalanceTime: narrow.getStats().rebalanceTime,
          });
        },
      ),
      { seed: 20261207, numRuns: 300 },
    );
  });
});
