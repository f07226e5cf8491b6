// DiskCache: a bounded local directory of objects read from or written to a bucket, so that an
// object already fetched is read from local disk instead of the network (a restore run twice, the
// metadata objects every command reads, an object evicted from the memory cache and read again).
//
// It is a cache of *versions*, never an authority: each entry holds an object's bytes together with
// the ETag the bucket gave that version, and S3Storage returns an entry as current only when it
// knows the bucket holds that ETag — because this handle PUT or fetched that very version — and
// otherwise asks the bucket with a conditional GET (`If-None-Match: <ETag>`), which answers
// 304 Not Modified without the body when the entry is current. A stale entry is therefore never
// returned as current, whoever wrote the bucket since.
//
// Crash safety: an entry is written to a temporary file and renamed into place, so a reader sees a
// whole old entry or a whole new one; each entry carries a magic, a version, its key and a CRC-32 of
// everything, so a file torn or damaged by a crash (rename without fsync can leave a short or zeroed
// file on some file systems) or by anything else is detected, deleted and treated as a miss.
// Leftover temporary files are removed when the cache is opened.
//
// Entry file (`<first 32 hex digits of SHA-256(key)>.obj`), little-endian:
//
// | offset | size | field |
// | --- | --- | --- |
// | 0 | 4 | magic `0x43534a44` ("DJSC") |
// | 4 | 4 | format version (1) |
// | 8 | 4 | body length |
// | 12 | 2 | ETag length (UTF-8 bytes) |
// | 14 | 2 | key length (UTF-8 bytes) |
// | 16 | 4 | CRC-32 of bytes 0..15, the ETag, the key and the body |
// | 20 | ... | the ETag, the key, the body |
//
// Bounded: the sizes of the entries are kept in memory in least-recently-used order (at open, by
// modification time; a hit refreshes it), and the oldest are deleted while the total passes
// `maxBytes`. The bound holds per DiskCache instance: share one between the adapters of a store.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { StorageError } from '@deja/storage';

const MAGIC = 0x43534a44;
const VERSION = 1;
const HEADER = 20;
const SUFFIX = '.obj';

/** Options of {@link DiskCache.open}. */
export interface DiskCacheOptions {
  /** The directory (created if missing). */
  readonly path: string;
  /** The most bytes of entries it keeps. Default 1 GiB. */
  readonly maxBytes?: number;
}

/** What a lookup found: a version of the object and the ETag the bucket gave it. */
export interface DiskCacheEntry {
  readonly etag: string;
  readonly body: Uint8Array;
}

/**
 * A bounded directory of object versions, each with its ETag; see the file comment. Hand one to
 * {@link S3Storage.open} as `diskCache` (the same one to the data and index adapters of a store).
 * Nothing to close: it holds no open files.
 */
export class DiskCache {
  /** The directory. */
  readonly path: string;
  /** The bound on the entries' bytes. */
  readonly maxBytes: number;
  /** Entry file name -> its size, least recently used first. */
  readonly #files = new Map<string, number>();
  #bytes = 0;
  /** Lookups that found a valid entry, and entries written. */
  readonly stats = { hits: 0, misses: 0, writes: 0, evictions: 0, damaged: 0 };

  private constructor(path: string, maxBytes: number) {
    this.path = path;
    this.maxBytes = maxBytes;
  }

  /**
   * Opens (creating it if missing) a cache directory: removes leftover temporary files and takes
   * stock of the entries, evicting the oldest past `maxBytes`. O(entries).
   * @throws TypeError/RangeError for bad options; StorageError `ERR_IO` (or `ERR_PERMISSION`) when
   *   the directory cannot be created or read.
   */
  static async open(options: DiskCacheOptions): Promise<DiskCache> {
    const { path } = options ?? {};
    if (typeof path !== 'string' || path === '')
      throw new TypeError('DiskCache.open: path must be a directory path');
    const maxBytes = options.maxBytes ?? 2 ** 30;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new RangeError(`DiskCache.open: maxBytes must be a non-negative integer, got ${maxBytes}`);
    }
    const cache = new DiskCache(path, maxBytes);
    let names: string[];
    try {
      await mkdir(path, { recursive: true });
      names = await readdir(path);
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new StorageError(
        code === 'EACCES' || code === 'EPERM' ? 'ERR_PERMISSION' : 'ERR_IO',
        `cache directory ${path}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const found: { name: string; size: number; time: number }[] = [];
    for (const name of names) {
      const file = join(path, name);
      if (name.endsWith('.tmp')) {
        await unlink(file).catch(() => {});
        continue;
      }
      if (!name.endsWith(SUFFIX)) continue;
      const info = await stat(file).catch(() => undefined);
      if (info?.isFile()) found.push({ name, size: info.size, time: info.mtimeMs });
    }
    found.sort((a, b) => a.time - b.time);
    for (const { name, size } of found) {
      cache.#files.set(name, size);
      cache.#bytes += size;
    }
    await cache.#evict();
    return cache;
  }

  /** Bytes of entries held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The entry for `key`, or `undefined` (none, or damaged: then it is deleted). The caller decides
   * whether its ETag is current. O(entry size).
   */
  async get(key: string): Promise<DiskCacheEntry | undefined> {
    const name = fileName(key);
    if (!this.#files.has(name)) {
      this.stats.misses++;
      return undefined;
    }
    const file = join(this.path, name);
    const bytes = await readFile(file).catch(() => undefined);
    const entry = bytes && decode(bytes, key);
    if (entry === undefined) {
      if (bytes !== undefined) this.stats.damaged++;
      this.stats.misses++;
      await this.#drop(name);
      return undefined;
    }
    this.stats.hits++;
    this.#touch(name);
    const now = new Date();
    void utimes(file, now, now).catch(() => {});
    return entry;
  }

  /**
   * Stores a version of `key` (replacing any), then evicts the oldest entries past the bound.
   * Never rejects: a cache that cannot be written (a full disk) only misses later.
   */
  async put(key: string, etag: string, body: Uint8Array): Promise<void> {
    const name = fileName(key);
    const bytes = encode(key, etag, body);
    if (bytes.length > this.maxBytes) return;
    const file = join(this.path, name);
    const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, bytes);
      await rename(temporary, file);
    } catch {
      await unlink(temporary).catch(() => {});
      return;
    }
    this.stats.writes++;
    this.#bytes -= this.#files.get(name) ?? 0;
    this.#files.delete(name);
    this.#files.set(name, bytes.length);
    this.#bytes += bytes.length;
    await this.#evict();
  }

  /** Deletes the entry of `key`, if any. Never rejects. */
  async delete(key: string): Promise<void> {
    await this.#drop(fileName(key));
  }

  #touch(name: string): void {
    const size = this.#files.get(name);
    if (size === undefined) return;
    this.#files.delete(name);
    this.#files.set(name, size);
  }

  async #drop(name: string): Promise<void> {
    const size = this.#files.get(name);
    if (size !== undefined) {
      this.#files.delete(name);
      this.#bytes -= size;
    }
    await unlink(join(this.path, name)).catch(() => {});
  }

  async #evict(): Promise<void> {
    while (this.#bytes > this.maxBytes) {
      const oldest = this.#files.keys().next().value as string | undefined;
      if (oldest === undefined) break;
      this.stats.evictions++;
      await this.#drop(oldest);
    }
  }
}

function fileName(key: string): string {
  return `${createHash('sha256').update(key).digest('hex').slice(0, 32)}${SUFFIX}`;
}

const utf8 = new TextEncoder();
const text = new TextDecoder('utf-8', { fatal: true });

function encode(key: string, etag: string, body: Uint8Array): Uint8Array {
  const e = utf8.encode(etag);
  const k = utf8.encode(key);
  if (e.length > 0xffff || k.length > 0xffff) throw new RangeError('DiskCache: ETag or key too long');
  const out = new Uint8Array(HEADER + e.length + k.length + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, body.length, true);
  view.setUint16(12, e.length, true);
  view.setUint16(14, k.length, true);
  out.set(e, HEADER);
  out.set(k, HEADER + e.length);
  out.set(body, HEADER + e.length + k.length);
  view.setUint32(16, checksum(out), true);
  return out;
}

/** The entry in `bytes` if it is whole, undamaged and of `key`; otherwise `undefined`. */
function decode(bytes: Uint8Array, key: string): DiskCacheEntry | undefined {
  if (bytes.length < HEADER) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC || view.getUint32(4, true) !== VERSION) return undefined;
  const bodyLength = view.getUint32(8, true);
  const etagLength = view.getUint16(12, true);
  const keyLength = view.getUint16(14, true);
  if (bytes.length !== HEADER + etagLength + keyLength + bodyLength) return undefined;
  if (view.getUint32(16, true) !== checksum(bytes)) return undefined;
  try {
    const etag = text.decode(bytes.subarray(HEADER, HEADER + etagLength));
    const stored = text.decode(bytes.subarray(HEADER + etagLength, HEADER + etagLength + keyLength));
    if (stored !== key) return undefined; // a hash collision of file names: not this key's
    const at = HEADER + etagLength + keyLength;
    return { etag, body: new Uint8Array(bytes.buffer, bytes.byteOffset + at, bodyLength) };
  } catch {
    return undefined;
  }
}

/** CRC-32 of the header's first 16 bytes and everything after the header. */
function checksum(bytes: Uint8Array): number {
  return crc32(bytes.subarray(HEADER), crc32(bytes.subarray(0, 16))) >>> 0;
}
