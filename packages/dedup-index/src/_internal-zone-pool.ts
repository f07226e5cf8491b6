// The zones of a dense index on worker threads (DedupIndexCreateOptions.zoneWorkers): one worker per
// zone holds the zone's volume sub-index and open chapter zone (_internal-zone.ts); the main thread
// keeps the storage, the page cache and the chapter close. A batch is split by zone and sent as one
// message per zone; the zones run in parallel and answer in their own order, which the pool puts
// back into request order.
//
// Answers stay those of the single-thread index for the same requests because (1) a name's zone
// decides everything about it (its volume index list, its open chapter slot), so the requests of
// one zone, run in order, see what they would see one at a time; and (2) the chapter closes at the
// same request: a zone with r free records can fill no earlier than its r-th request, so the pool
// sends only the requests up to the first request that could fill a zone, and closes the chapter
// there when it did. The page cache's statistics and the request that reports a damaged page may
// differ (the zones' searches of closed chapters interleave differently).

import { Worker } from 'node:worker_threads';
import { type OpenChapterZone, volumeIndexListAt } from '@deja/chapter-index';
import { computeVolumeIndexLayout, type IndexConfiguration } from '@deja/volume-geometry';
import { COUNTERS, replayZone, restream } from './_internal-zone';
import type { FromZone, ToZone, ZoneState } from './_internal-zone-worker';
import { DedupIndexError } from './errors';

/** A closed-chapter search the main thread runs for a zone. */
export type ClosedSearch = (name: Uint8Array, chapter: number, out: Uint8Array) => Promise<boolean>;

interface Waiter {
  resolve(m: FromZone): void;
  reject(e: unknown): void;
}

/** One zone worker and what the pool knows of it. */
class ZoneWorker {
  readonly worker: Worker;
  /** Records in its open chapter zone. */
  size = 0;
  /** Its volume index statistics after its last batch (see IndexZone.stats). */
  stats: Float64Array = new Float64Array(5);
  waiter: Waiter | null = null;
  onSearch: ((name: Uint8Array, chapter: number) => void) | null = null;
  onSearches: ((names: Uint8Array, chapters: Float64Array) => void) | null = null;
  failure: DedupIndexError | null = null;

  constructor(
    readonly zone: number,
    config: IndexConfiguration,
  ) {
    const url = new URL(
      import.meta.url.endsWith('.ts') ? './_internal-zone-worker.ts' : './_internal-zone-worker.js',
      import.meta.url,
    );
    // From the sources (tests, benches) the worker loads TypeScript through tsx's loader, as its
    // parent does; from dist it is plain JavaScript.
    this.worker = url.pathname.endsWith('.ts')
      ? new Worker(
          `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })`,
          { eval: true, workerData: { config, zone }, execArgv: ['--conditions=@deja/source'] },
        )
      : new Worker(url, { workerData: { config, zone } });
    this.worker.on('message', (m: FromZone) => {
      if (m.t === 'search') {
        this.onSearch?.(m.name, m.chapter);
        return;
      }
      if (m.t === 'searches') {
        this.onSearches?.(m.names, m.chapters);
        return;
      }
      if (m.t === 'error') {
        this.fail(`zone worker ${zone} failed: ${m.message}`);
        return;
      }
      const waiter = this.waiter;
      this.waiter = null;
      waiter?.resolve(m);
    });
    this.worker.on('error', (error) => this.fail(`zone worker ${zone} crashed`, error));
    this.worker.on('exit', (code) => this.fail(`zone worker ${zone} exited (code ${code})`));
  }

  fail(message: string, cause?: unknown): void {
    if (this.failure === null) {
      this.failure = new DedupIndexError('ERR_IO', message, cause === undefined ? undefined : { cause });
    }
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.reject(this.failure);
  }

  /** Send a message and wait for the next reply that is not a search. */
  ask(message: ToZone, transfer: ArrayBuffer[] = []): Promise<FromZone> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.worker.postMessage(message, transfer);
    });
  }

  send(message: ToZone, transfer: ArrayBuffer[] = []): void {
    if (this.failure === null) this.worker.postMessage(message, transfer);
  }
}

/** What a batch through the pool reports per request, in request order. */
export interface ZoneBatchResult {
  /** 0 not found, 1 found (metadata at 16 × i in `found`). */
  status: Uint8Array;
  found: Uint8Array;
}

/** The zone workers of one index. */
export class ZonePool {
  readonly #zones: ZoneWorker[];
  readonly #capacity: number;
  readonly #listCount: number;
  readonly #addressBits: number;
  readonly #listsPerZone: number;
  /** posts, updates, queries, deletes: found / not found, summed over the zones. */
  readonly counters = new Float64Array(COUNTERS);
  #closed = false;

  /** @param config - a dense configuration; one worker per zone */
  constructor(config: IndexConfiguration) {
    const layout = computeVolumeIndexLayout(config).nonHook;
    this.#listCount = layout.listCount;
    this.#addressBits = layout.addressBits;
    this.#listsPerZone = Math.ceil(layout.listCount / layout.zoneCount);
    this.#capacity = Math.floor(config.geometry.recordsPerChapter / config.zoneCount);
    this.#zones = Array.from({ length: config.zoneCount }, (_, z) => new ZoneWorker(z, config));
  }

  /** Records in the open chapter, over the zones. */
  get openRecords(): number {
    let n = 0;
    for (const z of this.#zones) n += z.size;
    return n;
  }

  /** Open `chapter` in every zone (emptying the open chapter zones when `reset`). */
  openChapter(chapter: number, reset: boolean): void {
    for (const z of this.#zones) {
      z.send({ t: 'open', chapter, reset });
      if (reset) z.size = 0;
    }
  }

  /** The zone of each name of a batch. */
  zonesOf(names: Uint8Array): Uint8Array {
    const count = names.length / 16;
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      out[i] = Math.floor(
        volumeIndexListAt(names, i * 16, this.#addressBits, this.#listCount) / this.#listsPerZone,
      );
    }
    return out;
  }

  /**
   * One past the last request from `first` that the zones can run before a chapter close: the
   * first request that could fill its zone (its zone's r-th request, r the zone's free records).
   */
  cut(zones: Uint8Array, first: number): number {
    const left = this.#zones.map((z) => this.#capacity - z.size);
    for (let i = first; i < zones.length; i++) {
      const z = zones[i]!;
      if (--left[z]! <= 0) return i + 1;
    }
    return zones.length;
  }

  /**
   * Run requests [first, end) of a batch on the zones, in parallel; closed-chapter searches go
   * through `search`, one at a time. Resolves with whether a zone filled (the caller closes the
   * chapter), and fills `result` at those requests.
   * @throws DedupIndexError ERR_IO when a worker crashed or exited; what `search` throws
   */
  async run(
    kind: number,
    names: Uint8Array,
    metadata: Uint8Array | undefined,
    zones: Uint8Array,
    first: number,
    end: number,
    search: ClosedSearch,
    result: ZoneBatchResult,
  ): Promise<boolean> {
    if (this.#closed) throw new DedupIndexError('ERR_CLOSED', 'the zone workers are closed');
    const picks: number[][] = this.#zones.map(() => []);
    for (let i = first; i < end; i++) picks[zones[i]!]!.push(i);
    let searching: Promise<unknown> = Promise.resolve();
    let searchError: unknown = null;
    const replies = this.#zones.map((zw, z) => {
      const pick = picks[z]!;
      if (pick.length === 0) return null;
      const zoneNames = new Uint8Array(pick.length * 16);
      const zoneMetadata = metadata === undefined ? null : new Uint8Array(pick.length * 16);
      pick.forEach((i, k) => {
        zoneNames.set(names.subarray(i * 16, i * 16 + 16), k * 16);
        zoneMetadata?.set(metadata!.subarray(i * 16, i * 16 + 16), k * 16);
      });
      const out = new Uint8Array(16);
      // The main thread's page reader serves one search at a time.
      zw.onSearch = (name, chapter) => {
        searching = searching.then(async () => {
          let found = false;
          try {
            if (searchError === null) found = await search(name, chapter, out);
          } catch (error) {
            searchError ??= error;
            zw.fail('a search of a closed chapter failed', error);
            return;
          }
          zw.send({ t: 'answer', found, metadata: out.slice() });
        });
      };
      zw.onSearches = (askNames, chapters) => {
        searching = searching.then(async () => {
          const count = chapters.length;
          const found = new Uint8Array(count);
          const metadata = new Uint8Array(count * 16);
          try {
            for (let k = 0; k < count; k++) {
              if (searchError !== null) return;
              if (await search(askNames.subarray(k * 16, k * 16 + 16), chapters[k]!, out)) {
                found[k] = 1;
                metadata.set(out, k * 16);
              }
            }
          } catch (error) {
            searchError ??= error;
            zw.fail('a search of a closed chapter failed', error);
            return;
          }
          zw.send({ t: 'answers', found, metadata }, [found.buffer, metadata.buffer]);
        });
      };
      const transfer = [zoneNames.buffer, ...(zoneMetadata === null ? [] : [zoneMetadata.buffer])];
      return zw.ask({ t: 'batch', kind, names: zoneNames, metadata: zoneMetadata }, transfer);
    });
    let full = false;
    const settled = await Promise.allSettled(replies.map((r) => r ?? Promise.resolve(null)));
    if (searchError !== null) throw searchError;
    for (let z = 0; z < settled.length; z++) {
      const s = settled[z]!;
      if (s.status === 'rejected') throw s.reason;
      const m = s.value;
      if (m === null || m.t !== 'done') continue;
      const pick = picks[z]!;
      for (let k = 0; k < pick.length; k++) {
        const i = pick[k]!;
        result.status[i] = m.status[k]!;
        if (m.status[k] === 1) result.found.set(m.found.subarray(k * 16, k * 16 + 16), i * 16);
      }
      for (let c = 0; c < COUNTERS; c++) this.counters[c]! += m.counters[c]!;
      this.#zones[z]!.size = m.size;
      this.#zones[z]!.stats = m.stats;
      if (m.full) full = true;
    }
    return full;
  }

  /** The open chapter zones as the workers hold them, rebuilt on this thread into `into` (see replayZone). */
  async dumpZones(into: OpenChapterZone[]): Promise<void> {
    const dumps = await Promise.all(this.#zones.map((z) => z.ask({ t: 'dump' })));
    dumps.forEach((m, z) => {
      if (m.t !== 'dump') throw new DedupIndexError('ERR_IO', 'a zone worker answered out of turn');
      replayZone(into[z]!, m.records, m.deleted, m.size);
    });
  }

  /** Volume index statistics over the zones after their last batches: entries, collisions, early flushes, used bits, overflows. */
  get stats(): Float64Array {
    const sum = new Float64Array(5);
    for (const z of this.#zones) for (let i = 0; i < 5; i++) sum[i]! += z.stats[i]!;
    return sum;
  }

  /**
   * Every zone's state, as the whole index's save holds it: delta index streams renumbered as the
   * zones of one index, windows, flush marks (each zone's lists), open chapter zones' records.
   */
  async exportZones(): Promise<ZoneState[]> {
    const all = await Promise.all(this.#zones.map((z) => z.ask({ t: 'export' })));
    const count = this.#zones.length;
    return all.map((m, z) => {
      if (m.t !== 'export') throw new DedupIndexError('ERR_IO', 'a zone worker answered out of turn');
      const first = z * this.#listsPerZone;
      return { ...m, stream: restream(m.stream, z, count, first, first) };
    });
  }

  /** Give each zone its state from a load (streams as {@link exportZones} returns them), `newest` open. */
  async importZones(states: ZoneState[], newest: number): Promise<void> {
    await Promise.all(
      this.#zones.map(async (zw, z) => {
        const first = z * this.#listsPerZone;
        const state = { ...states[z]!, stream: restream(states[z]!.stream, 0, 1, 0, -first) };
        const reply = await zw.ask({ t: 'import', newest, ...state }, [state.stream.buffer as ArrayBuffer]);
        if (reply.t === 'imported') zw.stats = reply.stats;
        zw.size = state.size;
      }),
    );
  }

  /** Stop the workers. */
  async terminate(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(
      this.#zones.map(async (z) => {
        z.failure ??= new DedupIndexError('ERR_CLOSED', 'the index is closed');
        await z.worker.terminate();
      }),
    );
  }

  /** The workers, for tests (a crash test terminates one). */
  get workers(): readonly Worker[] {
    return this.#zones.map((z) => z.worker);
  }
}
