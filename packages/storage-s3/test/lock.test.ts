// The one-writer lock in the bucket: a second writer (and a reader) refused while a writer holds
// it, renewal keeping a live writer's lease, takeover of a dead writer's lease after its grace,
// forced takeover, a writer that lost its lease refusing to upload, and the conditional mode (a
// proxy in front of s3rver enforces If-None-Match / If-Match as AWS S3 does). Another process
// holding the lock is in crash.test.ts.
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { S3Io } from '../src/_internal-s3';
import { S3Storage, type S3StorageOptions } from '../src/index';
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
let conditional: FaultProxy;
beforeAll(async () => {
  server = await startServer();
  conditional = await startProxy(server.endpoint, { conditional: true });
});
afterAll(async () => {
  await conditional.close();
  await server.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const open = (prefix: string, more: Partial<S3StorageOptions> = {}): Promise<S3Storage> =>
  S3Storage.open({ bucket: BUCKET, prefix, endpoint: server.endpoint, credentials: CREDENTIALS, ...more });

const rawPut = (key: string, body: string) =>
  new S3Io(
    new S3Client({
      endpoint: server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: CREDENTIALS,
    }),
    BUCKET,
    1,
  ).put(key, new TextEncoder().encode(body));

for (const mode of ['lease', 'conditional'] as const) {
  describe(`mode '${mode}'`, () => {
    const endpoint = () => (mode === 'lease' ? server.endpoint : conditional.endpoint);
    const openHere = (prefix: string, more: Partial<S3StorageOptions> = {}) =>
      open(prefix, { endpoint: endpoint(), ...more });

    test('a second writer and a reader are refused with ERR_LOCKED while the lease lives', async () => {
      const prefix = freshPrefix();
      // Leases long enough that a loaded machine's stalls do not make it lapse between renewals.
      const writer = await openHere(prefix, { create: true, lock: { leaseMs: 1500 } });
      expect(writer.lockMode).toBe(mode);
      await writer.write(0, new Uint8Array([1, 2, 3]));
      await writer.flush();
      const error = await openHere(prefix).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ERR_LOCKED' });
      expect((error as Error).message).toContain(`s3://${BUCKET}/${prefix}/lock`);
      expect((error as Error).message).toContain(`pid ${process.pid}`);
      await expect(openHere(prefix, { readOnly: true })).rejects.toMatchObject({ code: 'ERR_LOCKED' });
      // Renewal keeps it alive well past its lease: still refused, and the writer still writes.
      await sleep(3500);
      await expect(openHere(prefix)).rejects.toMatchObject({ code: 'ERR_LOCKED' });
      await writer.write(3, new Uint8Array([4]));
      await writer.flush();
      await writer.close();
      const next = await openHere(prefix, { readOnly: true });
      expect(await next.read(0, 4)).toEqual(new Uint8Array([1, 2, 3, 4]));
      await next.close();
      await (await openHere(prefix)).close();
    });

    test("a dead writer's lease is taken over after its grace; force takes it at once", async () => {
      const prefix = freshPrefix();
      await (await openHere(prefix, { create: true })).close();
      // What a writer killed just now leaves: a lease ending in 1 s, of 1 s (long enough that a
      // loaded machine's slow open still sees it live).
      const dead = { format: 'deja-s3-lock', version: 1, token: 'f'.repeat(32), owner: 'dead pid 1' };
      await rawPut(
        `${prefix}/lock`,
        JSON.stringify({ ...dead, acquired: Date.now(), expires: Date.now() + 1000, leaseMs: 1000 }),
      );
      await expect(openHere(prefix)).rejects.toMatchObject({ code: 'ERR_LOCKED' });
      await sleep(2100); // expires + one lease of grace
      const taker = await openHere(prefix);
      await taker.close();
      await rawPut(
        `${prefix}/lock`,
        JSON.stringify({ ...dead, acquired: Date.now(), expires: Date.now() + 60_000, leaseMs: 60_000 }),
      );
      await expect(openHere(prefix)).rejects.toMatchObject({ code: 'ERR_LOCKED' });
      const forced = await openHere(prefix, { lock: { force: true } });
      await forced.close();
    });

    test('a writer whose lock was taken over refuses to upload (ERR_LOCKED)', async () => {
      const prefix = freshPrefix();
      const first = await openHere(prefix, { create: true, lock: { leaseMs: 1000 } });
      const second = await openHere(prefix, { lock: { force: true, leaseMs: 1000 } });
      await sleep(1200); // the first one's renewal notices, or its lease runs out by its own clock
      await first.write(0, new Uint8Array([9]));
      await expect(first.flush()).rejects.toMatchObject({ code: 'ERR_LOCKED' });
      await expect(first.close()).rejects.toMatchObject({ code: 'ERR_LOCKED' });
      await second.write(0, new Uint8Array([7]));
      await second.close();
      const check = await openHere(prefix, { readOnly: true });
      expect(await check.read(0, 1)).toEqual(new Uint8Array([7]));
      await check.close();
    });
  });
}

test('lock: false takes no lock (one writer guaranteed by the caller)', async () => {
  const prefix = freshPrefix();
  const a = await open(prefix, { create: true, lock: false });
  const b = await open(prefix, { lock: false });
  expect(a.lockMode).toBeUndefined();
  await b.close();
  await a.close();
});
