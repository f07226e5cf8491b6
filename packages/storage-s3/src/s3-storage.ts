// S3Storage: the Storage contract over an S3-compatible bucket. The store's byte space is cut into
// fixed-size objects (`PREFIX/objects/<index as 12 hex digits>`); a manifest (`PREFIX/manifest`)
// holds the object size and the size at the last flush; a lease object (`PREFIX/lock`) keeps a
// second writer out (bucket-lock.ts).
//
// Objects live in a bounded write-back cache (an LRU of whole objects). A write patches the cached
// object (fetching it first unless the write covers it or it was never written) and marks it
// dirty; nothing is sent until `flush()`, `close()`, or the cache needs room. A flush PUTs every
// dirty object, `parallelism` at a time, then the manifest if the size grew, and resolves once the
// bucket has acknowledged all of them: a PUT is atomic and read-after-write consistent on S3, so
// acknowledged means durable. At most one PUT per object is in flight, so a newer version never
// lands before an older one.
//
// Crash model. A process that dies loses the dirty objects; each object in the bucket is then the
// version of its last acknowledged PUT: every write is kept or dropped, and the writes sharing an
// object are kept or dropped together. That is within the contract (unflushed writes may be
// dropped, in any order), which is what @deja/page-store's recovery tolerates. The one thing the
// manifest cannot say is which objects past its size a dead writer PUT before its flush: those
// bytes must read as zeros. So a handle treats every byte at or past the size it opened with as
// zero until it writes there itself, and a writable open deletes the objects wholly past that size
// and rewrites the one that straddles it with its tail cut off.
//
// Ordering and validation come from AbstractStorage: `_read`/`_write` see only in-bounds,
// non-empty ranges, and a write never overlaps another operation in flight.

import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { AbstractStorage, StorageError } from '@deja/storage';
import {
  decodeManifest,
  encodeManifest,
  isObjectSize,
  MAX_OBJECT_SIZE,
  MIN_OBJECT_SIZE,
} from './_internal-manifest';
import { type RetryOptions, S3Io, type S3Stats } from './_internal-s3';
import { BucketLock, type BucketLockMode, type BucketLockOptions } from './bucket-lock';

/** The default object size: see the README's performance section for the measurement. */
export const DEFAULT_OBJECT_SIZE = 1024 * 1024;

/** Options of {@link S3Storage.open}. */
export interface S3StorageOptions {
  /** The bucket. It must exist (`ERR_NOT_FOUND` otherwise). */
  readonly bucket: string;
  /** Key prefix of the store inside the bucket (`a/b` gives `a/b/manifest`, ...). Default: none. */
  readonly prefix?: string;
  /**
   * A configured client. Without it one is made from `endpoint`, `region`, `credentials` and the
   * AWS SDK's standard chain (environment, shared config and credentials files, SSO, instance
   * roles). Give yours `maxAttempts: 1`: S3Storage retries on its own.
   */
  readonly client?: S3Client;
  /** An S3-compatible endpoint (`http://127.0.0.1:9000`); path-style addressing is then used. */
  readonly endpoint?: string;
  /** The region. Default: the SDK's chain (`AWS_REGION`, profile), or `us-east-1` with an `endpoint`. */
  readonly region?: string;
  /** Credentials or a provider; default: the SDK's chain. */
  readonly credentials?: S3ClientConfig['credentials'];
  /** Virtual-host (`false`) or path-style (`true`) addressing. Default: `true` iff `endpoint` is set. */
  readonly forcePathStyle?: boolean;
  /** Create the store (an empty manifest) if the prefix holds none. Default `false`: `ERR_NOT_FOUND`. */
  readonly create?: boolean;
  /** Open for reading only: no lock is taken, writes reject with `ERR_READ_ONLY`. */
  readonly readOnly?: boolean;
  /**
   * Bytes per object, a power of two from 1 KiB to 64 MiB; used when the store is created (an
   * existing store keeps its own). Default {@link DEFAULT_OBJECT_SIZE} (1 MiB).
   */
  readonly objectSize?: number;
  /** Bytes of objects kept in memory (clean and dirty). Default 64 MiB; at least two objects. */
  readonly cacheBytes?: number;
  /** Requests to the bucket at once. Default 8. */
  readonly parallelism?: number;
  /** Retries of transient failures. */
  readonly retry?: RetryOptions;
  /** A request attempt that takes longer than this fails (and is retried). Default 60,000 ms: raise it for large objects on slow links. */
  readonly requestTimeoutMs?: number;
  /** The one-writer lock: `true` (default), `false` (none: you guarantee one writer), or options. */
  readonly lock?: boolean | BucketLockOptions;
}

/** One cached object. */
interface Entry {
  readonly index: number;
  data: Uint8Array;
  /** Pending fetch; the entry's bytes are not valid until it settles. */
  loading: Promise<void> | undefined;
  /** Bumped by every write; the object is dirty while it differs from `uploaded`. */
  version: number;
  uploaded: number;
  /** The PUT in flight, if any (one per object at a time). */
  uploading: Promise<void> | undefined;
  /** Operations using the entry right now: it is not evicted meanwhile. */
  pins: number;
}

const HEX_DIGITS = 12;

/**
 * A store in an S3-compatible bucket (AWS S3, Ceph RGW, MinIO, ...). See the file comment for the
 * design, and the README for the object layout, the crash model and the lock.
 *
 * Costs: a read or write of cached objects is a copy, O(length); a miss costs one GET of a whole
 * object; a flush costs one PUT per dirty object (`parallelism` at a time) plus one for the manifest
 * if the size grew.
 *
 * @example
 * ```ts
 * const store = await S3Storage.open({ bucket: 'backups', prefix: 'vm1/data', create: true });
 * await store.write(0, page);
 * await store.flush(); // page is in the bucket
 * await store.close(); // uploads what is left, releases the lock
 * ```
 */
export class S3Storage extends AbstractStorage {
  /** The bucket. */
  readonly bucket: string;
  /** The key prefix, without a trailing slash ('' for none). */
  readonly prefix: string;
  /** Bytes per object. */
  readonly objectSize: number;
  readonly #io: S3Io;
  readonly #ownsClient: boolean;
  readonly #lock: BucketLock | undefined;
  readonly #capacity: number;
  readonly #entries = new Map<number, Entry>();
  /** Slots promised by `#makeRoom` to callers that have not inserted their entry yet. */
  #reserved = 0;
  /** Writers waiting in `#makeRoom` for an entry to be inserted, unpinned or dropped. */
  #waiters: (() => void)[] = [];
  /** The size at open: bytes at or past it are zeros unless this handle wrote their object. */
  readonly #openedSize: number;
  /** The highest object this handle has PUT (-1: none); objects past it and past the opened size do not exist. */
  #maxWritten = -1;
  /** The end of the furthest write that reached `_write`. */
  #extent: number;
  /** The size the manifest in the bucket holds. */
  #persisted: number;
  #flushing: Promise<void> = Promise.resolve();

  private constructor(
    io: S3Io,
    ownsClient: boolean,
    prefix: string,
    objectSize: number,
    size: number,
    options: S3StorageOptions,
    lock: BucketLock | undefined,
  ) {
    super({ location: `s3://${io.bucket}/${prefix}`, size, readOnly: options.readOnly ?? false });
    this.bucket = io.bucket;
    this.prefix = prefix;
    this.objectSize = objectSize;
    this.#io = io;
    this.#ownsClient = ownsClient;
    this.#lock = lock;
    this.#capacity = Math.max(2, Math.floor((options.cacheBytes ?? 64 * 1024 * 1024) / objectSize));
    this.#openedSize = size;
    this.#extent = size;
    this.#persisted = size;
  }

  /**
   * Opens (or creates) the store under `prefix` in `bucket` and, unless read-only, takes its lock.
   * O(1) requests, plus one LIST and a DELETE per object a crashed writer left past the size.
   * @param options - where the store is, how to reach it, its cache and lock.
   * @returns the open store; its size is the manifest's.
   * @throws TypeError/RangeError for bad options; StorageError `ERR_NOT_FOUND` (no bucket, or no
   *   store there and `create` off), `ERR_LOCKED` (another writer holds the lock; for a read-only
   *   open, a writer is active), `ERR_PERMISSION` (access denied), `ERR_IO` (a damaged manifest,
   *   an unreachable server after retries).
   */
  static async open(options: S3StorageOptions): Promise<S3Storage> {
    const { bucket } = options ?? {};
    if (typeof bucket !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/.test(bucket)) {
      throw new TypeError(`S3Storage.open: bucket must be a bucket name, got ${String(bucket)}`);
    }
    const prefix = normalizePrefix(options.prefix);
    const objectSizeOption = options.objectSize ?? DEFAULT_OBJECT_SIZE;
    if (!isObjectSize(objectSizeOption)) {
      throw new RangeError(
        `S3Storage.open: objectSize must be a power of two from ${MIN_OBJECT_SIZE} to ${MAX_OBJECT_SIZE}, got ${objectSizeOption}`,
      );
    }
    const parallelism = options.parallelism ?? 8;
    if (!Number.isSafeInteger(parallelism) || parallelism < 1) {
      throw new RangeError(`S3Storage.open: parallelism must be a positive integer, got ${parallelism}`);
    }
    const cacheBytes = options.cacheBytes ?? 64 * 1024 * 1024;
    if (!Number.isSafeInteger(cacheBytes) || cacheBytes < 0) {
      throw new RangeError(`S3Storage.open: cacheBytes must be a non-negative integer, got ${cacheBytes}`);
    }
    const readOnly = options.readOnly ?? false;
    const ownsClient = options.client === undefined;
    const client = options.client ?? makeClient(options, parallelism);
    const io = new S3Io(client, bucket, parallelism, options.retry);
    const lockIo = new S3Io(client, bucket, 2, options.retry, io.stats);
    const manifestKey = keyOf(prefix, 'manifest');
    const lockKey = keyOf(prefix, 'lock');
    let lock: BucketLock | undefined;
    try {
      let found = await io.get(manifestKey);
      if (found === undefined && (!options.create || readOnly)) {
        throw new StorageError('ERR_NOT_FOUND', `${io.where(manifestKey)}: no store here (no manifest)`);
      }
      const lockOptions = options.lock ?? true;
      if (readOnly) {
        if (lockOptions !== false) await BucketLock.check(lockIo, lockKey);
      } else if (lockOptions !== false) {
        lock = await BucketLock.acquire(lockIo, lockKey, lockOptions === true ? {} : lockOptions);
        // Another writer may have created the store between our first look and the lock.
        if (found === undefined) found = await io.get(manifestKey);
      }
      let manifest = found && decodeManifest(found.body, io.where(manifestKey));
      if (manifest === undefined) {
        manifest = { objectSize: objectSizeOption, size: 0 };
        await io.put(manifestKey, encodeManifest(manifest));
      }
      const store = new S3Storage(io, ownsClient, prefix, manifest.objectSize, manifest.size, options, lock);
      if (!readOnly) await store.#dropGarbage();
      return store;
    } catch (error) {
      await lock?.release().catch(() => {});
      if (ownsClient) client.destroy();
      throw error;
    }
  }

  /** Requests sent and bytes moved so far (a copy). */
  get stats(): S3Stats {
    return { ...this.#io.stats };
  }

  /** How the lock was won (`undefined` when read-only or `lock: false`). */
  get lockMode(): BucketLockMode | undefined {
    return this.#lock?.mode;
  }

  /** The key of object `index`. */
  objectKey(index: number): string {
    return keyOf(this.prefix, `objects/${index.toString(16).padStart(HEX_DIGITS, '0')}`);
  }

  protected async _read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const end = offset + length;
    const first = Math.floor(offset / this.objectSize);
    const last = Math.floor((end - 1) / this.objectSize);
    const parts: Promise<void>[] = [];
    for (let index = first; index <= last; index++) {
      const start = index * this.objectSize;
      const from = Math.max(offset, start);
      const to = Math.min(end, start + this.objectSize);
      parts.push(
        this.#withObject(index, false, true, (data) => {
          out.set(data.subarray(from - start, to - start), from - offset);
        }),
      );
    }
    await Promise.all(parts);
    return out;
  }

  protected async _write(offset: number, data: Uint8Array): Promise<void> {
    const end = offset + data.length;
    if (end > this.#extent) this.#extent = end;
    const first = Math.floor(offset / this.objectSize);
    const last = Math.floor((end - 1) / this.objectSize);
    const parts: Promise<void>[] = [];
    for (let index = first; index <= last; index++) {
      const start = index * this.objectSize;
      const from = Math.max(offset, start);
      const to = Math.min(end, start + this.objectSize);
      const whole = from === start && to === start + this.objectSize;
      parts.push(
        this.#withObject(index, whole, false, (bytes, entry) => {
          bytes.set(data.subarray(from - offset, to - offset), from - start);
          entry!.version++;
        }),
      );
    }
    await Promise.all(parts);
  }

  protected _flush(): Promise<void> {
    const run = this.#flushing.then(() => this.#flushNow());
    this.#flushing = run.catch(() => {});
    return run;
  }

  protected async _close(): Promise<void> {
    try {
      // Close does not flush in the contract's sense, but unuploaded writes exist only in this
      // process: hand them to the bucket so the next open sees them, as a file's page cache would.
      if (!this.readOnly) await this._flush();
    } finally {
      this.#entries.clear();
      try {
        await this.#lock?.release();
      } finally {
        if (this.#ownsClient) this.#io.client.destroy();
      }
    }
  }

  async #flushNow(): Promise<void> {
    const covered = this.#extent;
    const dirty = [...this.#entries.values()].filter((e) => e.version !== e.uploaded || e.uploading);
    await Promise.all(dirty.map((e) => this.#upload(e)));
    if (covered > this.#persisted) {
      this.#lock?.assertHeld();
      const key = keyOf(this.prefix, 'manifest');
      await this.#io.put(key, encodeManifest({ objectSize: this.objectSize, size: covered }));
      this.#persisted = covered;
    }
  }

  /**
   * Runs `use` on object `index`'s bytes, fetching it if needed. `whole`: the caller overwrites
   * every byte, so no fetch. `read`: the caller only reads, so a full cache is bypassed rather than
   * waited for. The entry is pinned while `use` runs (synchronously).
   */
  async #withObject(
    index: number,
    whole: boolean,
    read: boolean,
    use: (bytes: Uint8Array, entry: Entry | undefined) => void,
  ): Promise<void> {
    let entry = this.#entries.get(index);
    if (entry === undefined) {
      const reserved = await this.#makeRoom(read);
      if (reserved) {
        this.#reserved--;
        this.#notify();
      }
      // Reading with a cache full of objects in use: fetch without caching.
      if (!reserved && !this.#entries.has(index)) {
        use(await this.#fetch(index), undefined);
        return;
      }
      entry = this.#entries.get(index);
      if (entry === undefined) {
        entry = {
          index,
          data: new Uint8Array(0),
          loading: undefined,
          version: 0,
          uploaded: 0,
          uploading: undefined,
          pins: 0,
        };
        const created = entry;
        if (whole) created.data = new Uint8Array(this.objectSize);
        else
          created.loading = this.#fetch(index).then(
            (bytes) => {
              created.data = bytes;
              created.loading = undefined;
            },
            (error: unknown) => {
              this.#entries.delete(index);
              this.#notify();
              throw error;
            },
          );
        this.#entries.set(index, entry);
      }
    }
    entry.pins++;
    try {
      if (entry.loading) await entry.loading;
      // LRU: most recently used last.
      this.#entries.delete(index);
      this.#entries.set(index, entry);
      use(entry.data, entry);
    } finally {
      entry.pins--;
      this.#notify();
    }
  }

  #notify(): void {
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** The bytes of object `index` as the bucket holds them, with bytes the size does not cover zeroed. */
  async #fetch(index: number): Promise<Uint8Array> {
    const start = index * this.objectSize;
    const bytes = new Uint8Array(this.objectSize);
    // Past the opened size, only objects this handle PUT exist (a writable open deleted the rest).
    if (start >= this.#openedSize && index > this.#maxWritten) return bytes;
    const found = await this.#io.get(this.objectKey(index));
    if (found === undefined) return bytes;
    // A read-only handle cleans nothing up: what a dead writer left past the size reads as zeros.
    const limit = this.readOnly ? Math.min(this.objectSize, this.#openedSize - start) : this.objectSize;
    bytes.set(found.body.subarray(0, Math.min(limit, found.body.length)));
    return bytes;
  }

  /**
   * Makes room for one more entry: evicts clean, unused entries, least recently used first; for a
   * write, uploads dirty ones and waits, or waits for an entry in use to be released. On true the
   * caller holds a reserved slot. Returns false for a read when no room could be made at once (it
   * then bypasses the cache).
   */
  async #makeRoom(read: boolean): Promise<boolean> {
    while (this.#entries.size + this.#reserved >= this.#capacity) {
      let victim: Entry | undefined;
      const dirty: Entry[] = [];
      for (const entry of this.#entries.values()) {
        if (entry.pins > 0 || entry.loading) continue;
        if (entry.version === entry.uploaded && !entry.uploading) {
          victim = entry;
          break;
        }
        dirty.push(entry);
      }
      if (victim) {
        this.#entries.delete(victim.index);
        continue;
      }
      if (read) return false;
      if (dirty.length > 0) {
        // Write back the least recently used dirty objects and wait for the first one to land.
        await Promise.race(dirty.slice(0, 4).map((e) => this.#upload(e)));
      } else {
        // Every slot is being filled or used right now; one frees up within a request's time.
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
      }
    }
    this.#reserved++;
    return true;
  }

  /** Resolves once the bucket holds the entry's current version (one PUT in flight per object). */
  async #upload(entry: Entry): Promise<void> {
    for (;;) {
      if (entry.uploading) {
        await entry.uploading;
        continue;
      }
      if (entry.version === entry.uploaded) return;
      const version = entry.version;
      const start = entry.index * this.objectSize;
      const length = Math.min(this.objectSize, Math.max(0, this.#extent - start));
      const body = entry.data.slice(0, length);
      entry.uploading = (async () => {
        this.#lock?.assertHeld();
        await this.#io.put(this.objectKey(entry.index), body);
        if (entry.index > this.#maxWritten) this.#maxWritten = entry.index;
        entry.uploaded = version;
      })().finally(() => {
        entry.uploading = undefined;
      });
    }
  }

  /**
   * After a crash, objects a dead writer PUT past the manifest's size may be in the bucket: delete
   * those wholly past it and PUT the one straddling it again without its tail, so that growing the
   * store later cannot resurrect their bytes.
   */
  async #dropGarbage(): Promise<void> {
    const size = this.#openedSize;
    const straddling = Math.floor(size / this.objectSize);
    const lastKept = size % this.objectSize === 0 ? straddling - 1 : straddling;
    const after = lastKept >= 0 ? this.objectKey(lastKept) : keyOf(this.prefix, 'objects/');
    const stale = await this.#io.list(keyOf(this.prefix, 'objects/'), after);
    for (const key of stale) await this.#io.delete(key);
    if (size % this.objectSize !== 0) {
      const found = await this.#io.get(this.objectKey(straddling));
      const keep = size - straddling * this.objectSize;
      if (found !== undefined && found.body.length > keep && found.body.subarray(keep).some((b) => b !== 0)) {
        await this.#io.put(this.objectKey(straddling), found.body.slice(0, keep));
      }
    }
  }
}

/** `prefix` without leading or trailing slashes. */
function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined) return '';
  if (typeof prefix !== 'string') throw new TypeError('S3Storage.open: prefix must be a string');
  return prefix.replace(/^\/+|\/+$/g, '');
}

function keyOf(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}/${name}`;
}

function makeClient(options: S3StorageOptions, parallelism: number): S3Client {
  const timeout = options.requestTimeoutMs ?? 60_000;
  const config: S3ClientConfig = {
    maxAttempts: 1, // S3Io retries, with its own classification and counters
    requestHandler: {
      requestTimeout: timeout,
      throwOnRequestTimeout: true, // an idle request fails (and is retried) instead of hanging
      connectionTimeout: Math.min(timeout, 10_000),
      httpAgent: { keepAlive: true, maxSockets: parallelism * 2 },
      httpsAgent: { keepAlive: true, maxSockets: parallelism * 2 },
    },
    ...(options.endpoint !== undefined && { endpoint: options.endpoint }),
    ...(options.region !== undefined
      ? { region: options.region }
      : options.endpoint !== undefined && !process.env.AWS_REGION && !process.env.AWS_DEFAULT_REGION
        ? { region: 'us-east-1' }
        : {}),
    ...(options.credentials !== undefined && { credentials: options.credentials }),
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
  };
  return new S3Client(config);
}
