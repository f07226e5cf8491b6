// One test per error code of @deja/exception-store (the README's table lists exactly
// EXCEPTION_STORE_ERROR_CODES), the wrapping of lower packages' errors with `cause`, the marker
// guard across copies, promise methods that reject instead of throwing, and the close rule.
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { PageStore } from '@deja/page-store';
import { MemoryStorage, type Storage, StorageError } from '@deja/storage';
import { readmeErrorCodes } from '@deja/test-helpers';
import { describe, expect, it } from 'vitest';
import {
  EXCEPTION_STORE_ERROR_CODES,
  ExceptionStore,
  ExceptionStoreError,
  type ExceptionStoreErrorCode,
  isExceptionStoreError,
  OriginVolume,
} from '../src/index';
import { FakePageStore } from './fake-page-store';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

function expectCode(error: unknown, code: ExceptionStoreErrorCode): void {
  expect(isExceptionStoreError(error, code), String(error)).toBe(true);
}

async function fake() {
  const pages = new FakePageStore({ pageSize: 4096, pageCount: 64 });
  const store = await ExceptionStore.create(pages, { maskWidth: 32 });
  return { pages, store };
}

describe('every code', () => {
  it('the README table lists exactly the exported codes', () => {
    const readme = fileURLToPath(new URL('../README.md', import.meta.url));
    expect(readmeErrorCodes(readme)).toEqual([...EXCEPTION_STORE_ERROR_CODES]);
  });

  it('ERR_CORRUPT_DATA: a damaged header', async () => {
    const { pages, store } = await fake();
    await store.commit();
    const reopened = pages.reopen();
    reopened.corruptMeta(pages.getRoot('exception-store') as number, (b) => {
      b[0] = (b[0] as number) ^ 0xff;
    });
    expectCode(await rejection(ExceptionStore.open(reopened)), 'ERR_CORRUPT_DATA');
  });

  it('ERR_UNSUPPORTED_VERSION: an intact header of format 2', async () => {
    const { pages, store } = await fake();
    await store.commit();
    const reopened = pages.reopen();
    reopened.corruptMeta(pages.getRoot('exception-store') as number, (b) => {
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      dv.setUint32(4, 2, true); // the version field
      const crcAt = 48 + 32 / 4; // the header's CRC follows the two masks (32 bits each)
      dv.setUint32(crcAt, crc32(b.subarray(0, crcAt)), true);
    });
    expectCode(await rejection(ExceptionStore.open(reopened)), 'ERR_UNSUPPORTED_VERSION');
  });

  it('ERR_NOT_FOUND: no store under the root, no such snapshot', async () => {
    const { pages, store } = await fake();
    expectCode(await rejection(ExceptionStore.open(pages, { root: 'other' })), 'ERR_NOT_FOUND');
    expectCode(await rejection(store.lookup('nope', 0)), 'ERR_NOT_FOUND');
  });

  it('ERR_EXISTS: a taken snapshot name', async () => {
    const { store } = await fake();
    await store.createSnapshot('a');
    expectCode(await rejection(store.createSnapshot('a')), 'ERR_EXISTS');
  });

  it('ERR_TOO_MANY_SNAPSHOTS: every id in use', async () => {
    const { store } = await fake();
    for (let i = 0; i < 32; i++) await store.createSnapshot(`s${i}`);
    expectCode(await rejection(store.createSnapshot('one-more')), 'ERR_TOO_MANY_SNAPSHOTS');
  });

  it('ERR_CLOSED: the store after close()', async () => {
    const { store } = await fake();
    await store.close();
    expectCode(await rejection(store.createSnapshot('a')), 'ERR_CLOSED');
  });

  it('ERR_INVALID_STATE: an invalidated store refuses changes', async () => {
    const { store } = await fake();
    await store.invalidate();
    expectCode(await rejection(store.createSnapshot('a')), 'ERR_INVALID_STATE');
  });

  it('ERR_BUSY: another writer holds the page layer (wrapped, with the page layer error as cause)', async () => {
    const pages = await PageStore.create(new MemoryStorage(), { pageSize: 4096 });
    const store = await ExceptionStore.create(pages, { maskWidth: 32 });
    const other = pages.begin();
    const error = await rejection(store.createSnapshot('a'));
    expectCode(error, 'ERR_BUSY');
    expect((error as Error).cause).toMatchObject({ name: 'PageStoreError', code: 'ERR_BUSY' });
    other.abort();
  });

  it('ERR_NO_SPACE: the page layer is full', async () => {
    const pages = await PageStore.create(new MemoryStorage(), {
      pageSize: 4096,
      pageCount: 4,
      maxPageCount: 4,
    });
    const store = await ExceptionStore.create(pages, { maskWidth: 32 });
    await store.createSnapshot('a');
    let error: unknown;
    for (let c = 0; c < 8 && error === undefined; c++) {
      error = await store.prepareOriginWrite(c).then(
        () => undefined,
        (e: unknown) => e,
      );
    }
    expectCode(error, 'ERR_NO_SPACE');
  });

  it('ERR_READ_ONLY: a change on read-only storage', async () => {
    const disk = new MemoryStorage();
    const pages = await PageStore.create(disk, { pageSize: 4096 });
    await ExceptionStore.create(pages, { maskWidth: 32 });
    const readOnly = await PageStore.open(new MemoryStorage({ data: disk.snapshot(), readOnly: true }));
    const store = await ExceptionStore.open(readOnly);
    expectCode(await rejection(store.createSnapshot('a')), 'ERR_READ_ONLY');
  });

  it("ERR_IO: a storage failure, and a storage's ERR_NOT_FOUND (no file) is not a missing snapshot", async () => {
    const { store } = await fake();
    const missing = new StorageError('ERR_NOT_FOUND', 'the file is gone');
    const failing: Storage = Object.assign(new MemoryStorage(), {
      read: () => Promise.reject(missing),
      size: () => Promise.resolve(1 << 20),
    });
    const origin = new OriginVolume(store, failing, { size: 1 << 20 });
    const error = await rejection(origin.read(0, 10));
    expectCode(error, 'ERR_IO');
    expect((error as Error).cause).toBe(missing);
  });
});

describe('the contract', () => {
  it('the guard recognises errors by their marker, not by instanceof', () => {
    const e = new ExceptionStoreError('ERR_EXISTS', 'x');
    expect(isExceptionStoreError(e)).toBe(true);
    expect(isExceptionStoreError(e, 'ERR_EXISTS')).toBe(true);
    expect(isExceptionStoreError(e, 'ERR_NOT_FOUND')).toBe(false);
    // Another copy of the package: a different class, the same registered symbol.
    const copy = Object.assign(new Error('x'), { name: 'ExceptionStoreError', code: 'ERR_EXISTS' });
    expect(isExceptionStoreError(copy)).toBe(false);
    Object.defineProperty(copy, Symbol.for('@deja/exception-store.error'), { value: true });
    expect(isExceptionStoreError(copy, 'ERR_EXISTS')).toBe(true);
    expect(isExceptionStoreError(null)).toBe(false);
  });

  it('promise methods reject on bad arguments, never throw', async () => {
    const { store } = await fake();
    const origin = new OriginVolume(store, new MemoryStorage(), { size: 4096 });
    const calls: (() => Promise<unknown>)[] = [
      () => store.lookup('a', -1),
      () => store.createSnapshot(7 as unknown as string),
      () => store.deleteSnapshot(''),
      () => store.prepareOriginWrite(1.5),
      () => origin.write(-1, new Uint8Array(1)),
      () => origin.read(0, -1),
    ];
    for (const call of calls) {
      let result: Promise<unknown> | undefined;
      expect(() => {
        result = call();
      }).not.toThrow();
      await expect(result).rejects.toThrow();
    }
  });

  it('close leaves what it was given open; await using closes in reverse order', async () => {
    const disk = new MemoryStorage();
    const data = new MemoryStorage();
    {
      await using pages = await PageStore.create(disk, { pageSize: 4096 });
      await using store = await ExceptionStore.create(pages, { maskWidth: 32 });
      await using origin = new OriginVolume(store, data, { size: 8192 });
      await origin.write(0, new Uint8Array(10).fill(1));
      await origin.flush();
    }
    expect(data.closed).toBe(false); // the origin left its storage open
    expect(disk.closed).toBe(false); // and the page store its own
    const pages = await PageStore.open(new MemoryStorage({ data: disk.snapshot() }));
    const store = await ExceptionStore.open(pages);
    const origin = new OriginVolume(store, data, { size: 8192 });
    await origin.close();
    expectCode(await rejection(origin.read(0, 1)), 'ERR_CLOSED');
    expect(store.dirty).toBe(false);
    await store.close();
    expectCode(await rejection(store.lookup('a', 0)), 'ERR_CLOSED');
    expect(pages.closed).toBe(false);
    await pages.close();
  });
});
