// Property tests against the model: random post / update / query / delete sequences over several
// chapter rollovers and volume wrap-arounds, with clean close/open and crash/rebuild in the middle.
// An invariant check runs after every step.

import { volumeIndexZoneOf } from '@deja/chapter-index';
import { MemoryStorage } from '@deja/storage';
import type { GeometryParameters } from '@deja/volume-geometry';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DedupIndex } from '../src/index';
import { hex, makeNames, meta, SMALL } from './_helpers';
import { Model } from './_model';

type Op =
  | { type: 'post' | 'update'; name: number; version: number }
  | { type: 'query' | 'refresh' | 'delete'; name: number }
  | { type: 'reopen' }
  | { type: 'crash' };

/**
 * Requests for a sparse index: posts of one metadata per name, queries, refreshes. A name the
 * sparse cache finds again may come from any of its records still on storage (a deleted one, or an
 * older version), as in UDS; with one metadata per name and no deletes every answer is exact.
 */
function sparseOpArb(names: number): fc.Arbitrary<Op> {
  const name = fc.nat({ max: names - 1 });
  return fc.oneof(
    {
      weight: 500,
      arbitrary: fc.record({ type: fc.constant('post' as const), name, version: fc.constant(0) }),
    },
    { weight: 200, arbitrary: fc.record({ type: fc.constant('query' as const), name }) },
    { weight: 50, arbitrary: fc.record({ type: fc.constant('refresh' as const), name }) },
    { weight: 1, arbitrary: fc.constant({ type: 'reopen' as const }) },
    { weight: 1, arbitrary: fc.constant({ type: 'crash' as const }) },
  );
}

function opArb(names: number): fc.Arbitrary<Op> {
  const name = fc.nat({ max: names - 1 });
  return fc.oneof(
    { weight: 500, arbitrary: fc.record({ type: fc.constant('post' as const), name, version: fc.nat(3) }) },
    { weight: 100, arbitrary: fc.record({ type: fc.constant('update' as const), name, version: fc.nat(3) }) },
    { weight: 200, arbitrary: fc.record({ type: fc.constant('query' as const), name }) },
    { weight: 50, arbitrary: fc.record({ type: fc.constant('refresh' as const), name }) },
    { weight: 50, arbitrary: fc.record({ type: fc.constant('delete' as const), name }) },
    { weight: 1, arbitrary: fc.constant({ type: 'reopen' as const }) },
    { weight: 1, arbitrary: fc.constant({ type: 'crash' as const }) },
  );
}

/** The most chapters any run opened, to check that the runs wrap the volume. */
let mostChapters = 0;

async function run(
  ops: Op[],
  zoneCount: number,
  poolSize: number,
  seed: number,
  geometry: GeometryParameters = SMALL,
  sparseSampleRate?: number,
): Promise<number> {
  const names = makeNames(poolSize, seed);
  const keys = names.map((n) => hex(n)!);
  const storage = new MemoryStorage();
  let index = await DedupIndex.create(storage, {
    geometry,
    zoneCount,
    sparseSampleRate,
    nonce: 99,
    cachePages: 6,
  });
  const zoneOfName = volumeIndexZoneOf(index.config);
  const byKey = new Map(keys.map((k, i) => [k, names[i]!]));
  const rate = index.config.sparseSampleRate;
  const isSample = (key: string) => {
    const name = byKey.get(key)!;
    return rate > 0 && ((name[14]! << 8) | name[15]!) % rate === 0;
  };
  const model = new Model(index.geometry, zoneCount, (key) => zoneOfName(byKey.get(key)!), isSample);
  const check = () => {
    const stats = index.getStats();
    expect(stats.openChapter).toBe(model.newest);
    expect(stats.openChapterRecords).toBe(model.zones.reduce((s, z) => s + z.size, 0));
    expect(stats.chapterIndexDrops).toBe(0);
    expect(stats.overflows).toBe(0);
  };
  for (const op of ops) {
    if (op.type === 'reopen') {
      await index.close();
      index = await DedupIndex.open(storage, { cachePages: 6 });
      expect(index.getStats().rebuilt).toBe(false);
      model.reopen();
    } else if (op.type === 'crash') {
      // Abandon the index without a save: the next open rebuilds from the chapters.
      index = await DedupIndex.open(storage, { cachePages: 6 });
      expect(index.getStats().rebuilt).toBe(true);
      model.crash();
    } else {
      const name = names[op.name]!;
      const key = keys[op.name]!;
      const visibility = model.visibility(key);
      // 'maybe' (a non-sampled name in a sparse chapter): the model follows what the index found.
      const visible = (found: boolean) => (visibility === 'maybe' ? found : visibility === 'yes');
      switch (op.type) {
        case 'post': {
          const m = meta(op.name, op.version);
          const got = hex(await index.post(name, m));
          expect(got).toBe(model.post(key, hex(m)!, visible(got !== undefined)));
          break;
        }
        case 'update': {
          const m = meta(op.name, op.version + 10);
          const got = hex(await index.update(name, m));
          expect(got).toBe(model.update(key, hex(m)!, visible(got !== undefined)));
          break;
        }
        case 'query': {
          const got = hex(await index.query(name));
          expect(got).toBe(model.query(key, visible(got !== undefined), false));
          break;
        }
        case 'refresh': {
          const got = hex(await index.query(name, { refresh: true }));
          expect(got).toBe(model.query(key, visible(got !== undefined), true));
          break;
        }
        case 'delete': {
          const got = await index.delete(name);
          expect(got).toBe(model.delete(key, visible(got)));
          break;
        }
      }
    }
    check();
  }
  // Every name, at the end.
  for (let i = 0; i < names.length; i++) {
    const got = hex(await index.query(names[i]!));
    const v = model.visibility(keys[i]!);
    expect(got).toBe(model.query(keys[i]!, v === 'maybe' ? got !== undefined : v === 'yes', false));
  }
  mostChapters = Math.max(mostChapters, model.newest);
  expect(index.getStats().cacheMisses).toBeGreaterThan(0);
  await index.close();
  return model.newest;
}

describe('DedupIndex against a model', () => {
  it('one zone: several wrap-arounds of an 8-chapter volume, with reopen and crash', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb(500), { minLength: 1500, maxLength: 2500 }),
        fc.nat(1000),
        async (ops, seed) => {
          await run(ops, 1, 500, seed);
        },
      ),
      { seed: 7, numRuns: 12, endOnFailure: true },
    );
    expect(mostChapters).toBeGreaterThan(SMALL.chaptersPerVolume);
  });

  it('two zones', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb(400), { minLength: 1500, maxLength: 2000 }),
        fc.nat(1000),
        async (ops, seed) => {
          await run(ops, 2, 400, seed);
        },
      ),
      { seed: 11, numRuns: 8, endOnFailure: true },
    );
  });

  it('a sparse index: sampled names everywhere, the others in dense chapters or the sparse cache', async () => {
    const sparse = {
      bytesPerPage: 1024,
      recordPagesPerChapter: 4,
      chaptersPerVolume: 10,
      sparseChaptersPerVolume: 7,
    };
    await fc.assert(
      fc.asyncProperty(
        fc.array(sparseOpArb(500), { minLength: 1500, maxLength: 2500 }),
        fc.nat(1000),
        async (ops, seed) => {
          await run(ops, 1, 500, seed, sparse, 4);
        },
      ),
      { seed: 13, numRuns: 8, endOnFailure: true },
    );
  });

  it('a long sequence wraps the volume many times', async () => {
    const ops: Op[] = [];
    const next = fc.sample(fc.array(opArb(4000), { minLength: 10000, maxLength: 10000 }), {
      seed: 3,
      numRuns: 1,
    })[0]!;
    ops.push(...next);
    expect(await run(ops, 1, 4000, 5)).toBeGreaterThan(2 * SMALL.chaptersPerVolume);
  });
});
