// Benchmarks of @deja/exception-store (pnpm --filter @deja/exception-store bench), each against an
// in-memory Map-of-Maps model doing the same bookkeeping in the same process:
//   - origin writes/s with 1, 8 and 64 active snapshots (64-bit masks) and 64 and 256 (256-bit
//     masks: compact share masks let 4 KiB pages hold 256 snapshots) — each write records one
//     shared exception
//   - lookups/s of a snapshot's chunks
//   - deleting a snapshot that has N exceptions (delete_tree_range: clear, free, merge)
//   - diff of two snapshots over N chunks
// The store runs on the real PageStore over a MemoryStorage (4 KiB pages, 64-bit share masks unless
// a case says otherwise) with
// an allocator that hands out chunk numbers without writing data pages, so the figures are the
// metadata cost (the B-tree and the page layer's commits), not the data copies of a volume.

import { cpus } from 'node:os';
import { PageStore } from '@deja/page-store';
import { MemoryStorage } from '@deja/storage';
import { DEFAULT_CACHE_PAGES, type ExceptionAllocator, ExceptionStore } from '../src/index';

const N = Number(process.env.EXSTORE_BENCH_N ?? 1_000_000);
const WRITES = Number(process.env.EXSTORE_BENCH_WRITES ?? 100_000);
const LOOKUPS = 200_000;
const BATCH = 4096; // origin writes per commit

class CountingAllocator implements ExceptionAllocator {
  next = 1;
  async allocate(): Promise<number> {
    return this.next++;
  }
  release(): void {}
}

/** The naive model: per snapshot a map chunk -> exception, and exception reference counts. */
class MapModel {
  snaps = new Map<number, Map<number, number>>();
  refs = new Map<number, number>();
  next = 1;
  create(id: number): void {
    this.snaps.set(id, new Map());
  }
  originWrite(chunk: number): void {
    let ex = 0;
    for (const m of this.snaps.values()) {
      if (m.has(chunk)) continue;
      if (ex === 0) ex = this.next++;
      m.set(chunk, ex);
      this.refs.set(ex, (this.refs.get(ex) ?? 0) + 1);
    }
  }
  snapshotWrite(id: number, chunk: number): void {
    const m = this.snaps.get(id) as Map<number, number>;
    const old = m.get(chunk);
    if (old !== undefined) {
      const r = (this.refs.get(old) as number) - 1;
      if (r === 0) this.refs.delete(old);
      else this.refs.set(old, r);
    }
    const ex = this.next++;
    m.set(chunk, ex);
    this.refs.set(ex, 1);
  }
  lookup(id: number, chunk: number): number | undefined {
    return this.snaps.get(id)?.get(chunk);
  }
  delete(id: number): number {
    let freed = 0;
    for (const ex of (this.snaps.get(id) as Map<number, number>).values()) {
      const r = (this.refs.get(ex) as number) - 1;
      if (r === 0) {
        this.refs.delete(ex);
        freed++;
      } else this.refs.set(ex, r);
      // (a snapshot write in the model replaces the entry without a reference count: fine here)
    }
    this.snaps.delete(id);
    return freed;
  }
  diff(a: number, b: number): number[] {
    const ma = this.snaps.get(a) as Map<number, number>;
    const mb = this.snaps.get(b) as Map<number, number>;
    const out: number[] = [];
    for (const [c, e] of ma) if (mb.get(c) !== e) out.push(c);
    for (const c of mb.keys()) if (!ma.has(c)) out.push(c);
    return out.sort((x, y) => x - y);
  }
}

async function newStore(pagesNeeded: number, maskWidth = 64): Promise<ExceptionStore> {
  const pageCount = Math.max(4096, pagesNeeded);
  const pages = await PageStore.create(new MemoryStorage(), {
    pageSize: 4096,
    pageCount,
    journalPages: Math.min(pageCount, 65536),
    cachePages: 1024,
  });
  return ExceptionStore.create(pages, { allocator: new CountingAllocator(), cachePages: 1024, maskWidth });
}

/** Random lookups, then lookups of a hot set of N / 20 chunks, on `store`, against the model. */
async function lookups(store: ExceptionStore, model: MapModel, label: string): Promise<void> {
  let x = 12345;
  const keys = new Float64Array(LOOKUPS);
  for (let i = 0; i < LOOKUPS; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    keys[i] = (x >>> 0) % N;
  }
  for (let i = 0; i < 20_000; i++) await store.lookup('b', keys[i] as number);
  let sink = 0;
  const ls = await time(async () => {
    for (let i = 0; i < LOOKUPS; i++) sink += (await store.lookup('b', keys[i] as number)) ?? 0;
  });
  const lm = await time(() => {
    for (let i = 0; i < LOOKUPS; i++) sink -= model.lookup(1, keys[i] as number) ?? 0;
  });
  if (sink !== 0) throw new Error('the store and the model disagree on a lookup');
  report(`lookups (random chunks), ${label}`, LOOKUPS / ls, LOOKUPS / lm, 'lookups/s');
  // a hot set that fits the store's page cache
  const hot = Math.floor(N / 20);
  for (let i = 0; i < LOOKUPS; i++) keys[i] = (keys[i] as number) % hot;
  for (let i = 0; i < 20_000; i++) await store.lookup('b', keys[i] as number);
  const hs = await time(async () => {
    for (let i = 0; i < LOOKUPS; i++) sink += (await store.lookup('b', keys[i] as number)) ?? 0;
  });
  const hm = await time(() => {
    for (let i = 0; i < LOOKUPS; i++) sink -= model.lookup(1, keys[i] as number) ?? 0;
  });
  if (sink !== 0) throw new Error('the store and the model disagree on a lookup');
  report(
    `lookups (hot ${hot.toLocaleString('en-US')} chunks), ${label}`,
    LOOKUPS / hs,
    LOOKUPS / hm,
    'lookups/s',
  );
}

/** Leaf pages for n exceptions with s snapshots sharing each (half-full leaves, 24-byte exceptions). */
function pagesFor(n: number): number {
  return Math.ceil((n * 32 * 2) / 4000) + 1024;
}

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const rows: string[][] = [];
function report(what: string, store: number, model: number, unit: string): void {
  const fmt = (x: number) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(3));
  rows.push([what, `${fmt(store)} ${unit}`, `${fmt(model)} ${unit}`, `${(store / model).toFixed(3)}x`]);
  console.log(
    `${what}: store ${fmt(store)} ${unit}, Map model ${fmt(model)} ${unit}, ratio ${(store / model).toFixed(3)}x`,
  );
}

async function originWrites(snapshots: number, writes: number, maskWidth = 64): Promise<[number, number]> {
  const store = await newStore(pagesFor(writes), maskWidth);
  for (let s = 0; s < snapshots; s++) await store.createSnapshot(`s${s}`);
  await store.commit();
  const sec = await time(async () => {
    for (let c = 0; c < writes; c++) {
      await store.prepareOriginWrite(c);
      if (c % BATCH === BATCH - 1) await store.commit();
    }
    await store.commit();
  });
  const model = new MapModel();
  for (let s = 0; s < snapshots; s++) model.create(s);
  const msec = await time(() => {
    for (let c = 0; c < writes; c++) model.originWrite(c);
  });
  return [writes / sec, writes / msec];
}

async function main(): Promise<void> {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`@deja/exception-store benchmark — ${cpu}, ${cpus().length} cores, Node ${process.version}`);
  console.log(
    `N = ${N.toLocaleString('en-US')} exceptions for delete/diff/lookups; ${WRITES.toLocaleString('en-US')} origin writes per case\n`,
  );

  // warm-up
  await originWrites(8, 20_000);

  for (const s of [1, 8, 64]) {
    const [st, mo] = await originWrites(s, WRITES);
    report(`origin writes, ${s} snapshot${s > 1 ? 's' : ''}`, st, mo, 'writes/s');
  }
  // 256 snapshots on 4 KiB pages need the compact masks; the model keeps 256 maps, so fewer writes
  // (its memory grows with snapshots x writes)
  for (const s of [64, 256]) {
    const w = s === 256 ? WRITES / 4 : WRITES;
    const [st, mo] = await originWrites(s, w, 256);
    report(
      `origin writes, ${s} snapshots, 256-bit masks (${w.toLocaleString('en-US')} writes)`,
      st,
      mo,
      'writes/s',
    );
  }

  // N exceptions shared by snapshots a and b; then b writes every 4th chunk (unsharing itself).
  const store = await newStore(pagesFor(N) * 2);
  const model = new MapModel();
  await store.createSnapshot('a');
  await store.createSnapshot('b');
  model.create(0);
  model.create(1);
  const build = await time(async () => {
    for (let c = 0; c < N; c++) {
      await store.prepareOriginWrite(c);
      if (c % BATCH === BATCH - 1) await store.commit();
    }
    await store.commit();
  });
  for (let c = 0; c < N; c++) model.originWrite(c);
  for (let c = 0; c < N; c += 4) {
    await store.prepareSnapshotWrite('b', c);
    model.snapshotWrite(1, c);
    if (c % (4 * BATCH) === 0) await store.commit();
  }
  await store.commit();
  console.log(
    `(built ${N.toLocaleString('en-US')} shared exceptions in ${build.toFixed(1)} s; tree level ${store.treeLevel})`,
  );

  // lookups with the 1,024-page cache the store was built with, then on a second instance opened
  // on the same committed page layer with the default cache (16,384 pages: the whole tree fits)
  await lookups(store, model, '1,024-page cache');
  const wide = await ExceptionStore.open(store.pages, { allocator: new CountingAllocator() });
  await lookups(wide, model, `default ${DEFAULT_CACHE_PAGES.toLocaleString('en-US')}-page cache`);
  await wide.close();

  // diff of two snapshots over N chunks
  let ds = 0;
  let dm = 0;
  let nd = 0;
  let md = 0;
  ds = await time(async () => {
    nd = (await store.diff('a', 'b')).length;
  });
  dm = await time(() => {
    md = model.diff(0, 1).length;
  });
  if (md !== nd) throw new Error(`store diff has ${nd} chunks, the model ${md}`);
  report(
    `diff a/b over ${N.toLocaleString('en-US')} chunks (${nd.toLocaleString('en-US')} differ)`,
    1 / ds,
    1 / dm,
    'diffs/s',
  );

  // delete snapshot a: it uses N exceptions, N/4 of them alone (freed)
  let freed = 0;
  const del = await time(async () => {
    freed = await store.deleteSnapshot('a');
    await store.commit();
  });
  let mfreed = 0;
  const delm = await time(() => {
    mfreed = model.delete(0);
  });
  if (mfreed !== freed) throw new Error(`store freed ${freed} exceptions, the model ${mfreed}`);
  report(
    `delete a snapshot with ${N.toLocaleString('en-US')} exceptions (${freed.toLocaleString('en-US')} freed), incl. commit`,
    1 / del,
    1 / delm,
    'deletes/s',
  );
  console.log(`  = ${del.toFixed(3)} s for the store, ${delm.toFixed(3)} s for the Map model`);

  console.log('\n| case | store | Map-of-Maps model | ratio |\n| --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

await main();
