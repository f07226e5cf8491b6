// Slow suite (pnpm --filter @deja/chapter-index test:slow): full 1 GB chapters closed and searched
// name by name, save/load of full chapters across zone counts, and a long fuzz of index pages.

import { createConfiguration } from '@deja/volume-geometry';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ChapterIndexPage,
  chapterDeltaListOf,
  closeOpenChapter,
  loadOpenChapter,
  makeOpenChapterZones,
  OpenChapterIndex,
  saveOpenChapter,
  volumeIndexZoneOf,
} from '../src/index';
import { SplitMix64, toHex } from './_helpers';

describe('full chapters', () => {
  for (const zoneCount of [1, 3, 16]) {
    it(`closes a full 1 GB chapter of ${zoneCount} zone(s) and finds every name on its record page`, () => {
      const config = createConfiguration({ memorySize: 1, zoneCount });
      const { geometry } = config;
      const zoneOf = volumeIndexZoneOf(config);
      const zones = makeOpenChapterZones(geometry, zoneCount);
      const rng = new SplitMix64(BigInt(zoneCount));
      const names: Uint8Array[] = [];
      for (;;) {
        const name = rng.name();
        names.push(name);
        if (zones[zoneOf(name)]!.put(name, name) === 0) break;
      }
      // Save and reload into another zone count: nothing is lost unless a zone would fill.
      const saved = saveOpenChapter(zones);
      const other = createConfiguration({ memorySize: 1, zoneCount: zoneCount === 1 ? 2 : 1 });
      const reloaded = makeOpenChapterZones(geometry, other.zoneCount);
      const result = loadOpenChapter(saved, reloaded, { zoneOf: volumeIndexZoneOf(other) });
      expect(result.recordCount).toBe(names.length);
      expect(result.loaded + result.dropped).toBe(names.length);

      const index = new OpenChapterIndex(geometry, 0xabcdefn, { warn: () => {} });
      const closed = closeOpenChapter(zones, index, 123_456);
      const pages = closed.indexPages.map((b) => ChapterIndexPage.open(b, geometry, 0xabcdefn));
      const recordPageHex = closed.recordPages.map((p) => toHex(p));
      let missing = 0;
      for (const name of names) {
        const list = chapterDeltaListOf(name, geometry);
        const page = pages.find((p) => list >= p.lowestListNumber && list <= p.highestListNumber)!;
        const recordPage = page.search(name);
        if (recordPage === undefined) {
          missing++;
          continue;
        }
        // The record (name, and here the name again as metadata) is on that page.
        expect(recordPageHex[recordPage]!.includes(toHex(name) + toHex(name))).toBe(true);
      }
      expect(missing).toBeLessThanOrEqual(closed.packing.entriesRemoved);
      for (const page of pages) page.validate();
    });
  }
});

describe('long fuzz of index pages', () => {
  it('only ever reports ERR_CORRUPT_DATA', () => {
    const { geometry } = createConfiguration({ memorySize: 0.25 });
    const zones = makeOpenChapterZones(geometry, 1);
    const rng = new SplitMix64(77n);
    const names: Uint8Array[] = [];
    for (;;) {
      const name = rng.name();
      names.push(name);
      if (zones[0]!.put(name, new Uint8Array(16)) === 0) break;
    }
    const closed = closeOpenChapter(zones, new OpenChapterIndex(geometry, 5n, { warn: () => {} }), 9);
    fc.assert(
      fc.property(
        fc.nat(closed.indexPages.length - 1),
        fc.array(fc.tuple(fc.nat(geometry.bytesPerPage - 1), fc.nat(255)), { minLength: 1, maxLength: 32 }),
        (which, flips) => {
          const bytes = closed.indexPages[which]!.slice();
          for (const [at, value] of flips) bytes[at] = value;
          try {
            const page = ChapterIndexPage.open(bytes, geometry, 5n);
            page.validate();
            for (const name of names.slice(0, 2000)) {
              if (page.covers(name)) {
                const found = page.search(name);
                if (found !== undefined && found >= geometry.recordPagesPerChapter)
                  throw new Error('bad page');
              }
            }
          } catch (e) {
            expect((e as { code?: string }).code).toBe('ERR_CORRUPT_DATA');
          }
        },
      ),
      { seed: 0x510, numRuns: 3000 },
    );
  });
});
