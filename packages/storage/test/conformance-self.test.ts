// The conformance suite must be able to fail: run it against adapters that each break one rule of
// the contract and check that the test for that rule (and not every test) rejects.
import { describe, expect, test } from 'vitest';
import { storageConformance } from '../src/conformance';
import { MemoryStorage, type ReadRequest, type Storage, type WriteRequest } from '../src/index';

/** A Storage by hand around MemoryStorage, with hooks to break it. */
class Broken implements Storage {
  readonly inner = new MemoryStorage();
  readonly readOnly = false;
  calls = 0;
  constructor(readonly flaw: 'reorder' | 'eager-flush' | 'sync-throw' | 'no-zero-fill') {}
  get closed(): boolean {
    return this.inner.closed;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    if (this.flaw === 'no-zero-fill') {
      return this.inner.read(offset, length).then((bytes) => bytes.map((b) => (b === 0 ? 0xff : b)));
    }
    return this.inner.read(offset, length);
  }
  write(offset: number, data: Uint8Array): Promise<void> {
    if (this.flaw === 'sync-throw' && !(data instanceof Uint8Array)) throw new TypeError('sync');
    if (this.flaw === 'reorder' || this.flaw === 'eager-flush') {
      // Later calls finish first: no call-order guarantee.
      const delay = 20 - (this.calls++ % 20);
      const copy = data.slice();
      return new Promise((resolve) => setTimeout(() => resolve(this.inner.write(offset, copy)), delay));
    }
    return this.inner.write(offset, data);
  }
  readv(requests: readonly ReadRequest[]): Promise<Uint8Array[]> {
    return this.inner.readv(requests);
  }
  writev(requests: readonly WriteRequest[]): Promise<void> {
    return this.inner.writev(requests);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  size(): Promise<number> {
    return this.inner.size();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function suiteFor(flaw: Broken['flaw']): Map<string, () => Promise<void>> {
  const tests = new Map<string, () => Promise<void>>();
  storageConformance((name, fn) => tests.set(name, fn), { create: async () => new Broken(flaw), steps: 50 });
  return tests;
}

describe('the conformance suite catches broken adapters', () => {
  test('writes that complete out of call order', async () => {
    const tests = suiteFor('reorder');
    await expect(tests.get('overlapping writes land in call order, awaited or not')!()).rejects.toThrow();
    await expect(tests.get('a new store is empty')!()).resolves.toBeUndefined();
  });

  test('a flush that does not wait for earlier writes', async () => {
    const tests = suiteFor('eager-flush');
    await expect(
      tests.get('flush keeps the contents and settles after every write called before it')!(),
    ).rejects.toThrow(/every earlier write settled/);
  });

  test('argument errors thrown synchronously', async () => {
    const tests = suiteFor('sync-throw');
    await expect(
      tests.get('bad arguments reject with TypeError or RangeError, never throw synchronously')!(),
    ).rejects.toThrow(/threw synchronously/);
  });

  test('holes that do not read as zeros', async () => {
    const tests = suiteFor('no-zero-fill');
    await expect(
      tests.get('a write past the end grows the store; the gap reads as zeros')!(),
    ).rejects.toThrow();
    await expect(tests.get('reads past the end reject with ERR_OUT_OF_RANGE')!()).resolves.toBeUndefined();
  });
});
