// The store's error contract: the README's table lists exactly the exported codes; the guard works
// on errors from another copy of the package (a Symbol.for marker); and the codes no other test
// reaches are reached here.
import { fileURLToPath } from 'node:url';
import { PageStore } from '@deja/page-store';
import { MemoryStorage } from '@deja/storage';
import { readmeErrorCodes } from '@deja/test-helpers';
import { describe, expect, test } from 'vitest';
import { isStoreError, STORE_ERROR_CODES, Store, StoreError } from '../src/index';
import { MemStore } from './_helpers';

describe('StoreError', () => {
  test('the README table lists exactly the exported codes', () => {
    const readme = fileURLToPath(new URL('../README.md', import.meta.url));
    expect([...readmeErrorCodes(readme)].sort()).toEqual([...STORE_ERROR_CODES].sort());
  });

  test('the guard checks the marker and the code, not the class', () => {
    const e = new StoreError('ERR_EXISTS', 'x');
    expect(isStoreError(e)).toBe(true);
    expect(isStoreError(e, 'ERR_EXISTS')).toBe(true);
    expect(isStoreError(e, 'ERR_NOT_FOUND')).toBe(false);
    const lookalike = Object.assign(new Error('x'), { name: 'StoreError', code: 'ERR_EXISTS' });
    expect(isStoreError(lookalike)).toBe(false);
    expect(isStoreError(null)).toBe(false);
    // A copy of the class from another install carries the same registered symbol.
    const other = Object.assign(new Error('y'), { code: 'ERR_IO' });
    Object.defineProperty(other, Symbol.for('@deja/store.error'), { value: true });
    expect(isStoreError(other, 'ERR_IO')).toBe(true);
  });

  test('ERR_UNSUPPORTED_VERSION: a header written by a newer format', async () => {
    const m = await MemStore.create({ size: 4096 });
    await m.store.close();
    const pages = await PageStore.open(new MemoryStorage({ data: m.data.snapshot() }));
    const header = pages.getRoot('deja') as number;
    const payload = await pages.readMeta(header);
    new DataView(payload.buffer, payload.byteOffset).setUint32(4, 99, true);
    const tx = pages.begin();
    tx.writeMeta(header, payload);
    await tx.commit();
    const image = (pages.storage as MemoryStorage).snapshot();
    await pages.close();
    const err = await Store.open({ data: new MemoryStorage({ data: image }) }).catch((e) => e);
    expect(isStoreError(err, 'ERR_UNSUPPORTED_VERSION'), String(err)).toBe(true);
  });

  test('ERR_TOO_MANY_SNAPSHOTS and ERR_INVALID_STATE', async () => {
    const m = await MemStore.create({ size: 4096, chunkSize: 512, maxSnapshots: 32 });
    for (let i = 0; i < 32; i++) await m.store.createSnapshot(`s${i}`);
    const err = await m.store.createSnapshot('one-more').catch((e) => e);
    expect(isStoreError(err, 'ERR_TOO_MANY_SNAPSHOTS')).toBe(true);
    const resize = await m.store
      .volume('s0')
      .resize(8192)
      .catch((e) => e);
    expect(isStoreError(resize, 'ERR_INVALID_STATE')).toBe(true);
    // Refusals change nothing: the store works on.
    await m.store.write(0, new Uint8Array([5]));
    expect((await m.store.read(0, 1))[0]).toBe(5);
    await m.store.close();
  });
});
