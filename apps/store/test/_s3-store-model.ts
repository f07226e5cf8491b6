// A whole Deja store (apps/store's Store) over two S3Storages, data and dedup index, against a naive
// model (per version, an array of bytes): random writes and discards of the live volume and of
// snapshots, flushes, snapshot create/delete/rollback, close and reopen from the bucket, check().
// Small geometry (512-byte chunks, 4 KiB objects, a cache of 8 objects, 8 metadata pages) so that
// writes straddle objects, the cache writes back and evicts, and the page layer's cache evicts.
// Shared by s3-store.test.ts and the slow suite.

import { expect } from 'vitest';
import { LIVE, Store } from '../src/index';
import { CS, content, openAdapters, prng } from './_s3-common';

export async function runStoreModel(
  endpoint: string,
  prefix: string,
  seed: number,
  steps: number,
): Promise<void> {
  const rand = prng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const size = (24 + int(24)) * CS + int(CS);
  let store = await Store.create(await openAdapters(endpoint, prefix, { create: true }), {
    size,
    chunkSize: CS,
    cachePages: 8,
    maxSnapshots: 32,
    initialPages: 64,
    index: { records: 1024 },
  });
  const model = new Map<string, Uint8Array>([[LIVE, new Uint8Array(size)]]);
  const log: string[] = [];
  let counter = 0;
  const snaps = () => [...model.keys()].filter((k) => k !== LIVE);
  try {
    for (let step = 0; step < steps; step++) {
      const r = rand();
      if (r < 0.35) {
        const live = model.get(LIVE)!;
        const offset = int(live.length);
        const data = content(rand, Math.min(live.length - offset, 1 + int(3 * CS)));
        log.push(`write live ${offset}+${data.length}`);
        await store.write(offset, data);
        live.set(data, offset);
      } else if (r < 0.42) {
        const live = model.get(LIVE)!;
        const offset = int(live.length);
        const length = Math.min(live.length - offset, int(4 * CS));
        log.push(`discard live ${offset}+${length}`);
        await store.discard(offset, length);
        live.fill(0, offset, offset + length);
      } else if (r < 0.52) {
        const names = snaps();
        if (names.length === 0) continue;
        const name = names[int(names.length)]!;
        const bytes = model.get(name)!;
        const offset = int(bytes.length);
        const data = content(rand, Math.min(bytes.length - offset, 1 + int(2 * CS)));
        log.push(`write ${name} ${offset}+${data.length}`);
        await store.volume(name).write(offset, data);
        bytes.set(data, offset);
      } else if (r < 0.6) {
        log.push('flush');
        await store.flush();
      } else if (r < 0.7) {
        const name = `s${counter++}`;
        log.push(`snapshot ${name}`);
        await store.createSnapshot(name);
        model.set(name, model.get(LIVE)!.slice());
      } else if (r < 0.76) {
        const names = snaps();
        if (names.length === 0) continue;
        const name = names[int(names.length)]!;
        log.push(`delete ${name}`);
        await store.deleteSnapshot(name);
        model.delete(name);
      } else if (r < 0.79) {
        const names = snaps();
        if (names.length === 0) continue;
        const name = names[int(names.length)]!;
        log.push(`rollback ${name}`);
        await store.rollback(name);
        model.set(LIVE, model.get(name)!.slice());
      } else if (r < 0.86) {
        log.push('reopen');
        await store.close();
        store = await Store.open(await openAdapters(endpoint, prefix));
      } else if (r < 0.9) {
        log.push('check');
        expect((await store.check({ data: true })).problems).toEqual([]);
      } else {
        continue;
      }
      for (const [version, bytes] of model) {
        const got = await store.volume(version).read(0, bytes.length);
        if (!equal(got, bytes)) throw new Error(`step ${step}: ${version} differs from the model`);
      }
    }
    expect((await store.check({ data: true })).problems).toEqual([]);
    await store.close();
    store = await Store.open(await openAdapters(endpoint, prefix, { readOnly: true }), { readOnly: true });
    for (const [version, bytes] of model) {
      if (!equal(await store.volume(version).read(0, bytes.length), bytes))
        throw new Error(`final ${version}`);
    }
    await store.close();
  } catch (e) {
    await store.close().catch(() => {});
    throw new Error(`seed ${seed}: ${(e as Error).message}\nlast ops: ${log.slice(-12).join('; ')}`, {
      cause: e,
    });
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
