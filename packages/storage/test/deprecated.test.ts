// The deprecated names of the main entry point keep working until they go: the testing tools are
// the same objects as in ./testing, and the FileStorage / PageStore stand-ins return real instances
// of the packages they moved to (a PageStore opened through the stand-in still closes its storage).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PageStore as RealPageStore } from '@deja/page-store';
import { FileStorage as RealFileStorage } from '@deja/storage-file';
import { afterAll, expect, it } from 'vitest';
import * as main from '../src/index';
import * as testing from '../src/testing';

const dir = mkdtempSync(join(tmpdir(), 'deja-storage-deprecated-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('re-exports the testing tools', () => {
  expect(main.FaultyStorage).toBe(testing.FaultyStorage);
  expect(main.crashSweep).toBe(testing.crashSweep);
  expect(main.CRASH_MODES).toBe(testing.CRASH_MODES);
});

it('FileStorage.open returns a real FileStorage', async () => {
  const file = await main.FileStorage.open(join(dir, 'f'), { create: true });
  expect(file).toBeInstanceOf(RealFileStorage);
  await file.close();
});

it('PageStore.create / open return real PageStores', async () => {
  const disk = new main.MemoryStorage();
  const created = await main.PageStore.create(disk, { pageSize: 512 });
  expect(created).toBeInstanceOf(RealPageStore);
  await created.close();
  expect(disk.closed).toBe(true);
  const again = new main.MemoryStorage({ data: disk.snapshot() });
  const opened = await main.PageStore.open(again);
  expect(opened).toBeInstanceOf(RealPageStore);
  await opened.close();
  expect(again.closed).toBe(true);
});
