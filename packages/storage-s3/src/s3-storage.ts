// S3Storage: the Storage contract over an S3-compatible bucket. The store's byte space is cut into
// fixed-size objects (`PREFIX/objects/<index as 12 hex digits>`); a manifest (`PREFIX/manifest`)
// holds the object size and the size at the last flush; a lease object (`PREFIX/lock`) keeps a
// second writer out (bucket-lock.ts).
//
// Objects live in a bounded write-back cache (an LRU of objects). A write patches the cached
// object and marks it dirty without waiting for a GET: an object not cached is entered with only
// the written ranges known, and fetched (the ranges laid over it) when a read needs other bytes or
// when it is uploaded — so the GETs of read-modify-writes run in parallel with the uploads, not one
// by one in the writer's path. Write-behind uploads the dirty objects the writes have moved on from
// (all but the few most recently used), `parallelism` at a time, in the background; the rest waits
// for `flush()`, `close()`, or the cache needing room. A flush PUTs every dirty object,
// `parallelism` at a time, then the manifest if the size grew, and resolves once the bucket has
// acknowledged all of them: a PUT is atomic and read-after-write consistent on S3, so acknowledged
// means durable. At most one PUT per object is in flight, so a newer version never lands before an
// older one. A discard that covers whole objects deletes them instead of uploading zeros (a missing
// object reads as zeros).
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
import type { DiskCache } from './disk-cache';

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
  /**
   * A local directory cache ({@link DiskCache}) of the objects this handle fetches and uploads:
   * a later read of one comes from local disk — without a request when this handle knows the
   * bucket holds that version, otherwise after a conditional GET answered 304. Share one between
   * the adapters of a store. Not closed by `close()`.
   */
  readonly diskCache?: DiskCache;
}

/** One cached object. */
interface Entry {
  readonly index: number;
  /** The object's bytes: all of them once loaded; before that, only the `written` ranges. */
  data: Uint8Array;
  /**
   * `undefined` once the entry holds the whole object. Before: the sorted, disjoint byte ranges
   * written since it was cached without fetching it — a write never waits for a GET; the object is
   * fetched and the ranges laid over it only when a read needs other bytes, or to upload it.
   */
  written: [number, number][] | undefined;
  /** The fetch in flight, if any. */
  loading: Promise<void> | undefined;
  /** Bumped by every write; the object is dirty while it differs from `uploaded`. */
  version: number;
  uploaded: number;
  /** The PUT in flight, if any (one per object at a time). */
  uploading: Promise<void> | undefined;
  /** Operations using the entry right now: it is not evicted meanwhile. */
  pins: number;
  /** Discarded whole since: the bucket should not hold the object (it reads as zeros), so its upload is a DELETE. */
  absent: boolean;
}

const HEX_DIGITS = 12;

/**
 * A store in an S3-compatible bucket (AWS S3, Ceph RGW, MinIO, ...). See the file comment for the
 * design, and the README for the object layout, the crash model and the lock.
 *
 * Costs: a read or write of cached objects is a copy, O(length); a read miss costs one GET of a
 * whole object, a write miss none (the GET, if the object may exist and the writes did not cover
 * it, comes before its upload); a flush costs one PUT per dirty object (`parallelism` at a time,
 * fewer when write-behind sent them already) plus one for the manifest if the size grew; a discard
 * of whole objects costs one DELETE each instead of a PUT.
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
  /** Requests at once (uploads of a flush, write-behind). */
  readonly #parallelism: number;
  /** Write-behind uploads in flight. */
  #behind = 0;
  /** A write-behind upload failed: none start again until a flush succeeds (which reports it). */
  #behindFailed = false;
  /** The most recently used entries write-behind leaves alone: they are likely still being written. */
  readonly #recent: number;
  readonly #disk: DiskCache | undefined;
  /**
   * With a disk cache: the ETag of the version of each object the bucket holds as far as this
   * handle knows (it PUT or fetched that version; `null`: the object does not exist). A disk entry
   * of that ETag is current and read without a request; any other is checked with the bucket.
   */
  readonly #known = new Map<number, string | null>();

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
    this.#parallelism = options.parallelism ?? 8;
    this.#recent = Math.max(1, Math.min(8, Math.floor(this.#capacity / 4)));
    this.#disk = options.diskCache;
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

  /** The objects bytes `offset .. end - 1` touch: each one's index, first byte, and the range's part of it. */
  *#spans(
    offset: number,
    end: number,
  ): Generator<{ index: number; start: number; from: number; to: number }> {
    const last = Math.floor((end - 1) / this.objectSize);
    for (let index = Math.floor(offset / this.objectSize); index <= last; index++) {
      const start = index * this.objectSize;
      yield { index, start, from: Math.max(offset, start), to: Math.min(end, start + this.objectSize) };
    }
  }

  protected async _read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const end = offset + length;
    const parts: Promise<void>[] = [];
    for (const { index, start, from, to } of this.#spans(offset, end)) {
      parts.push(
        this.#withObject(index, 'read', from - start, to - start, (data) => {
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
    const parts: Promise<void>[] = [];
    for (const { index, start, from, to } of this.#spans(offset, end)) {
      const whole = from === start && to === start + this.objectSize;
      parts.push(
        this.#withObject(index, whole ? 'whole' : 'write', from - start, to - start, (bytes, entry) => {
          bytes.set(data.subarray(from - offset, to - offset), from - start);
          entry.version++;
          entry.absent = false;
        }),
      );
    }
    await Promise.all(parts);
    this.#writeBehind();
  }

  /**
   * Zeros the range. An object the range covers whole — up to the store's end for the last one —
   * is not uploaded as zeros but deleted from the bucket at the next upload of it (a missing object
   * reads as zeros: that is the layout's rule, so nothing else needs to record it); a DELETE is
   * atomic like a PUT, so the crash model is unchanged. Partly covered objects get zeros written.
   */
  protected override async _discard(offset: number, length: number): Promise<void> {
    const end = offset + length;
    const parts: Promise<void>[] = [];
    for (const { index, start, from, to } of this.#spans(offset, end)) {
      const whole = from === start && (to === start + this.objectSize || to >= this.#extent);
      parts.push(
        this.#withObject(index, whole ? 'whole' : 'write', from - start, to - start, (bytes, entry) => {
          bytes.fill(0, from - start, whole ? bytes.length : to - start);
          entry.version++;
          entry.absent = whole;
        }),
      );
    }
    await Promise.all(parts);
    this.#writeBehind();
  }

  /**
   * Write-behind: uploads dirty objects the writes have moved on from (all but the `#recent` most
   * recently used), up to `parallelism` at a time, in the background, so that a long sequential
   * write (an import) keeps the link busy instead of piling its objects up for the next flush or
   * for eviction. Unflushed writes reaching the bucket early is within the contract (any subset of
   * them may survive a crash, those sharing an object together); a failure here is reported by the
   * next flush, which uploads the object again.
   */
  #writeBehind(): void {
    if (this.#behindFailed || this.#behind >= this.#parallelism) return;
    const end = this.#entries.size - this.#recent;
    let position = 0;
    for (const entry of this.#entries.values()) {
      if (position++ >= end) break;
      if (entry.uploading || entry.loading || entry.version === entry.uploaded) continue;
      // Never a GET in the background: an object written only in part waits for the flush (or for
      // eviction), by when more of it may be written, unless it cannot exist in the bucket yet.
      if (entry.written !== undefined && !entry.absent && this.#mayExist(entry.index)) continue;
      this.#behind++;
      this.#upload(entry).then(
        () => {
          this.#behind--;
          this.#notify();
          this.#writeBehind();
        },
        () => {
          this.#behind--;
          this.#behindFailed = true;
          this.#notify();
        },
      );
      if (this.#behind >= this.#parallelism) return;
    }
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
    this.#behindFailed = false;
    if (covered > this.#persisted) {
      this.#lock?.assertHeld();
      const key = keyOf(this.prefix, 'manifest');
      await this.#io.put(key, encodeManifest({ objectSize: this.objectSize, size: covered }));
      this.#persisted = covered;
    }
  }

  /**
   * Runs `use` on object `index`'s bytes `[from, to)`, with the entry pinned (not evicted) while it
   * runs (synchronously). `'read'`: the bytes must be valid, so an object not cached, or cached with
   * only other ranges written, is fetched first. `'write'`: the caller writes `[from, to)`, no fetch.
   * `'whole'`: the caller sets every byte of the object, which is then wholly known.
   */
  async #withObject(
    index: number,
    need: 'read' | 'write' | 'whole',
    from: number,
    to: number,
    use: (bytes: Uint8Array, entry: Entry) => void,
  ): Promise<void> {
    let entry = this.#entries.get(index);
    if (entry === undefined) {
      await this.#makeRoom();
      this.#reserved--;
      this.#notify();
      entry = this.#entries.get(index);
      if (entry === undefined) {
        entry = {
          index,
          data: new Uint8Array(this.objectSize),
          written: [],
          loading: undefined,
          version: 0,
          uploaded: 0,
          uploading: undefined,
          pins: 0,
          absent: false,
        };
        this.#entries.set(index, entry);
      }
    }
    entry.pins++;
    try {
      if (need === 'read' && entry.written !== undefined && !covers(entry.written, from, to)) {
        await this.#load(entry);
      }
      // LRU: most recently used last.
      this.#entries.delete(index);
      this.#entries.set(index, entry);
      use(entry.data, entry);
      if (need === 'whole') entry.written = undefined;
      else if (need === 'write' && entry.written !== undefined) {
        addRange(entry.written, from, to);
        if (covers(entry.written, 0, this.objectSize)) entry.written = undefined; // written whole, piece by piece
      }
    } finally {
      entry.pins--;
      this.#notify();
    }
  }

  /**
   * Makes the entry hold the whole object: fetches it and lays the ranges written meanwhile over
   * it. One fetch per entry at a time. A failed fetch of an entry nobody wrote drops it.
   */
  #load(entry: Entry): Promise<void> {
    if (entry.written === undefined) return Promise.resolve();
    entry.loading ??= this.#fetch(entry.index).then(
      (bytes) => {
        entry.loading = undefined;
        const written = entry.written;
        if (written === undefined) return; // wholly overwritten while fetching
        for (const [a, b] of written) bytes.set(entry.data.subarray(a, b), a);
        entry.data = bytes;
        entry.written = undefined;
      },
      (error: unknown) => {
        entry.loading = undefined;
        if (entry.version === entry.uploaded && entry.pins === 0) this.#entries.delete(entry.index);
        this.#notify();
        throw error;
      },
    );
    return entry.loading;
  }

  #notify(): void {
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Whether object `index` may be in the bucket (past the opened size, only objects this handle PUT are). */
  #mayExist(index: number): boolean {
    return index * this.objectSize < this.#openedSize || index <= this.#maxWritten;
  }

  /** The bytes of object `index` as the bucket holds them, with bytes the size does not cover zeroed. */
  async #fetch(index: number): Promise<Uint8Array> {
    const start = index * this.objectSize;
    const bytes = new Uint8Array(this.objectSize);
    // Past the opened size, only objects this handle PUT exist (a writable open deleted the rest).
    if (!this.#mayExist(index)) return bytes;
    const body = this.#disk
      ? await this.#fetchCached(index)
      : (await this.#io.get(this.objectKey(index)))?.body;
    if (body === undefined) return bytes;
    // A read-only handle cleans nothing up: what a dead writer left past the size reads as zeros.
    const limit = this.readOnly ? Math.min(this.objectSize, this.#openedSize - start) : this.objectSize;
    bytes.set(body.subarray(0, Math.min(limit, body.length)));
    return bytes;
  }

  /**
   * The object's bytes through the disk cache: its entry when this handle knows the bucket holds
   * that version; else a conditional GET (304: the entry is current; 200: the new version, cached).
   * `undefined` when the object does not exist.
   */
  async #fetchCached(index: number): Promise<Uint8Array | undefined> {
    const disk = this.#disk!;
    const key = this.objectKey(index);
    const id = this.#cacheId(key);
    const known = this.#known.get(index);
    if (known === null) return undefined;
    const local = await disk.get(id);
    if (local !== undefined && known === local.etag) return local.body;
    const found = local === undefined ? await this.#io.get(key) : await this.#io.get(key, local.etag);
    if (found === undefined) {
      this.#known.set(index, null);
      if (local !== undefined) await disk.delete(id);
      return undefined;
    }
    if ('notModified' in found) {
      this.#known.set(index, local!.etag);
      return local!.body;
    }
    if (found.etag === undefined) {
      this.#known.delete(index);
      return found.body;
    }
    this.#known.set(index, found.etag);
    void disk.put(id, found.etag, found.body);
    return found.body;
  }

  /** The disk cache's name of a key: the bucket's name and the key. */
  #cacheId(key: string): string {
    return `${this.bucket}/${key}`;
  }

  /** After an upload: the version the bucket now holds, remembered and (if cached) written to disk. */
  #uploaded(index: number, etag: string | undefined | null, body: Uint8Array | undefined): void {
    if (this.#disk === undefined) return;
    const id = this.#cacheId(this.objectKey(index));
    if (etag === null || body === undefined) {
      this.#known.set(index, null);
      void this.#disk.delete(id);
    } else if (etag === undefined) {
      this.#known.delete(index);
    } else {
      this.#known.set(index, etag);
      void this.#disk.put(id, etag, body);
    }
  }

  /**
   * Makes room for one more entry: evicts clean, unused entries, least recently used first; else
   * uploads dirty ones and waits, or waits for an entry in use to be released. The caller then
   * holds a reserved slot.
   */
  async #makeRoom(): Promise<void> {
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
      // A read waits like a write: a cache full of dirty objects is written back for it, and one
      // full of objects being fetched frees up within a round trip. (Going around the cache sent
      // one GET of the whole object per read: a restore's many small concurrent reads fetched each
      // object dozens of times, and an import's reads beside its dirty objects did the same.)
      if (dirty.length > 0) {
        // Write back the least recently used dirty objects and wait for the first one to land.
        await Promise.race(dirty.slice(0, this.#parallelism).map((e) => this.#upload(e)));
      } else {
        // Every slot is being filled or used right now; one frees up within a request's time.
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
      }
    }
    this.#reserved++;
  }

  /** Resolves once the bucket holds the entry's current version (one PUT in flight per object). */
  async #upload(entry: Entry): Promise<void> {
    for (;;) {
      if (entry.uploading) {
        await entry.uploading;
        continue;
      }
      if (entry.version === entry.uploaded) return;
      // Written without being fetched: the rest of the object comes from the bucket first.
      if (entry.written !== undefined && !entry.absent) {
        await this.#load(entry);
        continue;
      }
      const version = entry.version;
      const start = entry.index * this.objectSize;
      const length = Math.min(this.objectSize, Math.max(0, this.#extent - start));
      const absent = entry.absent;
      const body = absent ? undefined : entry.data.slice(0, length);
      entry.uploading = (async () => {
        this.#lock?.assertHeld();
        if (body !== undefined) {
          const { etag } = await this.#io.put(this.objectKey(entry.index), body);
          if (entry.index > this.#maxWritten) this.#maxWritten = entry.index;
          this.#uploaded(entry.index, etag, body);
        } else {
          // Past the opened size, an object this handle never PUT does not exist: nothing to delete.
          if (start < this.#openedSize || entry.index <= this.#maxWritten) {
            await this.#io.delete(this.objectKey(entry.index));
          }
          this.#uploaded(entry.index, null, undefined);
        }
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

/** Whether the sorted, disjoint `ranges` cover `[from, to)`. O(ranges). */
function covers(ranges: readonly [number, number][], from: number, to: number): boolean {
  for (const [a, b] of ranges) if (a <= from && to <= b) return true;
  return false;
}

/** Adds `[from, to)` to the sorted, disjoint `ranges`, merging what it touches. O(ranges). */
function addRange(ranges: [number, number][], from: number, to: number): void {
  let i = 0;
  while (i < ranges.length && ranges[i]![1] < from) i++;
  let j = i;
  while (j < ranges.length && ranges[j]![0] <= to) {
    from = Math.min(from, ranges[j]![0]);
    to = Math.max(to, ranges[j]![1]);
    j++;
  }
  ranges.splice(i, j - i, [from, to]);
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
