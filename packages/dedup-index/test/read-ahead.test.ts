// Record page windows read ahead by a query batch (PageReader.planWindow): a batch of queries that
// waits for a window reads the windows of the queries after it in the same storage call; and the
// summaries of record pages kept after they leave the cache, which narrow a window read. Checked
// against a twin index fed the same queries one at a time (same answers, same statistics, page
// cache counts included), over chapter closes and volume wrap-arounds between the batches; that
// the batches did read several windows in one call; and failures: a storage that refuses a read of
// several windows (the batch reads its own window alone and goes on), and a window whose read fails
// (the batch stops where the single queries do).

import { MemoryStorage, type ReadRequest } from '@deja/storage';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DedupIndex, type DedupIndexError } from '../src/index';
import { hex, makeNames, meta, pack, SMALL } from './_helpers';

const NAMES = makeNames(1400, 77);

/** A MemoryStorage that counts its reads of several ranges, and can fail some reads. */
class CountingStorage extends MemoryStorage {
  /** readv calls with more than one request. */
  multiReads = 0;
  /** Windows read by those calls. */
  windowsAhead = 0;
  /** Refuse every read of more than one range. */
  refuseMulti = false;
  /** Fail every read that covers this byte offset (-1: none). */
  failAt = -1;
  /** How many ranges of each length readv was asked for. */
  readonly lengths = new Map<number, number>();

  override readv(requests: readonly ReadRequest[]): Promise<Uint8Array[]> {
    for (const { length } of requests) this.lengths.set(length, (this.lengths.get(length) ?? 0) + 1);
    if (requests.length > 1) {
      if (this.refuseMulti) return Promise.reject(new Error('no vectored reads today'));
      this.multiReads++;
      this.windowsAhead += requests.length - 1;
    }
    if (
      this.failAt >= 0 &&
      requests.some((r) => r.offset <= this.failAt && this.failAt < r.offset + r.length)
    ) {
      return Promise.reject(new Error('bad sector'));
    }
    return super.readv(requests);
  }

  override read(offset: number, length: number): Promise<Uint8Array> {
    if (this.failAt >= 0 && offset <= this.failAt && this.failAt < offset + length) {
      return Promise.reject(new Error('bad sector'));
    }
    return super.read(offset, length);
  }
}

type Answer = Uint8Array | undefined;

async function singleQueries(index: DedupIndex, names: Uint8Array[]): Promise<Answer[]> {
  const out: Answer[] = [];
  for (const name of names) out.push(await index.query(name));
  return out;
}

/** Twin indexes on counting storages, both fed the same posts. */
async function twins(
  cachePages: number,
  zoneCount: number,
  posts: number,
): Promise<{ a: DedupIndex; b: DedupIndex; storage: CountingStorage }> {
  const storage = new CountingStorage();
  const options = { geometry: SMALL, zoneCount, nonce: 3, cachePages };
  const a = await DedupIndex.create(storage, options);
  const b = await DedupIndex.create(new CountingStorage(), options);
  const names = NAMES.slice(0, posts);
  const metadata = names.map((_, i) => meta(i));
  await a.postMany(pack(names), pack(metadata));
  await b.postMany(pack(names), pack(metadata));
  return { a, b, storage };
}

describe('query batches read windows ahead', () => {
  it('answer as the single queries, with the same statistics, and read several windows at once', async () => {
    let multiReads = 0;
    let windowsAhead = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 3, max: 12 }),
        fc.constantFrom(1, 2),
        fc.integer({ min: 200, max: 1400 }),
        fc.array(
          fc.record({
            queries: fc.array(fc.nat({ max: NAMES.length - 1 }), {
              minLength: 0,
              maxLength: 200,
              size: 'max',
            }),
            // Posts between the query batches close chapters and reuse slots.
            posts: fc.array(fc.nat({ max: NAMES.length - 1 }), { minLength: 0, maxLength: 40 }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        async (cachePages, zoneCount, posts, rounds) => {
          const { a, b, storage } = await twins(cachePages, zoneCount, posts);
          // Every page read once (verified), so that later misses read windows.
          await a.queryMany(pack(NAMES.slice(0, posts)));
          await singleQueries(b, NAMES.slice(0, posts));
          expect(a.getStats()).toEqual(b.getStats());
          for (const round of rounds) {
            const names = round.queries.map((n) => NAMES[n]!);
            const got = await a.queryMany(pack(names));
            const want = await singleQueries(b, names);
            expect(got.map(hex)).toEqual(want.map(hex));
            expect(a.getStats()).toEqual(b.getStats());
            const postNames = round.posts.map((n) => NAMES[n]!);
            const postMetadata = round.posts.map((n) => meta(n, 1));
            await a.postMany(pack(postNames), pack(postMetadata));
            await b.postMany(pack(postNames), pack(postMetadata));
          }
          multiReads += storage.multiReads;
          windowsAhead += storage.windowsAhead;
        },
      ),
      { numRuns: 40, seed: 1907 },
    );
    // The look-ahead ran: reads of several windows, most of them taken by their queries.
    expect(multiReads).toBeGreaterThan(50);
    expect(windowsAhead).toBeGreaterThan(multiReads);
  });

  it('reads every window alone when the storage refuses a read of several', async () => {
    const { a, b, storage } = await twins(4, 1, 900);
    const names = NAMES.slice(0, 900);
    await a.queryMany(pack(names));
    await singleQueries(b, names);
    storage.refuseMulti = true;
    const shuffled = [...names].reverse();
    const got = await a.queryMany(pack(shuffled));
    expect(got.map(hex)).toEqual((await singleQueries(b, shuffled)).map(hex));
    expect(a.getStats()).toEqual(b.getStats());
    expect(got.filter((x) => x !== undefined).length).toBeGreaterThan(800);
  });

  it('a window whose read fails stops the batch where the single queries stop', async () => {
    const { a, b, storage } = await twins(4, 1, 900);
    const names = NAMES.slice(0, 900);
    await a.queryMany(pack(names));
    // Fail one byte in the middle of record page 1 of chapter 2 (names 256..383), on index a only.
    const g = a.geometry;
    const { layout } = a;
    const chapterBytes = g.pagesPerChapter * layout.bytesPerPage;
    storage.failAt =
      layout.volumeOffset + 2 * chapterBytes + (g.indexPagesPerChapter + 1) * layout.bytesPerPage + 500;
    // Where single queries on a twin with the same failing byte stop: the first whose read covers it.
    const order = [...names].reverse();
    let firstFailing = -1;
    const probe = new CountingStorage();
    const c = await DedupIndex.create(probe, { geometry: SMALL, nonce: 3, cachePages: 4 });
    await c.postMany(pack(names), pack(names.map((_, i) => meta(i))));
    await c.queryMany(pack(names));
    probe.failAt = storage.failAt;
    for (let i = 0; i < order.length; i++) {
      try {
        await c.query(order[i]!);
      } catch (error) {
        expect((error as DedupIndexError).code).toBe('ERR_IO');
        firstFailing = i;
        break;
      }
    }
    expect(firstFailing).toBeGreaterThan(0);
    const error = (await a.queryMany(pack(order)).catch((e: unknown) => e)) as DedupIndexError;
    expect(error.code).toBe('ERR_IO');
    expect(error.batchIndex).toBe(firstFailing);
    expect(hex(await a.query(order[0]!))).toBe(hex(await b.query(order[0]!)));
  });

  it('a record page read whole keeps its summary: later window reads are one run of it, for the newest 4 per cached page', async () => {
    // 3 cached pages keep 12 summaries; the 7 closed chapters have 28 record pages of 32 records.
    const { a, storage } = await twins(3, 1, 900);
    const names = NAMES.slice(0, 900);
    for (const name of names) await a.query(name);
    storage.lengths.clear();
    const answers: Answer[] = [];
    for (const name of [...names].reverse()) answers.push(await a.query(name));
    expect(answers.map(hex)).toEqual([...names.keys()].reverse().map((i) => hex(meta(i))));
    // A page's summary holds the first name of every 16th record: a window of the run before the
    // name's place and the next record (17 records), or the last run (16); 32 records (the whole
    // page, as the interpolated window is) for a page whose summary left the ring.
    const run = (storage.lengths.get(17 * 32) ?? 0) + (storage.lengths.get(16 * 32) ?? 0);
    const interpolated = storage.lengths.get(32 * 32) ?? 0;
    expect(run).toBeGreaterThan(100);
    expect(interpolated).toBeGreaterThan(100);
  });
});
