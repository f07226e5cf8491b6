// Snapshot volumes: what dm-snapshot builds around an exception store, so a plain volume gets
// working snapshots from this package, @deja/page-store and a @deja/storage adapter. The origin volume lives on a
// storage adapter; before it overwrites a chunk that some snapshot still needs, it copies the old
// content into a new exception chunk and commits the exception store (so the copy and its
// exception are durable before the origin changes). Snapshot volumes read through their
// exceptions to the origin and can be written (their writes land in private exceptions).

import type { Storage } from '@deja/storage';
import { ExceptionStoreError, fromLowerError } from './errors';
import type { ExceptionStore } from './exception-store';

/** Options of {@link OriginVolume}. */
export interface OriginVolumeOptions {
  /** Size of the volume in bytes (origin and snapshots). Bytes never written read as zeros. */
  size: number;
}

function checkRange(offset: unknown, length: number, size: number): void {
  if (typeof offset !== 'number') throw new TypeError('offset must be a number');
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > size) {
    throw new RangeError(
      `range [${offset}, ${Number(offset) + length}) is outside the volume of ${size} bytes`,
    );
  }
}

/** Serializes the operations of one origin and its snapshots (copy-before-write needs it). */
class Lock {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.#tail.then(fn);
    this.#tail = r.catch(() => undefined);
    return r;
  }
}

/**
 * The origin volume: reads and writes `storage` directly, copying chunks that snapshots still
 * share into exceptions before overwriting them (dm-snapshot's origin target).
 */
export class OriginVolume {
  /** The exception store holding the snapshots. */
  readonly store: ExceptionStore;
  /** The storage adapter holding the origin's data. */
  readonly storage: Storage;
  /** Bytes of the volume. */
  readonly size: number;
  /** Bytes of a chunk (the store's chunk size). */
  readonly chunkSize: number;
  readonly #lock = new Lock();
  #closed = false;

  /**
   * Neither `store` nor `storage` becomes the volume's: {@link OriginVolume.close} leaves both open
   * for whoever opened them to close, after the volume.
   *
   * @param store - an open exception store.
   * @param storage - the origin's medium (chunk c at byte c x chunkSize).
   * @param options - the volume size.
   * @throws RangeError for a size that is not a non-negative safe integer.
   */
  constructor(store: ExceptionStore, storage: Storage, options: OriginVolumeOptions) {
    if (!Number.isSafeInteger(options.size) || options.size < 0)
      throw new RangeError(`bad volume size ${options.size}`);
    this.store = store;
    this.storage = storage;
    this.size = options.size;
    this.chunkSize = store.chunkSize;
  }

  /** @internal The current content of origin chunk `chunk` (zeros past the medium's end). */
  async readOriginChunk(chunk: number): Promise<Uint8Array> {
    const cs = this.chunkSize;
    const out = new Uint8Array(cs);
    const start = chunk * cs;
    const have = await this.storage.size();
    if (start < have) out.set(await this.storage.read(start, Math.min(cs, have - start)));
    return out;
  }

  /**
   * @internal Runs `fn` under the volume's lock, once the operations before it are done; rejects
   * with `ERR_CLOSED` after {@link OriginVolume.close}; wraps a failure of the storage.
   */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.#lock
      .run(() => {
        if (this.#closed) throw new ExceptionStoreError('ERR_CLOSED', 'the origin volume is closed');
        return fn();
      })
      .catch((error: unknown) => {
        throw fromLowerError(error);
      });
  }

  /** Whether {@link OriginVolume.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits for the operations called before it, then refuses every later one (of the origin and of
   * its snapshot volumes) with `ERR_CLOSED`. Does not flush, and leaves the exception store and the
   * storage open: close them after the volume. Idempotent.
   */
  close(): Promise<void> {
    return this.#lock.run(async () => {
      this.#closed = true;
    });
  }

  /** `await using volume = new OriginVolume(...)` closes the volume (not its store or storage). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Reads the origin. O(length).
   *
   * @throws RangeError outside the volume.
   */
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`bad length ${length}`);
    checkRange(offset, length, this.size);
    return this.locked(async () => {
      const out = new Uint8Array(length);
      const have = await this.storage.size();
      const n = Math.max(0, Math.min(length, have - offset));
      if (n > 0) out.set(await this.storage.read(offset, n));
      return out;
    });
  }

  /**
   * Writes the origin: for each chunk touched that some snapshot still shares with the origin, the
   * old content is copied into a new exception; the exception store is committed; then the data
   * is written to the origin's storage (durable after {@link OriginVolume.flush}).
   *
   * @throws RangeError outside the volume; the store's or the storage's errors.
   */
  async write(offset: number, data: Uint8Array): Promise<void> {
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    checkRange(offset, data.length, this.size);
    return this.locked(async () => {
      if (data.length === 0) return;
      const cs = this.chunkSize;
      const first = Math.floor(offset / cs);
      const last = Math.floor((offset + data.length - 1) / cs);
      for (let c = first; c <= last; c++) {
        const ex = await this.store.prepareOriginWrite(c);
        if (ex !== undefined) await this.store.writeChunk(ex, await this.readOriginChunk(c));
      }
      // The copies and their exceptions must be durable before the origin changes.
      if (this.store.dirty) await this.store.commit();
      await this.storage.write(offset, data);
    });
  }

  /**
   * Takes a snapshot of the origin as it is now: flushes the origin's storage (so every write
   * acknowledged before is in the snapshot), creates the snapshot and commits.
   *
   * @param name - the snapshot's name (1..64 UTF-8 bytes).
   * @returns its volume.
   */
  async createSnapshot(name: string): Promise<SnapshotVolume> {
    return this.locked(async () => {
      await this.storage.flush();
      await this.store.createSnapshot(name);
      await this.store.commit();
      return new SnapshotVolume(this, name);
    });
  }

  /**
   * The volume of an existing snapshot.
   *
   * @throws ExceptionStoreError `ERR_NOT_FOUND`.
   */
  snapshot(name: string): SnapshotVolume {
    if (this.store.snapshotId(name) === undefined) {
      throw new ExceptionStoreError('ERR_NOT_FOUND', `no snapshot named '${name}'`);
    }
    return new SnapshotVolume(this, name);
  }

  /**
   * Deletes a snapshot; the exception store commits it (and everything pending) as it goes.
   * @returns exceptions released.
   */
  async deleteSnapshot(name: string): Promise<number> {
    return this.locked(() => this.store.deleteSnapshot(name));
  }

  /** Makes every write so far durable: commits the store, flushes the origin's storage. */
  async flush(): Promise<void> {
    return this.locked(async () => {
      await this.store.commit();
      await this.storage.flush();
    });
  }
}

/** A snapshot volume: reads through its exceptions to the origin; writes go to private exceptions. */
export class SnapshotVolume {
  readonly origin: OriginVolume;
  readonly name: string;

  /** Use {@link OriginVolume.createSnapshot} or {@link OriginVolume.snapshot}. */
  constructor(origin: OriginVolume, name: string) {
    this.origin = origin;
    this.name = name;
  }

  /** Bytes of the volume. */
  get size(): number {
    return this.origin.size;
  }

  /**
   * Reads the snapshot. O(chunks touched x lookup).
   *
   * @throws RangeError outside the volume; ExceptionStoreError `ERR_NOT_FOUND` once deleted.
   */
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`bad length ${length}`);
    checkRange(offset, length, this.size);
    const o = this.origin;
    return o.locked(async () => {
      const out = new Uint8Array(length);
      if (length === 0) return out;
      const cs = o.chunkSize;
      const first = Math.floor(offset / cs);
      const last = Math.floor((offset + length - 1) / cs);
      for (let c = first; c <= last; c++) {
        const ex = await o.store.lookup(this.name, c);
        const chunk = ex === undefined ? await o.readOriginChunk(c) : await o.store.readChunk(ex);
        const from = Math.max(offset, c * cs);
        const to = Math.min(offset + length, (c + 1) * cs);
        out.set(chunk.subarray(from - c * cs, to - c * cs), from - offset);
      }
      return out;
    });
  }

  /**
   * Writes the snapshot (durable after {@link SnapshotVolume.flush}): each chunk goes to an
   * exception the snapshot owns alone, copied first from what it read before when the write is
   * partial.
   */
  async write(offset: number, data: Uint8Array): Promise<void> {
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    checkRange(offset, data.length, this.size);
    const o = this.origin;
    return o.locked(async () => {
      if (data.length === 0) return;
      const cs = o.chunkSize;
      const first = Math.floor(offset / cs);
      const last = Math.floor((offset + data.length - 1) / cs);
      for (let c = first; c <= last; c++) {
        const from = Math.max(offset, c * cs);
        const to = Math.min(offset + data.length, (c + 1) * cs);
        const plan = await o.store.prepareSnapshotWrite(this.name, c);
        let page: Uint8Array;
        if (to - from === cs) page = new Uint8Array(cs);
        else if (plan.source === 'origin') page = await o.readOriginChunk(c);
        else
          page = (
            await o.store.readChunk(plan.source === 'self' ? plan.chunk : (plan.sourceChunk as number))
          ).slice();
        page.set(data.subarray(from - offset, to - offset), from - c * cs);
        await o.store.writeChunk(plan.chunk, page);
      }
    });
  }

  /** Commits the store (the snapshot's writes) and flushes the origin's storage. */
  async flush(): Promise<void> {
    return this.origin.flush();
  }
}
