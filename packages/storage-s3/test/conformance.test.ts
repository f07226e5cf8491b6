// Runs @deja/storage's conformance suite against S3Storage on s3rver (127.0.0.1, random port): with
// the default 1 MiB objects, and with 1 KiB objects and a cache of four objects, so that writes span
// objects, the cache evicts and writes back dirty objects, and reads wait for room in a full cache.
import type { Storage } from '@deja/storage';
import { storageConformance } from '@deja/storage/conformance';
import { afterAll, beforeAll, test } from 'vitest';
import { S3Storage, type S3StorageOptions } from '../src/index';
import { BUCKET, CREDENTIALS, freshPrefix, startServer, type TestServer } from './_server';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const variants: [string, Partial<S3StorageOptions>, number, number][] = [
  ['S3Storage (1 MiB objects)', {}, 21, 300],
  ['S3Storage (1 KiB objects, 4 KiB cache)', { objectSize: 1024, cacheBytes: 4096, parallelism: 3 }, 22, 150],
];

for (const [prefix, extra, seed, steps] of variants) {
  const open = (where: string, more: Partial<S3StorageOptions> = {}): Promise<S3Storage> =>
    S3Storage.open({
      bucket: BUCKET,
      prefix: where,
      endpoint: server.endpoint,
      credentials: CREDENTIALS,
      lock: { leaseMs: 3000 },
      ...extra,
      ...more,
    });
  storageConformance(test, {
    prefix,
    create: () => open(freshPrefix(), { create: true }),
    reopen: (closed: Storage) => open((closed as S3Storage).prefix),
    reopenReadOnly: (closed: Storage) => open((closed as S3Storage).prefix, { readOnly: true }),
    seed,
    steps,
  });
}
