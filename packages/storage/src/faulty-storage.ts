// FaultyStorage: a wrapper around any adapter that simulates what a real disk does to unflushed
// data when the power goes, and fails chosen operations with I/O errors, for crash tests.
//
// Model. The wrapped ("inner") store is the durable medium. Writes do not reach it at once: they
// wait in a volatile cache (the list of writes since the last flush, in call order) that reads see
// through, as an OS page cache would. `flush()` moves the cache to the medium (inner.writev, then
// inner.flush). A crash throws the cache away except for what the crash mode lets through:
//
//   drop    nothing of the cache reaches the medium
//   keep    all of it does (as if the flush had completed)
//   torn    each write is cut at absolute sector boundaries (512 bytes by default); each piece
//           independently reaches the medium or not — sectors are atomic, writes are not
//   random  each write reaches the medium whole, or not at all, independently (reordering)
//
// then flushes and closes the inner store, so the test can reopen its image as a fresh adapter.
// Survivors are applied in call order, so a sector written twice ends up holding one of its
// versions or its old contents. Every choice comes from a generator seeded by `seed`, and
// operations run one at a time in call order, so the same seed and workload give the same image.
//
// Operations are numbered from 0 in call order: read, readv, write, writev and flush each count as
// one; size() and close() do not count. At operation `crashAt` the power fails while it is in
// progress (a write there is in the cache and subject to the mode); that operation and every later
// one reject with ERR_CRASHED. An operation chosen by `failAt`/`failWhen` rejects with ERR_IO (or
// `failCode`) and has no effect; a failed flush keeps the cache as it was, and the handle then
// refuses writes and flushes, as every adapter does after a failed flush.

import { createRandom } from './_internal-random';
import type { Awaitable } from './_internal-validate';
import { AbstractStorage } from './abstract-storage';
import { StorageError } from './errors';
import type { ReadRequest, Storage, WriteRequest } from './storage';

/** What a simulated power loss does to the writes since the last flush; see {@link FaultyStorage}. */
export type CrashMode = 'drop' | 'keep' | 'torn' | 'random';

/** Every crash mode, in the order crash sweeps run them. */
export const CRASH_MODES: readonly CrashMode[] = Object.freeze(['drop', 'keep', 'torn', 'random']);

/** One numbered operation, as {@link FaultyStorageOptions.failWhen} sees it. */
export interface FaultyOperation {
  /** Its number: 0 for the first operation on the wrapper. */
  readonly index: number;
  /** `'read'` (read, readv), `'write'` (write, writev) or `'flush'`. */
  readonly kind: 'read' | 'write' | 'flush';
  /** The ranges it touches; empty for a flush. */
  readonly ranges: readonly ReadRequest[];
}

/** Options of {@link FaultyStorage.wrap}. */
export interface FaultyStorageOptions {
  /** Seeds every random choice (torn sectors, random subsets). Default 0. */
  readonly seed?: number;
  /** The atomic unit of the simulated disk, a power of two. Default 512. */
  readonly sectorSize?: number;
  /** The operation number at which the power fails. Default: never. */
  readonly crashAt?: number;
  /** What that crash (and `crash()` without an argument) does to unflushed writes. Default `'drop'`. */
  readonly crashMode?: CrashMode;
  /** Operation numbers that fail with `failCode` instead of running. */
  readonly failAt?: number | readonly number[];
  /** Fails every operation for which it returns `true` (called once per operation, in order). */
  readonly failWhen?: (operation: FaultyOperation) => boolean;
  /** The code injected failures carry: `'ERR_IO'` (default) or `'ERR_NO_SPACE'`. */
  readonly failCode?: 'ERR_IO' | 'ERR_NO_SPACE';
}

/**
 * A fault-injecting wrapper for crash tests; see the model above. Reads cost O(unflushed writes)
 * on top of the inner read; everything runs serially. For tests, not production.
 *
 * @example
 * ```ts
 * const disk = new MemoryStorage();
 * const store = await FaultyStorage.wrap(disk, { seed: 7, crashAt: 3, crashMode: 'torn' });
 * await store.write(0, a); // operation 0
 * await store.flush(); // 1: `a` is durable
 * await store.write(0, b); // 2
 * await store.write(4096, c).catch((e) => e.code); // 3: 'ERR_CRASHED'
 * const image = new MemoryStorage({ data: disk.snapshot() }); // `a`, torn with `b` and `c`
 * ```
 */
export class FaultyStorage extends AbstractStorage {
  /** The wrapped store: the durable medium. Closed by a crash or by `close()`. */
  readonly inner: Storage;
  /** The seed the random choices come from. */
  readonly seed: number;
  readonly #random: () => number;
  readonly #sectorSize: number;
  readonly #crashAt: number;
  readonly #crashMode: CrashMode;
  readonly #failAt: ReadonlySet<number>;
  readonly #failWhen: ((operation: FaultyOperation) => boolean) | undefined;
  readonly #failCode: 'ERR_IO' | 'ERR_NO_SPACE';
  /** Writes since the last flush, in call order (private copies). */
  #cache: WriteRequest[] = [];
  #innerSize: number;
  #operations = 0;
  #flushes = 0;
  #crashed = false;

  private constructor(inner: Storage, size: number, options: FaultyStorageOptions) {
    super({ location: 'faulty storage', size, readOnly: inner.readOnly, serial: true });
    this.inner = inner;
    this.#innerSize = size;
    this.seed = options.seed ?? 0;
    this.#random = createRandom(this.seed);
    this.#sectorSize = options.sectorSize ?? 512;
    this.#crashAt = options.crashAt ?? -1;
    this.#crashMode = options.crashMode ?? 'drop';
    const failAt = options.failAt;
    this.#failAt = new Set(failAt === undefined ? [] : typeof failAt === 'number' ? [failAt] : failAt);
    this.#failWhen = options.failWhen;
    this.#failCode = options.failCode ?? 'ERR_IO';
  }

  /**
   * Wraps `inner`, which becomes the durable medium (it must be open; the wrapper owns it now).
   * @param inner - any adapter.
   * @param options - seed, sector size, the crash point and mode, failures to inject.
   * @returns the wrapper, sized as `inner`.
   * @throws TypeError/RangeError for bad options; whatever `inner.size()` rejects with.
   */
  static async wrap(inner: Storage, options: FaultyStorageOptions = {}): Promise<FaultyStorage> {
    checkOptions(options);
    return new FaultyStorage(inner, await inner.size(), options);
  }

  /** Operations numbered so far (the next one gets this number). */
  get operations(): number {
    return this.#operations;
  }

  /** Flushes that completed. */
  get flushes(): number {
    return this.#flushes;
  }

  /** Whether the power has failed. */
  get crashed(): boolean {
    return this.#crashed;
  }

  /**
   * The writes not yet flushed, oldest first (copies). O(bytes cached).
   * @returns what a crash would now apply its mode to.
   */
  unflushedWrites(): WriteRequest[] {
    return this.#cache.map(({ offset, data }) => ({ offset, data: data.slice() }));
  }

  /**
   * Cuts the power now, after every operation already called: applies `mode` to the unflushed
   * writes, then flushes and closes the inner store. Every later operation rejects with
   * `ERR_CRASHED`. Not counted as an operation.
   * @param mode - default: the `crashMode` option.
   * @throws TypeError for an unknown mode; `ERR_CRASHED` if it already crashed; `ERR_CLOSED`.
   */
  crash(mode: CrashMode = this.#crashMode): Promise<void> {
    if (!CRASH_MODES.includes(mode))
      return Promise.reject(new TypeError(`unknown crash mode ${String(mode)}`));
    if (this.closed)
      return Promise.reject(new StorageError('ERR_CLOSED', 'faulty storage: crash() after close()'));
    return this._exclusive(() => {
      if (this.#crashed) throw this.#crashedError();
      return this.#powerLoss(mode);
    });
  }

  protected _read(offset: number, length: number): Promise<Uint8Array> {
    return this.#operation('read', [{ offset, length }], () => this.#readThrough(offset, length));
  }

  protected override _readv(requests: readonly ReadRequest[]): Promise<Uint8Array[]> {
    return this.#operation('read', requests, () =>
      Promise.all(requests.map(({ offset, length }) => this.#readThrough(offset, length))),
    );
  }

  protected _write(offset: number, data: Uint8Array): Promise<void> {
    return this.#operation('write', [{ offset, length: data.length }], () => {}, [{ offset, data }]);
  }

  protected override _writev(requests: readonly WriteRequest[]): Promise<void> {
    const ranges = requests.map(({ offset, data }) => ({ offset, length: data.length }));
    return this.#operation('write', ranges, () => {}, requests);
  }

  protected _flush(): Promise<void> {
    return this.#operation('flush', [], async () => {
      const batch = this.#cache;
      this.#cache = [];
      try {
        await this.#apply(batch);
        await this.inner.flush();
      } catch (error) {
        this.#cache = batch;
        throw error;
      }
      this.#flushes++;
    });
  }

  protected async _close(): Promise<void> {
    if (this.#crashed) return;
    // A clean shutdown: the cache reaches the medium (unflushed, as a closed file's page cache).
    const batch = this.#cache;
    this.#cache = [];
    await this.#apply(batch);
    await this.inner.close();
  }

  /**
   * Numbers an operation and runs it, or fails it, or crashes in it. Writes enter the cache
   * before a crash is considered: the power fails while they are in flight.
   */
  async #operation<T>(
    kind: FaultyOperation['kind'],
    ranges: readonly ReadRequest[],
    run: () => Awaitable<T>,
    writes: readonly WriteRequest[] = [],
  ): Promise<T> {
    if (this.#crashed) throw this.#crashedError();
    const index = this.#operations++;
    if (index === this.#crashAt) {
      for (const { offset, data } of writes) this.#cache.push({ offset, data: data.slice() });
      await this.#powerLoss(this.#crashMode);
      throw this.#crashedError();
    }
    if (this.#failAt.has(index) || this.#failWhen?.({ index, kind, ranges })) {
      throw new StorageError(
        this.#failCode,
        `faulty storage: injected failure of operation ${index} (${kind})`,
      );
    }
    for (const { offset, data } of writes) this.#cache.push({ offset, data: data.slice() });
    return run();
  }

  /** Reads the medium and lays the cached writes over it, oldest first. */
  async #readThrough(offset: number, length: number): Promise<Uint8Array> {
    const end = offset + length;
    const fromInner = Math.max(0, Math.min(end, this.#innerSize) - offset);
    if (this.#cache.length === 0 && fromInner === length) return this.inner.read(offset, length);
    const out = new Uint8Array(length);
    if (fromInner > 0) out.set(await this.inner.read(offset, fromInner));
    for (const write of this.#cache) {
      const from = Math.max(offset, write.offset);
      const to = Math.min(end, write.offset + write.data.length);
      if (from < to) out.set(write.data.subarray(from - write.offset, to - write.offset), from - offset);
    }
    return out;
  }

  async #apply(writes: readonly WriteRequest[]): Promise<void> {
    if (writes.length === 0) return;
    await this.inner.writev(writes);
    for (const { offset, data } of writes) this.#innerSize = Math.max(this.#innerSize, offset + data.length);
  }

  async #powerLoss(mode: CrashMode): Promise<void> {
    this.#crashed = true;
    const cache = this.#cache;
    this.#cache = [];
    await this.#apply(this.#survivors(cache, mode));
    await this.inner.flush();
    await this.inner.close();
  }

  /** The parts of the cache that reach the medium in a crash of the given mode, in call order. */
  #survivors(cache: readonly WriteRequest[], mode: CrashMode): WriteRequest[] {
    const coin = (): boolean => this.#random() >>> 31 === 1;
    switch (mode) {
      case 'drop':
        return [];
      case 'keep':
        return [...cache];
      case 'random':
        return cache.filter(coin);
      case 'torn': {
        const pieces: WriteRequest[] = [];
        const sector = this.#sectorSize;
        for (const { offset, data } of cache) {
          const end = offset + data.length;
          for (let at = offset; at < end; ) {
            const next = Math.min(end, (Math.floor(at / sector) + 1) * sector);
            if (coin()) pieces.push({ offset: at, data: data.subarray(at - offset, next - offset) });
            at = next;
          }
        }
        return pieces;
      }
    }
  }

  #crashedError(): StorageError {
    return new StorageError(
      'ERR_CRASHED',
      `faulty storage: the simulated power failed at operation ${this.#crashAt >= 0 ? this.#crashAt : '(crash())'}; ` +
        'reopen the inner store to see what survived',
    );
  }
}

function checkOptions(options: FaultyStorageOptions): void {
  const { seed, sectorSize, crashAt, crashMode, failAt, failWhen, failCode } = options;
  if (seed !== undefined && !Number.isInteger(seed))
    throw new TypeError('FaultyStorage: seed must be an integer');
  if (sectorSize !== undefined) {
    if (!Number.isSafeInteger(sectorSize) || sectorSize < 1 || (sectorSize & (sectorSize - 1)) !== 0) {
      throw new RangeError(`FaultyStorage: sectorSize must be a power of two, got ${sectorSize}`);
    }
  }
  if (crashAt !== undefined && (!Number.isSafeInteger(crashAt) || crashAt < 0)) {
    throw new RangeError(`FaultyStorage: crashAt must be a non-negative integer, got ${crashAt}`);
  }
  if (crashMode !== undefined && !CRASH_MODES.includes(crashMode)) {
    throw new TypeError(`FaultyStorage: unknown crashMode ${String(crashMode)}`);
  }
  const fails = failAt === undefined ? [] : typeof failAt === 'number' ? [failAt] : failAt;
  for (const n of fails) {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`FaultyStorage: failAt holds ${n}`);
  }
  if (failWhen !== undefined && typeof failWhen !== 'function') {
    throw new TypeError('FaultyStorage: failWhen must be a function');
  }
  if (failCode !== undefined && failCode !== 'ERR_IO' && failCode !== 'ERR_NO_SPACE') {
    throw new TypeError(`FaultyStorage: failCode must be 'ERR_IO' or 'ERR_NO_SPACE'`);
  }
}
