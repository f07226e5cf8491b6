// Long suites (pnpm --filter @deja/storage-s3 test:slow): the conformance suite with many more
// random steps. The whole-store suites on S3Storage (model and kill-and-reopen) are apps/store's
// (test/s3-store.slow.test.ts): a package does not import the app.
import { storageConformance } from '@deja/storage/conformance';
import { afterAll, beforeAll, test } from 'vitest';
import { S3Storage } from '../src/index';
import { BUCKET, CREDENTIALS, freshPrefix, startServer, type TestServer } from './_server';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

for (const seed of [101, 202]) {
  storageConformance(test, {
    prefix: `slow S3Storage seed ${seed}`,
    create: () =>
      S3Storage.open({
        bucket: BUCKET,
        prefix: freshPrefix(),
        endpoint: server.endpoint,
        credentials: CREDENTIALS,
        create: true,
        objectSize: 1024,
        cacheBytes: 8192,
      }),
    reopen: (closed) =>
      S3Storage.open({
        bucket: BUCKET,
        prefix: (closed as S3Storage).prefix,
        endpoint: server.endpoint,
        credentials: CREDENTIALS,
      }),
    seed,
    steps: 2000,
  });
}
