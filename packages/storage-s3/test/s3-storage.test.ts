// S3Storage beyond the conformance suite, against s3rver on 127.0.0.1 and a fault-injecting proxy
// in front of it: the object layout in the bucket, never-written objects, the write-back cache and
// its bound, flush with bounded parallelism, what a crashed writer leaves past the size, errors
// (no bucket, no store, access denied, a damaged manifest) and retries of transient failures
// (503 SlowDown, connection resets, dropped requests and answers, delays).
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { S3Io } from '../src/_internal-s3';
import { parseS3Url, S3Storage, type S3StorageOptions } from '../src/index';
import {
  BUCKET,
  CREDENTIALS,
  type FaultProxy,
  freshPrefix,
  startProxy,
  startServer,
  type TestServer,
} from './_server';

let server: TestServer;
let proxy: FaultProxy;
beforeAll(async () => {
  server = await startServer();
  proxy = await startProxy(server.endpoint);
});
afterAll(async () => {
  await proxy.close();
  await server.close();
});

const open = (prefix: string, more: Partial<S3StorageOptions> = {}): Promise<S3Storage> =>
  S3Storage.open({
    bucket: BUCKET,
    prefix,
    endpoint: server.endpoint,
    credentials: CREDENTIALS,
    lock: { leaseMs: 3000 },
    ...more,
  });

/** A raw view of the bucket, to look at what S3Storage left there. */
const raw = (): S3Io =>
  new S3Io(
    new S3Client({
      endpoint: server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: CREDENTIALS,
      maxAttempts: 1,
    }),
    BUCKET,
    4,
  );

const bytes = (length: number, seed: number): Uint8Array => {
  const out = new Uint8Array(length);
  let x = seed * 2654435761;
  for (let i = 0; i < length; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = x;
  }
  return out;
};

describe('layout and cache', () => {
  test('objects, manifest and lock keys; never-written objects are not stored and read as zeros', async () => {
    const prefix = freshPrefix();
    const store = await open(`${prefix}/`, { create: true, objectSize: 4096 });
    expect(store.prefix).toBe(prefix);
    expect(store.objectSize).toBe(4096);
    await store.write(4096 * 5 + 10, bytes(100, 1));
    await store.write(0, bytes(4096, 2));
    await store.flush();
    const keys = await raw().list(`${prefix}/`, '');
    expect(keys.sort()).toEqual([
      `${prefix}/lock`,
      `${prefix}/manifest`,
      `${prefix}/objects/000000000000`,
      `${prefix}/objects/000000000005`,
    ]);
    // The last object is cut at the store's size; objects 1..4 do not exist and read as zeros.
    const last = await raw().get(`${prefix}/objects/000000000005`);
    expect(last?.body.length).toBe(110);
    expect(await store.read(4096, 4096 * 4)).toEqual(new Uint8Array(4096 * 4));
    await store.close();
    expect((await raw().list(`${prefix}/`, '')).includes(`${prefix}/lock`)).toBe(false);
    const again = await open(prefix, { objectSize: 8192 }); // an existing store keeps its object size
    expect(again.objectSize).toBe(4096);
    expect(await again.size()).toBe(4096 * 5 + 110);
    expect(await again.read(4096 * 5 + 10, 100)).toEqual(bytes(100, 1));
    await again.close();
  });

  test('small writes are absorbed by the cache: nothing is sent until flush', async () => {
    const store = await open(freshPrefix(), { create: true, objectSize: 65536 });
    const before = store.stats.puts;
    for (let i = 0; i < 64; i++) await store.write(i * 512, bytes(512, i));
    expect(store.stats.puts).toBe(before);
    await store.flush();
    expect(store.stats.puts - before).toBe(2); // one object and the manifest
    await store.flush();
    expect(store.stats.puts - before).toBe(2); // nothing dirty: nothing sent
    await store.close();
  });

  test('write-behind: objects a sequential write moved on from are uploaded before any flush', async () => {
    // 64 objects of cache: the 8 most recently used are left alone, the rest go out in the background.
    const store = await open(freshPrefix(), { create: true, objectSize: 1024, cacheBytes: 64 * 1024 });
    const data = bytes(32 * 1024, 7);
    const opened = store.stats.puts; // the lock's
    const behind = () => store.stats.puts - opened;
    for (let i = 0; i < 32; i++) await store.write(i * 1024, data.subarray(i * 1024, (i + 1) * 1024));
    for (let wait = 0; behind() < 24 && wait < 200; wait++) await new Promise((r) => setTimeout(r, 25));
    expect(behind()).toBe(24);
    const before = store.stats.puts;
    await store.flush();
    expect(store.stats.puts - before).toBeLessThanOrEqual(9); // the recent 8 and the manifest
    expect(await store.read(0, data.length)).toEqual(data);
    await store.close();
  });

  test('write-behind sends no GET: objects in the bucket written only in part wait for the flush', async () => {
    const prefix = freshPrefix();
    const first = await open(prefix, { create: true, objectSize: 1024, cacheBytes: 64 * 1024 });
    await first.write(0, bytes(32 * 1024, 13));
    await first.close();
    const store = await open(prefix, { objectSize: 1024, cacheBytes: 64 * 1024 });
    const { gets, puts } = store.stats;
    for (let i = 0; i < 32; i++) await store.write(i * 1024 + 7, bytes(2, i));
    await new Promise((r) => setTimeout(r, 300));
    expect(store.stats.gets - gets).toBe(0);
    expect(store.stats.puts - puts).toBe(0);
    await store.flush(); // each object fetched once and uploaded once
    expect(store.stats.gets - gets).toBe(32);
    expect(store.stats.puts - puts).toBe(32);
    await store.close();
  });

  test('a partial write never waits for a GET: the object is fetched when a read needs other bytes, or to upload it', async () => {
    const prefix = freshPrefix();
    const first = await open(prefix, { create: true, objectSize: 4096 });
    const data = bytes(4 * 4096, 10);
    await first.write(0, data);
    await first.close();
    const store = await open(prefix);
    const gets = store.stats.gets;
    await store.write(100, bytes(10, 11));
    await store.write(4096 + 5, bytes(20, 12));
    expect(store.stats.gets).toBe(gets);
    expect(await store.read(100, 10)).toEqual(bytes(10, 11)); // only written bytes: no GET
    expect(store.stats.gets).toBe(gets);
    const want = data.slice();
    want.set(bytes(10, 11), 100);
    want.set(bytes(20, 12), 4096 + 5);
    expect(await store.read(0, 4096)).toEqual(want.subarray(0, 4096)); // the rest: fetched, merged
    expect(store.stats.gets).toBe(gets + 1);
    await store.flush(); // object 1 is fetched to be uploaded whole
    expect(store.stats.gets).toBe(gets + 2);
    expect(await store.read(0, want.length)).toEqual(want);
    await store.close();
    const again = await open(prefix, { readOnly: true });
    expect(await again.read(0, want.length)).toEqual(want);
    await again.close();
  });

  test('discard: whole objects are deleted from the bucket, not uploaded as zeros; parts get zeros', async () => {
    const prefix = freshPrefix();
    const store = await open(prefix, { create: true, objectSize: 4096 });
    const data = bytes(4 * 4096 + 100, 8);
    await store.write(0, data);
    await store.flush();
    const object = (i: number) => `${prefix}/objects/${i.toString(16).padStart(12, '0')}`;
    expect((await raw().list(`${prefix}/objects/`, '')).sort()).toEqual([0, 1, 2, 3, 4].map(object));
    const puts = store.stats.puts;
    const deletes = store.stats.deletes;
    await store.discard(4096, 2 * 4096); // objects 1 and 2, whole
    await store.discard(4 * 4096, 100); // object 4: whole up to the store's end
    await store.discard(100, 200); // part of object 0
    await store.flush();
    expect(store.stats.deletes - deletes).toBe(3);
    expect(store.stats.puts - puts).toBe(1); // object 0 only
    expect((await raw().list(`${prefix}/objects/`, '')).sort()).toEqual([0, 3].map(object));
    const want = data.slice();
    want.fill(0, 4096, 3 * 4096);
    want.fill(0, 4 * 4096);
    want.fill(0, 100, 300);
    expect(await store.read(0, want.length)).toEqual(want);
    // Written again after the discard: uploaded as usual.
    await store.write(4096 + 10, bytes(10, 9));
    want.set(bytes(10, 9), 4096 + 10);
    await store.close();
    const again = await open(prefix);
    expect(await again.size()).toBe(want.length);
    expect(await again.read(0, want.length)).toEqual(want);
    await again.close();
  });

  test('the cache stays bounded: a large write goes out as write-back, then reads back', async () => {
    const store = await open(freshPrefix(), { create: true, objectSize: 1024, cacheBytes: 4096 });
    const data = bytes(64 * 1024, 3);
    await store.write(0, data);
    expect(store.stats.puts).toBeGreaterThanOrEqual(60); // written back to stay within 4 objects
    expect(await store.read(0, data.length)).toEqual(data);
    await store.close();
  });

  test('flush uploads every dirty object with bounded parallelism', async () => {
    const prefix = freshPrefix();
    const store = await S3Storage.open({
      bucket: BUCKET,
      prefix,
      endpoint: proxy.endpoint,
      credentials: CREDENTIALS,
      create: true,
      objectSize: 1024,
      parallelism: 3,
      lock: false,
    });
    await store.write(0, bytes(40 * 1024, 4));
    proxy.counts.maxInFlight = 0;
    proxy.fault = () => ({ delayMs: 20 });
    try {
      await store.flush();
    } finally {
      proxy.fault = () => 'pass';
    }
    expect(proxy.counts.maxInFlight).toBe(3);
    await store.close();
    const keys = await raw().list(`${prefix}/objects/`, '');
    expect(keys.length).toBe(40);
  });
});

describe('crash leftovers', () => {
  test('objects a dead writer PUT past the size read as zeros, and a writable open removes them', async () => {
    const prefix = freshPrefix();
    const store = await open(prefix, { create: true, objectSize: 1024 });
    await store.write(0, bytes(1500, 5));
    await store.close(); // size 1500: object 0 whole, object 1 holds 476 bytes
    // What a writer that died before its flush could leave: a longer object 1, objects 2 and 9.
    const io = raw();
    const longer = bytes(1024, 6);
    longer.set(bytes(1500, 5).subarray(1024));
    await io.put(`${prefix}/objects/000000000001`, longer);
    await io.put(`${prefix}/objects/000000000002`, bytes(1024, 7));
    await io.put(`${prefix}/objects/000000000009`, bytes(1024, 8));
    const reader = await open(prefix, { readOnly: true });
    expect(await reader.read(0, 1500)).toEqual(bytes(1500, 5));
    await reader.close();
    const writer = await open(prefix);
    expect((await io.list(`${prefix}/objects/`, '')).map((k) => k.slice(-2))).toEqual(['00', '01']);
    expect((await io.get(`${prefix}/objects/000000000001`))?.body).toEqual(bytes(1500, 5).subarray(1024));
    await writer.write(4000, new Uint8Array([1])); // grows the store over the leftovers
    expect(await writer.read(1500, 2500)).toEqual(new Uint8Array(2500));
    await writer.close();
    const last = await open(prefix, { readOnly: true });
    expect(await last.read(1500, 2500)).toEqual(new Uint8Array(2500));
    await last.close();
  });
});

describe('errors', () => {
  test('no bucket: ERR_NOT_FOUND naming the bucket', async () => {
    const error = await S3Storage.open({
      bucket: 'no-such-bucket',
      endpoint: server.endpoint,
      credentials: CREDENTIALS,
      create: true,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_NOT_FOUND' });
    expect((error as Error).message).toContain('no-such-bucket');
  });

  test('no store under the prefix: ERR_NOT_FOUND unless create; read-only never creates', async () => {
    const prefix = freshPrefix();
    await expect(open(prefix)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(open(prefix, { readOnly: true, create: true })).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
    });
    expect(await raw().list(`${prefix}/`, '')).toEqual([]);
  });

  test('access denied: ERR_PERMISSION with bucket and key, not retried', async () => {
    const prefix = freshPrefix();
    proxy.fault = () => ({ status: 403, code: 'AccessDenied' });
    try {
      const error = await S3Storage.open({
        bucket: BUCKET,
        prefix,
        endpoint: proxy.endpoint,
        credentials: CREDENTIALS,
        create: true,
      }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ERR_PERMISSION' });
      expect((error as Error).message).toContain(`s3://${BUCKET}/${prefix}/manifest`);
    } finally {
      proxy.fault = () => 'pass';
    }
  });

  test('a damaged manifest: ERR_IO naming it', async () => {
    const prefix = freshPrefix();
    await (await open(prefix, { create: true })).close();
    const io = raw();
    const manifest = (await io.get(`${prefix}/manifest`))!.body;
    manifest[17] = manifest[17]! ^ 1;
    await io.put(`${prefix}/manifest`, manifest);
    const error = await open(prefix).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_IO' });
    expect((error as Error).message).toMatch(/manifest.*CRC-32/);
    await io.put(`${prefix}/manifest`, new Uint8Array(5));
    await expect(open(prefix)).rejects.toMatchObject({ code: 'ERR_IO' });
  });

  test('bad options are TypeErrors and RangeErrors', async () => {
    await expect(S3Storage.open({ bucket: '' })).rejects.toBeInstanceOf(TypeError);
    await expect(open(freshPrefix(), { objectSize: 3000 })).rejects.toBeInstanceOf(RangeError);
    await expect(open(freshPrefix(), { parallelism: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(open(freshPrefix(), { create: true, lock: { leaseMs: 5 } })).rejects.toBeInstanceOf(
      RangeError,
    );
  });

  test('parseS3Url', () => {
    expect(parseS3Url('s3://bucket/a/b/')).toEqual({ bucket: 'bucket', prefix: 'a/b' });
    expect(parseS3Url('s3://bucket')).toEqual({ bucket: 'bucket', prefix: '' });
    expect(parseS3Url('/var/lib/deja')).toBeUndefined();
    expect(() => parseS3Url('s3://Bad_Bucket/x')).toThrow(TypeError);
  });
});

describe('transient failures are retried', () => {
  const through = (prefix: string, more: Partial<S3StorageOptions> = {}) =>
    S3Storage.open({
      bucket: BUCKET,
      prefix,
      endpoint: proxy.endpoint,
      credentials: CREDENTIALS,
      create: true,
      objectSize: 4096,
      lock: false,
      requestTimeoutMs: 300,
      retry: { baseDelayMs: 5, maxDelayMs: 50 },
      ...more,
    });

  test('503 SlowDown, resets, dropped requests and dropped answers: the data arrives intact', async () => {
    const prefix = freshPrefix();
    const store = await through(prefix);
    const data = bytes(16 * 4096, 9);
    await store.write(0, data);
    const faults = [
      'reset',
      'drop',
      'drop-response',
      { status: 503, code: 'SlowDown' },
      { status: 500, code: 'InternalError' },
    ] as const;
    let k = 0;
    proxy.fault = (request) => (request.method === 'PUT' && k < 40 ? faults[k++ % faults.length]! : 'pass');
    try {
      await store.flush();
    } finally {
      proxy.fault = () => 'pass';
    }
    expect(k).toBeGreaterThan(5);
    expect(store.stats.retries).toBeGreaterThanOrEqual(k - 1);
    await store.close();
    const again = await open(prefix);
    expect(await again.read(0, data.length)).toEqual(data);
    await again.close();
  });

  test('GETs too: a read through failing and slow requests returns the right bytes', async () => {
    const prefix = freshPrefix();
    const first = await through(prefix);
    const data = bytes(8 * 4096, 10);
    await first.write(0, data);
    await first.close();
    const store = await through(prefix, { cacheBytes: 0 });
    let n = 0;
    proxy.fault = (request) => {
      if (request.method !== 'GET') return 'pass';
      n++;
      return n % 3 === 1 ? 'reset' : n % 3 === 2 ? { delayMs: 30 } : 'drop';
    };
    try {
      expect(await store.read(0, data.length)).toEqual(data);
    } finally {
      proxy.fault = () => 'pass';
    }
    expect(store.stats.retries).toBeGreaterThan(0);
    await store.close();
  });

  test('a failure that outlasts the retries: ERR_IO naming the key; the handle then refuses writes', async () => {
    const prefix = freshPrefix();
    const store = await through(prefix, { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    await store.write(0, bytes(100, 11));
    proxy.fault = (request) =>
      request.method === 'PUT' ? { status: 503, code: 'ServiceUnavailable' } : 'pass';
    try {
      const error = await store.flush().catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ERR_IO' });
      expect((error as Error).message).toContain(`s3://${BUCKET}/${prefix}/objects/000000000000`);
      expect((error as Error).message).toContain('after 3 attempts');
      await expect(store.write(0, new Uint8Array(1))).rejects.toMatchObject({ code: 'ERR_IO' });
    } finally {
      proxy.fault = () => 'pass';
    }
    await store.close(); // the bucket is back: close hands the data over
    const again = await open(prefix);
    expect(await again.read(0, 100)).toEqual(bytes(100, 11));
    await again.close();
  });
});
