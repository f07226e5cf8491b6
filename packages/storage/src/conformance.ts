// The conformance suite (`@deja/storage/conformance`): every behaviour the Storage contract
// promises, as tests any adapter runs with a factory — the abstract-level pattern. It is framework
// agnostic: pass the `test` (or `it`) function of vitest, node:test, or anything with the shape
// `(name, fn) => void` whose fn returns a promise. Assertions use node:assert.
//
// ```ts
// import { test } from 'vitest';
// import { storageConformance } from '@deja/storage/conformance';
// storageConformance(test, { create: () => MyStorage.open(tmp()), reopen: (s) => MyStorage.open(s.path) });
// ```

import assert from 'node:assert/strict';
import { createRandom, randomBelow } from './_internal-random';
import type { StorageErrorCode } from './errors';
import type { ReadRequest, Storage, WriteRequest } from './storage';

/** The test-registering function of a test framework: `test` of vitest or node:test, say. */
export type TestFunction = (name: string, fn: () => Promise<void>) => unknown;

/** How the suite makes stores. */
export interface ConformanceOptions {
  /** Opens a fresh, empty, writable store. The suite closes every store it opens. */
  create(): Promise<Storage>;
  /**
   * Reopens the contents of a closed store as a new, writable adapter. Give it for every adapter
   * that can (a file reopens its path; memory reopens a snapshot); without it the persistence
   * tests are not registered.
   */
  reopen?(closed: Storage): Promise<Storage>;
  /** Reopens a closed store read-only; without it the read-only tests are not registered. */
  reopenReadOnly?(closed: Storage): Promise<Storage>;
  /** Seed of the random workload; it is printed on failure. Default 1. */
  readonly seed?: number;
  /** Steps of the random workload. Default 400. */
  readonly steps?: number;
  /** Prefix for test names (e.g. the adapter's name). */
  readonly prefix?: string;
}

/**
 * Registers the conformance tests for one adapter.
 * @param test - registers one test: `(name, fn) => void`.
 * @param options - the factory (and reopen functions) for the adapter under test.
 */
export function storageConformance(test: TestFunction, options: ConformanceOptions): void {
  const prefix = options.prefix === undefined ? '' : `${options.prefix}: `;
  const seed = options.seed ?? 1;
  const steps = options.steps ?? 400;
  const it = (name: string, fn: (store: Storage) => Promise<void>): void => {
    test(`${prefix}${name}`, () => withStore(options, fn));
  };

  it('a new store is empty', async (store) => {
    assert.equal(store.closed, false);
    assert.equal(store.readOnly, false);
    assert.equal(await store.size(), 0);
    assert.deepEqual(await store.read(0, 0), new Uint8Array(0));
    await rejectsWith(store.read(0, 1), 'ERR_OUT_OF_RANGE');
  });

  it('discard (when the adapter has it) reads as zeros, keeps the size, follows call order', async (store) => {
    if (store.discard === undefined) return;
    const a = pattern(120_000, 3);
    await store.write(0, a);
    await store.discard(0, 65_536); // a whole 64 KiB block, where a hole can be punched
    await store.discard(100_000, 10); // a few bytes
    const expected = a.slice();
    expected.fill(0, 0, 65_536);
    expected.fill(0, 100_000, 100_010);
    assert.equal(await store.size(), 120_000);
    assert.deepEqual(await store.read(0, 120_000), expected);
    // Unawaited: a write called after a discard lands after it.
    const d = store.discard(70_000, 100);
    const w = store.write(70_000, pattern(10, 4));
    await Promise.all([d, w]);
    expected.fill(0, 70_000, 70_100);
    expected.set(pattern(10, 4), 70_000);
    assert.deepEqual(await store.read(69_990, 120), expected.subarray(69_990, 70_110));
    await rejectsWith(store.discard(119_999, 2), 'ERR_OUT_OF_RANGE');
    await store.discard(10, 0);
  });

  it('read-your-writes: a read returns what was written, at any offset and length', async (store) => {
    const a = pattern(5000, 1);
    const b = pattern(777, 2);
    await store.write(0, a);
    assert.deepEqual(await store.read(0, 5000), a);
    await store.write(1234, b);
    const expected = a.slice();
    expected.set(b, 1234);
    assert.deepEqual(await store.read(0, 5000), expected);
    assert.deepEqual(await store.read(1233, 779), expected.subarray(1233, 2012));
    assert.deepEqual(await store.read(4999, 1), expected.subarray(4999));
  });

  it('buffers are not shared with the caller', async (store) => {
    const data = pattern(100, 3);
    await store.write(10, data);
    data.fill(0xee);
    const first = await store.read(10, 100);
    assert.deepEqual(first, pattern(100, 3));
    first.fill(0xdd);
    assert.deepEqual(await store.read(10, 100), pattern(100, 3));
    const [batch] = await store.readv([{ offset: 10, length: 100 }]);
    batch!.fill(0xcc);
    assert.deepEqual(await store.read(10, 100), pattern(100, 3));
  });

  it('readv puts the bytes of a request with `into` there, and returns it', async (store) => {
    await store.write(10, pattern(100, 3));
    await store.write(5000, pattern(10, 4));
    const big = fill(700, 0xab);
    const first = big.subarray(50, 150);
    const gap = big.subarray(200, 600);
    const [a, b, c] = await store.readv([
      { offset: 10, length: 100, into: first },
      { offset: 0, length: 5 },
      { offset: 1000, length: 400, into: gap },
    ]);
    assert.equal(a, first, 'the result is the given array');
    assert.equal(c, gap);
    assert.deepEqual(first, pattern(100, 3));
    assert.deepEqual(b, new Uint8Array(5));
    assert.ok(
      gap.every((byte) => byte === 0),
      'never-written bytes land as zeros',
    );
    assert.ok(
      big.subarray(0, 50).every((byte) => byte === 0xab),
      'nothing outside `into` changes',
    );
    assert.ok(big.subarray(150, 200).every((byte) => byte === 0xab));
    assert.ok(big.subarray(600).every((byte) => byte === 0xab));
    const shared = new Uint8Array(new SharedArrayBuffer(10));
    await store.readv([{ offset: 5000, length: 10, into: shared }]);
    assert.deepEqual(shared, pattern(10, 4), 'shared memory works as a destination');
    await assert.rejects(store.readv([{ offset: 0, length: 10, into: new Uint8Array(9) }]), RangeError);
  });

  it('a write past the end grows the store; the gap reads as zeros', async (store) => {
    await store.write(0, pattern(10, 4));
    await store.write(10_000, pattern(3, 5));
    assert.equal(await store.size(), 10_003);
    const all = await store.read(0, 10_003);
    assert.deepEqual(all.subarray(0, 10), pattern(10, 4));
    assert.ok(all.subarray(10, 10_000).every((byte) => byte === 0));
    assert.deepEqual(all.subarray(10_000), pattern(3, 5));
    await store.write(5, pattern(2, 6));
    assert.equal(await store.size(), 10_003, 'a write inside the store does not change its size');
  });

  it('zero-length writes change nothing', async (store) => {
    await store.write(5000, new Uint8Array(0));
    await store.writev([]);
    await store.writev([{ offset: 9000, data: new Uint8Array(0) }]);
    assert.equal(await store.size(), 0);
    assert.deepEqual(await store.readv([]), []);
  });

  it('reads past the end reject with ERR_OUT_OF_RANGE', async (store) => {
    await store.write(0, pattern(100, 7));
    await rejectsWith(store.read(100, 1), 'ERR_OUT_OF_RANGE');
    await rejectsWith(store.read(0, 101), 'ERR_OUT_OF_RANGE');
    await rejectsWith(store.read(105, 0), 'ERR_OUT_OF_RANGE');
    await rejectsWith(
      store.readv([
        { offset: 0, length: 10 },
        { offset: 99, length: 2 },
      ]),
      'ERR_OUT_OF_RANGE',
    );
    assert.deepEqual(await store.read(100, 0), new Uint8Array(0), 'an empty read at the end is in range');
    assert.deepEqual(await store.read(99, 1), pattern(100, 7).subarray(99));
  });

  it('bad arguments reject with TypeError or RangeError, never throw synchronously', async (store) => {
    const s = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const cases: [string, unknown[], ErrorConstructor][] = [
      ['read', [-1, 1], RangeError],
      ['read', [1.5, 1], RangeError],
      ['read', [Number.NaN, 1], RangeError],
      ['read', [2 ** 53, 0], RangeError],
      ['read', ['0', 1], TypeError],
      ['read', [0, -1], RangeError],
      ['read', [Number.MAX_SAFE_INTEGER, 1], RangeError],
      ['write', [0, 'abc'], TypeError],
      ['write', [0, [1, 2]], TypeError],
      ['write', [-1, new Uint8Array(1)], RangeError],
      ['write', [Number.MAX_SAFE_INTEGER, new Uint8Array(1)], RangeError],
      ['readv', ['x'], TypeError],
      ['readv', [[null]], TypeError],
      ['readv', [[{ offset: -1, length: 0 }]], RangeError],
      ['writev', [[{ offset: 0, data: [1] }]], TypeError],
      ['writev', [[{ offset: 0.5, data: new Uint8Array(1) }]], RangeError],
    ];
    for (const [method, args, type] of cases) {
      let promise: Promise<unknown>;
      try {
        promise = s[method]!.apply(store, args);
      } catch (error) {
        assert.fail(`${method}(${args.map(String).join(', ')}) threw synchronously: ${String(error)}`);
      }
      await assert.rejects(promise, type, `${method}(${args.map(String).join(', ')})`);
    }
    assert.equal(await store.size(), 0, 'rejected writes change nothing');
  });

  it('overlapping writes land in call order, awaited or not', async (store) => {
    const writes = [
      store.write(0, fill(300, 1)),
      store.write(100, fill(100, 2)),
      store.write(150, fill(300, 3)),
    ];
    const read = early(store.read(0, 450));
    writes.forEach(early);
    await Promise.all(writes);
    const expected = fill(450, 1);
    expected.fill(2, 100, 150);
    expected.fill(3, 150, 450);
    assert.deepEqual(await read, expected, 'a read sees every write called before it');
    await store.writev([
      { offset: 0, data: fill(10, 4) },
      { offset: 5, data: fill(10, 5) },
    ]);
    expected.fill(4, 0, 5);
    expected.fill(5, 5, 15);
    assert.deepEqual(await store.read(0, 450), expected, 'writev applies its entries in order');
  });

  it('readv and writev behave as single reads and writes', async (store) => {
    const model = new ByteModel();
    const entries: WriteRequest[] = [
      { offset: 0, data: pattern(4096, 10) },
      { offset: 4096, data: pattern(4096, 11) },
      { offset: 20_000, data: pattern(100, 12) },
      { offset: 4000, data: pattern(200, 13) },
    ];
    await store.writev(entries);
    for (const { offset, data } of entries) model.write(offset, data);
    assert.equal(await store.size(), model.size);
    const requests: ReadRequest[] = [
      { offset: 0, length: 8192 },
      { offset: 19_990, length: 110 },
      { offset: 3999, length: 0 },
      { offset: 4000, length: 200 },
    ];
    const results = await store.readv(requests);
    assert.equal(results.length, requests.length);
    requests.forEach(({ offset, length }, i) => {
      assert.deepEqual(results[i], model.read(offset, length), `readv result ${i}`);
    });
  });

  it('size() counts every write called before it', async (store) => {
    const write = early(store.write(1000, pattern(24, 14)));
    assert.equal(await store.size(), 1024);
    await write;
    const batch = early(store.writev([{ offset: 5000, data: pattern(8, 15) }]));
    assert.equal(await store.size(), 5008);
    await batch;
  });

  it('flush keeps the contents and settles after every write called before it', async (store) => {
    await store.flush();
    const settled: boolean[] = [];
    const writes = Array.from({ length: 16 }, (_, i) =>
      early(
        store.write(i * 4096, pattern(4096, 20 + i)).then(() => {
          settled[i] = true;
        }),
      ),
    );
    await store.flush();
    assert.equal(settled.filter(Boolean).length, 16, 'every earlier write settled before flush resolved');
    await Promise.all(writes);
    for (let i = 0; i < 16; i++) assert.deepEqual(await store.read(i * 4096, 4096), pattern(4096, 20 + i));
    await store.flush();
    assert.equal(await store.size(), 16 * 4096);
  });

  it('concurrent operations on disjoint and shared ranges give the sequential result', async (store) => {
    const n = 48;
    const ops: Promise<unknown>[] = [];
    const reads: Promise<Uint8Array>[] = [];
    for (let i = 0; i < n; i++) {
      ops.push(early(store.write(i * 1000, pattern(1000, 100 + i))));
      reads.push(early(store.read(i * 1000, 1000)));
      if (i % 8 === 7) ops.push(early(store.flush()));
    }
    ops.push(early(store.write(500, fill(1000, 0xab))));
    const after = early(store.readv([{ offset: 0, length: 2000 }]));
    await Promise.all(ops);
    for (let i = 0; i < n; i++) assert.deepEqual(await reads[i], pattern(1000, 100 + i), `read ${i}`);
    const expected = new Uint8Array(2000);
    expected.set(pattern(1000, 100).subarray(0, 500));
    expected.fill(0xab, 500, 1500);
    expected.set(pattern(1000, 101).subarray(500), 1500);
    assert.deepEqual((await after)[0], expected);
    assert.equal(await store.size(), n * 1000);
  });

  it('close waits for pending operations, is idempotent, and later calls reject with ERR_CLOSED', async (store) => {
    let wrote = false;
    const write = early(
      store.write(0, pattern(4096, 30)).then(() => {
        wrote = true;
      }),
    );
    const closing = store.close();
    assert.equal(store.closed, true);
    await closing;
    assert.equal(wrote, true, 'a write called before close() completed');
    await write;
    await store.close();
    await rejectsWith(store.read(0, 1), 'ERR_CLOSED');
    await rejectsWith(store.write(0, new Uint8Array(1)), 'ERR_CLOSED');
    await rejectsWith(store.readv([{ offset: 0, length: 1 }]), 'ERR_CLOSED');
    await rejectsWith(store.writev([{ offset: 0, data: new Uint8Array(1) }]), 'ERR_CLOSED');
    await rejectsWith(store.flush(), 'ERR_CLOSED');
    await rejectsWith(store.size(), 'ERR_CLOSED');
  });

  const reopen = options.reopen;
  if (reopen !== undefined) {
    test(`${prefix}flushed writes survive close and reopen`, async () => {
      let store = await options.create();
      try {
        await store.write(0, pattern(10_000, 40));
        await store.write(70_000, pattern(5, 41));
        await store.flush();
        await store.close();
        store = await reopen(store);
        assert.equal(await store.size(), 70_005);
        assert.deepEqual(await store.read(0, 10_000), pattern(10_000, 40));
        assert.ok((await store.read(10_000, 60_000)).every((byte) => byte === 0));
        assert.deepEqual(await store.read(70_000, 5), pattern(5, 41));
        await store.write(3, pattern(4, 42));
        await store.close(); // no flush: a clean close still hands the writes to the next open
        store = await reopen(store);
        assert.deepEqual(await store.read(3, 4), pattern(4, 42));
        assert.equal(await store.size(), 70_005);
      } finally {
        await store.close();
      }
    });
  }

  const reopenReadOnly = options.reopenReadOnly;
  if (reopenReadOnly !== undefined) {
    test(`${prefix}a read-only store reads and refuses writes with ERR_READ_ONLY`, async () => {
      let store = await options.create();
      try {
        await store.write(0, pattern(64, 50));
        await store.flush();
        await store.close();
        store = await reopenReadOnly(store);
        assert.equal(store.readOnly, true);
        assert.deepEqual(await store.read(0, 64), pattern(64, 50));
        await rejectsWith(store.write(0, new Uint8Array(1)), 'ERR_READ_ONLY');
        await rejectsWith(store.writev([{ offset: 0, data: new Uint8Array(1) }]), 'ERR_READ_ONLY');
        await store.flush();
        assert.equal(await store.size(), 64);
      } finally {
        await store.close();
      }
    });
  }

  test(`${prefix}random operations match a byte-array model (seed ${seed})`, async () => {
    let store = await options.create();
    try {
      const random = createRandom(seed);
      const model = new ByteModel();
      const pending: Promise<unknown>[] = [];
      for (let step = 0; step < steps; step++) {
        const where = `seed ${seed}, step ${step}`;
        const choice = randomBelow(random, 100);
        if (choice < 35) {
          const offset = randomBelow(random, model.size + 3000);
          const data = pattern(randomBelow(random, 3000), random());
          model.write(offset, data);
          pending.push(early(store.write(offset, data))); // not awaited: order is the adapter's job
        } else if (choice < 45) {
          const batch: WriteRequest[] = [];
          for (let k = randomBelow(random, 4); k >= 0; k--) {
            const offset = randomBelow(random, model.size + 2000);
            batch.push({ offset, data: pattern(randomBelow(random, 1500), random()) });
          }
          for (const { offset, data } of batch) model.write(offset, data);
          pending.push(early(store.writev(batch)));
        } else if (choice < 75) {
          const offset = randomBelow(random, model.size + 1);
          const length = randomBelow(random, model.size - offset + 1);
          const expected = model.read(offset, length);
          const actual = await store.read(offset, length);
          assert.deepEqual(actual, expected, `read(${offset}, ${length}) at ${where}`);
        } else if (choice < 82) {
          const requests: ReadRequest[] = [];
          for (let k = randomBelow(random, 4); k >= 0; k--) {
            const offset = randomBelow(random, model.size + 1);
            requests.push({ offset, length: randomBelow(random, Math.min(2000, model.size - offset) + 1) });
          }
          const actual = await store.readv(requests);
          requests.forEach(({ offset, length }, i) => {
            assert.deepEqual(actual[i], model.read(offset, length), `readv[${i}] at ${where}`);
          });
        } else if (choice < 87) {
          await rejectsWith(store.read(model.size, 1 + randomBelow(random, 10)), 'ERR_OUT_OF_RANGE');
        } else if (choice < 95) {
          await store.flush();
        } else if (reopen !== undefined && choice < 98) {
          await Promise.all(pending.splice(0));
          if (randomBelow(random, 2) === 0) await store.flush();
          await store.close();
          store = await reopen(store);
        } else {
          await Promise.all(pending.splice(0));
        }
        // Invariant after every step: the size is the model's.
        assert.equal(await store.size(), model.size, `size at ${where}`);
      }
      await Promise.all(pending);
      assert.deepEqual(
        await store.read(0, model.size),
        model.read(0, model.size),
        `final contents, seed ${seed}`,
      );
    } finally {
      await store.close();
    }
  });
}

/** A growable array of bytes: the naive model the random workload checks adapters against. */
class ByteModel {
  #bytes = new Uint8Array(0);
  size = 0;

  write(offset: number, data: Uint8Array): void {
    if (data.length === 0) return;
    const end = offset + data.length;
    if (end > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(end, this.#bytes.length * 2));
      grown.set(this.#bytes);
      this.#bytes = grown;
    }
    this.#bytes.set(data, offset);
    this.size = Math.max(this.size, end);
  }

  read(offset: number, length: number): Uint8Array {
    return this.#bytes.slice(offset, offset + length);
  }
}

/**
 * Marks a promise the test awaits later as handled now, so an adapter that rejects it early fails
 * the test where it is awaited instead of raising an unhandled rejection.
 */
function early<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

async function withStore(options: ConformanceOptions, fn: (store: Storage) => Promise<void>): Promise<void> {
  const store = await options.create();
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

async function rejectsWith(promise: Promise<unknown>, code: StorageErrorCode): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.equal((error as { code?: unknown }).code, code);
    return true;
  });
}

/** Deterministic non-trivial bytes: the same (length, tag) always gives the same array. */
function pattern(length: number, tag: number): Uint8Array {
  const out = new Uint8Array(length);
  const random = createRandom(tag * 7919 + length);
  for (let i = 0; i < length; i += 4) {
    const word = random();
    out[i] = word;
    if (i + 1 < length) out[i + 1] = word >>> 8;
    if (i + 2 < length) out[i + 2] = word >>> 16;
    if (i + 3 < length) out[i + 3] = word >>> 24;
  }
  return out;
}

function fill(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}
