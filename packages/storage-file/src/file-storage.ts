// FileStorage: the Storage contract over one local file with positional I/O (pread/pwrite), flush
// as fdatasync, and an exclusive OS lock so that two handles — in two processes or in one — can
// never write the same store. Errno codes become StorageError codes (see _internal-fs.ts).
//
// Two I/O modes share this code. `io: 'sync'` issues each read and write on the calling thread
// (readSync/writeSync inside the promise): no thread-pool hop, several times the operations per
// second on cached data, but a slow disk stalls the event loop. `io: 'async'` goes through libuv's
// thread pool: the event loop stays free, and disjoint operations overlap on the disk. Flush is
// always asynchronous (fdatasync on the pool), in both modes.

import { fstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { AbstractStorage, StorageError, type WriteRequest } from '@deja/storage';
import { defaultFs, type FsLayer, fromFsError, punchHole, tryLock } from './_internal-fs';

/** A value or a promise of it: what the raw primitives of an adapter may return. */
type Awaitable<T> = T | Promise<T>;

/** How a {@link FileStorage} issues reads and writes; see the file's header comment. */
export type FileIoMode = 'sync' | 'async';

/** Options of {@link FileStorage.open}. */
export interface FileStorageOptions {
  /** Create the file (empty) if it is missing. Default `false`: a missing file is `ERR_NOT_FOUND`. */
  readonly create?: boolean;
  /** Open for reading only, under a shared lock (other readers may open it, no writer). */
  readonly readOnly?: boolean;
  /** `'sync'` (default) or `'async'` reads and writes; see {@link FileIoMode}. */
  readonly io?: FileIoMode;
  /** Take the OS lock (default `true`). Only turn off on file systems without locks. */
  readonly lock?: boolean;
  /**
   * Replacement for `node:fs` (the functions in {@link FsLayer}). A test seam: inject ENOSPC or EIO
   * where a real disk cannot be made to fail on demand.
   */
  readonly fs?: FsLayer;
}

/**
 * A store in one local file.
 *
 * - Reads and writes are positional (`pread`/`pwrite`), any offset and length, no alignment.
 * - `flush()` is `fdatasync`; the first flush after the file was created also fsyncs its directory,
 *   so the new name is durable too.
 * - Opening takes a lock on the whole file (exclusive for writers, shared for `readOnly`); a second
 *   writer gets `ERR_LOCKED`. The OS releases it on `close()` or when the process dies.
 *
 * Costs: one system call per read or write (more only on short transfers); `writev` turns each
 * run of contiguous entries into one `pwritev`.
 *
 * @example
 * ```ts
 * const store = await FileStorage.open('/var/lib/deja/volume.img', { create: true });
 * await store.write(0, page);
 * await store.flush(); // page is durable
 * await store.close();
 * ```
 */
export class FileStorage extends AbstractStorage {
  /** The path the store was opened with. */
  readonly path: string;
  /** The I/O mode in use. */
  readonly io: FileIoMode;
  readonly #fd: number;
  readonly #fs: FsLayer;
  /** Set while the file was created by this handle and its directory entry not yet fsynced. */
  #directoryUnsynced: boolean;

  private constructor(path: string, fd: number, size: number, options: FileStorageOptions, created: boolean) {
    super({ location: path, size, readOnly: options.readOnly ?? false });
    this.path = path;
    this.io = options.io ?? 'sync';
    this.#fd = fd;
    this.#fs = options.fs ?? defaultFs;
    this.#directoryUnsynced = created;
  }

  /**
   * Opens (or creates) the file at `path` and locks it. O(1) system calls.
   * @param path - the file.
   * @param options - create, read-only, I/O mode, locking.
   * @returns the open store; its size is the file's size.
   * @throws TypeError for a bad path or option; `ERR_NOT_FOUND` if the file is missing and `create`
   *   is off (or `readOnly` is on); `ERR_LOCKED` if another handle holds the lock; `ERR_PERMISSION`;
   *   `ERR_IO` (a directory, a device, any other failure).
   */
  static async open(path: string, options: FileStorageOptions = {}): Promise<FileStorage> {
    if (typeof path !== 'string' || path.length === 0) {
      throw new TypeError('FileStorage.open: path must be a non-empty string');
    }
    if (options.io !== undefined && options.io !== 'sync' && options.io !== 'async') {
      throw new TypeError(
        `FileStorage.open: options.io must be 'sync' or 'async', got ${String(options.io)}`,
      );
    }
    const fs = options.fs ?? defaultFs;
    const readOnly = options.readOnly ?? false;
    const flags = readOnly ? 'r' : 'r+';
    let fd: number;
    let created = false;
    try {
      fd = fs.openSync(path, flags);
    } catch (error) {
      const missing = (error as { code?: unknown }).code === 'ENOENT';
      if (!missing || !options.create || readOnly) throw fromFsError(error, `${path}: open`);
      try {
        fd = fs.openSync(path, 'wx+');
        created = true;
      } catch (error2) {
        // Another opener created it between our two calls: open what is there.
        if ((error2 as { code?: unknown }).code !== 'EEXIST') throw fromFsError(error2, `${path}: create`);
        try {
          fd = fs.openSync(path, flags);
        } catch (error3) {
          throw fromFsError(error3, `${path}: open`);
        }
      }
    }
    try {
      const stat = fs.fstatSync(fd);
      if (!stat.isFile()) throw new StorageError('ERR_IO', `${path}: not a regular file`);
      if (options.lock ?? true) {
        let granted: boolean;
        try {
          granted = tryLock(fd, readOnly);
        } catch (error) {
          throw fromFsError(error, `${path}: lock`);
        }
        if (!granted) {
          throw new StorageError(
            'ERR_LOCKED',
            `${path}: locked by another handle (this process or another); ` +
              `only one writer, or any number of readers, may open a store at a time`,
          );
        }
      }
      return new FileStorage(path, fd, stat.size, options, created);
    } catch (error) {
      try {
        fs.closeSync(fd);
      } catch {
        // Already failing; the first error is the one to report.
      }
      throw fromFsError(error, `${path}: open`);
    }
  }

  protected _read(offset: number, length: number, into?: Uint8Array): Awaitable<Uint8Array> {
    // Read in place when the caller gave a destination; past the file's end the rest is zeros.
    const out = into ?? new Uint8Array(length);
    const fs = this.#fs;
    const fd = this.#fd;
    if (this.io === 'sync') {
      let done = 0;
      try {
        while (done < length) {
          const n = fs.readSync(fd, out, done, length - done, offset + done);
          if (n === 0) break; // past the file's end: the rest reads as zeros
          done += n;
        }
        if (done < length && into !== undefined) into.fill(0, done);
      } catch (error) {
        throw fromFsError(error, this.#where('read', offset + done, length - done));
      }
      return out;
    }
    return new Promise((resolve, reject) => {
      const step = (done: number): void => {
        fs.read(fd, out, done, length - done, offset + done, (error, n) => {
          if (error) reject(fromFsError(error, this.#where('read', offset + done, length - done)));
          else if (n === 0 || done + n >= length) {
            if (n === 0 && into !== undefined) into.fill(0, done);
            resolve(out);
          } else step(done + n);
        });
      };
      step(0);
    });
  }

  /**
   * Punches a hole where the file system can (its blocks are freed), else writes zeros. The punch
   * runs on the thread pool in both I/O modes (see `punchHole`); the base class orders it like a
   * write, so a later read or write of the range waits for it and `flush()` covers it.
   */
  protected override _discard(offset: number, length: number): Awaitable<void> {
    return punchHole(this.#fd, offset, length).then((punched) =>
      punched ? undefined : this._write(offset, new Uint8Array(length)),
    );
  }

  protected _write(offset: number, data: Uint8Array): Awaitable<void> {
    const fs = this.#fs;
    const fd = this.#fd;
    const length = data.length;
    if (this.io === 'sync') {
      let done = 0;
      try {
        while (done < length) {
          const n = fs.writeSync(fd, data, done, length - done, offset + done);
          if (n <= 0) throw new Error('the system wrote no bytes');
          done += n;
        }
      } catch (error) {
        throw fromFsError(error, this.#where('write', offset + done, length - done));
      }
      return;
    }
    return new Promise((resolve, reject) => {
      const step = (done: number): void => {
        fs.write(fd, data, done, length - done, offset + done, (error, n) => {
          if (error) reject(fromFsError(error, this.#where('write', offset + done, length - done)));
          else if (n <= 0)
            reject(new StorageError('ERR_IO', `${this.#where('write', offset, length)}: no progress`));
          else if (done + n >= length) resolve();
          else step(done + n);
        });
      };
      step(0);
    });
  }

  protected override _writev(requests: readonly WriteRequest[]): Awaitable<void> {
    const runs = contiguousRuns(requests);
    if (this.io === 'sync') {
      for (const run of runs) this.#writeRunSync(run);
      return;
    }
    // Runs that overlap must land in array order; disjoint ones may go to the disk together.
    if (overlapping(requests)) {
      return runs.reduce<Promise<void>>(
        (chain, run) => chain.then(() => this.#writeRun(run)),
        Promise.resolve(),
      );
    }
    return Promise.all(runs.map((run) => this.#writeRun(run))).then(() => {});
  }

  /**
   * Bytes the file takes on its file system: its allocated blocks, so the holes of a sparse file
   * (never written, or punched by `discard`) count nothing. Reads no data. O(1).
   * @throws `ERR_CLOSED`; `ERR_IO`.
   */
  allocatedBytes(): number {
    if (this.closed)
      throw new StorageError('ERR_CLOSED', `${this.path}: allocatedBytes() called after close()`);
    try {
      return fstatSync(this.#fd).blocks * 512;
    } catch (error) {
      throw fromFsError(error, `${this.path}: fstat`);
    }
  }

  protected _flush(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#fs.fdatasync(this.#fd, (error) => {
        if (error) reject(fromFsError(error, `${this.path}: flush (fdatasync)`));
        else resolve();
      });
    }).then(() => (this.#directoryUnsynced ? this.#syncDirectory() : undefined));
  }

  protected _close(): void {
    try {
      this.#fs.closeSync(this.#fd);
    } catch (error) {
      throw fromFsError(error, `${this.path}: close`);
    }
  }

  /** fsyncs the directory holding a file this handle created, once, so its name is durable. */
  #syncDirectory(): Promise<void> {
    if (process.platform === 'win32') {
      this.#directoryUnsynced = false; // directories cannot be opened for fsync on Windows
      return Promise.resolve();
    }
    const fs = this.#fs;
    const dir = dirname(this.path);
    let fd: number;
    try {
      fd = fs.openSync(dir, 'r');
    } catch (error) {
      return Promise.reject(fromFsError(error, `${dir}: open directory for fsync`));
    }
    return new Promise<void>((resolve, reject) => {
      fs.fsync(fd, (error) => {
        try {
          fs.closeSync(fd);
        } catch {
          // The fsync result is what matters.
        }
        if (error && (error as { code?: unknown }).code !== 'EINVAL') {
          reject(fromFsError(error, `${dir}: fsync of the directory`));
        } else {
          this.#directoryUnsynced = false;
          resolve();
        }
      });
    });
  }

  #writeRunSync(run: readonly WriteRequest[]): void {
    const first = run[0]!;
    if (run.length === 1) {
      this._write(first.offset, first.data);
      return;
    }
    let written: number;
    try {
      written = this.#fs.writevSync(
        this.#fd,
        run.map((r) => r.data),
        first.offset,
      );
    } catch (error) {
      throw fromFsError(error, this.#where('write', first.offset, runLength(run)));
    }
    for (const rest of remainder(run, written)) this._write(rest.offset, rest.data);
  }

  #writeRun(run: readonly WriteRequest[]): Promise<void> {
    const first = run[0]!;
    if (run.length === 1) return this._write(first.offset, first.data) as Promise<void>;
    return new Promise<number>((resolve, reject) => {
      this.#fs.writev(
        this.#fd,
        run.map((r) => r.data),
        first.offset,
        (error, written) => {
          if (error) reject(fromFsError(error, this.#where('write', first.offset, runLength(run))));
          else resolve(written);
        },
      );
    }).then((written) =>
      remainder(run, written).reduce<Promise<void>>(
        (chain, rest) => chain.then(() => this._write(rest.offset, rest.data) as Promise<void>),
        Promise.resolve(),
      ),
    );
  }

  #where(operation: string, offset: number, length: number): string {
    return `${this.path}: ${operation} of ${length} bytes at offset ${offset}`;
  }
}

/** Splits a batch into runs of entries that follow each other on the medium. */
function contiguousRuns(requests: readonly WriteRequest[]): WriteRequest[][] {
  const runs: WriteRequest[][] = [];
  let current: WriteRequest[] = [];
  let end = -1;
  for (const r of requests) {
    if (r.offset !== end) {
      if (current.length > 0) runs.push(current);
      current = [];
    }
    current.push(r);
    end = r.offset + r.data.length;
  }
  if (current.length > 0) runs.push(current);
  return runs;
}

/** Whether any two entries of a batch overlap. O(n log n). */
function overlapping(requests: readonly WriteRequest[]): boolean {
  const sorted = [...requests].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    if (sorted[i]!.offset < prev.offset + prev.data.length) return true;
  }
  return false;
}

function runLength(run: readonly WriteRequest[]): number {
  return run.reduce((sum, r) => sum + r.data.length, 0);
}

/** The parts of a run a short `pwritev` of `written` bytes left unwritten. */
function remainder(run: readonly WriteRequest[], written: number): WriteRequest[] {
  const rest: WriteRequest[] = [];
  let skip = written;
  for (const r of run) {
    if (skip >= r.data.length) {
      skip -= r.data.length;
      continue;
    }
    rest.push({ offset: r.offset + skip, data: r.data.subarray(skip) });
    skip = 0;
  }
  return rest;
}
