// Byte flips and truncation of every file of a store: opening and reading every version either
// fails with a typed StoreError or returns exactly the right bytes. Never another error, a hang,
// or wrong bytes.
import { MemoryStorage } from '@deja/storage';
import { describe, expect, test } from 'vitest';
import { isStoreError, LIVE, Store } from '../src/index';
import { content, prng } from './_helpers';

const CS = 512;

async function build(): Promise<{ data: Uint8Array; index: Uint8Array; model: Map<string, Uint8Array> }> {
  const data = new MemoryStorage();
  const index = new MemoryStorage();
  const store = await Store.create(
    { data, index },
    { size: 40 * CS, chunkSize: CS, initialPages: 128, maxSnapshots: 32 },
  );
  const rand = prng(3);
  const model = new Map<string, Uint8Array>([[LIVE, new Uint8Array(40 * CS)]]);
  const live = model.get(LIVE) as Uint8Array;
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 12; i++) {
      const off = Math.floor(rand() * 38 * CS);
      const d = content(rand, 1 + Math.floor(rand() * 2 * CS), 4);
      await store.write(off, d);
      live.set(d, off);
    }
    await store.createSnapshot(`s${round}`);
    model.set(`s${round}`, live.slice());
  }
  await store.close();
  return { data: data.snapshot(), index: index.snapshot(), model };
}

/**
 * Opens and reads everything; returns 'ok', 'typed' (a StoreError), 'reported' (the page layer
 * dropped the last transaction as damaged and says so), or throws on anything else.
 */
async function attempt(
  data: Uint8Array,
  index: Uint8Array,
  model: Map<string, Uint8Array>,
  what: string,
): Promise<'ok' | 'typed' | 'reported'> {
  let store: Store | undefined;
  try {
    store = await Store.open({
      data: new MemoryStorage({ data }),
      index: new MemoryStorage({ data: index }),
    });
    if (store.recovery.dropped !== undefined) return 'reported';
    for (const [version, bytes] of model) {
      const got = await store.volume(version).read(0, bytes.length);
      for (let i = 0; i < bytes.length; i++) {
        if (got[i] !== bytes[i])
          throw new Error(
            `${what}: ${version} byte ${i} is ${got[i]}, expected ${bytes[i]} (wrong bytes returned)`,
          );
      }
    }
    return 'ok';
  } catch (e) {
    if (isStoreError(e)) return 'typed';
    throw new Error(`${what}: ${(e as Error).stack}`);
  } finally {
    await store?.close().catch(() => {});
  }
}

describe('damaged store files', () => {
  test('byte flips in the data file: typed errors or correct data', async () => {
    const { data, index, model } = await build();
    const rand = prng(11);
    const seen = { ok: 0, typed: 0, reported: 0 };
    for (let i = 0; i < 150; i++) {
      const bad = data.slice();
      const at = Math.floor(rand() * bad.length);
      bad[at] = (bad[at] as number) ^ (1 << Math.floor(rand() * 8));
      seen[await attempt(bad, index, model, `flip at ${at}`)]++;
    }
    expect(seen.typed).toBeGreaterThan(0);
  }, 120_000);

  test('byte flips in the index file: correct data (the index is advice)', async () => {
    const { data, index, model } = await build();
    const rand = prng(12);
    for (let i = 0; i < 30; i++) {
      const bad = index.slice();
      const at = Math.floor(rand() * bad.length);
      bad[at] = (bad[at] as number) ^ 0xff;
      expect(await attempt(data, bad, model, `index flip at ${at}`)).toBe('ok');
    }
    expect(await attempt(data, new Uint8Array(0), model, 'index lost')).toBe('ok');
  }, 120_000);

  test('truncated files: typed errors or correct data', async () => {
    const { data, index, model } = await build();
    for (const frac of [0, 0.001, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999]) {
      const cut = Math.floor(data.length * frac);
      await attempt(data.subarray(0, cut), index, model, `data cut at ${cut}`);
      expect(
        await attempt(data, index.subarray(0, Math.floor(index.length * frac)), model, `index cut`),
      ).toBe('ok');
    }
  }, 120_000);
});
