// A whole Deja store on the bucket: apps/store's Store with its page layer and its dedup index each
// on an S3Storage, driven against a model (see _s3-store-model.ts); the slow suite runs more seeds.
import { afterAll, beforeAll, describe, test } from 'vitest';
import { freshPrefix, startServer, type TestServer } from './_s3-server';
import { runStoreModel } from './_s3-store-model';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

describe('Store over S3Storage against a model', () => {
  for (const seed of [2]) {
    test(`seed ${seed}`, () => runStoreModel(server.endpoint, freshPrefix('store'), seed, 100));
  }
});
