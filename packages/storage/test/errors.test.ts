// One test per error code of @deja/storage that its own adapters raise (the README's table lists
// exactly STORAGE_ERROR_CODES; ERR_NOT_FOUND, ERR_LOCKED and ERR_PERMISSION come from files and are
// tested in @deja/storage-file), the marker guard, and rejections instead of synchronous throws.
import { fileURLToPath } from 'node:url';
import { readmeErrorCodes } from '@deja/test-helpers';
import { describe, expect, it } from 'vitest';
import {
  isStorageError,
  MemoryStorage,
  STORAGE_ERROR_CODES,
  StorageError,
  type StorageErrorCode,
} from '../src/index';
import { FaultyStorage } from '../src/testing';

async function codeOf(promise: Promise<unknown>): Promise<StorageErrorCode | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => (isStorageError(error) ? error.code : undefined),
  );
}

describe('every code', () => {
  it('the README table lists exactly the exported codes', () => {
    const readme = fileURLToPath(new URL('../README.md', import.meta.url));
    expect(readmeErrorCodes(readme)).toEqual([...STORAGE_ERROR_CODES]);
  });

  it('ERR_OUT_OF_RANGE: a read past the end', async () => {
    expect(await codeOf(new MemoryStorage().read(0, 1))).toBe('ERR_OUT_OF_RANGE');
  });

  it('ERR_NO_SPACE: a write past maxSize', async () => {
    expect(await codeOf(new MemoryStorage({ maxSize: 10 }).write(8, new Uint8Array(4)))).toBe('ERR_NO_SPACE');
  });

  it('ERR_READ_ONLY: a write on a read-only store', async () => {
    expect(await codeOf(new MemoryStorage({ readOnly: true }).write(0, new Uint8Array(1)))).toBe(
      'ERR_READ_ONLY',
    );
  });

  it('ERR_CLOSED: an operation after close()', async () => {
    const store = new MemoryStorage();
    await store.close();
    expect(await codeOf(store.size())).toBe('ERR_CLOSED');
  });

  it('ERR_IO: an injected failure, and every write after a failed flush', async () => {
    const store = await FaultyStorage.wrap(new MemoryStorage(), { failAt: 1 });
    await store.write(0, new Uint8Array(1));
    expect(await codeOf(store.flush())).toBe('ERR_IO');
    expect(await codeOf(store.write(0, new Uint8Array(1)))).toBe('ERR_IO');
  });

  it('ERR_CRASHED: FaultyStorage after its power loss', async () => {
    const store = await FaultyStorage.wrap(new MemoryStorage(), { crashAt: 0 });
    expect(await codeOf(store.write(0, new Uint8Array(1)))).toBe('ERR_CRASHED');
  });
});

describe('the contract', () => {
  it('the guard recognises errors by their marker, not by name or instanceof', () => {
    const copy = Object.assign(new Error('x'), { name: 'StorageError', code: 'ERR_IO' });
    expect(isStorageError(copy)).toBe(false);
    Object.defineProperty(copy, Symbol.for('@deja/storage.error'), { value: true });
    expect(isStorageError(copy, 'ERR_IO')).toBe(true);
    expect(isStorageError(new StorageError('ERR_IO', 'x', { cause: 1 }), 'ERR_CLOSED')).toBe(false);
    expect(new StorageError('ERR_IO', 'x', { cause: 1 }).cause).toBe(1);
  });

  it('await using closes an adapter', async () => {
    const outer = new MemoryStorage();
    {
      await using store = outer;
      await store.write(0, new Uint8Array(1));
    }
    expect(outer.closed).toBe(true);
  });
});
