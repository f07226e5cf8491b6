// The chapter writer (the reference's open_next_chapter, write_index_pages and write_record_pages,
// on the request thread): a full open chapter becomes its chapter index pages and name-sorted record
// pages, written to its physical slot with a seal holding a CRC-32 per page.

import {
  type ClosedChapter,
  closeOpenChapter,
  type OpenChapterIndex,
  type OpenChapterZone,
  RECORD_SIZE,
} from '@deja/chapter-index';
import { mapToPhysicalChapter } from '@deja/volume-geometry';
import { crc32 } from './_format';
import type { PageReader } from './_internal-page-reader';
import { type ChapterSeal, encodeSeal, pageOffset } from './layout';
import { encodeRecordPage } from './record-page';

/**
 * Close the open chapter `chapter`: build its index pages and sorted record pages, forget what its
 * physical slot held, write the pages and the seal, and take the seal. The zones are left full
 * (the caller resets them and opens the next chapter). O(records per chapter) plus the writes.
 * @param stats - counts the chapter index entries dropped (list overflow or packing)
 * @throws the storage's error when a write fails
 */
export async function writeChapter(
  reader: PageReader,
  zones: OpenChapterZone[],
  chapterIndex: OpenChapterIndex,
  chapter: number,
  stats: { chapterIndexDrops: number },
): Promise<void> {
  const g = reader.geometry;
  const { layout } = reader;
  const closed = closeOpenChapter(zones, chapterIndex, chapter);
  stats.chapterIndexDrops += closed.overflowCount + closed.packing.entriesRemoved;
  const recordPages = buildRecordPages(reader, closed);
  const physical = mapToPhysicalChapter(g, chapter);
  const crcs = new Uint32Array(g.pagesPerChapter);
  const listEnds = new Uint32Array(g.indexPagesPerChapter);
  closed.indexPages.forEach((page, p) => {
    crcs[p] = crc32(page);
    listEnds[p] = closed.packing.lastLists[p]! + 1;
  });
  recordPages.pages.forEach((page, p) => {
    crcs[g.indexPagesPerChapter + p] = crc32(page);
  });
  const seal: ChapterSeal = { physical, virtual: chapter, crcs, listEnds, counts: recordPages.counts };
  // Forget the slot's previous chapter before its pages change.
  reader.forgetSlot(physical);
  const writes = [...closed.indexPages, ...recordPages.pages].map((data, p) => ({
    offset: pageOffset(layout, physical, p),
    data,
  }));
  writes.push({
    offset: layout.sealOffset + physical * layout.sealBytes,
    data: encodeSeal(seal, reader.nonce, layout.sealBytes),
  });
  await reader.storage.writev(writes);
  reader.installSeal(seal);
  reader.cacheWritten(physical, chapter, closed.indexPages, recordPages.pages);
}

/**
 * The record pages of a closed chapter: each of closeOpenChapter's record pages with its fill
 * copies left out (its `liveRecords` flags), the live records sorted by name.
 */
function buildRecordPages(
  reader: PageReader,
  closed: ClosedChapter,
): { pages: Uint8Array[]; counts: Uint32Array } {
  const g = reader.geometry;
  const perPage = g.recordsPerPage;
  const { liveRecords, recordPages } = closed;
  const offsets = new Uint32Array(perPage);
  const pages: Uint8Array[] = [];
  const counts = new Uint32Array(g.recordPagesPerChapter);
  for (let p = 0; p < g.recordPagesPerChapter; p++) {
    let count = 0;
    const first = p * perPage;
    for (let r = 0; r < perPage; r++) {
      if (liveRecords[first + r] === 1) offsets[count++] = r * RECORD_SIZE;
    }
    const page = new Uint8Array(g.bytesPerPage);
    encodeRecordPage(page, recordPages[p]!, offsets, count);
    pages.push(page);
    counts[p] = count;
  }
  return { pages, counts };
}
