// The local directory cache: DiskCache on its own (entries round-trip, damaged and torn files are
// misses and are deleted, the size bound evicts the least recently used, a reopen takes stock and
// removes leftover temporary files), and S3Storage through it against s3rver: objects already
// fetched or uploaded are read from disk (without a request when the handle knows the version, with
// a 304 conditional GET otherwise), and an entry made stale by another writer, a deletion or damage
// is never returned.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DiskCache, S3Storage, type S3StorageOptions } from '../src/index';
import { BUCKET, CREDENTIALS, freshPrefix, startServer, type TestServer } from './_server';

let server: TestServer;
let root: string;
beforeAll(async () => {
  [server, root] = await Promise.all([startServer(), mkdtemp(join(tmpdir(), 'deja-disk-cache-'))]);
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

let dirs = 0;
const freshDir = () => join(root, `c${dirs++}`);

const bytes = (length: number, seed: number): Uint8Array => {
  const out = new Uint8Array(length);
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < length; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = x;
  }
  return out;
};

const entryFiles = async (dir: string) => (await readdir(dir)).filter((n) => n.endsWith('.obj'));

describe('DiskCache', () => {
  test('entries round-trip; a damaged or torn file is a miss and is deleted', async () => {
    const dir = freshDir();
    const cache = await DiskCache.open({ path: dir });
    await cache.put('b/k1', '"e1"', bytes(1000, 1));
    await cache.put('b/k2', '"e2"', bytes(10, 2));
    expect(await cache.get('b/k1')).toEqual({ etag: '"e1"', body: bytes(1000, 1) });
    expect(await cache.get('b/none')).toBeUndefined();
    const [first, second] = await entryFiles(dir);
    // Flip one byte of the body of one entry, cut the other short.
    const file = join(dir, first!);
    const raw = await readFile(file);
    raw[raw.length - 1]! ^= 1;
    await writeFile(file, raw);
    await writeFile(join(dir, second!), (await readFile(join(dir, second!))).subarray(0, 25));
    expect(await cache.get('b/k1')).toBeUndefined();
    expect(await cache.get('b/k2')).toBeUndefined();
    expect(cache.stats.damaged).toBe(2);
    expect(await entryFiles(dir)).toEqual([]);
    expect(cache.bytes).toBe(0);
  });

  test('the bound evicts the least recently used; a reopen takes stock and removes temporary files', async () => {
    const dir = freshDir();
    const cache = await DiskCache.open({ path: dir, maxBytes: 3 * 1100 });
    for (let i = 0; i < 3; i++) await cache.put(`b/k${i}`, `"e${i}"`, bytes(1000, i));
    expect(await cache.get('b/k0')).toBeDefined(); // k0 is now the most recently used
    await cache.put('b/k3', '"e3"', bytes(1000, 3));
    expect(await cache.get('b/k1')).toBeUndefined(); // the least recently used went
    expect(await cache.get('b/k0')).toBeDefined();
    expect(await cache.get('b/k3')).toBeDefined();
    expect(cache.bytes).toBeLessThanOrEqual(3 * 1100);
    await writeFile(join(dir, 'x.obj.123.tmp'), 'left by a crash');
    const again = await DiskCache.open({ path: dir, maxBytes: 1100 });
    expect((await readdir(dir)).some((n) => n.endsWith('.tmp'))).toBe(false);
    expect(await entryFiles(dir)).toHaveLength(1);
    expect(again.bytes).toBeLessThanOrEqual(1100);
  });

  test('bad options', async () => {
    await expect(DiskCache.open({ path: '' })).rejects.toBeInstanceOf(TypeError);
    await expect(DiskCache.open({ path: freshDir(), maxBytes: -1 })).rejects.toBeInstanceOf(RangeError);
  });
});

describe('S3Storage with a disk cache', () => {
  const open = (prefix: string, more: Partial<S3StorageOptions> = {}): Promise<S3Storage> =>
    S3Storage.open({
      bucket: BUCKET,
      prefix,
      endpoint: server.endpoint,
      credentials: CREDENTIALS,
      objectSize: 4096,
      cacheBytes: 2 * 4096, // two objects in memory: reads of more come from disk or the bucket
      lock: { leaseMs: 3000 },
      ...more,
    });
  const data = bytes(16 * 4096, 5);

  test('objects uploaded or fetched before are read from disk: no request when the handle knows the version, a 304 otherwise', async () => {
    const prefix = freshPrefix('disk');
    const diskCache = await DiskCache.open({ path: freshDir() });
    const writer = await open(prefix, { create: true, diskCache });
    await writer.write(0, data);
    await writer.flush();
    // Evicted from memory, uploaded by this handle: read back from disk without a request.
    const gets = writer.stats.gets;
    expect(await writer.read(0, data.length)).toEqual(data);
    expect(writer.stats.gets).toBe(gets);
    expect(diskCache.stats.hits).toBeGreaterThanOrEqual(16);
    await writer.close();

    // Another handle (a new process, the same directory): one conditional GET per object, no body.
    const reader = await open(prefix, {
      readOnly: true,
      diskCache: await DiskCache.open({ path: diskCache.path }),
    });
    const downloaded = reader.stats.bytesDownloaded; // the manifest's
    expect(await reader.read(0, data.length)).toEqual(data);
    expect(reader.stats.bytesDownloaded).toBe(downloaded);
    // Read again: now known, from disk without a request.
    const before = reader.stats.gets;
    expect(await reader.read(0, data.length)).toEqual(data);
    expect(reader.stats.gets).toBe(before);
    await reader.close();
  });

  test('an entry made stale by another writer, a deletion or damage is never returned', async () => {
    const prefix = freshPrefix('disk');
    const path = freshDir();
    const first = await open(prefix, { create: true, diskCache: await DiskCache.open({ path }) });
    await first.write(0, data);
    await first.close();
    // Another writer, without the cache: rewrites object 1, deletes objects 2..3 (a whole discard).
    const other = await open(prefix);
    const patch = bytes(100, 6);
    await other.write(4096 + 50, patch);
    await other.discard(2 * 4096, 2 * 4096);
    await other.close();
    // Damage the cache's copy of object 4 (as a crash or a bad disk might).
    const files = await entryFiles(path);
    for (const name of files) {
      const raw = await readFile(join(path, name));
      if (raw.includes(Buffer.from('objects/000000000004')))
        await writeFile(join(path, name), raw.subarray(0, 40));
    }
    const want = data.slice();
    want.set(patch, 4096 + 50);
    want.fill(0, 2 * 4096, 4 * 4096);
    const diskCache = await DiskCache.open({ path });
    const again = await open(prefix, { diskCache });
    expect(await again.read(0, want.length)).toEqual(want);
    expect(diskCache.stats.damaged).toBe(1);
    // The stale entries were replaced or removed: a second handle reads the same, from disk.
    await again.close();
    const last = await open(prefix, { readOnly: true, diskCache: await DiskCache.open({ path }) });
    const downloaded = last.stats.bytesDownloaded;
    expect(await last.read(0, want.length)).toEqual(want);
    expect(last.stats.bytesDownloaded).toBe(downloaded);
    await last.close();
  });
});
