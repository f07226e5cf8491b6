// A zone of more than 2^31 bytes (pnpm test:slow; it allocates 2.3 GiB): the search loop reads each
// list through the window of the memory where the list starts (DeltaZone.windows), with int32 bit
// positions, so lists past 1 GiB and past 2 GiB must be found, changed and walked like the others.
import { describe, expect, it } from 'vitest';
import { DeltaIndex } from '../src/index';
import { mulberry32 } from './_rng';

describe('a zone larger than 2^31 bytes', () => {
  it('puts, finds, walks and removes entries in lists across the whole memory', () => {
    const listCount = 64;
    const index = new DeltaIndex({
      listCount,
      meanDelta: 4096,
      payloadBits: 10,
      memorySize: 2 ** 31 + 2 ** 28,
      exactZoneMemory: true,
    });
    const zone = index._zones[0]!;
    expect(zone.windows.length).toBe(18); // one per 2^27 bytes
    // Lists are spread evenly: the last ones start beyond 2 GiB.
    expect(zone.listStart(listCount) / 8).toBeGreaterThan(2 ** 31);
    const random = mulberry32(7);
    const model = new Map<number, Map<number, number>>();
    const entry = index.startSearch(0, 0);
    for (let i = 0; i < 20_000; i++) {
      const list = random() % listCount;
      const key = random() % (1 << 20);
      const value = random() & 1023;
      index.getEntry(list, key, null, entry);
      if (!entry.atEnd && entry.key === key) entry.setValue(value);
      else entry.put(key, value);
      let keys = model.get(list);
      if (keys === undefined) {
        keys = new Map();
        model.set(list, keys);
      }
      keys.set(key, value);
    }
    for (const [list, keys] of model) {
      for (const [key, value] of keys) expect(index.get(list, key)).toBe(value);
      const sorted = [...keys.keys()].sort((a, b) => a - b);
      const walked: number[] = [];
      const cursor = index.startSearch(list, 0);
      for (cursor.next(); !cursor.atEnd; cursor.next()) walked.push(cursor.key);
      expect(walked).toEqual(sorted);
      // Remove every other key, then check what is left.
      for (let k = 0; k < sorted.length; k += 2) {
        index.getEntry(list, sorted[k]!, null, entry);
        entry.remove();
      }
      for (let k = 0; k < sorted.length; k++) {
        expect(index.get(list, sorted[k]!)).toBe(k % 2 === 0 ? undefined : keys.get(sorted[k]!));
      }
    }
  });
});
