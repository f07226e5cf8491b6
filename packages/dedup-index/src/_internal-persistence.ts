// Persistence and rebuild (the reference's uds_save_index_state, uds_load_index_state and
// replay_volume): a save is four framed parts — the volume index, the open chapter, the page map and
// the counters — written into one of two save slots behind a checksummed header. Open reads the
// seals, loads the newest save that checks, or else rebuilds the volume index by replaying the
// sealed chapters oldest first, and then invalidates both saves so that a later crash cannot load a
// stale one.

import {
  loadOpenChapter,
  type OpenChapterZone,
  RECORD_DATA_SIZE,
  RECORD_NAME_SIZE,
  RECORD_SIZE,
  saveOpenChapter,
} from '@deja/chapter-index';
import { isChapterSparse, mapToPhysicalChapter } from '@deja/volume-geometry';
import { crc32, frame, Reader, unframe, Writer } from './_format';
import { NEED_PAGE, NO_CHAPTER, type PageReader } from './_internal-page-reader';
import { corrupt, DedupIndexError, fromStorageError } from './errors';
import {
  type ChapterSeal,
  decodeSaveHeader,
  decodeSeal,
  encodeSaveHeader,
  pageOffset,
  SAVE_HEADER_BYTES,
} from './layout';
import type { VolumeIndex, VolumeIndexRecord } from './volume-index';

const PART_VOLUME_INDEX = 'DJVOLIDX';
const PART_OPEN_CHAPTER = 'DJOPENCH';
const PART_PAGE_MAP = 'DJPGMAP1';
const PART_COUNTERS = 'DJCOUNTS';
const PART_VERSION = 1;
/** The counters a save holds after the newest and oldest chapters, each a u64, in this order. */
const SAVED_COUNTERS = [
  'chaptersWritten',
  'chaptersExpired',
  'postsFound',
  'postsNotFound',
  'updatesFound',
  'updatesNotFound',
  'queriesFound',
  'queriesNotFound',
  'deletesFound',
  'deletesNotFound',
  'chapterIndexDrops',
] as const;

/** The index's counters: those a save holds, and what the last open did. */
export type IndexCounters = Record<(typeof SAVED_COUNTERS)[number], number> & {
  /** Whether open() rebuilt the volume index from the chapters (no valid save). */
  rebuilt: boolean;
  /** Chapters replayed by that rebuild. */
  chaptersReplayed: number;
};

/** The parts of an index that a save holds or a rebuild fills. */
export interface IndexParts {
  readonly reader: PageReader;
  readonly volumeIndex: VolumeIndex;
  readonly zones: OpenChapterZone[];
  /** A record to look names up with during a rebuild. */
  readonly record: VolumeIndexRecord;
}

/** What open() found: the open and oldest chapters, the save loaded, or a rebuild. */
export interface LoadedState {
  /** The open chapter (after a rebuild: the chapter to open next). */
  readonly newest: number;
  readonly oldest: number;
  /** The sequence number of the save loaded (0 after a rebuild). */
  readonly sequence: number;
  /** Whether the volume index was rebuilt: the caller opens `newest` (and expires what it says). */
  readonly rebuilt: boolean;
}

/**
 * Flush the chapters written since the last flush, then write a save into slot `sequence % 2` and
 * flush again: a save that loads never stands over chapter pages that did not reach the medium.
 * @throws DedupIndexError ERR_NO_SPACE (the save does not fit its slot), or the storage's failure
 *   wrapped by fromStorageError
 */
export async function writeSave(
  parts: IndexParts,
  newest: number,
  oldest: number,
  counters: IndexCounters,
  sequence: number,
): Promise<void> {
  const { reader } = parts;
  const { geometry: g, layout, storage } = reader;
  const countersPart = new Writer();
  countersPart.u64(newest);
  countersPart.u64(oldest);
  for (const counter of SAVED_COUNTERS) countersPart.u64(counters[counter]);
  const pageMap = new Writer();
  pageMap.bytes(new TextEncoder().encode('ALBIPM02'));
  pageMap.u64(newest);
  for (let c = 0; c < g.chaptersPerVolume; c++) {
    const chapter = reader.slotChapter[c]!;
    pageMap.u64(chapter === NO_CHAPTER ? 0 : chapter + 1);
    for (let p = 0; p < g.indexPagesPerChapter; p++)
      pageMap.u32(reader.listEnds[c * g.indexPagesPerChapter + p]!);
  }
  const framed = [
    frame(PART_VOLUME_INDEX, PART_VERSION, parts.volumeIndex.save()),
    frame(PART_OPEN_CHAPTER, PART_VERSION, saveOpenChapter(parts.zones)),
    frame(PART_PAGE_MAP, PART_VERSION, pageMap.finish()),
    frame(PART_COUNTERS, PART_VERSION, countersPart.finish()),
  ];
  const length = framed.reduce((sum, part) => sum + part.length, 0);
  if (SAVE_HEADER_BYTES + length > layout.slotBytes) {
    throw new DedupIndexError('ERR_NO_SPACE', `a save of ${length} bytes does not fit its slot`);
  }
  const body = new Uint8Array(length);
  let at = 0;
  for (const part of framed) {
    body.set(part, at);
    at += part.length;
  }
  const slot = sequence % 2;
  const base = layout.saveOffset + slot * layout.slotBytes;
  try {
    await storage.flush();
  } catch (error) {
    throw fromStorageError('flushing the chapters before the save', error);
  }
  try {
    await storage.writev([
      { offset: base + SAVE_HEADER_BYTES, data: body },
      { offset: base, data: encodeSaveHeader(sequence, reader.nonce, body, crc32(body)) },
    ]);
    await storage.flush();
  } catch (error) {
    throw fromStorageError('writing the save', error);
  }
}

/**
 * Open: the seals, then the newest valid save, or a rebuild; then invalidate the saves.
 * @param counters - restored from the save, or set by the rebuild
 * @throws DedupIndexError (ERR_IO and the other storage concepts) when the storage fails
 */
export async function loadIndex(parts: IndexParts, counters: IndexCounters): Promise<LoadedState> {
  const { reader } = parts;
  const { geometry: g, layout, storage } = reader;
  let sealBytes: Uint8Array;
  let headers: Uint8Array[];
  try {
    sealBytes = await reader.readRange(layout.sealOffset, g.chaptersPerVolume * layout.sealBytes);
    headers = [
      await reader.readRange(layout.saveOffset, SAVE_HEADER_BYTES),
      await reader.readRange(layout.saveOffset + layout.slotBytes, SAVE_HEADER_BYTES),
    ];
  } catch (error) {
    throw fromStorageError('reading the seals and save headers', error);
  }
  for (let c = 0; c < g.chaptersPerVolume; c++) {
    let seal: ChapterSeal | undefined;
    try {
      seal = decodeSeal(
        sealBytes.subarray(c * layout.sealBytes, (c + 1) * layout.sealBytes),
        g,
        c,
        reader.nonce,
      );
    } catch {
      seal = undefined; // a torn or stale seal: the slot holds no usable chapter
    }
    if (seal !== undefined && mapToPhysicalChapter(g, seal.virtual) === c) reader.installSeal(seal);
  }
  const candidates: { slot: number; sequence: number; length: number; crc: number }[] = [];
  headers.forEach((bytes, slot) => {
    try {
      const header = decodeSaveHeader(bytes, reader.nonce, slot);
      if (header !== undefined) candidates.push({ slot, ...header });
    } catch {
      // A damaged header: that slot holds no save.
    }
  });
  candidates.sort((a, b) => b.sequence - a.sequence);
  let state: LoadedState | undefined;
  for (const candidate of candidates) {
    if (candidate.length > layout.slotBytes - SAVE_HEADER_BYTES) continue;
    try {
      const body = await reader.readRange(
        layout.saveOffset + candidate.slot * layout.slotBytes + SAVE_HEADER_BYTES,
        candidate.length,
      );
      if (crc32(body) !== candidate.crc) continue;
      const { newest, oldest } = restore(parts, body, counters);
      state = { newest, oldest, sequence: candidate.sequence, rebuilt: false };
      break;
    } catch (error) {
      // A failure of the storage stops the open; a save whose bytes do not check does not.
      if (!(error instanceof DedupIndexError)) throw fromStorageError('reading a save', error);
      if (error.code !== 'ERR_CORRUPT_DATA' && error.code !== 'ERR_UNSUPPORTED_VERSION') throw error;
      // A save that does not check: try the other one, or rebuild.
    }
  }
  if (state === undefined) state = await rebuild(parts, counters);
  try {
    const zero = new Uint8Array(SAVE_HEADER_BYTES);
    await storage.writev([
      { offset: layout.saveOffset, data: zero },
      { offset: layout.saveOffset + layout.slotBytes, data: zero },
    ]);
    await storage.flush();
  } catch (error) {
    throw fromStorageError('invalidating the save', error);
  }
  return state;
}

/**
 * Restore a save body; throws ERR_CORRUPT_DATA on any inconsistency (the caller then rebuilds).
 * @returns the save's open and oldest chapters
 */
function restore(
  parts: IndexParts,
  body: Uint8Array,
  counters: IndexCounters,
): { newest: number; oldest: number } {
  const { reader, volumeIndex } = parts;
  const g = reader.geometry;
  const vi = unframe(body, 0, PART_VOLUME_INDEX, PART_VERSION, 'volume index save');
  const oc = unframe(body, vi.end, PART_OPEN_CHAPTER, PART_VERSION, 'open chapter save');
  const pm = unframe(body, oc.end, PART_PAGE_MAP, PART_VERSION, 'page map save');
  const ct = unframe(body, pm.end, PART_COUNTERS, PART_VERSION, 'counters save');
  const countersPart = new Reader(ct.payload, 'counters save');
  const newest = countersPart.u64();
  const oldest = countersPart.u64();
  const values: number[] = [];
  for (let i = 0; i < SAVED_COUNTERS.length; i++) values.push(countersPart.u64());
  const map = new Reader(pm.payload, 'page map save');
  if (new TextDecoder('latin1').decode(map.bytesOf(8)) !== 'ALBIPM02' || map.u64() !== newest) {
    throw corrupt('page map save: bad magic or chapter');
  }
  for (let c = 0; c < g.chaptersPerVolume; c++) {
    const stored = map.u64() - 1;
    const sealed = reader.slotChapter[c]!;
    // A seal of a chapter that had expired when the index was saved (a rebuild forgets those).
    if (stored === NO_CHAPTER && sealed !== NO_CHAPTER && sealed < newest - g.chaptersPerVolume + 1) {
      reader.forgetSlot(c);
    } else if (stored !== sealed) {
      throw corrupt(
        `page map save: physical chapter ${c} holds chapter ${stored}, its seal says ${reader.slotChapter[c]}`,
      );
    }
    for (let p = 0; p < g.indexPagesPerChapter; p++) {
      if (map.u32() !== reader.listEnds[c * g.indexPagesPerChapter + p]) {
        throw corrupt(`page map save: index page ${p} of physical chapter ${c} differs from its seal`);
      }
    }
  }
  volumeIndex.restore(vi.payload);
  try {
    loadOpenChapter(oc.payload, parts.zones, { zoneOf: (name) => volumeIndex.zoneOf(name) });
  } catch (error) {
    volumeIndex.reset();
    throw corrupt('open chapter save: does not load', error);
  }
  SAVED_COUNTERS.forEach((counter, i) => {
    counters[counter] = values[i]!;
  });
  // Chapters the save does not know (newer than its open chapter) cannot be in its window.
  for (let c = 0; c < g.chaptersPerVolume; c++) {
    if (reader.slotChapter[c]! >= newest) reader.forgetSlot(c);
  }
  return { newest, oldest };
}

/**
 * Rebuild the volume index from the sealed chapters (replay_volume): the newest sealed chapter
 * fixes the window; each chapter in it is replayed oldest first; pages whose checksum fails are
 * skipped. The caller then opens the next chapter, empty.
 */
async function rebuild(parts: IndexParts, counters: IndexCounters): Promise<LoadedState> {
  const { reader, volumeIndex: vi } = parts;
  const g = reader.geometry;
  vi.reset();
  for (const zone of parts.zones) zone.reset();
  counters.rebuilt = true;
  let newestClosed = -1;
  for (const chapter of reader.slotChapter) if (chapter > newestClosed) newestClosed = chapter;
  const first = Math.max(0, newestClosed - g.chaptersPerVolume + 2);
  for (let c = 0; c < g.chaptersPerVolume; c++) {
    const chapter = reader.slotChapter[c]!;
    if (chapter !== NO_CHAPTER && chapter < first) reader.forgetSlot(c);
  }
  for (let chapter = first; chapter <= newestClosed; chapter++) {
    const physical = mapToPhysicalChapter(g, chapter);
    if (reader.slotChapter[physical] !== chapter) continue;
    vi.setOpenChapter(chapter);
    await replayChapter(parts, chapter, physical, first, newestClosed);
    counters.chaptersReplayed++;
  }
  counters.chaptersWritten = newestClosed + 1;
  counters.chaptersExpired = Math.max(0, first);
  return { newest: newestClosed + 1, oldest: first, sequence: 0, rebuilt: true };
}

/** Replay one sealed chapter into the volume index (replay_record for each of its records). */
async function replayChapter(
  parts: IndexParts,
  chapter: number,
  physical: number,
  first: number,
  last: number,
): Promise<void> {
  const { reader, volumeIndex: vi } = parts;
  const g = reader.geometry;
  let pages: Uint8Array[];
  try {
    const start = pageOffset(reader.layout, physical, 0);
    const all = await reader.readRange(start, g.pagesPerChapter * g.bytesPerPage);
    pages = Array.from({ length: g.pagesPerChapter }, (_, p) =>
      all.subarray(p * g.bytesPerPage, (p + 1) * g.bytesPerPage),
    );
  } catch (error) {
    throw fromStorageError(`reading chapter ${chapter}`, error);
  }
  // Validate every page; damaged ones are marked bad and skipped.
  for (let p = 0; p < g.pagesPerChapter; p++) {
    try {
      const value = reader.checkPage(pages[p]!, physical, p, chapter);
      if (p < g.indexPagesPerChapter) reader.cache.set(physical * g.pagesPerChapter + p, chapter, value);
    } catch (error) {
      if (!(error instanceof DedupIndexError)) throw error;
    }
  }
  const willBeSparse = isChapterSparse(g, first, last + 1, chapter);
  const record = parts.record;
  const badPages = reader.badPages;
  for (let rp = 0; rp < g.recordPagesPerChapter; rp++) {
    const key = physical * g.pagesPerChapter + g.indexPagesPerChapter + rp;
    if (badPages[key] === 1) continue;
    const page = pages[g.indexPagesPerChapter + rp]!;
    const count = reader.counts[physical * g.recordPagesPerChapter + rp]!;
    for (let r = 0; r < count; r++) {
      const name = page.subarray(r * RECORD_SIZE, r * RECORD_SIZE + RECORD_NAME_SIZE);
      // replay_record: sparse chapters keep only sampled names.
      if (willBeSparse && !vi.isSample(name)) continue;
      // A name whose index page is damaged could never be found: do not index it.
      if (badPages[physical * g.pagesPerChapter + reader.indexPageFor(name, physical)] === 1) continue;
      vi.lookup(name, record);
      let update = false;
      if (record.isFound) {
        if (record.isCollision) {
          if (record.virtualChapter === chapter) continue;
          update = true;
        } else if (record.virtualChapter !== chapter) {
          // The entry may be another name's: look for this name in that chapter.
          update = await hasRecord(reader, name, record.virtualChapter);
          vi.lookup(name, record);
        }
      }
      if (update) vi.setChapter(record, chapter);
      else vi.put(record, chapter);
    }
  }
}

/**
 * Whether a closed chapter holds a name (uds_search_volume_page_cache_for_rebuild). `chapter` is
 * one replayed before the chapter being replayed, so it is always a closed chapter on storage.
 */
async function hasRecord(reader: PageReader, name: Uint8Array, chapter: number): Promise<boolean> {
  const out = new Uint8Array(RECORD_DATA_SIZE);
  try {
    for (;;) {
      const result = reader.searchClosed(name, chapter, out);
      if (result !== NEED_PAGE) return result;
      try {
        await reader.fetch();
      } catch (error) {
        if (error instanceof DedupIndexError && error.code === 'ERR_CORRUPT_DATA') continue;
        throw error;
      }
    }
  } finally {
    reader.release();
  }
}
