// Long suites (pnpm --filter @deja/storage-s3 test:slow): the conformance suite with many more
// random steps, the whole store against its model for more seeds and steps, and more
// kill-and-reopen rounds over several seeds.
import { storageConformance } from '@deja/storage/conformance';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { S3Storage } from '../src/index';
import { crashRounds } from './_crash';
import { BUCKET, CREDENTIALS, freshPrefix, startServer, type TestServer } from './_server';
import { runStoreModel } from './_store-model';

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

for (const seed of [1, 3, 4, 5]) {
  test(`Store over S3Storage against a model, seed ${seed}`, () =>
    runStoreModel(server.endpoint, freshPrefix('store'), seed, 300));
}

for (const seed of [11, 12, 13]) {
  test(`kill and reopen, seed ${seed}, 8 rounds`, async () => {
    expect(await crashRounds(server.endpoint, freshPrefix('crash'), seed, 8)).toBeGreaterThan(0);
  });
}
