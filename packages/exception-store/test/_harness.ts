// Test harness: an exception store on the fake (or real) page layer driven like a volume manager
// would, a naive model (per snapshot, a map from chunk to content) and the invariant checks run
// after every step. Content is a stamp number written into the first bytes of a chunk.

import { PageStore } from '@deja/page-store';
import { MemoryStorage } from '@deja/storage';
import { expect } from 'vitest';
import { ExceptionStore, type ExceptionStoreCreateOptions, type PageStoreLike } from '../src/index';
import { FakePageStore } from './fake-page-store';

/** The page layer under test: the in-memory fake of the contract, or the real PageStore. */
export interface Backend {
  readonly pages: PageStoreLike;
  /** A fresh handle on what was committed (the open transaction, if any, is lost). */
  reopen(): Promise<Backend>;
  /** Every page live now (refcount > 0), or undefined when it cannot be known exactly. */
  livePages(): Set<number> | undefined;
}

export class FakeBackend implements Backend {
  constructor(readonly pages: FakePageStore) {}

  async reopen(): Promise<Backend> {
    return new FakeBackend(this.pages.reopen());
  }

  livePages(): Set<number> {
    const txn = this.pages.open;
    const live = new Set<number>();
    for (let p = 0; p < this.pages.pageCount; p++) {
      const r = txn?.refs.get(p) ?? (this.pages.state.refs[p] as number);
      if (r > 0) live.add(p);
    }
    return live;
  }
}

export class RealBackend implements Backend {
  constructor(
    readonly pages: PageStore,
    readonly disk: MemoryStorage,
  ) {}

  static async create(pageSize: number, pageCount: number): Promise<RealBackend> {
    const disk = new MemoryStorage();
    const pages = await PageStore.create(disk, { pageSize, pageCount, journalPages: 64, cachePages: 32 });
    return new RealBackend(pages, disk);
  }

  async reopen(): Promise<Backend> {
    await this.pages.close();
    const disk = new MemoryStorage({ data: this.disk.snapshot() });
    return new RealBackend(await PageStore.open(disk, { cachePages: 32 }), disk);
  }

  livePages(): Set<number> | undefined {
    if (this.open) return undefined;
    const live = new Set<number>();
    for (let p = 0; p < this.pages.pageCount; p++) if (this.pages.refCount(p) > 0) live.add(p);
    return live;
  }

  /** Set by the harness: whether the store has a transaction open. */
  open = false;
}

export type Op =
  | { op: 'create'; name: number }
  | { op: 'delete'; name: number }
  | { op: 'writeOrigin'; chunk: number }
  | { op: 'writeOriginRange'; chunk: number; n: number }
  | { op: 'writeSnap'; name: number; chunk: number }
  | { op: 'read'; name: number; chunk: number }
  | { op: 'diff'; a: number; b: number }
  | { op: 'exclusive'; name: number }
  | { op: 'commit' }
  | { op: 'reopen' }
  | { op: 'crash' }
  | { op: 'abort' };

export interface Model {
  origin: Map<number, number>;
  snaps: Map<string, Map<number, number>>;
}

export function cloneModel(m: Model): Model {
  return {
    origin: new Map(m.origin),
    snaps: new Map([...m.snaps].map(([k, v]) => [k, new Map(v)])),
  };
}

export function stampPage(size: number, stamp: number): Uint8Array {
  const b = new Uint8Array(size);
  new DataView(b.buffer).setFloat64(0, stamp, true);
  b[size - 1] = stamp & 0xff;
  return b;
}

export function readStamp(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset).getFloat64(0, true);
}

export class Harness {
  backend!: Backend;
  store!: ExceptionStore;
  model: Model = { origin: new Map(), snaps: new Map() };
  committed: Model = cloneModel(this.model);
  stamp = 1;
  log: string[] = [];
  /** Called with the expected state before an operation that commits (deleteSnapshot). */
  beforeCommit: ((model: Model) => void) | undefined;
  /** Called after it. */
  afterCommit: (() => void) | undefined;
  /** Coverage counters, so tests can prove they reached the deep paths. */
  static stats = { maxLevel: 0, deepDeletes: 0, levelDrops: 0, freed: 0, full: 0 };

  constructor(
    readonly pageOptions: { pageSize: number; pageCount?: number; real?: boolean },
    readonly storeOptions: ExceptionStoreCreateOptions,
  ) {}

  async init(): Promise<void> {
    const { pageSize, pageCount = 8192, real = false } = this.pageOptions;
    this.backend = real
      ? await RealBackend.create(pageSize, pageCount)
      : new FakeBackend(new FakePageStore({ pageSize, pageCount }));
    this.store = await ExceptionStore.create(this.backend.pages, this.storeOptions);
  }

  /** A harness over an already open store (crash tests), with `model` as its committed state. */
  static over(backend: Backend, store: ExceptionStore, model: Model, stamp: number): Harness {
    const h = new Harness({ pageSize: store.chunkSize }, {});
    h.backend = backend;
    h.store = store;
    h.model = cloneModel(model);
    h.committed = cloneModel(model);
    h.stamp = stamp;
    return h;
  }

  async #reopen(): Promise<void> {
    await this.store.close();
    this.backend = await this.backend.reopen();
    const { allocator, deleteBatchLeaves, deleteCommits, cachePages } = this.storeOptions;
    this.store = await ExceptionStore.open(this.backend.pages, {
      allocator,
      deleteBatchLeaves,
      deleteCommits,
      cachePages,
    });
  }

  originValue(chunk: number, m: Model = this.model): number {
    return m.origin.get(chunk) ?? 0;
  }

  async readView(name: string | null, chunk: number): Promise<number> {
    if (name === null) return this.originValue(chunk);
    const cached = this.store.lookupCached(name, chunk);
    const ex = await this.store.lookup(name, chunk);
    // The no-wait form agrees with lookup whenever it answers (null: it would have to wait).
    if (cached !== null && cached !== ex)
      throw new Error(`lookupCached(${name}, ${chunk}) = ${cached}, lookup = ${ex}`);
    if (ex === undefined) return this.originValue(chunk);
    return readStamp(await this.store.readChunk(ex));
  }

  modelView(name: string | null, chunk: number): number {
    if (name === null) return this.originValue(chunk);
    const s = this.model.snaps.get(name) as Map<number, number>;
    return s.get(chunk) ?? 0;
  }

  async step(o: Op): Promise<void> {
    this.log.push(JSON.stringify(o));
    const names = [...this.model.snaps.keys()];
    const pick = (i: number) => names[i % Math.max(1, names.length)];
    switch (o.op) {
      case 'create': {
        const name = `snap-${o.name}`;
        if (this.model.snaps.has(name) || this.model.snaps.size >= this.store.maskWidth) {
          if (!this.model.snaps.has(name)) Harness.stats.full++;
          await expect(this.store.createSnapshot(name)).rejects.toMatchObject({
            code: this.model.snaps.has(name) ? 'ERR_EXISTS' : 'ERR_TOO_MANY_SNAPSHOTS',
          });
          return;
        }
        await this.store.createSnapshot(name);
        this.model.snaps.set(name, new Map(this.model.origin));
        return;
      }
      case 'delete': {
        const name = pick(o.name);
        if (name === undefined) return;
        const before = this.store.treeLevel;
        const next = cloneModel(this.model);
        next.snaps.delete(name);
        this.beforeCommit?.(next);
        // deleteSnapshot commits (in batches of leaves, the last one with the deletion complete)
        Harness.stats.freed += await this.store.deleteSnapshot(name);
        this.committed = cloneModel(next);
        this.afterCommit?.();
        if (before >= 2) Harness.stats.deepDeletes++;
        if (this.store.treeLevel < before) Harness.stats.levelDrops++;
        this.model.snaps.delete(name);
        return;
      }
      case 'writeOrigin': {
        const ex = await this.store.prepareOriginWrite(o.chunk);
        const needs = [...this.model.snaps.values()].length > 0;
        if (ex !== undefined) {
          await this.store.writeChunk(ex, stampPage(this.store.chunkSize, this.originValue(o.chunk)));
        } else if (needs) {
          // every snapshot must already have its own copy
          for (const name of this.model.snaps.keys()) {
            expect(await this.store.lookup(name, o.chunk)).not.toBeUndefined();
          }
        }
        this.model.origin.set(o.chunk, this.stamp++);
        return;
      }
      case 'writeOriginRange': {
        for (let i = 0; i < o.n; i++) await this.step({ op: 'writeOrigin', chunk: o.chunk + i });
        return;
      }
      case 'writeSnap': {
        const name = pick(o.name);
        if (name === undefined) return;
        const plan = await this.store.prepareSnapshotWrite(name, o.chunk);
        const current = this.modelView(name, o.chunk);
        const source =
          plan.source === 'origin'
            ? this.originValue(o.chunk)
            : readStamp(
                await this.store.readChunk(
                  plan.source === 'self' ? plan.chunk : (plan.sourceChunk as number),
                ),
              );
        expect(source).toBe(current);
        const v = this.stamp++;
        await this.store.writeChunk(plan.chunk, stampPage(this.store.chunkSize, v));
        (this.model.snaps.get(name) as Map<number, number>).set(o.chunk, v);
        return;
      }
      case 'read': {
        const name =
          names.length === 0 || o.name % (names.length + 1) === names.length
            ? null
            : (pick(o.name) as string);
        expect(await this.readView(name, o.chunk)).toBe(this.modelView(name, o.chunk));
        return;
      }
      case 'diff': {
        const view = (i: number): string | null =>
          i % (names.length + 1) === names.length ? null : (pick(i) as string);
        const a = names.length === 0 ? null : view(o.a);
        const b = names.length === 0 ? null : view(o.b);
        const chunks = new Set<number>([...this.model.origin.keys()]);
        for (const m of this.model.snaps.values()) for (const c of m.keys()) chunks.add(c);
        const want = [...chunks]
          .filter((c) => this.modelView(a, c) !== this.modelView(b, c))
          .sort((x, y) => x - y);
        expect(await this.store.diff(a, b)).toEqual(want);
        return;
      }
      case 'exclusive': {
        const name = pick(o.name);
        if (name === undefined) return;
        const chunks = new Set<number>([...this.model.origin.keys()]);
        for (const m of this.model.snaps.values()) for (const c of m.keys()) chunks.add(c);
        const want = [...chunks]
          .filter((c) => {
            const v = this.modelView(name, c);
            if (v === this.originValue(c)) return false;
            for (const other of names) if (other !== name && this.modelView(other, c) === v) return false;
            return true;
          })
          .sort((x, y) => x - y);
        const got = await this.store.exclusiveChunks(name);
        expect(got.chunks).toEqual(want);
        for (let i = 0; i < got.chunks.length; i++) {
          expect(readStamp(await this.store.readChunk(got.exceptions[i] as number))).toBe(
            this.modelView(name, got.chunks[i] as number),
          );
        }
        return;
      }
      case 'commit':
        await this.store.commit();
        this.committed = cloneModel(this.model);
        return;
      case 'abort':
        await this.store.abort();
        this.model = cloneModel(this.committed);
        return;
      case 'reopen':
        await this.store.commit();
        this.committed = cloneModel(this.model);
        await this.#reopen();
        return;
      case 'crash':
        await this.#reopen();
        this.model = cloneModel(this.committed);
        return;
    }
  }

  /** Invariants after every step: the tree checker, and every live page accounted for exactly once. */
  async checkInvariants(): Promise<void> {
    Harness.stats.maxLevel = Math.max(Harness.stats.maxLevel, this.store.treeLevel);
    const report = await this.store.check();
    if (this.backend instanceof RealBackend) this.backend.open = this.store.dirty;
    const live = this.backend.livePages();
    const all = [...report.metaPages, ...report.exceptionChunks, ...report.pendingReleases];
    const referenced = new Set<number>(all);
    expect(referenced.size).toBe(all.length);
    if (live !== undefined) {
      const leaked = [...live].filter((p) => !referenced.has(p));
      const dangling = [...referenced].filter((p) => !live.has(p));
      expect({ leaked, dangling }).toEqual({ leaked: [], dangling: [] });
    } else {
      expect(referenced.size).toBeLessThanOrEqual(
        this.backend.pages.pageCount - this.backend.pages.freePageCount(),
      );
    }
    expect(
      this.store
        .snapshots()
        .map((s) => s.name)
        .sort(),
    ).toEqual([...this.model.snaps.keys()].sort());
  }

  /** Every chunk of every view agrees with the model. */
  async checkAllReads(chunks: Iterable<number>): Promise<void> {
    for (const c of chunks) {
      expect(await this.readView(null, c)).toBe(this.modelView(null, c));
      for (const name of this.model.snaps.keys()) {
        const got = await this.readView(name, c);
        if (got !== this.modelView(name, c))
          throw new Error(`snapshot ${name} chunk ${c}: ${got} != ${this.modelView(name, c)}`);
      }
    }
  }
}
