// Long S3 suites of the store (pnpm --filter @deja/store test:slow): the whole store on S3Storage
// against its model for more seeds and steps, and more kill-and-reopen rounds over several seeds.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { crashRounds } from './_s3-crash';
import { freshPrefix, startServer, type TestServer } from './_s3-server';
import { runStoreModel } from './_s3-store-model';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

for (const seed of [1, 3, 4, 5]) {
  test(`Store over S3Storage against a model, seed ${seed}`, () =>
    runStoreModel(server.endpoint, freshPrefix('store'), seed, 300));
}

for (const seed of [11, 12, 13]) {
  test(`kill and reopen, seed ${seed}, 8 rounds`, async () => {
    expect(await crashRounds(server.endpoint, freshPrefix('crash'), seed, 8)).toBeGreaterThan(0);
  });
}
