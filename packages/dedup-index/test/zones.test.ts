// Zones on worker threads (zoneWorkers: true): the same answers, request counters and chapter closes
// as the single-thread index for the same batches (a property test, one and two zones, a small
// geometry so that chapters close inside batches, a 2-page cache so that closed chapters are read);
// close and dispose end the workers; a worker that dies fails the index with a typed error.

import { MemoryStorage } from '@deja/storage';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DedupIndex, type DedupIndexError } from '../src/index';
import { type BatchOp, hex, type Kind, makeNames, meta, pack, runBatch, SMALL } from './_helpers';

const NAMES = makeNames(500, 77);
/** 64-record chapters, 4 of them: batches close chapters and expire them. */
const TINY = { ...SMALL, recordPagesPerChapter: 2, chaptersPerVolume: 4 };
const WORKERS = Symbol.for('@deja/dedup-index.zoneWorkers');

function batch(index: DedupIndex, op: BatchOp): Promise<(Uint8Array | boolean | undefined)[]> {
  return runBatch(index, op, NAMES);
}

function show(results: (Uint8Array | boolean | undefined)[]): unknown[] {
  return results.map((r) => (r instanceof Uint8Array ? hex(r) : r));
}

function counted(index: DedupIndex): unknown {
  const s = index.getStats();
  return {
    postsFound: s.postsFound,
    postsNotFound: s.postsNotFound,
    updatesFound: s.updatesFound,
    updatesNotFound: s.updatesNotFound,
    queriesFound: s.queriesFound,
    queriesNotFound: s.queriesNotFound,
    deletesFound: s.deletesFound,
    deletesNotFound: s.deletesNotFound,
    chaptersWritten: s.chaptersWritten,
    entries: s.entries,
    collisions: s.collisions,
    overflows: s.overflows,
    earlyFlushes: s.earlyFlushes,
    volumeIndexUsedBits: s.volumeIndexUsedBits,
    chapterIndexDrops: s.chapterIndexDrops,
    rebuilt: s.rebuilt,
    chaptersReplayed: s.chaptersReplayed,
    chaptersExpired: s.chaptersExpired,
    openChapter: s.openChapter,
    openChapterRecords: s.openChapterRecords,
  };
}

const batchArb = fc.record({
  kind: fc.constantFrom<Kind>('post', 'post', 'post', 'update', 'query', 'refresh', 'delete'),
  // size 'max': lengths spread over the whole range (the default keeps arrays to about ten), so
  // that batches fill chapters (128 records) and reach closed chapters.
  names: fc.array(fc.nat({ max: NAMES.length - 1 }), { minLength: 0, maxLength: 200, size: 'max' }),
  version: fc.nat(3),
});

/** An index and its storage; a crash opens a copy of the storage taken before the index closes. */
class Subject {
  constructor(
    public index: DedupIndex,
    public storage: MemoryStorage,
    readonly zoneWorkers: boolean,
  ) {}

  async restart(crash: boolean): Promise<void> {
    const image = crash ? this.storage.snapshot() : null;
    await this.index.close(); // after a crash, its save goes to the storage left behind
    if (image !== null) this.storage = new MemoryStorage({ data: image });
    this.index = await DedupIndex.open(this.storage, { cachePages: 2, zoneWorkers: this.zoneWorkers });
  }
}

type Op = BatchOp | { kind: 'reopen' | 'crash' };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: batchArb },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('reopen' as const, 'crash' as const) }) },
);

describe('zones on worker threads', () => {
  it('answer as the single-thread index, with the same statistics, over closes, reopens and rebuilds', async () => {
    let closes = 0;
    let restarts = 0;
    for (const zoneCount of [1, 2]) {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 20, size: 'max' }), async (ops) => {
          const options = { geometry: TINY, zoneCount, nonce: 5, cachePages: 2 };
          const a = new MemoryStorage();
          const b = new MemoryStorage();
          const w = new Subject(await DedupIndex.create(a, { ...options, zoneWorkers: true }), a, true);
          const t = new Subject(await DedupIndex.create(b, options), b, false);
          try {
            for (const op of ops) {
              if (op.kind === 'reopen' || op.kind === 'crash') {
                await w.restart(op.kind === 'crash');
                await t.restart(op.kind === 'crash');
                restarts++;
              } else {
                const requests = op as BatchOp;
                expect(show(await batch(w.index, requests))).toEqual(show(await batch(t.index, requests)));
              }
              expect(counted(w.index)).toEqual(counted(t.index));
            }
            closes += w.index.getStats().chaptersWritten;
            const all = pack(NAMES);
            expect(show(await w.index.queryMany(all))).toEqual(show(await t.index.queryMany(all)));
            // Single requests go through the workers too.
            expect(hex(await w.index.post(NAMES[3]!, meta(3, 9)))).toBe(
              hex(await t.index.post(NAMES[3]!, meta(3, 9))),
            );
          } finally {
            await w.index.close();
            await t.index.close();
          }
        }),
        { numRuns: 8, seed: 90 + zoneCount },
      );
    }
    // The runs closed chapters (more than the 4 of a volume: expiry too), so searched closed ones,
    // and restarted.
    expect(closes).toBeGreaterThan(50);
    expect(restarts).toBeGreaterThan(10);
  }, 240_000);

  it('closes the chapter at the request that fills a zone, inside a batch', async () => {
    const options = { geometry: SMALL, zoneCount: 2, nonce: 6, cachePages: 4 };
    await using workers = await DedupIndex.create(new MemoryStorage(), { ...options, zoneWorkers: true });
    await using single = await DedupIndex.create(new MemoryStorage(), options);
    const names = pack(NAMES.slice(0, 450));
    const metadata = pack(NAMES.slice(0, 450).map((_, i) => meta(i, 1)));
    expect(show(await workers.postMany(names, metadata))).toEqual(
      show(await single.postMany(names, metadata)),
    );
    expect(workers.getStats().chaptersWritten).toBeGreaterThanOrEqual(3);
    expect(counted(workers)).toEqual(counted(single));
    expect(show(await workers.postMany(names, metadata))).toEqual(
      show(await single.postMany(names, metadata)),
    );
  });

  it('close and dispose end the workers; later requests reject with ERR_CLOSED', async () => {
    const index = await DedupIndex.create(new MemoryStorage(), {
      geometry: SMALL,
      zoneCount: 2,
      zoneWorkers: true,
    });
    const workers = (index as unknown as Record<symbol, { threadId: number }[]>)[WORKERS]!;
    expect(workers).toHaveLength(2);
    await index.post(NAMES[0]!, meta(0));
    await index[Symbol.asyncDispose]();
    for (const w of workers) expect(w.threadId).toBe(-1);
    await expect(index.post(NAMES[1]!, meta(1))).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });

  it('a worker that dies fails the batch and the index with ERR_IO, never a hang', async () => {
    await using index = await DedupIndex.create(new MemoryStorage(), {
      geometry: SMALL,
      zoneCount: 2,
      zoneWorkers: true,
    });
    const workers = (index as unknown as Record<symbol, { terminate(): Promise<number> }[]>)[WORKERS]!;
    await workers[1]!.terminate();
    const error = (await index
      .postMany(pack(NAMES.slice(0, 40)), pack(NAMES.slice(0, 40)))
      .catch((e) => e)) as DedupIndexError;
    expect(error.code).toBe('ERR_IO');
    await expect(index.query(NAMES[0]!)).rejects.toMatchObject({ code: 'ERR_IO' });
  });

  it('skips a damaged page (counted in badPages): never an error or a wrong answer', async () => {
    const storage = new MemoryStorage();
    await using index = await DedupIndex.create(storage, {
      geometry: SMALL,
      zoneCount: 2,
      nonce: 3,
      cachePages: 4,
      zoneWorkers: true,
    });
    const names = NAMES.slice(0, 300);
    await index.postMany(pack(names), pack(names.map((_, i) => meta(i))));
    const { layout, geometry: g } = index;
    // Every record page of chapter 0 (physical 0) loses a byte of a record.
    for (let p = 0; p < g.recordPagesPerChapter; p++) {
      const at = layout.volumeOffset + (g.indexPagesPerChapter + p) * layout.bytesPerPage + 40;
      const [byte] = await storage.read(at, 1);
      await storage.write(at, new Uint8Array([byte! ^ 0x5a]));
    }
    const foundOf = async (): Promise<number> => {
      let found = 0;
      (await index.queryMany(pack(names))).forEach((answer, i) => {
        if (answer === undefined) return;
        found++;
        expect(hex(answer)).toBe(hex(meta(i)));
      });
      return found;
    };
    const found = await foundOf();
    // Chapter 0 (a little under 128 records: it closed when one of its two zones filled) is lost.
    expect(found).toBeGreaterThanOrEqual(names.length - 128);
    expect(found).toBeLessThan(names.length - 100);
    expect(await foundOf()).toBe(found);
    expect(index.getStats().badPages).toBe(g.recordPagesPerChapter);
  });

  it('refuses a sparse index', async () => {
    await expect(
      DedupIndex.create(new MemoryStorage(), {
        geometry: { ...SMALL, chaptersPerVolume: 10, sparseChaptersPerVolume: 7 },
        zoneWorkers: true,
      }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});
