// OpenChapterZone against a naive model (an array of records with deleted flags), with an invariant
// checker over the hash table after every operation; small capacities and names that share their
// chapter index bytes force long probe chains and the full-zone path.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OpenChapterZone } from '../src/index';
import { toHex } from './_helpers';

const SEED = 0x0c0a;

interface ModelRecord {
  name: string;
  data: string;
  deleted: boolean;
}

class Model {
  readonly records: ModelRecord[] = [];
  deletions = 0;
  constructor(readonly capacity: number) {}
  live(name: string): ModelRecord | undefined {
    return this.records.find((r) => r.name === name && !r.deleted);
  }
  put(name: string, data: string): number {
    if (this.records.length >= this.capacity) return 0;
    const record = this.live(name);
    if (record) record.data = data;
    else this.records.push({ name, data, deleted: false });
    return this.capacity - this.records.length;
  }
  remove(name: string): boolean {
    const record = this.live(name);
    if (!record) return false;
    record.deleted = true;
    this.deletions++;
    return true;
  }
  reset(): void {
    this.records.length = 0;
    this.deletions = 0;
  }
}

/** Invariants: every record number 1..size sits in exactly one slot; records match the model. */
function checkZone(zone: OpenChapterZone, model: Model): void {
  if (zone.size !== model.records.length) throw new Error(`size ${zone.size} != ${model.records.length}`);
  if (zone.deletions !== model.deletions) throw new Error('deletions differ');
  if (zone.remaining !== zone.capacity - zone.size) throw new Error('remaining');
  const seen = new Uint8Array(zone.size + 1);
  for (let s = 0; s < zone.slotCount; s++) {
    const n = zone.recordNumberAt(s);
    if (n === 0) continue;
    if (n > zone.size || seen[n]) throw new Error(`slot ${s} holds record ${n} (size ${zone.size})`);
    seen[n] = 1;
  }
  for (let n = 1; n <= zone.size; n++) {
    if (!seen[n]) throw new Error(`record ${n} has no slot`);
    const record = zone.record(n);
    const expected = model.records[n - 1]!;
    if (toHex(record.name) !== expected.name || toHex(record.data) !== expected.data) {
      throw new Error(`record ${n} differs`);
    }
    if (record.deleted !== expected.deleted) throw new Error(`record ${n} deleted flag differs`);
  }
}

/** Names from a small pool; half of them share bytes 8..13 so that they hash to one slot. */
function namePool(size: number): Uint8Array[] {
  return Array.from({ length: size }, (_, i) => {
    const name = new Uint8Array(16);
    name[0] = i;
    name[1] = i >> 8;
    if (i % 2 === 0) name.fill(0x5a, 8, 14);
    else name[13] = i;
    return name;
  });
}

type Op =
  | { kind: 'put'; name: number; data: number }
  | { kind: 'search'; name: number }
  | { kind: 'remove'; name: number }
  | { kind: 'reset' };

const opArb = (pool: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({ kind: fc.constant('put' as const), name: fc.nat(pool - 1), data: fc.nat(255) }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('search' as const), name: fc.nat(pool - 1) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), name: fc.nat(pool - 1) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'reset' as const }) },
  );

describe('OpenChapterZone', () => {
  it('sizes its hash table at 2^bits_per(2 * capacity)', () => {
    expect(new OpenChapterZone(1).slotCount).toBe(4);
    expect(new OpenChapterZone(32).slotCount).toBe(128);
    expect(new OpenChapterZone(21845).slotCount).toBe(65536);
    expect(new OpenChapterZone(65536).slotCount).toBe(262144);
  });

  it('rejects bad capacities and names', () => {
    expect(() => new OpenChapterZone(0)).toThrow(RangeError);
    expect(() => new OpenChapterZone(2 ** 23)).toThrow(RangeError);
    expect(() => new OpenChapterZone(1.5)).toThrow(TypeError);
    const zone = new OpenChapterZone(4);
    expect(() => zone.put(new Uint8Array(8), new Uint8Array(16))).toThrow(RangeError);
    expect(() => zone.put(new Uint8Array(16), new Uint8Array(15))).toThrow(RangeError);
    expect(() => zone.search('x' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => zone.recordNumberAt(zone.slotCount)).toThrow(RangeError);
    expect(() => zone.record(1)).toThrow(RangeError);
  });

  it('refuses puts when full, even for a name already present (as the seed)', () => {
    const zone = new OpenChapterZone(2);
    const a = new Uint8Array(16).fill(1);
    const b = new Uint8Array(16).fill(2);
    expect(zone.put(a, new Uint8Array(16))).toBe(1);
    expect(zone.put(b, new Uint8Array(16))).toBe(0);
    expect(zone.isFull).toBe(true);
    expect(zone.put(a, new Uint8Array(16).fill(9))).toBe(0);
    expect(zone.search(a)![0]).toBe(0);
  });

  it('matches the model after every operation (property)', () => {
    const MAX_POOL = 48;
    const pool = namePool(MAX_POOL);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 2, max: MAX_POOL }),
        fc.array(opArb(MAX_POOL), { maxLength: 150 }),
        (capacity, poolSize, ops) => {
          const zone = new OpenChapterZone(capacity);
          const model = new Model(capacity);
          for (const op of ops) {
            if (op.kind === 'reset') {
              zone.reset();
              model.reset();
            } else {
              const name = pool[op.name % poolSize]!;
              const key = toHex(name);
              if (op.kind === 'put') {
                const data = new Uint8Array(16).fill(op.data);
                expect(zone.put(name, data)).toBe(model.put(key, toHex(data)));
              } else if (op.kind === 'remove') {
                expect(zone.remove(name)).toBe(model.remove(key));
              } else {
                const found = zone.search(name);
                expect(found === undefined ? undefined : toHex(found)).toBe(model.live(key)?.data);
              }
            }
            checkZone(zone, model);
          }
        },
      ),
      { seed: SEED, numRuns: 400 },
    );
  });
});
