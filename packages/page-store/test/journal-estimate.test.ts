// PageTransaction.journalPagesNeeded: never less than the journal pages the commit then writes
// (spills included), so a writer that commits before the estimate passes the journal never meets
// ERR_NO_SPACE; and close enough to be useful. Random transactions over a small store (512-byte
// pages, a 4-page cache that spills, groups of a few dozen pages) against the page layer's own
// count of journal writes.
import { MemoryStorage } from '@deja/storage';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PageStore } from '../src/index';

const OPTS = { pageSize: 512, pageCount: 64, journalPages: 256, cachePages: 4 };

type Op =
  | { kind: 'meta'; n: number }
  | { kind: 'data'; n: number }
  | { kind: 'rewrite'; at: number }
  | { kind: 'inc'; at: number }
  | { kind: 'dec'; at: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('meta' as const), n: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('data' as const), n: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('rewrite' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('inc' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('dec' as const), at: fc.nat() }),
);

describe('PageTransaction.journalPagesNeeded', () => {
  test('bounds the journal pages each commit writes, over random transactions', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(op, { maxLength: 24 }), { minLength: 1, maxLength: 8 }),
        async (txs) => {
          const store = await PageStore.create(new MemoryStorage(), OPTS);
          const meta: number[] = [];
          const live: number[] = [];
          const payload = new Uint8Array(store.metaPayloadSize).fill(3);
          const page = new Uint8Array(store.pageSize).fill(7);
          for (const ops of txs) {
            const before = store.stats.journalWrites;
            const tx = store.begin();
            for (const o of ops) {
              if (o.kind === 'meta') {
                for (let i = 0; i < o.n; i++) {
                  const p = await tx.allocate('meta');
                  tx.writeMeta(p, payload);
                  meta.push(p);
                  live.push(p);
                }
              } else if (o.kind === 'data') {
                const pages = await tx.allocateMany('data', o.n);
                for (const p of pages) await tx.writeData(p, page);
                live.push(...pages);
              } else if (live.length > 0) {
                const p = live[o.at % live.length] as number;
                if (o.kind === 'rewrite' && meta.includes(p)) tx.writeMeta(p, payload);
                else if (o.kind === 'inc' && tx.refCount(p) < 100) tx.incRef(p);
                else if (o.kind === 'dec') {
                  tx.decRef(p);
                  if (tx.refCount(p) === 0) {
                    live.splice(live.indexOf(p), 1);
                    if (meta.includes(p)) meta.splice(meta.indexOf(p), 1);
                  }
                }
              }
            }
            const estimate = tx.journalPagesNeeded();
            expect(estimate).toBeLessThanOrEqual(store.journalPages);
            await tx.commit();
            const written = store.stats.journalWrites - before;
            expect(written).toBeLessThanOrEqual(estimate);
          }
          await store.close();
        },
      ),
      { numRuns: 60, seed: 19 },
    );
  });

  test('counts one space-map page per group touched, and the commit page', async () => {
    const store = await PageStore.create(new MemoryStorage(), { ...OPTS, pageCount: 512 });
    const tx = store.begin();
    expect(tx.journalPagesNeeded()).toBe(1);
    const pages = await tx.allocateMany('data', 300);
    for (const p of pages) await tx.writeData(p, new Uint8Array(store.pageSize));
    const estimate = tx.journalPagesNeeded();
    const before = store.stats.journalWrites;
    await tx.commit();
    const written = store.stats.journalWrites - before;
    expect(written).toBeLessThanOrEqual(estimate);
    // Contiguous pages: a few groups and data lists, not one page per data page.
    expect(estimate).toBeLessThan(40);
    await store.close();
  });
});
