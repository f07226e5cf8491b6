// AbstractStorage's scheduler under real concurrency: an adapter whose raw reads and writes finish
// after seeded random delays (so they complete out of call order underneath) must still give the
// call-order result; flush must wait for earlier writes only; a failed write or flush must leave
// the size and state the contract describes. Also runs the conformance suite on that adapter.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { createRandom } from '../src/_internal-random';
import { storageConformance } from '../src/conformance';
import { AbstractStorage, StorageError } from '../src/index';

interface Log {
  events: string[];
}

/** Memory underneath, but every raw operation completes after a random delay (0-3 ms). */
class DelayedStorage extends AbstractStorage {
  bytes = new Uint8Array(1 << 17);
  readonly #random: () => number;
  readonly log: Log = { events: [] };
  failWrites = new Set<number>();
  failFlush = false;
  /** End of the furthest successful raw write: what a reopen sees. */
  length = 0;
  #writes = 0;

  constructor(seed: number, serial = false, data?: Uint8Array) {
    super({ location: 'delayed', size: data?.length ?? 0, serial });
    if (data) this.bytes.set(data);
    this.length = data?.length ?? 0;
    this.#random = createRandom(seed);
  }

  #later<T>(fn: () => T): Promise<T> {
    return new Promise((resolve, reject) => {
      setTimeout(() => {
        try {
          resolve(fn());
        } catch (error) {
          reject(error);
        }
      }, this.#random() % 4);
    });
  }

  protected _read(offset: number, length: number): Promise<Uint8Array> {
    return this.#later(() => this.bytes.slice(offset, offset + length));
  }

  protected _write(offset: number, data: Uint8Array): Promise<void> {
    const n = this.#writes++;
    return this.#later(() => {
      if (this.failWrites.has(n)) throw new StorageError('ERR_IO', `write ${n} failed`);
      this.bytes.set(data, offset);
      this.length = Math.max(this.length, offset + data.length);
      this.log.events.push(`write ${n}`);
    });
  }

  protected _flush(): Promise<void> {
    return this.#later(() => {
      this.log.events.push('flush');
      if (this.failFlush) throw new StorageError('ERR_IO', 'flush failed');
    });
  }

  protected _close(): Promise<void> {
    return this.#later(() => {
      this.log.events.push('close');
    });
  }
}

storageConformance(test, {
  prefix: 'AbstractStorage with delayed raw I/O',
  create: async () => new DelayedStorage(3),
  reopen: async (closed) => {
    const old = closed as DelayedStorage;
    return new DelayedStorage(4, false, old.bytes.subarray(0, old.length));
  },
  steps: 150,
});

storageConformance(test, {
  prefix: 'AbstractStorage in serial mode',
  create: async () => new DelayedStorage(5, true),
  steps: 150,
});

describe('AbstractStorage', () => {
  test('property: concurrent, unawaited operations give the call-order result', async () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('write' as const),
        offset: fc.nat(200),
        length: fc.integer({ min: 1, max: 40 }),
      }),
      fc.record({ kind: fc.constant('read' as const), offset: fc.nat(250), length: fc.nat(40) }),
      fc.record({ kind: fc.constant('flush' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 30 }), fc.nat(), fc.boolean(), async (ops, seed, serial) => {
        const store = new DelayedStorage(seed, serial);
        const model: number[] = [];
        const checks: Promise<void>[] = [];
        ops.forEach((o, i) => {
          if (o.kind === 'write') {
            const data = new Uint8Array(o.length).fill(i + 1);
            while (model.length < o.offset + o.length) model.push(0);
            model.fill(i + 1, o.offset, o.offset + o.length);
            checks.push(store.write(o.offset, data));
          } else if (o.kind === 'read') {
            const expected =
              o.offset + o.length <= model.length ? model.slice(o.offset, o.offset + o.length) : null;
            const read = store.read(o.offset, o.length);
            checks.push(
              expected === null
                ? expect(read).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' })
                : read.then((bytes) => expect([...bytes]).toEqual(expected)),
            );
          } else {
            checks.push(store.flush());
          }
          // Invariant after every call: size() already counts every write called so far.
          const size = model.length;
          checks.push(store.size().then((actual) => expect(actual).toBe(size)));
        });
        await Promise.all(checks);
        expect([...(await store.read(0, model.length))]).toEqual(model);
        await store.close();
      }),
      { seed: 777, numRuns: 60 },
    );
  });

  test('flush waits for earlier writes, not later ones; close waits for everything', async () => {
    const store = new DelayedStorage(9);
    const a = store.write(0, new Uint8Array(10));
    const b = store.write(100, new Uint8Array(10));
    const flushed = store.flush();
    const c = store.write(200, new Uint8Array(10));
    await Promise.all([a, b, flushed, c]);
    const events = store.log.events;
    expect(events.indexOf('flush')).toBeGreaterThan(events.indexOf('write 0'));
    expect(events.indexOf('flush')).toBeGreaterThan(events.indexOf('write 1'));
    const d = store.write(300, new Uint8Array(1));
    const closing = store.close();
    await closing;
    await d;
    expect(events.at(-1)).toBe('close');
    expect(events).toContain('write 3');
  });

  test('a failed write that grew the store gives the size back; the others keep theirs', async () => {
    const store = new DelayedStorage(10);
    store.failWrites.add(1);
    const ok1 = store.write(0, new Uint8Array(50));
    const bad = store.write(1000, new Uint8Array(50));
    const ok2 = store.write(500, new Uint8Array(50));
    expect(await store.size()).toBe(1050);
    await expect(bad).rejects.toMatchObject({ code: 'ERR_IO' });
    await Promise.all([ok1, ok2]);
    expect(await store.size()).toBe(550);
  });

  test('after a failed flush, writes and flushes reject with ERR_IO; reads still work', async () => {
    const store = new DelayedStorage(11);
    await store.write(0, new Uint8Array([1, 2, 3]));
    store.failFlush = true;
    await expect(store.flush()).rejects.toMatchObject({ code: 'ERR_IO' });
    store.failFlush = false;
    const write = store.write(0, new Uint8Array([4]));
    await expect(write).rejects.toMatchObject({ code: 'ERR_IO' });
    await expect(write).rejects.toHaveProperty('cause.message', 'flush failed');
    await expect(store.flush()).rejects.toMatchObject({ code: 'ERR_IO' });
    expect(await store.read(0, 3)).toEqual(new Uint8Array([1, 2, 3]));
    await store.close();
  });

  test('the constructor checks size and maxSize', () => {
    class Bare extends AbstractStorage {
      protected _read(): Uint8Array {
        return new Uint8Array(0);
      }
      protected _write(): void {}
      protected _flush(): void {}
      protected _close(): void {}
    }
    expect(() => new Bare({ location: 'x', size: -1 })).toThrow(RangeError);
    expect(() => new Bare({ location: 'x', size: 0, maxSize: 0.5 })).toThrow(RangeError);
    expect(new Bare({ location: 'x', size: 7 }).readOnly).toBe(false);
  });
});
