// Long suites (pnpm --filter @deja/storage test:slow): the conformance suite with many more random
// steps, and crash sweeps of seeded random workloads over memory and over files, every crash point
// and every mode, with each post-crash image checked against a model of flushed and cached writes.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { createRandom } from '../src/_internal-random';
import { storageConformance } from '../src/conformance';
import { crashSweep, FaultyStorage, FileStorage, MemoryStorage, type Storage } from '../src/index';

const dir = fs.mkdtempSync(join(tmpdir(), 'deja-storage-slow-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;

for (const seed of [101, 202, 303]) {
  storageConformance(test, {
    prefix: `slow MemoryStorage seed ${seed}`,
    create: async () => new MemoryStorage(),
    reopen: async (closed) => new MemoryStorage({ data: (closed as MemoryStorage).snapshot() }),
    seed,
    steps: 5000,
  });
  storageConformance(test, {
    prefix: `slow FileStorage async seed ${seed}`,
    create: () => FileStorage.open(join(dir, `c-${files++}`), { create: true, io: 'async' }),
    reopen: (closed) => FileStorage.open((closed as FileStorage).path, { io: 'async' }),
    seed,
    steps: 3000,
  });
  storageConformance(test, {
    prefix: `slow FaultyStorage seed ${seed}`,
    create: () => FaultyStorage.wrap(new MemoryStorage(), { seed }),
    seed,
    steps: 3000,
  });
}

interface Model {
  durable: Uint8Array;
  cache: { offset: number; data: Uint8Array }[];
}

function overlay(model: Model): Uint8Array {
  const size = model.cache.reduce((s, w) => Math.max(s, w.offset + w.data.length), model.durable.length);
  const out = new Uint8Array(size);
  out.set(model.durable);
  for (const w of model.cache) out.set(w.data, w.offset);
  return out;
}

/** A seeded workload of writes, writevs and flushes; the model follows what was called and flushed. */
function randomWorkload(seed: number, steps: number, model: Model) {
  return async (store: Storage): Promise<void> => {
    model.durable = new Uint8Array(0);
    model.cache = [];
    const random = createRandom(seed);
    for (let step = 0; step < steps; step++) {
      const choice = random() % 10;
      if (choice < 6) {
        const offset = random() % 6000;
        const data = new Uint8Array(1 + (random() % 1500)).fill(1 + (step % 255));
        model.cache.push({ offset, data });
        await store.write(offset, data);
      } else if (choice < 8) {
        const batch = [0, 1].map((k) => ({
          offset: random() % 6000,
          data: new Uint8Array(1 + (random() % 700)).fill(1 + ((step + k * 100) % 255)),
        }));
        model.cache.push(...batch);
        await store.writev(batch);
      } else {
        await store.flush();
        model.durable = overlay(model);
        model.cache = [];
      }
    }
  };
}

function checkImage(image: Uint8Array, model: Model, mode: string): void {
  if (mode === 'drop') expect(image).toEqual(model.durable);
  else if (mode === 'keep') expect(image).toEqual(overlay(model));
  else {
    for (let b = 0; b < Math.max(image.length, model.durable.length); b++) {
      const value = image[b] ?? 0;
      if (value === (model.durable[b] ?? 0)) continue;
      if (!model.cache.some((w) => b >= w.offset && b < w.offset + w.data.length && w.data[0] === value)) {
        expect.fail(`byte ${b} holds ${value}: neither flushed nor written since`);
      }
    }
  }
}

describe('crash sweeps of random workloads', () => {
  for (const seed of [1, 2, 3]) {
    test(`memory, seed ${seed}`, async () => {
      const model: Model = { durable: new Uint8Array(0), cache: [] };
      const result = await crashSweep({
        create: () => new MemoryStorage(),
        workload: randomWorkload(seed, 80, model),
        reopen: (medium) => new MemoryStorage({ data: (medium as MemoryStorage).snapshot() }),
        check: async (image, info) => {
          checkImage(await image.read(0, await image.size()), model, info.mode);
        },
        seed,
      });
      expect(result.runs).toBe((result.operations + 1) * 4);
    });
  }

  test('files, seed 9', async () => {
    const model: Model = { durable: new Uint8Array(0), cache: [] };
    await crashSweep({
      create: () => FileStorage.open(join(dir, `sweep-${files++}`), { create: true }),
      workload: randomWorkload(9, 40, model),
      reopen: (medium) => FileStorage.open((medium as FileStorage).path),
      check: async (image, info) => {
        checkImage(await image.read(0, await image.size()), model, info.mode);
      },
      dispose: (medium) => fs.rmSync((medium as FileStorage).path, { force: true }),
      seed: 9,
    });
  });
});
