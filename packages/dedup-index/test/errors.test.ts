// One test per error code of @deja/dedup-index (the README's table lists exactly
// DEDUP_INDEX_ERROR_CODES), storage failures wrapped with the same concept's code and `cause`, the
// marker guard, and the close rule (close and `await using` leave the storage open).
import { fileURLToPath } from 'node:url';
import { isStorageError, MemoryStorage } from '@deja/storage';
import { FaultyStorage } from '@deja/storage/testing';
import { readmeErrorCodes } from '@deja/test-helpers';
import { describe, expect, it } from 'vitest';
import {
  DEDUP_INDEX_ERROR_CODES,
  DedupIndex,
  DedupIndexError,
  type DedupIndexErrorCode,
  isDedupIndexError,
} from '../src/index';
import { makeNames, meta, SMALL } from './_helpers';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

function expectCode(error: unknown, code: DedupIndexErrorCode): void {
  expect(isDedupIndexError(error, code), String(error)).toBe(true);
}

/** A closed index of a few names, and the bytes of its storage. */
async function image(): Promise<Uint8Array> {
  const storage = new MemoryStorage();
  const index = await DedupIndex.create(storage, { geometry: SMALL, nonce: 11 });
  for (const [i, name] of makeNames(50, 11).entries()) await index.post(name, meta(i));
  await index.close();
  return storage.snapshot();
}

/** Post names until a request rejects; the rejection. */
async function postUntilFailure(index: DedupIndex, seed: number): Promise<unknown> {
  for (const [i, name] of makeNames(4000, seed).entries()) {
    const error = await index.post(name, meta(i)).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    if (error !== undefined) return error;
  }
  return expect.fail('expected a request to fail');
}

describe('every code', () => {
  it('the README table lists exactly the exported codes', () => {
    const readme = fileURLToPath(new URL('../README.md', import.meta.url));
    expect(readmeErrorCodes(readme)).toEqual([...DEDUP_INDEX_ERROR_CODES]);
    expect(Object.isFrozen(DEDUP_INDEX_ERROR_CODES)).toBe(true);
  });

  it('ERR_NOT_FOUND: open() of a storage that holds no index', async () => {
    expectCode(await rejection(DedupIndex.open(new MemoryStorage())), 'ERR_NOT_FOUND');
    expectCode(
      await rejection(DedupIndex.open(new MemoryStorage({ data: new Uint8Array(8192) }))),
      'ERR_NOT_FOUND',
    );
  });

  it('ERR_CORRUPT_DATA: a superblock with a damaged byte', async () => {
    const data = await image();
    data[30]! ^= 0x5a;
    expectCode(await rejection(DedupIndex.open(new MemoryStorage({ data }))), 'ERR_CORRUPT_DATA');
  });

  it('ERR_UNSUPPORTED_VERSION: a superblock of another format version', async () => {
    const data = await image();
    data[8] = 9;
    expectCode(await rejection(DedupIndex.open(new MemoryStorage({ data }))), 'ERR_UNSUPPORTED_VERSION');
  });

  it('ERR_CLOSED: a request after close(), and a storage closed underneath', async () => {
    const index = await DedupIndex.create(new MemoryStorage(), { geometry: SMALL, nonce: 12 });
    await index.close();
    expectCode(await rejection(index.query(new Uint8Array(16))), 'ERR_CLOSED');

    const storage = new MemoryStorage();
    const other = await DedupIndex.create(storage, { geometry: SMALL, nonce: 13 });
    await storage.close();
    const error = await postUntilFailure(other, 13);
    expectCode(error, 'ERR_CLOSED');
    expect(isStorageError((error as DedupIndexError).cause, 'ERR_CLOSED')).toBe(true);
  });

  it('ERR_NO_SPACE: the storage fills up while a chapter is written; later requests reject alike', async () => {
    const index = await DedupIndex.create(new MemoryStorage({ maxSize: 12_000 }), {
      geometry: SMALL,
      nonce: 14,
    });
    const error = await postUntilFailure(index, 14);
    expectCode(error, 'ERR_NO_SPACE');
    expect(isStorageError((error as DedupIndexError).cause, 'ERR_NO_SPACE')).toBe(true);
    expectCode(await rejection(index.query(new Uint8Array(16))), 'ERR_NO_SPACE');
    await index.close();
  });

  it('ERR_READ_ONLY: create() on a read-only storage', async () => {
    const error = await rejection(
      DedupIndex.create(new MemoryStorage({ readOnly: true }), { geometry: SMALL }),
    );
    expectCode(error, 'ERR_READ_ONLY');
    expect(isStorageError((error as DedupIndexError).cause, 'ERR_READ_ONLY')).toBe(true);
  });

  it('ERR_IO: the medium fails a write, with its error as cause', async () => {
    let failing = false;
    const storage = await FaultyStorage.wrap(new MemoryStorage(), {
      failWhen: (operation) => failing && operation.kind === 'write',
    });
    const index = await DedupIndex.create(storage, { geometry: SMALL, nonce: 15 });
    failing = true;
    const error = await postUntilFailure(index, 15);
    expectCode(error, 'ERR_IO');
    expect(isStorageError((error as DedupIndexError).cause, 'ERR_IO')).toBe(true);
  });
});

describe('isDedupIndexError', () => {
  it('recognises the marker, not the prototype, and checks the code when given', () => {
    const error = new DedupIndexError('ERR_IO', 'test');
    expect(error.name).toBe('DedupIndexError');
    expect(isDedupIndexError(error, 'ERR_IO')).toBe(true);
    expect(isDedupIndexError(error, 'ERR_CLOSED')).toBe(false);
    const foreign = Object.assign(new Error('x'), { code: 'ERR_IO' });
    Object.defineProperty(foreign, Symbol.for('@deja/dedup-index.error'), { value: true });
    expect(isDedupIndexError(foreign, 'ERR_IO')).toBe(true);
    for (const value of [null, undefined, 'ERR_IO', { code: 'ERR_IO' }, new Error('x')]) {
      expect(isDedupIndexError(value)).toBe(false);
    }
  });
});

describe('closing', () => {
  it('await using closes the index, which saves and leaves the storage open', async () => {
    const storage = new MemoryStorage();
    const names = makeNames(20, 16);
    {
      await using index = await DedupIndex.create(storage, { geometry: SMALL, nonce: 16 });
      for (const [i, name] of names.entries()) await index.post(name, meta(i));
    }
    expect(storage.closed).toBe(false);
    const again = await DedupIndex.open(storage);
    expect(again.getStats().rebuilt).toBe(false);
    expect(await again.query(names[3]!)).toEqual(meta(3));
    await again.close();
  });
});
