// chapter_index_pages.json and chapter_index_256mb.json from the reference C: a whole open chapter
// index round trip (put every name, pack every index page with the overflow handling, search the
// packed pages), compared byte for byte.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ChapterIndexPage, chapterDeltaAddressOf, chapterDeltaListOf, OpenChapterIndex } from '../src/index';
import { fromHex, geometryOf, SplitMix64, type VectorGeometry } from './_helpers';

interface Case {
  name: string;
  name_seed: string;
  volume_nonce: string;
  virtual_chapter_number: string;
  record_count: number;
  geometry: VectorGeometry & {
    index_pages_per_chapter: number;
    delta_lists_per_chapter: number;
    records_per_page: number;
    record_pages_per_chapter: number;
  };
  names_hex?: string[];
  record_page_numbers?: number[];
  put_overflows: number;
  put_errors: number;
  entries_before_pack: number;
  collisions_before_pack: number;
  index_pages: {
    page: number;
    first_list: number;
    last_page: boolean;
    pack_result: number;
    lists_packed: number;
    page_b64: string;
    page_sha256: string;
  }[];
  entries_after_pack: number;
  entries_removed: number;
  searches: { name: string; delta_list: number; address: number; index_page: number; record_page: number }[];
  repack_identical: boolean;
}

function load(file: string): Case[] {
  return (
    JSON.parse(readFileSync(new URL(`./vectors/${file}`, import.meta.url), 'utf8')) as { cases: Case[] }
  ).cases;
}

const cases = [...load('chapter_index_pages.json'), ...load('chapter_index_256mb.json')];

describe('chapter index vectors', () => {
  it('has the five cases', () => {
    expect(cases.map((c) => c.name)).toEqual([
      'small_1k_pages',
      'small_4k_pages',
      'overflow_one_list',
      'overflow_last_page',
      'default_256mb_chapter',
    ]);
  });

  for (const c of cases) {
    it(c.name, () => {
      const geometry = geometryOf(c.geometry);
      expect(geometry.indexPagesPerChapter).toBe(c.geometry.index_pages_per_chapter);
      const nonce = BigInt(c.volume_nonce);
      const chapter = BigInt(c.virtual_chapter_number);
      const warnings: string[] = [];
      const index = new OpenChapterIndex(geometry, nonce, { warn: (m) => warnings.push(m) });
      index.empty(chapter);

      let names: Uint8Array[];
      let pages: number[];
      if (c.names_hex) {
        names = c.names_hex.map(fromHex);
        pages = c.record_page_numbers!;
      } else {
        const rng = new SplitMix64(BigInt(c.name_seed));
        names = Array.from({ length: c.record_count }, () => rng.name());
        pages = names.map((_, i) => Math.floor(i / geometry.recordsPerPage) % geometry.recordPagesPerChapter);
      }
      expect(names).toHaveLength(c.record_count);
      let overflows = 0;
      for (const [i, name] of names.entries()) {
        try {
          index.put(name, pages[i]!);
        } catch (e) {
          if ((e as { code?: string }).code === 'ERR_OVERFLOW') overflows++;
          else throw e;
        }
      }
      expect(overflows).toBe(c.put_overflows);
      expect(index.recordCount).toBe(c.entries_before_pack);
      expect(index.collisionCount).toBe(c.collisions_before_pack);

      const packed = index.packPages();
      expect(packed.pages).toHaveLength(c.index_pages.length);
      for (const [p, expected] of c.index_pages.entries()) {
        expect(packed.firstLists[p], `page ${p}`).toBe(expected.first_list);
        expect(packed.listsPacked[p], `page ${p}`).toBe(expected.lists_packed);
        expect(expected.last_page).toBe(p + 1 === c.index_pages.length);
        expect(expected.pack_result).toBe(0);
        expect(createHash('sha256').update(packed.pages[p]!).digest('hex'), `page ${p}`).toBe(
          expected.page_sha256,
        );
        expect(Buffer.from(packed.pages[p]!).toString('base64'), `page ${p}`).toBe(expected.page_b64);
      }
      expect(index.recordCount).toBe(c.entries_after_pack);
      expect(packed.entriesRemoved).toBe(c.entries_removed);
      if (c.entries_removed > 0) {
        expect(warnings.some((w) => w.includes(`${c.entries_removed} entries were removed`))).toBe(true);
      } else {
        expect(warnings).toEqual([]);
      }

      if (c.repack_identical) {
        const again = index.packPages();
        expect(again.pages.map((p) => Buffer.from(p).toString('hex'))).toEqual(
          packed.pages.map((p) => Buffer.from(p).toString('hex')),
        );
      }

      const opened = packed.pages.map((bytes) => ChapterIndexPage.open(bytes, geometry, nonce));
      for (const page of opened) {
        expect(page.virtualChapterNumber).toBe(chapter);
        page.validate();
      }
      expect(c.searches.length).toBeGreaterThan(0);
      for (const s of c.searches) {
        const name = fromHex(s.name);
        expect(chapterDeltaListOf(name, geometry)).toBe(s.delta_list);
        expect(chapterDeltaAddressOf(name, geometry)).toBe(s.address);
        const page = opened[s.index_page]!;
        expect(page.covers(name)).toBe(true);
        expect(page.search(name) ?? 65535, s.name).toBe(s.record_page);
      }
    });
  }
});
