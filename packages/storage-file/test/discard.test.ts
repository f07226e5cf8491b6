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

test('many unawaited discards, with writes of some ranges called after them, land in call order', async () => {
  // The punches run on the thread pool, several at once; a write called after a discard of the
  // same range must still land after it, and flush() must cover every discard called before it.
  for (const io of ['sync', 'async'] as const) {
    const path = join(dir, `order-${io}`);
    const s = await FileStorage.open(path, { create: true, io });
    const page = 4096;
    const pages = 512;
    await s.write(0, new Uint8Array(pages * page).fill(9));
    await s.flush();
    const pending: Promise<void>[] = [];
    for (let p = 0; p < pages; p += 2) pending.push(s.discard(p * page, page));
    // Rewrite every fourth page right away (it was just discarded): its bytes must survive.
    for (let p = 0; p < pages; p += 4)
      pending.push(s.write(p * page, new Uint8Array(page).fill(p & 255 || 1)));
    await s.flush();
    await Promise.all(pending);
    const all = await s.read(0, pages * page);
    for (let p = 0; p < pages; p++) {
      const want = p % 4 === 0 ? p & 255 || 1 : p % 2 === 0 ? 0 : 9;
      const got = all.subarray(p * page, (p + 1) * page);
      expect(
        got.every((b) => b === want),
        `${io}: page ${p}`,
      ).toBe(true);
    }
    await s.close();
  }
});
