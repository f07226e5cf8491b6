// MemoryStorage beyond the conformance suite: initial data, maxSize (ERR_NO_SPACE), snapshots
// after close, read-only mode and constructor checks, plus a fast-check model test.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { MemoryStorage } from '../src/index';

describe('MemoryStorage', () => {
  test('starts from a copy of options.data', async () => {
    const data = new Uint8Array([1, 2, 3, 4]);
    const store = new MemoryStorage({ data });
    data[0] = 9;
    expect(await store.size()).toBe(4);
    expect(await store.read(0, 4)).toEqual(new Uint8Array([1, 2, 3, 4]));
  });

  test('snapshot() copies the contents and still works after close()', async () => {
    const store = new MemoryStorage();
    await store.write(2, new Uint8Array([7, 8]));
    const snap = store.snapshot();
    snap[2] = 0;
    expect(store.snapshot()).toEqual(new Uint8Array([0, 0, 7, 8]));
    await store.close();
    expect(store.snapshot()).toEqual(new Uint8Array([0, 0, 7, 8]));
  });

  test('is sparse: a write far past the end costs only its blocks, and writes spanning blocks round-trip', async () => {
    const store = new MemoryStorage();
    const far = 2 ** 40 - 3; // 1 TiB: a dense buffer could not hold it
    await store.write(far, new Uint8Array([1, 2, 3, 4, 5, 6]));
    expect(await store.size()).toBe(far + 6);
    expect(await store.read(far - 2, 8)).toEqual(new Uint8Array([0, 0, 1, 2, 3, 4, 5, 6]));
    expect(await store.read(12345, 4)).toEqual(new Uint8Array(4));
    const span = new Uint8Array(3 * 65536 + 17).map((_, i) => (i * 7 + 1) & 0xff);
    await store.write(65536 - 5, span);
    expect(await store.read(65536 - 5, span.length)).toEqual(span);
  });

  test('readv reads a request with `into` in place, zeroing the holes there', async () => {
    const store = new MemoryStorage();
    await store.write(65536 - 2, new Uint8Array([1, 2, 3, 4]));
    await store.write(3 * 65536 + 1, new Uint8Array([5]));
    // Stale bytes around and inside the view: only the view changes, holes read as zeros.
    const shared = new Uint8Array(12).fill(0xee);
    const into = shared.subarray(1, 11);
    const [got] = await store.readv([{ offset: 65536 - 2, length: 10, into }]);
    expect(got).toBe(into);
    expect([...shared]).toEqual([0xee, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0xee]);
    // A read spanning a missing block (block 2) and a present one.
    const span = new Uint8Array(6).fill(0xee);
    const [hole] = await store.readv([{ offset: 3 * 65536 - 4, length: 6, into: span }]);
    expect(hole).toBe(span);
    expect([...span]).toEqual([0, 0, 0, 0, 0, 5]);
  });

  test('writes past maxSize reject with ERR_NO_SPACE and change nothing', async () => {
    const store = new MemoryStorage({ maxSize: 100 });
    await store.write(90, new Uint8Array(10));
    await expect(store.write(91, new Uint8Array(10))).rejects.toMatchObject({ code: 'ERR_NO_SPACE' });
    await expect(
      store.writev([
        { offset: 0, data: new Uint8Array([5]) },
        { offset: 100, data: new Uint8Array(1) },
      ]),
    ).rejects.toMatchObject({ code: 'ERR_NO_SPACE' });
    expect(await store.size()).toBe(100);
    expect(await store.read(0, 1)).toEqual(new Uint8Array([0]));
    await store.write(500, new Uint8Array(0)); // an empty write needs no space
    await store.writev([{ offset: 500, data: new Uint8Array(0) }]);
  });

  test('read-only stores refuse writes but flush', async () => {
    const store = new MemoryStorage({ data: new Uint8Array([1]), readOnly: true });
    expect(store.readOnly).toBe(true);
    await expect(store.write(0, new Uint8Array([2]))).rejects.toMatchObject({ code: 'ERR_READ_ONLY' });
    await store.flush();
    expect(await store.read(0, 1)).toEqual(new Uint8Array([1]));
  });

  test('constructor rejects bad options', () => {
    expect(() => new MemoryStorage({ data: [1, 2] as unknown as Uint8Array })).toThrow(TypeError);
    expect(() => new MemoryStorage({ maxSize: -1 })).toThrow(RangeError);
    expect(() => new MemoryStorage({ maxSize: 1.5 })).toThrow(RangeError);
    expect(() => new MemoryStorage({ data: new Uint8Array(10), maxSize: 5 })).toThrow(RangeError);
  });

  test('property: random writes and reads match a flat byte array (invariants after every step)', async () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('write' as const),
        offset: fc.nat(300),
        data: fc.uint8Array({ maxLength: 64 }),
      }),
      fc.record({ kind: fc.constant('read' as const), offset: fc.nat(400), length: fc.nat(80) }),
      fc.record({ kind: fc.constant('flush' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const store = new MemoryStorage();
        const model: number[] = [];
        for (const o of ops) {
          if (o.kind === 'write') {
            if (o.data.length > 0) {
              while (model.length < o.offset + o.data.length) model.push(0);
              model.splice(o.offset, o.data.length, ...o.data);
            }
            await store.write(o.offset, o.data);
          } else if (o.kind === 'read') {
            const inRange = o.offset + o.length <= model.length;
            const result = store.read(o.offset, o.length);
            if (inRange) expect([...(await result)]).toEqual(model.slice(o.offset, o.offset + o.length));
            else await expect(result).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
          } else {
            await store.flush();
          }
          expect(await store.size()).toBe(model.length);
          expect([...store.snapshot()]).toEqual(model);
        }
      }),
      { seed: 4242, numRuns: 150 },
    );
  });
});
