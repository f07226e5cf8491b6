// Long suites (pnpm --filter @deja/storage-file test:slow): the conformance suite over files with
// many more random steps, and a longer model-checked crash sweep over files.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storageConformance } from '@deja/storage/conformance';
import { crashSweep } from '@deja/storage/testing';
import { checkCrashImage, emptyCrashModel, randomStorageWorkload } from '@deja/test-helpers';
import { afterAll, expect, test } from 'vitest';
import { FileStorage } from '../src/index';

const dir = fs.mkdtempSync(join(tmpdir(), 'deja-storage-file-slow-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;

for (const seed of [101, 202, 303]) {
  storageConformance(test, {
    prefix: `slow FileStorage async seed ${seed}`,
    create: () => FileStorage.open(join(dir, `c-${files++}`), { create: true, io: 'async' }),
    reopen: (closed) => FileStorage.open((closed as FileStorage).path, { io: 'async' }),
    seed,
    steps: 3000,
  });
}

test('crash sweep of a random workload over files, seed 9', async () => {
  const model = emptyCrashModel();
  const result = await crashSweep({
    create: () => FileStorage.open(join(dir, `sweep-${files++}`), { create: true }),
    workload: randomStorageWorkload(9, 40, model),
    reopen: (medium) => FileStorage.open((medium as FileStorage).path),
    check: async (image, info) => {
      checkCrashImage(await image.read(0, await image.size()), model, info.mode);
    },
    dispose: (medium) => fs.rmSync((medium as FileStorage).path, { force: true }),
    seed: 9,
  });
  expect(result.runs).toBe((result.operations + 1) * 4);
});
