// FileStorage.discard punches a hole: the range reads as zeros and the file's blocks are freed
// (on file systems that can, as ext4, xfs and tmpfs do; elsewhere it writes zeros).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { FileStorage } from '../src/index';

const dir = mkdtempSync(join(tmpdir(), 'deja-discard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('discard frees the blocks of a file', async () => {
  const path = join(dir, 'f');
  const s = await FileStorage.open(path, { create: true });
  await s.write(0, new Uint8Array(4 << 20).fill(7));
  await s.flush();
  const before = statSync(path).blocks;
  await s.discard(1 << 20, 2 << 20);
  await s.flush();
  const after = statSync(path).blocks;
  expect(await s.size()).toBe(4 << 20);
  expect((await s.read((1 << 20) - 1, 3)).join()).toBe('7,0,0');
  expect((await s.read(3 << 20, 2)).join()).toBe('7,7');
  expect(after).toBeLessThan(before - 2048); // at least 1 MiB of 512-byte blocks freed
  await s.close();
});
