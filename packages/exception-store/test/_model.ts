// Model-based runs shared by the default and slow suites. Random sequences of snapshot
// create/delete, origin and snapshot writes, reads of any chunk of any view, commits, reopens, crashes (reopen without commit) and aborts,
// against a naive model (per snapshot a map from chunk to content), with the tree checker and the
// page accounting run after every step. Small pages and fanouts make splits and merges constant.

import fc from 'fast-check';
import { Harness, type Op } from './_harness';

const BIG = 2 ** 40;

function chunkArb(span: number): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: span }) },
    // far apart chunks exercise base_chunk rebasing (chunk - base >= 2^32)
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 6 }).map((k) => k * 2 ** 32 + (k % 3)) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 20 }).map((k) => BIG + k) },
  );
}

function opArb(span: number, names: number): fc.Arbitrary<Op> {
  const name = fc.integer({ min: 0, max: names });
  const chunk = chunkArb(span);
  return fc.oneof(
    { weight: 2, arbitrary: name.map((n) => ({ op: 'create' as const, name: n })) },
    { weight: 1, arbitrary: name.map((n) => ({ op: 'delete' as const, name: n })) },
    { weight: 8, arbitrary: chunk.map((c) => ({ op: 'writeOrigin' as const, chunk: c })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.integer({ min: 0, max: span }), fc.integer({ min: 1, max: 40 }))
        .map(([c, n]) => ({ op: 'writeOriginRange' as const, chunk: c, n })),
    },
    {
      weight: 6,
      arbitrary: fc.tuple(name, chunk).map(([n, c]) => ({ op: 'writeSnap' as const, name: n, chunk: c })),
    },
    {
      weight: 4,
      arbitrary: fc.tuple(name, chunk).map(([n, c]) => ({ op: 'read' as const, name: n, chunk: c })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(name, name).map(([a, b]) => ({ op: 'diff' as const, a, b })),
    },
    { weight: 1, arbitrary: name.map((n) => ({ op: 'exclusive' as const, name: n })) },
    { weight: 1, arbitrary: fc.constant({ op: 'commit' as const }) },
    { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
    { weight: 1, arbitrary: fc.constant({ op: 'crash' as const }) },
    { weight: 1, arbitrary: fc.constant({ op: 'abort' as const }) },
  );
}

interface Config {
  label: string;
  real?: boolean;
  pageSize: number;
  maskWidth: number;
  fanout: number;
  span: number;
  names: number;
  runs: number;
  length: number;
  seed: number;
  /**
   * Snapshots created before the random operations (with an origin write to a few chunks after
   * each, so share masks of every size exist), to reach wide masks and the snapshot limit.
   */
  preCreate?: number;
}

function prefix(n: number): Op[] {
  const ops: Op[] = [];
  for (let k = 0; k < n; k++) {
    ops.push({ op: 'create', name: k });
    ops.push({ op: 'writeOrigin', chunk: k % 7 });
    if (k % 5 === 4) ops.push({ op: 'writeSnap', name: k, chunk: (k * 3) % 11 });
  }
  if (n > 0) ops.push({ op: 'commit' }); // so that a random 'crash' does not drop them all
  return ops;
}

export async function runModel(cfg: Config): Promise<void> {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb(cfg.span, cfg.names), { minLength: Math.floor(cfg.length / 2), maxLength: cfg.length }),
      async (ops) => {
        const h = new Harness(
          { pageSize: cfg.pageSize, real: cfg.real ?? false },
          {
            maskWidth: cfg.maskWidth,
            fanout: cfg.fanout,
            deleteBatchLeaves: (cfg.seed % 3) + 1,
            // seeds 3, 4 and 5 mod 6 commit a deletion after every batch, the others when the
            // journal needs it (the real page layer reports it; the fake one does not)
            deleteCommits: cfg.seed % 6 >= 3 ? 'batch' : 'journal',
            // every other seed runs with the smallest page cache, so evictions and reloads happen
            cachePages: cfg.seed % 2 === 0 ? 8 : undefined,
          },
        );
        await h.init();
        const touched = new Set<number>();
        const pre = prefix(cfg.preCreate ?? 0);
        for (const [k, o] of pre.entries()) {
          if ('chunk' in o) touched.add(o.chunk);
          await h.step(o);
          if (k % 16 === 0) await h.checkInvariants();
        }
        for (const o of ops) {
          if ('chunk' in o) for (let i = 0; i < ('n' in o ? o.n : 1); i++) touched.add(o.chunk + i);
          await h.step(o);
          await h.checkInvariants();
        }
        await h.checkAllReads(touched);
        await h.step({ op: 'reopen' });
        await h.checkInvariants();
        await h.checkAllReads(touched);
      },
    ),
    { seed: cfg.seed, numRuns: cfg.runs },
  );
}

export const CONFIGS: Config[] = [
  {
    label: 'real PageStore: 512-byte pages, 32-bit masks, fanout 3',
    real: true,
    pageSize: 512,
    maskWidth: 32,
    fanout: 3,
    span: 120,
    names: 12,
    runs: 8,
    length: 120,
    seed: 10,
  },
  {
    label: '512-byte pages, 32-bit masks, fanout 3',
    pageSize: 512,
    maskWidth: 32,
    fanout: 3,
    span: 120,
    names: 12,
    runs: 25,
    length: 120,
    seed: 11,
  },
  {
    label: '512-byte pages, 32-bit masks, fanout 4, many snapshots',
    pageSize: 512,
    maskWidth: 32,
    fanout: 4,
    span: 60,
    names: 40,
    runs: 15,
    length: 150,
    seed: 12,
  },
  {
    label: '2 KiB pages, 64-bit masks, fanout 4',
    pageSize: 2048,
    maskWidth: 64,
    fanout: 4,
    span: 300,
    names: 20,
    runs: 10,
    length: 150,
    seed: 13,
  },
  {
    label: '16 KiB pages, 256-bit masks, fanout 3',
    pageSize: 16384,
    maskWidth: 256,
    fanout: 3,
    span: 400,
    names: 30,
    runs: 4,
    length: 120,
    seed: 14,
  },
  {
    label: '4 KiB pages, 256-bit masks (1-byte ids), 200 snapshots, fanout 3',
    pageSize: 4096,
    maskWidth: 256,
    fanout: 3,
    span: 200,
    names: 270,
    runs: 2,
    length: 120,
    seed: 15,
    preCreate: 200,
  },
  {
    label: '1 KiB pages, 96-bit masks (the widest that fits), full, fanout 3',
    pageSize: 1024,
    maskWidth: 96,
    fanout: 3,
    span: 150,
    names: 300,
    runs: 3,
    length: 150,
    seed: 16,
    preCreate: 96,
  },
  {
    label: '4 KiB pages, 352-bit masks (2-byte ids, the widest that fits), full, fanout 4',
    real: true,
    pageSize: 4096,
    maskWidth: 352,
    fanout: 4,
    span: 150,
    names: 560,
    runs: 1,
    length: 120,
    seed: 17,
    preCreate: 352,
  },
];
