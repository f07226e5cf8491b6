// Import, export and diff streams, with files in a temporary directory and streams in memory.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { MemoryStorage } from '@deja/storage';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { applyDiff, exportDiff, exportVersion, importImage, isStoreError, LIVE, Store } from '../src/index';
import { content, expectBytes, MemStore, prng } from './_helpers';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deja-transfer-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function image(seed: number, chunks: number, cs: number, zeroEvery = 3): Uint8Array {
  const rand = prng(seed);
  const out = new Uint8Array(chunks * cs);
  for (let c = 0; c < chunks; c++) {
    if (c % zeroEvery === 0) continue;
    out.set(content(rand, cs, 4), c * cs);
  }
  return out;
}

/**
 * The same changes as a version-1 diff stream (no base size, no base digests), as earlier
 * releases wrote them: each part re-framed with its CRC-32.
 */
function toVersion1(v2: Uint8Array): Uint8Array {
  const dv = new DataView(v2.buffer, v2.byteOffset, v2.byteLength);
  const parts: Uint8Array[] = [];
  const framed = (bytes: Uint8Array) => {
    const out = new Uint8Array(bytes.length + 4);
    out.set(bytes);
    new DataView(out.buffer).setUint32(bytes.length, crc32(bytes), true);
    parts.push(out);
  };
  const bl = dv.getUint16(24, true);
  const tl = dv.getUint16(26 + bl, true);
  const head = v2.slice(0, 28 + bl + tl);
  new DataView(head.buffer).setUint32(8, 1, true);
  framed(head);
  let at = 28 + bl + tl + 8 + 4;
  for (;;) {
    const type = v2[at] as number;
    if (type === 3) {
      framed(v2.subarray(at, at + 13));
      break;
    }
    const length = dv.getUint32(at + 9, true);
    const data = type === 1 ? v2.subarray(at + 29, at + 29 + length) : new Uint8Array(0);
    const rec = new Uint8Array(13 + data.length);
    rec.set(v2.subarray(at, at + 13));
    rec.set(data, 13);
    framed(rec);
    at += 29 + data.length + 4;
  }
  return Buffer.concat(parts);
}

async function collect(fn: (sink: PassThrough) => Promise<unknown>): Promise<Uint8Array> {
  const sink = new PassThrough();
  const parts: Buffer[] = [];
  sink.on('data', (b: Buffer) => parts.push(b));
  await fn(sink);
  sink.end();
  return new Uint8Array(Buffer.concat(parts));
}

describe('import and export', () => {
  test.each(['off', 'zstd'] as const)(
    'a many-piece import names every piece right, whichever thread hashed it (%s)',
    async (compression) => {
      // 6 pieces of 2 MiB: the workers hash some, the importing thread the ones they had not
      // started when it would otherwise wait; every split gives the same store.
      const cs = 4096;
      const v1 = image(11, 12 * 256, cs);
      const v2 = v1.slice();
      const changedAt = [3, 300, 301, 1024, 2047, 3000];
      for (const c of changedAt) v2.fill(0x5a, c * cs, c * cs + 17);
      const p1 = join(dir, 'many-v1.img');
      const p2 = join(dir, 'many-v2.img');
      await writeFile(p1, v1);
      await writeFile(p2, v2);
      let first: number | undefined;
      for (const workers of [0, 1, 2]) {
        const m = await MemStore.create({ size: 0, chunkSize: cs, compression });
        const r1 = await importImage(m.store, p1, { workers });
        first ??= r1.changedChunks;
        expect(r1.changedChunks, `${workers} workers`).toBe(first);
        // A crash right after the import: recovery checks the last commit's data pages against
        // the CRC-32s it recorded (computed by the workers that named them, where there are any).
        const crashed = await Store.open({
          data: new MemoryStorage({ data: m.data.snapshot() }),
          index: new MemoryStorage({ data: m.index.snapshot() }),
        });
        expect(crashed.recovery.dropped, `${workers} workers`).toBeUndefined();
        expectBytes(await crashed.read(0, v1.length), v1, `${workers} workers: after a crash`);
        await crashed.close();
        await m.store.createSnapshot('v1');
        const r2 = await importImage(m.store, p2, { workers });
        expect(r2.changedChunks, `${workers} workers`).toBe(changedAt.length);
        expectBytes(await m.store.read(0, v2.length), v2, `${workers} workers: live`);
        expectBytes(await m.store.volume('v1').read(0, v1.length), v1, `${workers} workers: v1`);
        expect((await m.store.check({ data: true })).problems).toEqual([]);
        // The export: batches the worker checks and writes, and batches this thread takes on its
        // own while it waits; progress counts bytes done, so it only grows, and ends at the size.
        const out = join(dir, `many-out-${compression}-${workers}.img`);
        const progress: number[] = [];
        await exportVersion(m.store, 'v1', out, { workers, onProgress: (p) => progress.push(p.bytes) });
        expectBytes(new Uint8Array(await readFile(out)), v1, `${workers} workers: exported v1`);
        expect(progress.every((b, i) => i === 0 || b >= (progress[i - 1] as number))).toBe(true);
        expect(progress[progress.length - 1]).toBe(v1.length);
        await m.store.close();
      }
    },
    60_000,
  );

  test('stale dedup advice is refused and corrected; new chunks of a batch go side by side', async () => {
    const cs = 4096;
    // 64 distinct chunks of random bytes, each followed by a copy (duplicates within the batch).
    const rand = prng(21);
    const a = new Uint8Array(128 * cs);
    for (let c = 0; c < 128; c += 2) {
      for (let i = c * cs; i < (c + 1) * cs; i++) a[i] = Math.floor(rand() * 256);
      a.copyWithin((c + 1) * cs, c * cs, (c + 1) * cs);
    }
    const pa = join(dir, 'stale-a.img');
    const pz = join(dir, 'stale-zero.img');
    await writeFile(pa, a);
    await writeFile(pz, new Uint8Array(a.length));
    for (const workers of [0, 1]) {
      const m = await MemStore.create({ size: 0, chunkSize: cs });
      await importImage(m.store, pa, { workers });
      let stats = await m.store.stats();
      expect(stats.distinctChunks).toBe(64);
      // The 64 new chunks took pages in order, side by side but for a page the layer had taken
      // already: no page of a duplicate left a hole (that spread them over 127 pages).
      const { physical } = await m.store._readRaw(LIVE, 0, 128);
      for (let c = 0; c < 128; c += 2) {
        if (c > 0) expect(physical[c] as number).toBeGreaterThan(physical[c - 2] as number);
        expect(physical[c + 1]).toBe(physical[c]);
      }
      expect((physical[126] as number) - (physical[0] as number) + 1, `${workers} workers`).toBeLessThan(68);
      // Zeros over everything: the chunks are freed (no snapshot holds them), their names stay
      // in the index, pointing at free pages.
      await importImage(m.store, pz, { workers });
      expect((await m.store.stats()).distinctChunks).toBe(0);
      // The same image again: every piece of advice is stale, refused, and the chunks stored anew.
      await importImage(m.store, pa, { workers });
      stats = await m.store.stats();
      expect(stats.distinctChunks).toBe(64);
      expectBytes(await m.store.read(0, a.length), a, `${workers} workers: after stale advice`);
      expect((await m.store.check({ data: true })).problems).toEqual([]);
      // The index was corrected: the image once more, shifted by one chunk, shares every chunk.
      const shifted = new Uint8Array(a.length + cs);
      shifted.set(a, cs);
      const ps = join(dir, `stale-shifted-${workers}.img`);
      await writeFile(ps, shifted);
      await m.store.createSnapshot('keep');
      await importImage(m.store, ps, { workers });
      expect((await m.store.stats()).distinctChunks).toBe(64);
      expectBytes(await m.store.read(0, shifted.length), shifted, `${workers} workers: shifted`);
      await m.store.close();
    }
  });

  test('an image file becomes the live volume; unchanged chunks cost nothing; export is sparse', async () => {
    const m = await MemStore.create({ size: 0, chunkSize: 4096 });
    const img = image(1, 256, 4096);
    const path = join(dir, 'v1.img');
    await writeFile(path, img);
    const progress: number[] = [];
    const r1 = await importImage(m.store, path, { onProgress: (p) => progress.push(p.bytes) });
    expect(r1.bytes).toBe(img.length);
    expect(progress[progress.length - 1]).toBe(img.length);
    expect(m.store.size).toBe(img.length);
    expectBytes(await m.store.read(0, img.length), img, 'imported');
    await m.store.createSnapshot('v1');
    // A second version: 3 chunks changed, and 100 bytes longer.
    const img2 = new Uint8Array(img.length + 100);
    img2.set(img);
    img2.fill(0xee, 5 * 4096, 5 * 4096 + 10);
    img2.fill(0xdd, 100 * 4096, 101 * 4096);
    img2.fill(0x11, img.length, img.length + 100);
    const r2 = await importImage(m.store, Readable.from([img2.subarray(0, 7000), img2.subarray(7000)]));
    expect(r2.changedChunks).toBe(3);
    expectBytes(await m.store.read(0, img2.length), img2, 'second import');
    expectBytes(await m.store.volume('v1').read(0, img.length), img, 'v1 intact');
    const out = join(dir, 'out.img');
    await exportVersion(m.store, 'v1', out);
    expectBytes(new Uint8Array(await readFile(out)), img, 'exported v1');
    const st = await stat(out);
    expect(st.blocks * 512).toBeLessThan(img.length); // holes for the zero chunks
    const streamed = await collect((sink) => exportVersion(m.store, LIVE, sink));
    expectBytes(streamed, img2, 'streamed live');
    expect((await m.store.check({ data: true })).problems).toEqual([]);
    await m.store.close();
  });

  test('a diff stream ships the changes to another store and onto an image file', async () => {
    const a = await MemStore.create({ size: 0, chunkSize: 1024 });
    const v1 = image(2, 100, 1024);
    await importImage(a.store, Readable.from([v1]));
    await a.store.createSnapshot('v1');
    const rand = prng(9);
    for (let i = 0; i < 20; i++) {
      const off = Math.floor(rand() * (v1.length - 3000));
      await a.store.write(off, content(rand, 1 + Math.floor(rand() * 3000)));
    }
    await a.store.discard(10 * 1024, 5 * 1024);
    await a.store.resize(v1.length + 5000);
    await a.store.createSnapshot('v2');
    const v2 = await a.store.volume('v2').read(0, v1.length + 5000);
    // The receiving store holds v1.
    const b = await MemStore.create({ size: 0, chunkSize: 1024 });
    await importImage(b.store, Readable.from([v1]));
    const full = await collect((sink) => exportDiff(a.store, 'v1', 'v2', sink));
    const info = await applyDiff(Readable.from([full]), b.store.volume(LIVE));
    expect(info.base).toBe('v1');
    expect(info.target).toBe('v2');
    expectBytes(await b.store.read(0, v2.length), v2, 'store after apply');
    // Onto an image file of v1.
    const file = join(dir, 'v1.img');
    await writeFile(file, v1);
    await applyDiff(Readable.from([full]), file);
    expectBytes(new Uint8Array(await readFile(file)), v2, 'file after apply');
    // Applying twice is harmless.
    await applyDiff(Readable.from([full]), file);
    expectBytes(new Uint8Array(await readFile(file)), v2, 'file after second apply');
    // A damaged byte anywhere, or a cut, is ERR_BAD_STREAM, and no damaged bytes land: every
    // range of the copy of v1 holds v1's bytes or v2's.
    const onlyV1OrV2 = (got: Uint8Array, what: string) => {
      for (let o = 0; o < got.length; o += 1024) {
        const g = Buffer.from(got.subarray(o, o + 1024));
        const one = Buffer.alloc(g.length);
        one.set(v1.subarray(o, Math.min(v1.length, o + g.length)));
        const two = Buffer.from(v2.subarray(o, o + g.length));
        expect(g.equals(one) || g.equals(two), `${what}: chunk at ${o}`).toBe(true);
      }
    };
    for (const at of [3, 30, 60, Math.floor(full.length / 2), full.length - 2]) {
      const bad = full.slice();
      bad[at] = (bad[at] as number) ^ 0x40;
      const copy = join(dir, `bad${at}.img`);
      await writeFile(copy, v1);
      const err = await applyDiff(Readable.from([bad]), copy).catch((e) => e);
      expect(isStoreError(err, 'ERR_BAD_STREAM'), `flip at ${at}: ${err}`).toBe(true);
      onlyV1OrV2(new Uint8Array(await readFile(copy)), `flip at ${at}`);
    }
    for (const cut of [0, 10, 40, Math.floor(full.length / 2), full.length - 1]) {
      const copy = join(dir, `cut${cut}.img`);
      await writeFile(copy, v1);
      const err = await applyDiff(Readable.from([full.subarray(0, cut)]), copy).catch((e) => e);
      expect(isStoreError(err, 'ERR_BAD_STREAM'), `cut at ${cut}: ${err}`).toBe(true);
      onlyV1OrV2(new Uint8Array(await readFile(copy)), `cut at ${cut}`);
      // The whole stream then finishes the job: the records already there are recognised.
      const done = await applyDiff(Readable.from([full]), copy);
      expect(done.records).toBeGreaterThan(0);
      expectBytes(new Uint8Array(await readFile(copy)), v2, `cut at ${cut}, then the whole stream`);
    }
    await a.store.close();
    await b.store.close();
  });

  test('a diff stream refuses a target that does not hold its base, before writing', async () => {
    const a = await MemStore.create({ size: 0, chunkSize: 1024 });
    const v1 = image(4, 60, 1024);
    await importImage(a.store, Readable.from([v1]));
    await a.store.createSnapshot('v1');
    const rand = prng(21);
    for (let i = 0; i < 12; i++)
      await a.store.write(
        Math.floor(rand() * (v1.length - 2048)),
        content(rand, 1 + Math.floor(rand() * 2048)),
      );
    await a.store.createSnapshot('v2');
    await a.store.write(0, content(rand, 5000));
    await a.store.createSnapshot('v3');
    const v2 = await a.store.volume('v2').read(0, v1.length);
    const v3 = await a.store.volume('v3').read(0, v1.length);
    const v1v2 = await collect((sink) => exportDiff(a.store, 'v1', 'v2', sink));
    const v2v3 = await collect((sink) => exportDiff(a.store, 'v2', 'v3', sink));
    // Out of order: v2 -> v3 onto an image of v1. The first record it checks differs: nothing is
    // written, and the error says where and what to do.
    const file = join(dir, 'order.img');
    await writeFile(file, v1);
    const err = await applyDiff(Readable.from([v2v3]), file).catch((e) => e);
    expect(isStoreError(err, 'ERR_INVALID_STATE'), String(err)).toBe(true);
    expect(String(err)).toMatch(
      /hold neither 'v2' nor 'v3' \(record 1; the 0 before it are in place\): apply the stream to a copy of 'v2'/,
    );
    expectBytes(new Uint8Array(await readFile(file)), v1, 'untouched image');
    // In order, both apply; each stream a second time is harmless.
    for (const stream of [v1v2, v1v2, v2v3, v2v3]) await applyDiff(Readable.from([stream]), file);
    expectBytes(new Uint8Array(await readFile(file)), v3, 'v1 + (v1 -> v2) + (v2 -> v3)');
    // A file of another size than the base's (and the target's) is refused at once.
    const short = join(dir, 'short.img');
    await writeFile(short, v1.subarray(0, 4096));
    const sized = await applyDiff(Readable.from([v1v2]), short).catch((e) => e);
    expect(isStoreError(sized, 'ERR_INVALID_STATE'), String(sized)).toBe(true);
    expect(String(sized)).toContain(`the target holds 4096 bytes, but 'v1' has ${v1.length}`);
    expect((await readFile(short)).length).toBe(4096);
    // A store whose live volume is not v1 (here v3) refuses it and keeps its volume.
    const b = await MemStore.create({ size: 0, chunkSize: 1024 });
    await importImage(b.store, Readable.from([v3]));
    const refused = await applyDiff(Readable.from([v1v2]), b.store.volume(LIVE)).catch((e) => e);
    expect(isStoreError(refused, 'ERR_INVALID_STATE'), String(refused)).toBe(true);
    expectBytes(await b.store.read(0, v3.length), v3, 'the other store, untouched');
    expect((await b.store.check({ data: true })).problems).toEqual([]);
    // A stream that grows the volume, refused before any write: the target keeps its size too.
    await a.store.resize(v1.length + 3000);
    await a.store.write(v1.length + 1000, content(rand, 1500));
    await a.store.write(0, content(rand, 2048)); // where v1 and v3 differ
    await a.store.createSnapshot('v4');
    const v3v4 = await collect((sink) => exportDiff(a.store, 'v3', 'v4', sink));
    const notV3 = join(dir, 'not-v3.img');
    await writeFile(notV3, v1);
    const grown = await applyDiff(Readable.from([v3v4]), notV3).catch((e) => e);
    expect(isStoreError(grown, 'ERR_INVALID_STATE'), String(grown)).toBe(true);
    expectBytes(new Uint8Array(await readFile(notV3)), v1, 'refused, same size');
    // A version-1 stream (no base size, no digests) is still read, and applied unchecked.
    const old = join(dir, 'old.img');
    await writeFile(old, v1);
    const info = await applyDiff(Readable.from([toVersion1(v1v2)]), old);
    expect(info).toMatchObject({ base: 'v1', target: 'v2' });
    expectBytes(new Uint8Array(await readFile(old)), v2, 'a version-1 stream');
    await a.store.close();
    await b.store.close();
  });
});

describe('import sizes', () => {
  test('an image that is not a whole number of chunks, into a larger volume', async () => {
    // Regression: the import grows the page layer in its open transaction; chunks in the grown
    // part were taken for damage ("past the end") and their dedup advice refused.
    const m = await MemStore.create({ size: 8 * 4096 + 4096, chunkSize: 4096, initialPages: 16 });
    const img = image(6, 8, 4096, 4).subarray(0, 8 * 4096 - 1000);
    const path = join(dir, 'odd.img');
    await writeFile(path, img);
    await importImage(m.store, path);
    expect(m.store.size).toBe(img.length);
    expectBytes(await m.store.read(0, img.length), img, 'odd-sized import');
    expect((await m.store.check({ data: true })).problems).toEqual([]);
    await m.store.close();
  });
});

describe('a store in a directory', () => {
  test('create, reopen, lock, exists, not found', async () => {
    const path = join(dir, 'store');
    const s = await Store.create(path, { size: 1 << 20, initialPages: 1024 });
    await s.write(0, new Uint8Array(4096).fill(3));
    const locked = await Store.open(path).catch((e) => e);
    expect(isStoreError(locked, 'ERR_LOCKED')).toBe(true);
    const exists = await Store.create(path, { size: 1 }).catch((e) => e);
    expect(isStoreError(exists, 'ERR_EXISTS')).toBe(true);
    await s.close();
    // Readers share the store; a writer cannot open meanwhile; readers cannot write.
    const r1 = await Store.open(path, { readOnly: true });
    const r2 = await Store.open(path, { readOnly: true });
    expect((await r2.read(0, 1))[0]).toBe(3);
    expect(r1.readOnly).toBe(true);
    expect(isStoreError(await r1.write(0, new Uint8Array(1)).catch((e) => e), 'ERR_READ_ONLY')).toBe(true);
    expect(isStoreError(await r1.createSnapshot('x').catch((e) => e), 'ERR_READ_ONLY')).toBe(true);
    expect(isStoreError(await Store.open(path).catch((e) => e), 'ERR_LOCKED')).toBe(true);
    expect((await r1.check()).ok).toBe(true);
    await r1.close();
    await r2.close();
    const again = await Store.open(path);
    expect((await again.read(0, 1))[0]).toBe(3);
    await again.close();
    const missing = await Store.open(join(dir, 'nothing')).catch((e) => e);
    expect(isStoreError(missing, 'ERR_NOT_FOUND')).toBe(true);
    const closed = await again.read(0, 1).catch((e) => e);
    expect(isStoreError(closed, 'ERR_CLOSED')).toBe(true);
  });
});
