// The file system seam under FileStorage: the few `node:fs` calls it makes (replaceable in tests,
// to inject ENOSPC or EIO where a real disk cannot be made to fail on demand), the mapping of
// errno codes onto StorageError codes, and the lazily loaded native lock (fs-native-extensions).

import * as nodeFs from 'node:fs';
import { createRequire } from 'node:module';
import { StorageError, type StorageErrorCode } from '@deja/storage';

/** The `node:fs` functions FileStorage uses; `node:fs` itself is one. */
export type FsLayer = Pick<
  typeof nodeFs,
  | 'openSync'
  | 'closeSync'
  | 'fstatSync'
  | 'readSync'
  | 'writeSync'
  | 'writevSync'
  | 'read'
  | 'write'
  | 'writev'
  | 'fdatasync'
  | 'fsync'
>;

/** The real file system. */
export const defaultFs: FsLayer = nodeFs;

/** The errno code of an `fs` error, if it has one. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Maps an `fs` error to a StorageError, keeping it as `cause`.
 *
 * | errno | code |
 * | --- | --- |
 * | ENOENT | ERR_NOT_FOUND |
 * | ENOSPC, EDQUOT | ERR_NO_SPACE |
 * | EACCES, EPERM, EROFS | ERR_PERMISSION |
 * | anything else (EIO, EISDIR, EBADF, ...) | ERR_IO |
 *
 * @param error - what `fs` threw or passed to its callback.
 * @param what - what failed and where, e.g. `/data/store: write of 4096 bytes at offset 8192`.
 * @returns the StorageError to reject with.
 */
export function fromFsError(error: unknown, what: string): StorageError {
  if (error instanceof StorageError) return error;
  const errno = errnoCode(error);
  let code: StorageErrorCode;
  switch (errno) {
    case 'ENOENT':
      code = 'ERR_NOT_FOUND';
      break;
    case 'ENOSPC':
    case 'EDQUOT':
      code = 'ERR_NO_SPACE';
      break;
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      code = 'ERR_PERMISSION';
      break;
    default:
      code = 'ERR_IO';
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new StorageError(code, `${what} failed: ${detail}`, { cause: error });
}

interface NativeExtensions {
  tryLock(fd: number, options?: { shared?: boolean }): boolean;
  trim(fd: number, offset: number, length: number): Promise<void>;
}

let native: NativeExtensions | undefined;

/**
 * Takes a non-blocking lock on the whole file behind `fd`: exclusive, or shared for readers. On
 * Linux this is an open-file-description lock (F_OFD_SETLK), so it conflicts with other handles in
 * the same process as well as with other processes; the OS drops it when the descriptor closes or
 * the process dies.
 *
 * @returns `false` if another handle holds a conflicting lock.
 */
/**
 * Punches a hole (fallocate PUNCH_HOLE | KEEP_SIZE on Linux) on libuv's thread pool: the range
 * reads as zeros and its blocks are freed. Off the event loop, because a hole punch is slow (a
 * file-system journal transaction: 0.1 to 1 ms each on ext4 over a virtio disk) and callers issue
 * thousands at once (a deleted snapshot's chunks); several run at once on the pool's threads.
 * @returns a promise of `false` when the file system cannot (the caller writes zeros instead).
 */
export function punchHole(fd: number, offset: number, length: number): Promise<boolean> {
  try {
    native ??= createRequire(import.meta.url)('fs-native-extensions') as NativeExtensions;
  } catch {
    return Promise.resolve(false);
  }
  return native.trim(fd, offset, length).then(
    () => true,
    () => false,
  );
}

export function tryLock(fd: number, shared: boolean): boolean {
  native ??= createRequire(import.meta.url)('fs-native-extensions') as NativeExtensions;
  return native.tryLock(fd, { shared });
}
