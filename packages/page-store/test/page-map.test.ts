// PageMap, the transaction's and the space map's page-keyed tables: the same answers as a Map
// (get, has, size, insertion-order iteration) under random sets, deletes and clears, over small
// and large keys (page numbers up to 2^32 - 2, and any safe integer), through the rebuilds that
// tombstones and growth force.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PageMap } from '../src/_internal-page-map';

const key = fc.oneof(
  fc.integer({ min: 0, max: 40 }),
  fc.integer({ min: 0, max: 2 ** 32 - 2 }),
  fc.maxSafeNat(),
);
const op = fc.oneof(
  fc.tuple(fc.constant('set' as const), key, fc.double({ noNaN: true })),
  fc.tuple(fc.constant('set' as const), key, fc.integer()),
  fc.tuple(fc.constant('delete' as const), key, fc.constant(0)),
  fc.tuple(fc.constant('clear' as const), fc.constant(0), fc.constant(0)),
);

describe('PageMap', () => {
  test('answers as a Map does, iteration order included', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), fc.array(key, { maxLength: 20 }), (ops, probes) => {
        const model = new Map<number, number>();
        const map = new PageMap();
        for (const [kind, k, v] of ops) {
          if (kind === 'set') {
            model.set(k, v);
            expect(map.set(k, v)).toBe(map);
          } else if (kind === 'delete') {
            expect(map.delete(k)).toBe(model.delete(k));
          } else {
            model.clear();
            map.clear();
          }
          expect(map.size).toBe(model.size);
          expect(map.get(k)).toBe(model.get(k));
        }
        for (const k of probes) {
          expect(map.has(k)).toBe(model.has(k));
          expect(map.get(k)).toBe(model.get(k));
        }
        expect([...map]).toEqual([...model]);
        expect([...map.keys()]).toEqual([...model.keys()]);
        expect([...map.values()]).toEqual([...model.values()]);
        const seen: [number, number][] = [];
        map.forEach((v, k) => {
          seen.push([k, v]);
        });
        expect(seen).toEqual([...model.entries()]);
      }),
      { numRuns: 300 },
    );
  });

  test('many sequential and scattered pages, deleted and put back', () => {
    const model = new Map<number, number>();
    const map = new PageMap();
    for (let i = 0; i < 50_000; i++) {
      const page = i % 3 === 0 ? i : (i * 2654435761) % 4294967295;
      model.set(page, i);
      map.set(page, i);
    }
    for (let i = 0; i < 50_000; i += 2) {
      const page = i % 3 === 0 ? i : (i * 2654435761) % 4294967295;
      expect(map.delete(page)).toBe(model.delete(page));
    }
    for (let i = 0; i < 20_000; i += 3) {
      model.set(i, -i);
      map.set(i, -i);
    }
    expect(map.size).toBe(model.size);
    expect([...map]).toEqual([...model]);
  });
});
