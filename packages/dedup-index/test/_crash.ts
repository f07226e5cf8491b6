// The crash-sweep workload and checker shared by the default and the slow crash tests.

import { MemoryStorage, type Storage } from '@deja/storage';
import { crashSweep } from '@deja/storage/testing';
import type { GeometryParameters } from '@deja/volume-geometry';
import { expect } from 'vitest';
import { DedupIndex, DedupIndexError } from '../src/index';
import { hex, makeNames, meta } from './_helpers';

export interface SweepCase {
  geometry: GeometryParameters;
  zoneCount?: number;
  sparseSampleRate?: number;
  /** Requests before the first close, and posts after the reopen. */
  first: number;
  second: number;
  /** Crash points to run (default all). */
  points?: Iterable<number>;
  seed?: number;
}

export async function runSweep(c: SweepCase): Promise<{ operations: number; runs: number }> {
  const names = makeNames(c.first + c.second, 21);
  const fresh = makeNames(200, 22);
  const history = names.map((_, i) => new Set([hex(meta(i, 0)), hex(meta(i, 1))]));
  const options = {
    geometry: c.geometry,
    zoneCount: c.zoneCount,
    sparseSampleRate: c.sparseSampleRate,
    nonce: 5,
    cachePages: 4,
  };

  async function workload(storage: Storage): Promise<void> {
    const index = await DedupIndex.create(storage, options);
    for (let i = 0; i < c.first; i++) {
      await index.post(names[i]!, meta(i, 0));
      if (i % 7 === 6) await index.update(names[i - 3]!, meta(i - 3, 1));
      if (i % 11 === 10) await index.delete(names[i - 5]!);
    }
    await index.close();
    const again = await DedupIndex.open(storage, { cachePages: 4 });
    for (let i = c.first; i < c.first + c.second; i++) {
      await again.post(names[i]!, meta(i, 0));
      if (i % 5 === 4) await again.query(names[i - Math.min(i, 400)]!, { refresh: true });
    }
    await again.close();
  }

  async function check(image: Storage, flushes: number, mode: string): Promise<void> {
    let index: DedupIndex;
    try {
      index = await DedupIndex.open(image, { cachePages: 4 });
    } catch (error) {
      // Only an index whose creation never reached a flush may be missing or torn.
      expect(flushes).toBe(0);
      expect(error).toBeInstanceOf(DedupIndexError);
      return;
    }
    let found = 0;
    for (let i = 0; i < names.length; i++) {
      const got = await index.query(names[i]!);
      if (got !== undefined) {
        found++;
        expect(history[i]!.has(hex(got))).toBe(true);
      }
    }
    // After the first close, the chapters it flushed survive a crash that drops or keeps the later
    // writes; torn or partly lost writes may damage every chapter still in the window.
    if (flushes >= 3 && (mode === 'drop' || mode === 'keep')) expect(found).toBeGreaterThan(0);
    // It keeps working.
    for (let i = 0; i < fresh.length; i++)
      expect(await index.post(fresh[i]!, meta(5000 + i))).toBeUndefined();
    for (let i = 0; i < fresh.length; i++)
      expect(hex(await index.query(fresh[i]!))).toBe(hex(meta(5000 + i)));
    await index.close();
    const reopened = await DedupIndex.open(image, { cachePages: 4 });
    expect(reopened.getStats().rebuilt).toBe(false);
    expect(hex(await reopened.query(fresh[0]!))).toBe(hex(meta(5000)));
  }

  return crashSweep({
    create: () => new MemoryStorage(),
    reopen: (medium) => new MemoryStorage({ data: (medium as MemoryStorage).snapshot() }),
    workload,
    check: (image, info) => check(image, info.flushes, info.mode),
    seed: c.seed ?? 1,
    points: c.points,
  });
}
