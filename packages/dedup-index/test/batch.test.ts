// The batch requests (postMany, updateMany, queryMany, deleteMany): the same answers and statistics
// as the single requests in the same order, over chapter closes, page reads, volume wrap-arounds and
// sparse indexes (a property test against a twin index fed single requests); ordering with single
// requests, the arrays taken at the call, argument checks, and failures that stop a batch.

import { MemoryStorage } from '@deja/storage';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DedupIndex, type DedupIndexError } from '../src/index';
import { type BatchOp, hex, type Kind, makeNames, meta, pack, runBatch, SMALL } from './_helpers';

const NAMES = makeNames(600, 41);

function batch(index: DedupIndex, op: BatchOp): Promise<(Uint8Array | boolean | undefined)[]> {
  return runBatch(index, op, NAMES);
}

/** Run the same requests one at a time. */
async function singles(index: DedupIndex, op: BatchOp): Promise<(Uint8Array | boolean | undefined)[]> {
  const out: (Uint8Array | boolean | undefined)[] = [];
  for (const n of op.names) {
    const name = NAMES[n]!;
    const m = meta(n, op.version);
    if (op.kind === 'post') out.push(await index.post(name, m));
    else if (op.kind === 'update') out.push(await index.update(name, m));
    else if (op.kind === 'query') out.push(await index.query(name));
    else if (op.kind === 'refresh') out.push(await index.query(name, { refresh: true }));
    else out.push(await index.delete(name));
  }
  return out;
}

function show(results: (Uint8Array | boolean | undefined)[]): unknown[] {
  return results.map((r) => (r instanceof Uint8Array ? hex(r) : r));
}

const batchArb = (names: number): fc.Arbitrary<BatchOp> =>
  fc.record({
    kind: fc.constantFrom<Kind>('post', 'post', 'post', 'update', 'query', 'refresh', 'delete'),
    // size 'max': lengths over the whole range (by default fast-check keeps arrays to about ten),
    // so that batches span chapter closes and page reads.
    names: fc.array(fc.nat({ max: names - 1 }), { minLength: 0, maxLength: 150, size: 'max' }),
    version: fc.nat(3),
  });

describe('batch requests', () => {
  it('answer as the single requests in the same order, with the same statistics', async () => {
    let closes = 0;
    let misses = 0;
    for (const [zoneCount, sparse] of [
      [1, false],
      [2, false],
      [1, true],
    ] as const) {
      await fc.assert(
        fc.asyncProperty(
          fc.array(batchArb(NAMES.length), { minLength: 1, maxLength: 25, size: 'max' }),
          async (ops) => {
            // A 2-page cache: closed chapters are read (whole pages and windows) again and again.
            const geometry = sparse ? { ...SMALL, chaptersPerVolume: 10, sparseChaptersPerVolume: 7 } : SMALL;
            const options = { geometry, zoneCount, nonce: 5, cachePages: 2, sparseSampleRate: 4 };
            const a = await DedupIndex.create(new MemoryStorage(), options);
            const b = await DedupIndex.create(new MemoryStorage(), options);
            for (const op of ops) {
              const got = await batch(a, op);
              const want = await singles(b, op);
              expect(show(got)).toEqual(show(want));
              expect(a.getStats()).toEqual(b.getStats());
            }
            closes += a.getStats().chaptersWritten;
            misses += a.getStats().cacheMisses;
            for (let n = 0; n < NAMES.length; n++) {
              expect(hex(await a.query(NAMES[n]!))).toBe(hex(await b.query(NAMES[n]!)));
            }
          },
        ),
        { numRuns: 30, seed: 19 + zoneCount + (sparse ? 10 : 0) },
      );
    }
    // The batches closed chapters (past the 8 of a volume) and read pages, inside batches too.
    expect(closes).toBeGreaterThan(150);
    expect(misses).toBeGreaterThan(1000);
  });

  it('an empty batch resolves to no results', async () => {
    const index = await DedupIndex.create(new MemoryStorage(), { geometry: SMALL, nonce: 1 });
    expect(await index.postMany(new Uint8Array(0), new Uint8Array(0))).toEqual([]);
    expect(await index.queryMany(new Uint8Array(0))).toEqual([]);
    expect(await index.deleteMany(new Uint8Array(0))).toEqual([]);
    expect(index.getStats().postsNotFound).toBe(0);
  });

  it('runs in call order with single requests that are not awaited', async () => {
    const index = await DedupIndex.create(new MemoryStorage(), { geometry: SMALL, nonce: 2 });
    const names = NAMES.slice(0, 300);
    // Fill more than two chapters so that the first batch waits for chapter writes.
    const first = index.postMany(pack(names), pack(names.map((_, i) => meta(i, 0))));
    const single = index.post(names[0]!, meta(0, 9));
    const second = index.postMany(pack(names.slice(0, 2)), pack([meta(0, 8), meta(1, 8)]));
    const update = index.update(names[1]!, meta(1, 7));
    const query = index.queryMany(pack(names.slice(0, 2)));
    expect((await first).every((r) => r === undefined)).toBe(true);
    expect(hex(await single)).toBe(hex(meta(0, 0)));
    expect(show(await second)).toEqual([hex(meta(0, 0)), hex(meta(1, 0))]);
    expect(hex(await update)).toBe(hex(meta(1, 0)));
    expect(show(await query)).toEqual([hex(meta(0, 0)), hex(meta(1, 7))]);
  });

  it('takes the arrays as they are at the call, also when it waits', async () => {
    const index = await DedupIndex.create(new MemoryStorage(), { geometry: SMALL, nonce: 3 });
    const busy = index.postMany(pack(NAMES.slice(0, 200)), pack(NAMES.slice(0, 200).map((_, i) => meta(i))));
    const names = pack(NAMES.slice(200, 210));
    const metadata = pack(NAMES.slice(200, 210).map((_, i) => meta(200 + i)));
    const queued = index.postMany(names, metadata);
    names.fill(0);
    metadata.fill(0);
    await busy;
    expect((await queued).every((r) => r === undefined)).toBe(true);
    const found = await index.queryMany(pack(NAMES.slice(200, 210)));
    expect(show(found)).toEqual(NAMES.slice(200, 210).map((_, i) => hex(meta(200 + i))));
    expect(await index.query(new Uint8Array(16))).toBeUndefined();
  });

  it('results are the index’s to give away: changing one changes nothing else', async () => {
    const index = await DedupIndex.create(new MemoryStorage(), { geometry: SMALL, nonce: 4 });
    const names = pack(NAMES.slice(0, 3));
    await index.postMany(names, pack([meta(0), meta(1), meta(2)]));
    const got = await index.queryMany(names);
    got[0]!.fill(0xff);
    expect(show(got.slice(1))).toEqual([hex(meta(1)), hex(meta(2))]);
    expect(show(await index.queryMany(names))).toEqual([hex(meta(0)), hex(meta(1)), hex(meta(2))]);
  });

  it('checks its arguments (codes) before running anything', async () => {
    const index = await DedupIndex.create(new MemoryStorage(), { geometry: SMALL, nonce: 5 });
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (e: { code?: string }) => e.code,
      );
    expect(await code(index.postMany([] as unknown as Uint8Array, new Uint8Array(0)))).toBe(
      'ERR_INVALID_ARG_TYPE',
    );
    expect(await code(index.postMany(new Uint8Array(16), undefined as unknown as Uint8Array))).toBe(
      'ERR_INVALID_ARG_TYPE',
    );
    expect(await code(index.postMany(new Uint8Array(20), new Uint8Array(20)))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(index.updateMany(new Uint8Array(32), new Uint8Array(16)))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(index.queryMany(new Uint8Array(15)))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(index.deleteMany('names' as unknown as Uint8Array))).toBe('ERR_INVALID_ARG_TYPE');
    expect(index.getStats().postsNotFound + index.getStats().updatesNotFound).toBe(0);
    await index.close();
    expect(await code(index.queryMany(new Uint8Array(16)))).toBe('ERR_CLOSED');
  });

  it('a failed chapter write stops the batch: ERR_NO_SPACE with the position reached, cause and later rejections', async () => {
    const storage = new MemoryStorage({ maxSize: 12_000 });
    const index = await DedupIndex.create(storage, { geometry: SMALL, nonce: 6 });
    const names = NAMES.slice(0, 400);
    const error = (await index.postMany(pack(names), pack(names.map((_, i) => meta(i)))).then(
      () => undefined,
      (e: DedupIndexError) => e,
    ))!;
    expect(error.code).toBe('ERR_NO_SPACE');
    // The request that filled a chapter completed (it and those before it count); the write after it
    // failed, and nothing after it ran.
    const perChapter = index.geometry.recordsPerChapter;
    expect(error.batchIndex! % perChapter).toBe(0);
    expect(error.batchIndex).toBeGreaterThan(0);
    expect(index.getStats().postsNotFound).toBe(error.batchIndex);
    expect((error.cause as DedupIndexError).code).toBe('ERR_NO_SPACE');
    await expect(index.postMany(pack(names.slice(0, 1)), pack([meta(0)]))).rejects.toMatchObject({
      code: 'ERR_NO_SPACE',
    });
    await index.close();
  });

  it('a damaged page stops the batch at the request that read it; the rest can be sent again', async () => {
    const storage = new MemoryStorage();
    const index = await DedupIndex.create(storage, { geometry: SMALL, nonce: 7, cachePages: 2 });
    const names = NAMES.slice(0, 300);
    await index.postMany(pack(names), pack(names.map((_, i) => meta(i))));
    await index.close();
    // Damage every record page of chapter 0 (names 0..127), then reopen (nothing cached).
    const { layout } = index;
    const g = index.geometry;
    for (let p = 0; p < g.recordPagesPerChapter; p++) {
      const offset = layout.volumeOffset + (g.indexPagesPerChapter + p) * layout.bytesPerPage + 40;
      const [byte] = await storage.read(offset, 1);
      await storage.write(offset, new Uint8Array([byte! ^ 0x5a]));
    }
    const again = await DedupIndex.open(storage, { cachePages: 2 });
    let rest = pack(names);
    let done = 0;
    let failures = 0;
    const answers: (Uint8Array | undefined)[] = [];
    while (done < names.length) {
      try {
        answers.push(...(await again.queryMany(rest)));
        done = names.length;
      } catch (error) {
        const e = error as DedupIndexError;
        expect(e.code).toBe('ERR_CORRUPT_DATA');
        expect(e.batchIndex).toBeGreaterThanOrEqual(0);
        const answered = await again.queryMany(rest.subarray(0, e.batchIndex! * 16));
        answers.push(...answered, undefined);
        done += e.batchIndex! + 1;
        rest = rest.subarray((e.batchIndex! + 1) * 16);
        failures++;
      }
    }
    expect(failures).toBe(g.recordPagesPerChapter);
    answers.forEach((got, i) => {
      if (got !== undefined) expect(hex(got)).toBe(hex(meta(i)));
    });
    expect(answers.filter((a) => a !== undefined).length).toBe(names.length - 128);
  });
});
