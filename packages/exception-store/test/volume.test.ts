// Snapshot volumes against a byte-array model: random origin and snapshot writes (partial and
// whole chunks, spanning chunks), reads of any range of any volume, snapshot create/delete,
// flush and reopen; the tree checker after every step.

import { MemoryStorage } from '@deja/storage';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExceptionStore, OriginVolume } from '../src/index';
import { FakePageStore } from './fake-page-store';

const CS = 512;
const SIZE = CS * 40;

type VOp =
  | { op: 'create'; name: number }
  | { op: 'delete'; name: number }
  | { op: 'write'; target: number; offset: number; length: number; seed: number }
  | { op: 'read'; target: number; offset: number; length: number }
  | { op: 'flush' }
  | { op: 'reopen' };

const range = fc
  .tuple(fc.integer({ min: 0, max: SIZE - 1 }), fc.integer({ min: 1, max: CS * 3 }))
  .map(([offset, len]) => ({ offset, length: Math.min(len, SIZE - offset) }));

const vop: fc.Arbitrary<VOp> = fc.oneof(
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 8 }).map((name) => ({ op: 'create' as const, name })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 8 }).map((name) => ({ op: 'delete' as const, name })) },
  {
    weight: 8,
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 9 }), range, fc.integer())
      .map(([target, r, seed]) => ({ op: 'write' as const, target, ...r, seed })),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 9 }), range)
      .map(([target, r]) => ({ op: 'read' as const, target, ...r })),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'flush' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
);

function fill(length: number, seed: number): Uint8Array {
  const b = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

describe('OriginVolume / SnapshotVolume', () => {
  it('agree with a byte-array model under random workloads', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(vop, { minLength: 30, maxLength: 80 }), async (ops) => {
        let pages = new FakePageStore({ pageSize: CS });
        let store = await ExceptionStore.create(pages, { maskWidth: 32, fanout: 4 });
        let disk = new MemoryStorage();
        let origin = new OriginVolume(store, disk, { size: SIZE });
        const model = new Map<string | null, Uint8Array>([[null, new Uint8Array(SIZE)]]);
        const names = () => [...model.keys()].filter((k): k is string => k !== null);
        const target = (t: number): string | null => {
          const n = names();
          return t >= n.length ? null : (n[t] as string);
        };
        for (const o of ops) {
          switch (o.op) {
            case 'create': {
              const name = `s${o.name}`;
              if (model.has(name)) break;
              await origin.createSnapshot(name);
              model.set(name, (model.get(null) as Uint8Array).slice());
              break;
            }
            case 'delete': {
              const name = target(o.name);
              if (name === null) break;
              await origin.deleteSnapshot(name);
              model.delete(name);
              break;
            }
            case 'write': {
              const t = target(o.target);
              const data = fill(o.length, o.seed);
              await (t === null ? origin : origin.snapshot(t)).write(o.offset, data);
              (model.get(t) as Uint8Array).set(data, o.offset);
              break;
            }
            case 'read': {
              const t = target(o.target);
              const got = await (t === null ? origin : origin.snapshot(t)).read(o.offset, o.length);
              expect(got).toEqual((model.get(t) as Uint8Array).subarray(o.offset, o.offset + o.length));
              break;
            }
            case 'flush':
              await origin.flush();
              break;
            case 'reopen':
              await origin.flush();
              await store.close();
              pages = pages.reopen();
              store = await ExceptionStore.open(pages);
              disk = new MemoryStorage({ data: disk.snapshot() });
              origin = new OriginVolume(store, disk, { size: SIZE });
              break;
          }
          await store.check();
        }
        for (const [t, bytes] of model) {
          expect(await (t === null ? origin : origin.snapshot(t)).read(0, SIZE)).toEqual(bytes);
        }
      }),
      { seed: 21, numRuns: 12 },
    );
  });

  it('rejects ranges outside the volume and bad data', async () => {
    const store = await ExceptionStore.create(new FakePageStore({ pageSize: CS }), { maskWidth: 32 });
    const origin = new OriginVolume(store, new MemoryStorage(), { size: SIZE });
    await expect(origin.read(SIZE, 1)).rejects.toThrow(RangeError);
    await expect(origin.write(-1, new Uint8Array(1))).rejects.toThrow(RangeError);
    await expect(origin.write(0, [1, 2] as unknown as Uint8Array)).rejects.toThrow(TypeError);
    expect(() => origin.snapshot('nope')).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
    expect(() => new OriginVolume(store, new MemoryStorage(), { size: -1 })).toThrow(RangeError);
  });
});
