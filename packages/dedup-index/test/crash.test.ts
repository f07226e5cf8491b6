// Crash at every storage operation of a workload (every crash mode of FaultyStorage), then reopen:
// the index opens (once its creation was flushed), never answers a metadata the name did not have,
// and keeps working.

import { crashSweep, MemoryStorage, type Storage } from '@deja/storage';
import { describe, expect, it } from 'vitest';
import { DedupIndex, DedupIndexError } from '../src/index';
import { hex, makeNames, meta, SMALL } from './_helpers';

const NAMES = makeNames(1100, 21);
const FRESH = makeNames(200, 22);

/** Every metadata each name is given by the workload. */
const HISTORY = NAMES.map((_, i) => new Set([hex(meta(i, 0)), hex(meta(i, 1))]));

async function workload(storage: Storage, first: number, second: number): Promise<void> {
  const index = await DedupIndex.create(storage, { geometry: SMALL, nonce: 5, cachePages: 4 });
  for (let i = 0; i < first; i++) {
    await index.post(NAMES[i]!, meta(i, 0));
    if (i % 7 === 6) await index.update(NAMES[i - 3]!, meta(i - 3, 1));
    if (i % 11 === 10) await index.delete(NAMES[i - 5]!);
  }
  await index.close();
  const again = await DedupIndex.open(storage, { cachePages: 4 });
  for (let i = first; i < first + second; i++) {
    await again.post(NAMES[i]!, meta(i, 0));
    if (i % 5 === 4) await again.query(NAMES[i - 400]!, { refresh: true });
  }
  await again.close();
}

async function check(image: Storage, flushes: number): Promise<void> {
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
  for (let i = 0; i < NAMES.length; i++) {
    const got = await index.query(NAMES[i]!);
    if (got !== undefined) {
      found++;
      expect(HISTORY[i]!.has(hex(got))).toBe(true);
    }
  }
  if (flushes >= 3) expect(found).toBeGreaterThan(0);
  // It keeps working.
  for (let i = 0; i < FRESH.length; i++) expect(await index.post(FRESH[i]!, meta(5000 + i))).toBeUndefined();
  for (let i = 0; i < FRESH.length; i++) expect(hex(await index.query(FRESH[i]!))).toBe(hex(meta(5000 + i)));
  await index.close();
  const reopened = await DedupIndex.open(image, { cachePages: 4 });
  expect(reopened.getStats().rebuilt).toBe(false);
  expect(hex(await reopened.query(FRESH[0]!))).toBe(hex(meta(5000)));
}

describe('crash at every storage operation', () => {
  it('create, 700 requests, close, open, 400 posts, close: every point, every mode', async () => {
    const result = await crashSweep({
      create: () => new MemoryStorage(),
      reopen: (medium) => new MemoryStorage({ data: (medium as MemoryStorage).snapshot() }),
      workload: (storage) => workload(storage, 700, 400),
      check: (image, info) => check(image, info.flushes),
      seed: 1,
    });
    expect(result.operations).toBeGreaterThan(15);
    expect(result.runs).toBe((result.operations + 1) * 4);
  });
});
