// The zone worker's entry: one IndexZone (see _internal-zone.ts) on a worker thread. It runs the
// requests of its zone that the main thread sends, one batch message at a time, in order; a record
// in a closed chapter is searched by the main thread (a 'search' message, answered by 'answer'). It
// dumps its open chapter zone for a chapter close and opens the next chapter when told.

import { parentPort, workerData } from 'node:worker_threads';
import { RECORD_SIZE } from '@deja/chapter-index';
import type { IndexConfiguration } from '@deja/volume-geometry';
import { IndexZone, NEED_SEARCH } from './_internal-zone';

/** A message from the main thread. */
export type ToZone =
  | { t: 'batch'; kind: number; names: Uint8Array; metadata: Uint8Array | null }
  | { t: 'answer'; found: boolean; metadata: Uint8Array }
  | { t: 'answers'; found: Uint8Array; metadata: Uint8Array }
  | { t: 'open'; chapter: number; reset: boolean }
  | { t: 'dump' }
  | { t: 'stats' }
  | { t: 'export' }
  | ({ t: 'import'; newest: number } & ZoneState);

/**
 * A zone's whole state, for a save (export) or after a load (import): its delta index as the save
 * stream of a one-zone index (with its guard), its window, its lists' flush marks, and its open
 * chapter zone's records (record numbers 1..size) with their deleted flags.
 */
export interface ZoneState {
  stream: Uint8Array;
  low: number;
  high: number;
  earlyFlushes: number;
  flushChapters: Float64Array;
  records: Uint8Array;
  deleted: Uint8Array;
  size: number;
}

/** A message to the main thread. */
export type FromZone =
  | { t: 'search'; name: Uint8Array; chapter: number }
  | { t: 'searches'; names: Uint8Array; chapters: Float64Array }
  | {
      t: 'done';
      status: Uint8Array;
      found: Uint8Array;
      counters: Float64Array;
      full: boolean;
      size: number;
      stats: Float64Array;
    }
  | { t: 'dump'; records: Uint8Array; deleted: Uint8Array; size: number }
  | { t: 'stats'; stats: Float64Array }
  | ({ t: 'export' } & ZoneState)
  | { t: 'imported'; stats: Float64Array }
  | { t: 'error'; message: string };

const port = parentPort!;
const { config, zone: zoneNumber } = workerData as { config: IndexConfiguration; zone: number };
const zone = new IndexZone(config, zoneNumber);
let answered: ((m: ToZone) => void) | null = null;
const inbox: ToZone[] = [];
let busy = false;

port.on('message', (m: ToZone) => {
  if (m.t === 'answer' || m.t === 'answers') {
    const resolve = answered;
    answered = null;
    resolve?.(m);
    return;
  }
  inbox.push(m);
  if (!busy) void drain();
});

async function drain(): Promise<void> {
  busy = true;
  try {
    while (inbox.length > 0) {
      const m = inbox.shift()!;
      if (m.t === 'batch') await runBatch(m.kind, m.names, m.metadata);
      else if (m.t === 'open') zone.openChapter(m.chapter, m.reset);
      else if (m.t === 'dump') {
        const size = zone.open.size;
        const records = zone.open._records.slice(0, (size + 1) * RECORD_SIZE);
        const deleted = zone.open._deleted.slice(0, size + 1);
        port.postMessage({ t: 'dump', records, deleted, size } satisfies FromZone, [
          records.buffer,
          deleted.buffer,
        ]);
      } else if (m.t === 'stats') port.postMessage({ t: 'stats', stats: zone.stats() } satisfies FromZone);
      else if (m.t === 'export') {
        const state = zone.exportState();
        port.postMessage({ t: 'export', ...state } satisfies FromZone, [
          state.stream.buffer as ArrayBuffer,
          state.flushChapters.buffer as ArrayBuffer,
          state.records.buffer as ArrayBuffer,
          state.deleted.buffer as ArrayBuffer,
        ]);
      } else if (m.t === 'import') {
        zone.importState(m, m.newest);
        port.postMessage({ t: 'imported', stats: zone.stats() } satisfies FromZone);
      }
    }
  } catch (error) {
    port.postMessage({ t: 'error', message: String((error as Error)?.stack ?? error) } satisfies FromZone);
  } finally {
    busy = false;
  }
}

/** Send a message to the main thread and wait for its answer. */
function ask(message: FromZone, transfer: ArrayBuffer[] = []): Promise<ToZone> {
  return new Promise((resolve) => {
    answered = resolve;
    port.postMessage(message, transfer);
  });
}

async function runBatch(kind: number, names: Uint8Array, metadata: Uint8Array | null): Promise<void> {
  const count = names.length / 16;
  const status = new Uint8Array(count);
  const found = new Uint8Array(count * 16);
  zone.counters.fill(0);
  // The searches of closed chapters the requests would make as things stand, asked for at once (one
  // message, not one per search). A request whose search changed meanwhile (an earlier request of
  // the batch moved or removed its entry) asks for its own below.
  const chapters = new Float64Array(count).fill(-1);
  let asked = 0;
  for (let i = 0; i < count; i++) {
    chapters[i] = zone.closedChapterOf(names.subarray(i * 16, i * 16 + 16));
    if (chapters[i]! >= 0) asked++;
  }
  let answers: { found: Uint8Array; metadata: Uint8Array } | null = null;
  if (asked > 0) {
    const askNames = new Uint8Array(asked * 16);
    const askChapters = new Float64Array(asked);
    for (let i = 0, k = 0; i < count; i++) {
      if (chapters[i]! < 0) continue;
      askNames.set(names.subarray(i * 16, i * 16 + 16), k * 16);
      askChapters[k++] = chapters[i]!;
    }
    const reply = await ask({ t: 'searches', names: askNames, chapters: askChapters }, [
      askNames.buffer,
      askChapters.buffer,
    ]);
    if (reply.t === 'answers') answers = reply;
  }
  for (let i = 0, k = 0; i < count; i++) {
    const name = names.subarray(i * 16, i * 16 + 16);
    const data = metadata === null ? undefined : metadata.subarray(i * 16, i * 16 + 16);
    if (answers !== null && chapters[i]! >= 0) {
      zone.answer(chapters[i]!, name, answers.found[k] === 1, answers.metadata.subarray(k * 16, k * 16 + 16));
      k++;
    }
    let s = zone.execute(kind, name, data);
    while (s === NEED_SEARCH) {
      const reply = await ask({ t: 'search', name: name.slice(), chapter: zone.wantChapter });
      if (reply.t === 'answer') zone.answer(zone.wantChapter, name, reply.found, reply.metadata);
      s = zone.execute(kind, name, data);
    }
    zone.clearAnswer();
    status[i] = s;
    if (s === 1) found.set(zone.old, i * 16);
  }
  const counters = zone.counters.slice();
  port.postMessage(
    {
      t: 'done',
      status,
      found,
      counters,
      full: zone.full,
      size: zone.open.size,
      stats: zone.stats(),
    } satisfies FromZone,
    [status.buffer, found.buffer, counters.buffer],
  );
}
