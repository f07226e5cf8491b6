// One test per error code of @deja/page-store (the README's table lists exactly
// PAGE_STORE_ERROR_CODES), storage failures wrapped with `cause`, the marker guard, and the close
// rule (the store leaves its storage open).
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { MemoryStorage, StorageError } from '@deja/storage';
import { FaultyStorage } from '@deja/storage/testing';
import { readmeErrorCodes } from '@deja/test-helpers';
import { describe, expect, it } from 'vitest';
import {
  isPageStoreError,
  PAGE_STORE_ERROR_CODES,
  PageStore,
  PageStoreError,
  type PageStoreErrorCode,
} from '../src/index';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return expect.fail('expected a throw');
}

function expectCode(error: unknown, code: PageStoreErrorCode): void {
  expect(isPageStoreError(error, code), String(error)).toBe(true);
}

async function committed(disk = new MemoryStorage()) {
  const store = await PageStore.create(disk, { pageSize: 512, pageCount: 8, journalPages: 16 });
  const tx = store.begin();
  tx.writeMeta(await tx.allocate('meta'), new Uint8Array([1, 2, 3]));
  await tx.commit();
  return { disk, store };
}

describe('every code', () => {
  it('the README table lists exactly the exported codes', () => {
    const readme = fileURLToPath(new URL('../README.md', import.meta.url));
    expect(readmeErrorCodes(readme)).toEqual([...PAGE_STORE_ERROR_CODES]);
  });

  it('ERR_CORRUPT_DATA: no valid superblock', async () => {
    expectCode(
      await rejection(PageStore.open(new MemoryStorage({ data: new Uint8Array(4096) }))),
      'ERR_CORRUPT_DATA',
    );
  });

  it('ERR_UNSUPPORTED_VERSION: both superblocks of an unknown version, with valid checksums', async () => {
    const { disk } = await committed();
    const image = disk.snapshot();
    for (const at of [0, 512]) {
      image[at + 7] = 9; // the format version byte of the page header
      new DataView(image.buffer).setUint32(at, crc32(image.subarray(at + 4, at + 512)), true);
    }
    expectCode(
      await rejection(PageStore.open(new MemoryStorage({ data: image }))),
      'ERR_UNSUPPORTED_VERSION',
    );
  });

  it('ERR_BUSY: a second transaction', async () => {
    const { store } = await committed();
    store.begin();
    expectCode(
      thrown(() => store.begin()),
      'ERR_BUSY',
    );
  });

  it('ERR_CLOSED: the store after close()', async () => {
    const { store } = await committed();
    await store.close();
    expectCode(await rejection(store.readMeta(0)), 'ERR_CLOSED');
  });

  it('ERR_NO_SPACE: no free page at maxPageCount', async () => {
    const store = await PageStore.create(new MemoryStorage(), {
      pageSize: 512,
      pageCount: 2,
      maxPageCount: 2,
    });
    const tx = store.begin();
    await tx.allocate('meta');
    await tx.allocate('meta');
    expectCode(await rejection(tx.allocate('meta')), 'ERR_NO_SPACE');
  });

  it('ERR_READ_ONLY: begin() on read-only storage', async () => {
    const { disk } = await committed();
    const store = await PageStore.open(new MemoryStorage({ data: disk.snapshot(), readOnly: true }));
    expectCode(
      thrown(() => store.begin()),
      'ERR_READ_ONLY',
    );
  });

  it('ERR_IO: a storage failure, wrapped with the StorageError as cause', async () => {
    const faulty = await FaultyStorage.wrap(new MemoryStorage(), { failWhen: (op) => op.kind === 'flush' });
    const error = await rejection(PageStore.create(faulty, { pageSize: 512 }));
    expectCode(error, 'ERR_IO');
    expect((error as Error).cause).toMatchObject({ name: 'StorageError', code: 'ERR_IO' });
  });
});

describe('the contract', () => {
  it('storage codes of the same concept keep their code; the rest become ERR_IO', async () => {
    const { disk } = await committed();
    const full = new MemoryStorage({ data: disk.snapshot(), maxSize: (await disk.size()) + 512 });
    const store = await PageStore.open(full);
    const tx = store.begin();
    let error: unknown;
    for (let i = 0; i < 64 && error === undefined; i++) {
      error = await tx.allocate('data').then(
        (page) => tx.writeData(page, new Uint8Array(512)).then(() => undefined),
        (e: unknown) => e,
      );
    }
    expectCode(error, 'ERR_NO_SPACE');
    expect((error as Error).cause).toBeInstanceOf(StorageError);
  });

  it('the guard recognises errors by their marker, not by instanceof', () => {
    const copy = Object.assign(new Error('x'), { name: 'PageStoreError', code: 'ERR_BUSY' });
    expect(isPageStoreError(copy)).toBe(false);
    Object.defineProperty(copy, Symbol.for('@deja/page-store.error'), { value: true });
    expect(isPageStoreError(copy, 'ERR_BUSY')).toBe(true);
    expect(isPageStoreError(new PageStoreError('ERR_IO', 'x'), 'ERR_BUSY')).toBe(false);
  });

  it('close() and await using close the store, never its storage', async () => {
    const disk = new MemoryStorage();
    {
      await using storage = disk;
      await using store = await PageStore.create(storage, { pageSize: 512 });
      expect(store.closed).toBe(false);
    }
    expect(disk.closed).toBe(true);
    const again = new MemoryStorage({ data: disk.snapshot() });
    const store = await PageStore.open(again);
    await store.close();
    expect(store.closed).toBe(true);
    expect(again.closed).toBe(false); // what the caller opened, the caller closes
    await again.close();
    expect(again.closed).toBe(true);
  });
});
