// Kill-and-reopen: a child process running a store workload on S3Storage is killed with SIGKILL at
// random instants and the store is reopened from the bucket (see _s3-crash.ts); the slow suite runs
// more rounds and seeds.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { crashRounds } from './_s3-crash';
import { freshPrefix, startServer, type TestServer } from './_s3-server';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

test('a store killed at random points reopens from the bucket at a completed commit (seed 7, 2 rounds)', async () => {
  const killed = await crashRounds(server.endpoint, freshPrefix('crash'), 7, 2);
  expect(killed).toBeGreaterThan(0);
}, 120_000);
