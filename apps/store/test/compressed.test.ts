// Compressed stores (issue 15): fragments packed into pages, exact per-fragment reference counts,
// dead-fragment accounting, dedup across compression, damage to a packed page, the CLI option.
// The model test and the crash sweep also run on compressed stores (model.test.ts, crash.test.ts).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { MemoryStorage } from '@deja/storage';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ImageHistory } from '../bench/generator';
import { exportVersion, importImage, isStoreError, LIVE, Store } from '../src/index';
import { type BuiltCli, buildCli, makeImage, runCli, runJson } from './_cli';
import { expectBytes, MemStore, mixedContent, prng } from './_helpers';

const CS = 4096;

/** `count` chunks that compress (small alphabets in runs), each distinct. */
function compressible(seed: number, count: number): Uint8Array {
  const rand = prng(seed);
  const out = new Uint8Array(count * CS);
  for (let c = 0; c < count; c++) {
    const symbols = 2 + Math.floor(rand() * 6);
    for (let i = 0; i < CS; ) {
      const run = 4 + Math.floor(rand() * 40);
      out.fill(
        1 + ((c * 7 + Math.floor(rand() * symbols)) & 0xff),
        c * CS + i,
        Math.min(CS, i + run) + c * CS,
      );
      i += run;
    }
  }
  return out;
}

function random(seed: number, count: number): Uint8Array {
  const rand = prng(seed);
  const out = new Uint8Array(count * CS);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

async function clean(store: Store): Promise<void> {
  const report = await store.check({ data: true });
  expect(report.problems).toEqual([]);
}

/** Offsets of packed pages in a storage image (page-aligned, the directory's magic and codec). */
function packedPages(image: Uint8Array, codec = 2): number[] {
  const out: number[] = [];
  for (let off = 0; off + CS <= image.length; off += CS)
    if (image[off] === 0xd7 && image[off + 1] === 1 && image[off + 2] === codec && (image[off + 3] ?? 0) >= 2)
      out.push(off);
  return out;
}

describe('a compressed store', () => {
  test('packs compressible chunks, stores the others whole, reads everything back', async () => {
    const m = await MemStore.create({ size: 128 * CS, chunkSize: CS, compression: 'zstd' });
    const img = new Uint8Array(128 * CS);
    img.set(compressible(1, 64), 0);
    img.set(random(2, 32), 64 * CS);
    await m.store.write(0, img);
    const s = await m.store.stats();
    expect(s.compression).toBe('zstd');
    expect(s.packedPages).toBeGreaterThan(0);
    expect(s.distinctChunks).toBe(96);
    // 32 random chunks whole, the 64 compressible ones in far fewer pages.
    expect(s.dataBytes).toBeLessThan((32 + 16) * CS);
    expect(s.dataBytes).toBeGreaterThanOrEqual(32 * CS);
    expect(s.deadFragmentBytes).toBe(0);
    expectBytes(await m.store.read(0, img.length), img, 'read');
    await m.reopen();
    expectBytes(await m.store.read(0, img.length), img, 'read after reopen');
    await clean(m.store);
    await m.store.close();
  });

  test('dedup composes with compression: one fragment, exact counts, freed with its last reference', async () => {
    const m = await MemStore.create({ size: 64 * CS, chunkSize: CS, compression: 'zstd' });
    const a = compressible(3, 8);
    await m.store.write(0, a);
    await m.store.write(16 * CS, a); // the same 8 chunks again, elsewhere
    await m.store.write(40 * CS + 100, a.subarray(0, 3 * CS)); // and unaligned
    let s = await m.store.stats();
    expect(s.distinctChunks).toBe(8 + 4); // the unaligned write makes 4 new chunks
    await clean(m.store);
    // Overwrite the first copy: the fragments live on in the second.
    await m.store.write(0, random(4, 8));
    expectBytes(await m.store.read(16 * CS, 8 * CS), a, 'second copy');
    s = await m.store.stats();
    expect(s.deadFragmentBytes).toBe(0);
    await clean(m.store);
    // Overwrite the second: now the fragments die.
    await m.store.write(16 * CS, random(5, 8));
    s = await m.store.stats();
    expect(s.distinctChunks).toBe(16 + 4);
    await clean(m.store);
    await m.store.close();
  });

  test('dead fragments are counted while their page lives and leave the count with it', async () => {
    const m = await MemStore.create({ size: 64 * CS, chunkSize: CS, compression: 'zstd' });
    await m.store.write(0, compressible(6, 32));
    const before = await m.store.stats();
    // Half the chunks overwritten: their fragments die inside pages the others keep.
    for (let c = 0; c < 32; c += 2) await m.store.write(c * CS, random(100 + c, 1));
    const mid = await m.store.stats();
    expect(mid.deadFragmentBytes).toBeGreaterThan(0);
    expect(mid.packedPages).toBeLessThanOrEqual(before.packedPages);
    await clean(m.store);
    await m.reopen();
    expect((await m.store.stats()).deadFragmentBytes).toBe(mid.deadFragmentBytes);
    // All of them: every packed page is free again, and so is its dead space.
    for (let c = 1; c < 32; c += 2) await m.store.write(c * CS, random(200 + c, 1));
    const after = await m.store.stats();
    expect(after.packedPages).toBe(0);
    expect(after.deadFragmentBytes).toBe(0);
    await clean(m.store);
    await m.store.close();
  });

  test('snapshots keep fragments; deleting one frees them; usage counts compressed bytes', async () => {
    const m = await MemStore.create({ size: 64 * CS, chunkSize: CS, compression: 'deflate' });
    const v1 = compressible(7, 48);
    await m.store.write(0, v1);
    await m.store.createSnapshot('v1');
    const v2 = compressible(8, 48);
    await m.store.write(0, v2);
    expectBytes(await m.store.volume('v1').read(0, v1.length), v1, 'v1');
    const usage = await m.store.snapshotUsage('v1');
    expect(usage.exclusiveBytes).toBeGreaterThan(0);
    expect(usage.exclusiveBytes).toBeLessThan(48 * CS);
    await clean(m.store);
    const freed = await m.store.deleteSnapshot('v1');
    expect(freed).toBeGreaterThan(0);
    expect(freed).toBeLessThan(48 * CS);
    expectBytes(await m.store.read(0, v2.length), v2, 'v2');
    await clean(m.store);
    await m.reopen();
    await clean(m.store);
    await m.store.close();
  });

  test('a lost index is rebuilt with the fragments: the same content is found again', async () => {
    const m = await MemStore.create({ size: 64 * CS, chunkSize: CS, compression: 'zstd' });
    const a = compressible(9, 16);
    await m.store.write(0, a);
    await m.store.close();
    const store = await Store.open({
      data: new MemoryStorage({ data: m.data.snapshot() }),
      index: new MemoryStorage(),
    });
    await store.write(32 * CS, a);
    expect((await store.stats()).distinctChunks).toBe(16);
    await clean(store);
    await store.close();
  });

  test('a damaged fragment or directory is ERR_CORRUPT_DATA naming page and fragment; check reports it', async () => {
    for (const where of ['fragment', 'directory'] as const) {
      const m = await MemStore.create({ size: 64 * CS, chunkSize: CS, compression: 'zstd' });
      const a = compressible(10, 32);
      await m.store.write(0, a);
      // Commits after the one that wrote the pages: the page layer checks the pages of the last
      // journaled transaction at recovery, and would drop it rather than read damage.
      await m.store.flush();
      for (let k = 0; k < 2; k++) {
        await m.store.write(48 * CS, random(20 + k, 1));
        await m.store.flush();
      }
      await m.store.close();
      const image = m.data.snapshot();
      const pages = packedPages(image);
      expect(pages.length).toBeGreaterThan(0);
      const off = pages[0] as number;
      const n = image[off + 3] as number;
      // The first fragment's second byte (zstd's frame magic), or the directory's count entry.
      const at = where === 'fragment' ? off + 8 + 4 * n + 1 : off + 8;
      image[at] = (image[at] as number) ^ 0x5a;
      const store = await Store.open({
        data: new MemoryStorage({ data: image }),
        index: new MemoryStorage(),
      });
      const err = await store.read(0, a.length).catch((e: unknown) => e);
      expect(isStoreError(err, 'ERR_CORRUPT_DATA'), String(err).slice(0, 200)).toBe(true);
      expect((err as Error).message).toMatch(/page \d+/);
      expect((err as Error).message).toMatch(/fragment \d+/);
      // An export finds it too, whether the fragments are decompressed on a worker or not.
      for (const workers of [0, 1]) {
        const sink = new Writable({ write: (_c, _e, cb) => cb() });
        const e = await exportVersion(store, LIVE, sink, { workers }).catch((x: unknown) => x);
        expect(isStoreError(e, 'ERR_CORRUPT_DATA'), `${where}, ${workers} workers: ${String(e)}`).toBe(true);
        expect((e as Error).message).toMatch(/page \d+/);
      }
      const report = await store.check({ data: true });
      expect(report.ok).toBe(false);
      expect(report.problems.some((p) => p.kind === 'data')).toBe(true);
      // The rest of the volume still reads: chunks outside that page are fine.
      await store.close();
    }
  });

  test('an export decompresses on the workers (or without) to the same bytes; damage inside a fragment is caught', async () => {
    for (const compression of ['zstd', 'deflate'] as const) {
      const m = await MemStore.create({ size: 300 * CS, chunkSize: CS, compression });
      const a = new Uint8Array(300 * CS);
      a.set(compressible(40, 200), 0);
      a.set(random(41, 40), 220 * CS);
      await m.store.write(0, a);
      await m.store.createSnapshot('s');
      await m.store.write(10 * CS, random(42, 5));
      for (const workers of [0, 1, 2]) {
        const got: Buffer[] = [];
        const sink = new Writable({
          write: (c: Buffer, _e, cb) => {
            got.push(Buffer.from(c));
            cb();
          },
        });
        await exportVersion(m.store, 's', sink, { workers });
        expectBytes(new Uint8Array(Buffer.concat(got)), a, `${compression}, ${workers} workers`);
      }
      await m.store.flush();
      for (let k = 0; k < 2; k++) {
        await m.store.write(290 * CS, random(50 + k, 1));
        await m.store.flush();
      }
      await m.store.close();
      // A byte in the middle of a fragment: the frame header still reads, the bytes do not.
      const image = m.data.snapshot();
      const pages = packedPages(image, compression === 'zstd' ? 2 : 1);
      expect(pages.length).toBeGreaterThan(0);
      const off = pages[0] as number;
      const n = image[off + 3] as number;
      const first = off + 8 + 4 * n;
      image[first + 40] = (image[first + 40] as number) ^ 0xff;
      const store = await Store.open({
        data: new MemoryStorage({ data: image }),
        index: new MemoryStorage(),
      });
      for (const workers of [0, 1]) {
        const sink = new Writable({ write: (_c, _e, cb) => cb() });
        const e = await exportVersion(store, 's', sink, { workers }).catch((x: unknown) => x);
        expect(isStoreError(e, 'ERR_CORRUPT_DATA'), `${compression}, ${workers} workers: ${String(e)}`).toBe(
          true,
        );
        expect((e as Error).message).toMatch(/page \d+/);
      }
      await store.close();
    }
  });

  test('compaction moves live fragments out of pages with dead ones: block map, exceptions and index follow', async () => {
    const m = await MemStore.create({ size: 96 * CS, chunkSize: CS, compression: 'zstd' });
    const base = compressible(30, 64); // P: even chunks (kept by a snapshot), Q: odd ones (die)
    await m.store.write(0, base);
    for (let c = 1; c < 64; c += 2) await m.store.write(c * CS, random(300 + c, 1)); // Q dies
    await m.store.createSnapshot('s1');
    const s1 = await m.store.read(0, 64 * CS);
    for (let c = 0; c < 64; c += 4) await m.store.write(c * CS, random(400 + c, 1)); // some P only in s1
    const live = await m.store.read(0, 64 * CS);
    const before = await m.store.stats();
    expect(before.deadFragmentBytes).toBeGreaterThan(0);
    await clean(m.store);
    const r = await m.store.compact({ minDead: 0.01 });
    expect(r.pagesCompacted).toBeGreaterThan(0);
    expect(r.pagesWritten).toBeLessThan(r.pagesCompacted);
    expect(r.bytesFreed).toBe((r.pagesCompacted - r.pagesWritten) * CS);
    const after = await m.store.stats();
    expect(after.deadFragmentBytes).toBe(0);
    expect(after.dataBytes).toBe(before.dataBytes - r.bytesFreed);
    expect(after.distinctChunks).toBe(before.distinctChunks);
    expectBytes(await m.store.read(0, 64 * CS), live, 'live after compaction');
    expectBytes(await m.store.volume('s1').read(0, 64 * CS), s1, 's1 after compaction');
    await clean(m.store);
    // The index follows: the same content is found again, not stored anew.
    await m.store.write(80 * CS, base.subarray(0, CS)); // P, only in s1 (moved)
    await m.store.write(81 * CS, base.subarray(2 * CS, 3 * CS)); // P, live (moved)
    expect((await m.store.stats()).distinctChunks).toBe(after.distinctChunks);
    // Nothing left to do; a store without compression has nothing to do either.
    expect((await m.store.compact({ minDead: 0.01 })).pagesCompacted).toBe(0);
    await m.reopen();
    expectBytes(await m.store.volume('s1').read(0, 64 * CS), s1, 's1 after reopen');
    await clean(m.store);
    await m.store.close();
    const plain = await MemStore.create({ size: 8 * CS, chunkSize: CS });
    expect(await plain.store.compact()).toEqual({
      pagesCompacted: 0,
      pagesWritten: 0,
      fragmentsMoved: 0,
      bytesFreed: 0,
    });
    await expect(plain.store.compact({ minDead: 0 })).rejects.toBeInstanceOf(RangeError);
    await plain.store.close();
  });

  test('deleting a snapshot compacts on its own once half the packed bytes are dead', async () => {
    const m = await MemStore.create({ size: 64 * CS, chunkSize: CS, compression: 'zstd' });
    const v1 = compressible(40, 48);
    await m.store.write(0, v1);
    await m.store.createSnapshot('v1');
    // Most of v1 overwritten (its fragments live on in the snapshot), a little kept.
    for (let c = 0; c < 48; c++) if (c % 8 !== 0) await m.store.write(c * CS, random(500 + c, 1));
    const live = await m.store.read(0, 48 * CS);
    await m.store.deleteSnapshot('v1');
    const s = await m.store.stats();
    expect(s.deadFragmentBytes).toBeLessThan(0.5 * s.packedPages * CS);
    expectBytes(await m.store.read(0, 48 * CS), live, 'live');
    await clean(m.store);
    await m.store.close();
  });

  test.each(['zstd', 'off'] as const)(
    'a small journal: imports and a deletion commit in pieces that fit it (%s)',
    async (compression) => {
      // 3 versions of a 16 MiB VM-like image with a 32-page journal (a batch of 256 chunks, or the
      // releases of a deletion at once, would not fit).
      const size = 16 << 20;
      const m = await MemStore.create({ size, chunkSize: CS, compression, journalPages: 32 });
      const history = new ImageHistory({ size, seed: 2026 });
      for (let v = 0; v < 3; v++) {
        await importImage(m.store, Readable.from([history.version(v)]));
        await m.store.createSnapshot(`v${v + 1}`);
      }
      await m.store.deleteSnapshot('v1');
      expectBytes(await m.store.volume('v2').read(0, size), history.version(1), 'v2');
      await clean(m.store);
      await m.reopen();
      await clean(m.store);
      await m.store.close();
    },
    120_000,
  );

  test('bad options are refused before anything is created', async () => {
    for (const options of [
      { compression: 'lz4' as 'zstd' },
      { compression: 'off' as const, compressionLevel: 3 },
      { compression: 'zstd' as const, compressionLevel: 40 },
      { compression: 'deflate' as const, compressionLevel: 0 },
    ]) {
      const err = await Store.create({ data: new MemoryStorage() }, { size: CS, ...options }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RangeError);
    }
  });

  test('writes of any alignment and partial chunks, with a 512-byte chunk', async () => {
    const rand = prng(11);
    const cs = 512;
    const m = await MemStore.create({ size: 200 * cs, chunkSize: cs, compression: 'zstd' });
    const model = new Uint8Array(200 * cs);
    for (let k = 0; k < 60; k++) {
      const offset = Math.floor(rand() * model.length);
      const length = Math.min(model.length - offset, 1 + Math.floor(rand() * 20 * cs));
      const data = mixedContent(rand, length);
      await m.store.write(offset, data);
      model.set(data, offset);
    }
    expectBytes(await m.store.read(0, model.length), model, 'model');
    expect((await m.store.stats()).packedPages).toBeGreaterThan(0);
    await clean(m.store);
    await m.store.close();
  });
});

describe('deja with --compression', () => {
  let cli: BuiltCli;
  let dir: string;
  beforeAll(async () => {
    [cli, dir] = await Promise.all([buildCli(), mkdtemp(join(tmpdir(), 'deja-zstd-'))]);
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await cli?.dispose();
  });

  test('init, import, stats, du, export, check --data', async () => {
    const img = makeImage(3, 512);
    await writeFile(join(dir, 'v1.img'), img);
    const store = join(dir, 's');
    const init = await runJson(cli, ['init', store, '--size', '0', '--compression', 'zstd', '--json']);
    expect(init.compression).toBe('zstd');
    expect(init.compressionLevel).toBe(1);
    await runJson(cli, ['import', store, join(dir, 'v1.img'), '--snapshot', 'v1', '--json']);
    const stats = await runJson(cli, ['stats', store, '--json']);
    expect(stats.compression).toBe('zstd');
    expect(stats.packedPages as number).toBeGreaterThan(0);
    expect(stats.deadFragmentBytes).toBe(0);
    const du = await runCli(cli, ['du', store]);
    expect(du.code, du.stderr).toBe(0);
    expect(du.stdout).toContain('dead fragments');
    const out = join(dir, 'out.img');
    const exp = await runCli(cli, ['export', store, '--snapshot', 'v1', out]);
    expect(exp.code, exp.stderr).toBe(0);
    expect(Buffer.from(await readFile(out)).equals(Buffer.from(img))).toBe(true);
    const check = await runJson(cli, ['check', store, '--data', '--json']);
    expect(check.ok).toBe(true);
    // Dead fragments, then compact gives them back.
    const img2 = new Uint8Array(img);
    for (let c = 0; c < 512; c += 3) img2.fill(0xee, c * CS, c * CS + 100);
    await writeFile(join(dir, 'v2.img'), img2);
    await runJson(cli, ['import', store, join(dir, 'v2.img'), '--snapshot', 'v2', '--json']);
    await runJson(cli, ['snapshot', 'delete', store, 'v1', '--json']);
    const c = await runJson(cli, ['compact', store, '--min-dead', '1%', '--json']);
    expect(c.compression).toBe('zstd');
    expect(c.deadFragmentBytes).toBe(0);
    const c2 = await runCli(cli, ['compact', store]);
    expect(c2.code, c2.stderr).toBe(0);
    expect(c2.stdout).toMatch(/compacted 0 packed pages/);
    const exp2 = await runCli(cli, ['export', store, '--snapshot', 'v2', out]);
    expect(exp2.code, exp2.stderr).toBe(0);
    expect(Buffer.from(await readFile(out)).equals(Buffer.from(img2))).toBe(true);
    expect((await runJson(cli, ['check', store, '--data', '--json'])).ok).toBe(true);
    expect((await runCli(cli, ['compact', store, '--min-dead', '0'])).code).toBe(2);
    const bad = await runCli(cli, ['init', join(dir, 't'), '--size', '1M', '--compression-level', '3']);
    expect(bad.code).toBe(2);
    const bad2 = await runCli(cli, ['init', join(dir, 'u'), '--size', '1M', '--compression', 'lz4']);
    expect(bad2.code).toBe(2);
  }, 120_000);
});
