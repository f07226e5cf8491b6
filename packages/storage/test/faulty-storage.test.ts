// FaultyStorage: operation numbering, each crash mode's effect on unflushed writes (exactly for
// drop/keep, by sector and write atomicity for torn/random), determinism from the seed, injected
// I/O errors, reopening the post-crash image (over memory; @deja/storage-file does it over a file),
// and a fast-check model test that crashes random workloads at random points and checks the image
// against every mode's rule.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { MemoryStorage } from '../src/index';
import { CRASH_MODES, type CrashMode, FaultyStorage } from '../src/testing';

const A = new Uint8Array(4096).fill(0xaa);
const B = new Uint8Array(4096).fill(0xbb);
const C = new Uint8Array(1000).fill(0xcc);

/** Writes A and flushes (ops 0-1), then writes B over it and C further on (ops 2-3), then flushes (op 4). */
async function scenario(
  mode: CrashMode,
  seed: number,
  crashAt = 4,
): Promise<{ image: Uint8Array; store: FaultyStorage }> {
  const disk = new MemoryStorage();
  const store = await FaultyStorage.wrap(disk, { seed, crashAt, crashMode: mode });
  await store.write(0, A);
  await store.flush();
  const rest = [store.write(0, B), store.write(8192, C), store.flush()];
  const results = await Promise.allSettled(rest);
  expect(results.at(-1)).toMatchObject({ status: 'rejected', reason: { code: 'ERR_CRASHED' } });
  return { image: disk.snapshot(), store };
}

function sectors(image: Uint8Array, from: number, to: number): number[][] {
  const out: number[][] = [];
  for (let at = from; at < to; at += 512) out.push([...new Set(image.subarray(at, Math.min(to, at + 512)))]);
  return out;
}

describe('FaultyStorage', () => {
  test('numbers read, write, readv, writev and flush; not size or close', async () => {
    const store = await FaultyStorage.wrap(new MemoryStorage());
    expect(store.operations).toBe(0);
    await store.write(0, new Uint8Array(4));
    await store.read(0, 4);
    await store.readv([{ offset: 0, length: 1 }]);
    await store.writev([{ offset: 1, data: new Uint8Array(1) }]);
    await store.size();
    await store.flush();
    await store.read(0, 0); // empty reads touch nothing
    expect(store.operations).toBe(5);
    expect(store.flushes).toBe(1);
    await store.close();
    expect(store.operations).toBe(5);
  });

  test("'drop' keeps exactly what was flushed", async () => {
    const { image, store } = await scenario('drop', 1);
    expect(image).toEqual(A);
    expect(store.crashed).toBe(true);
    expect(store.flushes).toBe(1);
  });

  test("'keep' keeps every write, as if the flush had completed", async () => {
    const { image } = await scenario('keep', 1);
    const expected = new Uint8Array(9192);
    expected.set(B);
    expected.set(C, 8192);
    expect(image).toEqual(expected);
  });

  test("'torn' keeps each 512-byte sector whole, old or new, and differs by seed", async () => {
    let mixed = 0;
    const images = new Set<string>();
    for (let seed = 0; seed < 12; seed++) {
      const { image } = await scenario('torn', seed);
      images.add(Buffer.from(image).toString('base64'));
      const first = sectors(image, 0, 4096);
      for (const sector of first) expect([[0xaa], [0xbb]]).toContainEqual(sector);
      if (new Set(first.map((s) => s[0])).size === 2) mixed++;
      if (image.length > 4096) {
        // C's sectors (8192-8703, 8704-9191): each all C or never written (zeros); the image ends at a survivor.
        for (const sector of sectors(image, 8192, image.length)) expect([[0], [0xcc]]).toContainEqual(sector);
      }
    }
    expect(mixed).toBeGreaterThan(0);
    expect(images.size).toBeGreaterThan(1);
  });

  test("'random' keeps each write whole or drops it", async () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 16; seed++) {
      const { image } = await scenario('random', seed);
      const first = [...new Set(image.subarray(0, 4096))];
      expect([[0xaa], [0xbb]]).toContainEqual(first);
      const hasC = image.length === 9192;
      if (hasC) expect([...new Set(image.subarray(8192))]).toEqual([0xcc]);
      else expect(image.length).toBe(4096);
      seen.add(`${first[0]}:${hasC}`);
    }
    expect(seen.size).toBe(4);
  });

  test('the same seed gives the same image', async () => {
    for (const mode of CRASH_MODES) {
      const one = await scenario(mode, 99);
      const two = await scenario(mode, 99);
      expect(one.image).toEqual(two.image);
    }
  });

  test('a write at the crash point is in flight: subject to the mode', async () => {
    const kept = await scenario('keep', 1, 3);
    expect(kept.image.length).toBe(9192);
    const dropped = await scenario('drop', 1, 3);
    expect(dropped.image).toEqual(A);
  });

  test('after the crash every operation rejects with ERR_CRASHED; close() still resolves', async () => {
    const disk = new MemoryStorage();
    const store = await FaultyStorage.wrap(disk, { crashAt: 1 });
    await store.write(0, A);
    await expect(store.read(0, 1)).rejects.toMatchObject({ code: 'ERR_CRASHED' });
    await expect(store.write(0, A)).rejects.toMatchObject({ code: 'ERR_CRASHED' });
    await expect(store.flush()).rejects.toMatchObject({ code: 'ERR_CRASHED' });
    await expect(store.crash()).rejects.toMatchObject({ code: 'ERR_CRASHED' });
    expect(disk.closed).toBe(true);
    await store.close();
    await expect(store.crash()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    expect(disk.snapshot()).toEqual(new Uint8Array(0));
  });

  test('crash() cuts the power after the operations already called', async () => {
    const disk = new MemoryStorage();
    const store = await FaultyStorage.wrap(disk);
    const write = store.write(0, A);
    const crash = store.crash('keep');
    const later = store.write(4096, B);
    await write;
    await crash;
    await expect(later).rejects.toMatchObject({ code: 'ERR_CRASHED' });
    expect(disk.snapshot()).toEqual(A);
    await expect(store.crash('melt' as CrashMode)).rejects.toBeInstanceOf(TypeError);
  });

  test('unflushedWrites() lists the volatile cache in call order', async () => {
    const store = await FaultyStorage.wrap(new MemoryStorage());
    await store.write(0, A);
    await store.writev([{ offset: 10, data: C }]);
    expect(store.unflushedWrites()).toEqual([
      { offset: 0, data: A },
      { offset: 10, data: C },
    ]);
    await store.flush();
    expect(store.unflushedWrites()).toEqual([]);
    await store.close();
  });

  test('failAt and failWhen inject failures with no effect; a failed flush poisons the handle', async () => {
    const disk = new MemoryStorage();
    const store = await FaultyStorage.wrap(disk, {
      failAt: [1],
      failWhen: (op) => op.kind === 'flush' && op.index >= 4,
    });
    await store.write(0, A); // 0
    await expect(store.write(0, B)).rejects.toMatchObject({ code: 'ERR_IO' }); // 1
    expect(await store.read(0, 4096)).toEqual(A); // 2: the failed write left nothing
    await store.flush(); // 3
    await store.write(4096, C); // 4: a write, not a flush
    await expect(store.flush()).rejects.toMatchObject({ code: 'ERR_IO' }); // 5
    await expect(store.write(0, B)).rejects.toMatchObject({ code: 'ERR_IO' }); // refused, not numbered
    expect(store.operations).toBe(6);
    expect(store.unflushedWrites()).toHaveLength(1); // C is still only in the cache
    await store.crash('drop');
    expect(disk.snapshot()).toEqual(A);
  });

  test("failCode 'ERR_NO_SPACE' simulates a full disk", async () => {
    const store = await FaultyStorage.wrap(new MemoryStorage(), { failAt: 0, failCode: 'ERR_NO_SPACE' });
    await expect(store.write(0, A)).rejects.toMatchObject({ code: 'ERR_NO_SPACE' });
    expect(await store.size()).toBe(0);
    await store.close();
  });

  test('bad options are TypeErrors and RangeErrors', async () => {
    const inner = new MemoryStorage();
    await expect(FaultyStorage.wrap(inner, { sectorSize: 500 })).rejects.toBeInstanceOf(RangeError);
    await expect(FaultyStorage.wrap(inner, { crashAt: -1 })).rejects.toBeInstanceOf(RangeError);
    await expect(FaultyStorage.wrap(inner, { failAt: [1.5] })).rejects.toBeInstanceOf(RangeError);
    await expect(FaultyStorage.wrap(inner, { crashMode: 'fire' as CrashMode })).rejects.toBeInstanceOf(
      TypeError,
    );
    await expect(FaultyStorage.wrap(inner, { seed: 0.5 })).rejects.toBeInstanceOf(TypeError);
    await expect(FaultyStorage.wrap(inner, { failCode: 'ERR_X' as 'ERR_IO' })).rejects.toBeInstanceOf(
      TypeError,
    );
  });

  test('property: reads see the cache; after a crash the image obeys the mode', async () => {
    const write = fc.record({
      kind: fc.constant('write' as const),
      offset: fc.nat(3000),
      length: fc.integer({ min: 1, max: 1500 }),
    });
    const op = fc.oneof(
      { weight: 4, arbitrary: write },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('flush' as const) }) },
      {
        weight: 2,
        arbitrary: fc.record({ kind: fc.constant('read' as const), at: fc.nat(), length: fc.nat(2000) }),
      },
    );
    const modes = fc.constantFrom(...CRASH_MODES);
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { maxLength: 25 }),
        fc.nat(30),
        modes,
        fc.nat(),
        async (ops, crashAt, mode, seed) => {
          const disk = new MemoryStorage();
          const store = await FaultyStorage.wrap(disk, { seed, crashAt, crashMode: mode, sectorSize: 256 });
          let durable: Uint8Array = new Uint8Array(0);
          let cache: { offset: number; data: Uint8Array }[] = [];
          const overlay = (): Uint8Array => {
            const size = cache.reduce((s, w) => Math.max(s, w.offset + w.data.length), durable.length);
            const out = new Uint8Array(size);
            out.set(durable);
            for (const w of cache) out.set(w.data, w.offset);
            return out;
          };
          for (let i = 0; i < ops.length && !store.crashed; i++) {
            const o = ops[i]!;
            if (o.kind === 'write') {
              const data = new Uint8Array(o.length).fill((i % 250) + 1);
              cache.push({ offset: o.offset, data });
              await store.write(o.offset, data).catch(() => {});
            } else if (o.kind === 'flush') {
              const flushed = await store.flush().then(
                () => true,
                () => false,
              );
              if (flushed) {
                durable = overlay();
                cache = [];
              }
            } else {
              const view = overlay();
              const offset = view.length === 0 ? 0 : o.at % (view.length + 1);
              const length = Math.min(o.length, view.length - offset);
              const read = await store.read(offset, length).catch(() => undefined);
              if (!store.crashed) expect(read).toEqual(view.subarray(offset, offset + length));
            }
            if (!store.crashed) {
              // Invariants after every step: size and cache match the model.
              expect(await store.size()).toBe(overlay().length);
              expect(store.unflushedWrites()).toEqual(cache);
            }
          }
          if (!store.crashed) await store.crash(mode);
          const image = disk.snapshot();
          if (mode === 'drop') expect(image).toEqual(durable);
          else if (mode === 'keep') expect(image).toEqual(overlay());
          else {
            // Every byte is its durable value or the value of a cached write covering it.
            for (let b = 0; b < Math.max(image.length, durable.length); b++) {
              const allowed = new Set([durable[b] ?? 0]);
              for (const w of cache)
                if (b >= w.offset && b < w.offset + w.data.length) allowed.add(w.data[0]!);
              if (!allowed.has(image[b] ?? 0)) expect.fail(`byte ${b} = ${image[b]} not in ${[...allowed]}`);
            }
            if (mode === 'random') {
              // Whole writes: a write that survived shows on every byte no later survivor covers.
              // Checked on single-write caches, where it is exact: all of it or none of it.
              if (cache.length === 1) {
                const w = cache[0]!;
                const region = [...image.subarray(w.offset, w.offset + w.data.length)];
                const all = region.length === w.data.length && region.every((v) => v === w.data[0]);
                const none = region.every((v, k) => v === (durable[w.offset + k] ?? 0));
                expect(all || none).toBe(true);
              }
            }
          }
          await store.close();
        },
      ),
      { seed: 2024, numRuns: 200 },
    );
  });
});
