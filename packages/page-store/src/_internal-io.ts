// The storage as the page layer sees it: the caller's Storage with every failure turned into a
// PageStoreError of the same concept (the storage's error as `cause`), so no StorageError escapes
// this package. One `.catch` per call; nothing else changes.
import type { ReadRequest, Storage, WriteRequest } from '@deja/storage';
import { fromStorageError } from './errors';

/** @returns a Storage over `storage` whose rejections are PageStoreErrors. */
export function checkedStorage(storage: Storage): Storage {
  const fail =
    (what: string) =>
    (error: unknown): never => {
      throw fromStorageError(error, what);
    };
  return {
    get readOnly() {
      return storage.readOnly;
    },
    get closed() {
      return storage.closed;
    },
    read: (offset: number, length: number) =>
      storage.read(offset, length).catch(fail(`storage read of ${length} bytes at ${offset}`)),
    write: (offset: number, data: Uint8Array) =>
      storage.write(offset, data).catch(fail(`storage write of ${data.length} bytes at ${offset}`)),
    readv: (requests: readonly ReadRequest[]) =>
      storage.readv(requests).catch(fail(`storage read of ${requests.length} ranges`)),
    writev: (requests: readonly WriteRequest[]) =>
      storage.writev(requests).catch(fail(`storage write of ${requests.length} ranges`)),
    flush: () => storage.flush().catch(fail('storage flush')),
    size: () => storage.size().catch(fail('storage size')),
    close: () => storage.close().catch(fail('storage close')),
  };
}
