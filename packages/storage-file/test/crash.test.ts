// The crash-test tools of @deja/storage/testing over real files: a FaultyStorage crash closes the
// file and releases its lock, so the image reopens as a fresh FileStorage; and crashSweep runs a
// model-checked random workload over files, every crash point in every mode, with `dispose`
// removing each run's file.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crashSweep, FaultyStorage } from '@deja/storage/testing';
import { checkCrashImage, emptyCrashModel, randomStorageWorkload } from '@deja/test-helpers';
import { afterAll, describe, expect, test } from 'vitest';
import { FileStorage } from '../src/index';

const dir = fs.mkdtempSync(join(tmpdir(), 'deja-storage-file-crash-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const A = new Uint8Array(4096).fill(0xaa);
const B = new Uint8Array(4096).fill(0xbb);

describe('crash tools over files', () => {
  test('after a FaultyStorage crash the image reopens as a fresh FileStorage', async () => {
    const path = join(dir, 'crash-file');
    const store = await FaultyStorage.wrap(await FileStorage.open(path, { create: true }), {
      crashAt: 3,
      crashMode: 'drop',
    });
    await store.write(0, A);
    await store.flush();
    await store.write(0, B);
    await expect(store.flush()).rejects.toMatchObject({ code: 'ERR_CRASHED' });
    const image = await FileStorage.open(path); // the crash closed the file and released its lock
    expect(await image.read(0, 4096)).toEqual(A);
    expect(await image.size()).toBe(4096);
    await image.close();
    await store.close();
    fs.rmSync(path);
  });

  test('crashSweep over files, every point and mode, dispose removing each run', async () => {
    const sweepDir = fs.mkdtempSync(join(dir, 'sweep-'));
    const model = emptyCrashModel();
    let n = 0;
    const result = await crashSweep({
      create: () => FileStorage.open(join(sweepDir, `run-${n++}`), { create: true }),
      workload: randomStorageWorkload(9, 12, model),
      reopen: (medium) => FileStorage.open((medium as FileStorage).path),
      check: async (image, info) => {
        checkCrashImage(await image.read(0, await image.size()), model, info.mode);
      },
      dispose: (medium) => fs.rmSync((medium as FileStorage).path, { force: true }),
      seed: 9,
    });
    expect(result.runs).toBe((result.operations + 1) * 4);
    expect(fs.readdirSync(sweepDir)).toEqual([]);
  });
});
