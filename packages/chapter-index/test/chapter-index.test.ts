// OpenChapterIndex and ChapterIndexPage: a model (Map name -> record page) checked against the
// packed pages for random chapters on tiny geometries (which force collisions, list removal and
// last-page overflow), the duplicate check, argument checks, and corrupted pages.

import { createGeometry } from '@deja/volume-geometry';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChapterIndexPage, chapterDeltaAddressOf, chapterDeltaListOf, OpenChapterIndex } from '../src/index';
import { codeOf, mulberry32, SplitMix64, toHex } from './_helpers';

const SEED = 0xc1d3;

describe('OpenChapterIndex', () => {
  const geometry = createGeometry({ bytesPerPage: 1024, recordPagesPerChapter: 16, chaptersPerVolume: 16 });

  it('stores a second put of a name as a collision and refuses a third (seed duplicate check)', () => {
    const index = new OpenChapterIndex(geometry, 1n, { warn: () => {} });
    index.empty(3);
    const name = new SplitMix64(1n).name();
    index.put(name, 1);
    index.put(name, 2);
    expect(index.recordCount).toBe(2);
    expect(index.collisionCount).toBe(1);
    expect(codeOf(() => index.put(name, 3))).toBe('ERR_EXISTS');
    index.empty(4);
    expect(index.recordCount).toBe(0);
    expect(index.virtualChapterNumber).toBe(4n);
  });

  it('rejects bad arguments', () => {
    const index = new OpenChapterIndex(geometry, 1n, { warn: () => {} });
    const name = new Uint8Array(16);
    expect(() => index.put(name, 16)).toThrow(RangeError);
    expect(() => index.put(name, -1)).toThrow(RangeError);
    expect(() => index.put(new Uint8Array(4), 0)).toThrow(RangeError);
    expect(() => index.packPage(new Uint8Array(512), 0, true)).toThrow(RangeError);
    expect(() => index.packPage(new Uint8Array(1024), 9, true)).toThrow(RangeError);
    expect(() => index.empty(-1)).toThrow(RangeError);
    expect(() => new OpenChapterIndex(geometry, 1n << 64n)).toThrow(RangeError);
  });

  it('finds every name put, on the right record page, unless packing dropped its list (model)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom([128, 4], [256, 8], [1024, 16], [1024, 1]),
        fc.integer({ min: 0, max: 1400 }),
        fc.nat(),
        fc.integer({ min: 0, max: 3 }),
        ([bytesPerPage, recordPages], count, seed, collisions) => {
          const g = createGeometry({
            bytesPerPage: bytesPerPage!,
            recordPagesPerChapter: recordPages!,
            chaptersPerVolume: 4,
          });
          const warnings: string[] = [];
          const index = new OpenChapterIndex(g, BigInt(seed), { warn: (m) => warnings.push(m) });
          index.empty(seed);
          const rng = new SplitMix64(BigInt(seed));
          const random = mulberry32(seed);
          const model = new Map<string, { name: Uint8Array; page: number }>();
          let overflows = 0;
          for (let i = 0; i < count; i++) {
            const name = rng.name();
            // Force some collisions: same chapter index bytes as an earlier name.
            if (i > 0 && random() < collisions * 0.05) {
              const earlier = [...model.values()][Math.floor(random() * model.size)]!.name;
              name.set(earlier.subarray(8, 14), 8);
            }
            const page = Math.floor(random() * g.recordPagesPerChapter);
            try {
              index.put(name, page);
              model.set(toHex(name), { name, page });
            } catch (e) {
              expect((e as { code?: string }).code).toBe('ERR_OVERFLOW');
              overflows++;
            }
          }
          const before = index.recordCount;
          expect(before).toBe(model.size);
          const packed = index.packPages();
          expect(packed.pages).toHaveLength(g.indexPagesPerChapter);
          expect(index.recordCount).toBe(before - packed.entriesRemoved);
          expect(packed.entriesRemoved > 0).toBe(warnings.length > 0);
          // Pages cover the lists in order, without gaps, ending at the last list.
          let next = 0;
          for (let p = 0; p < packed.pages.length; p++) {
            expect(packed.firstLists[p]).toBe(next);
            next += packed.listsPacked[p]!;
            expect(packed.lastLists[p]).toBe(next - 1);
          }
          expect(next).toBe(g.deltaListsPerChapter);

          const pages = packed.pages.map((b) => ChapterIndexPage.open(b, g, BigInt(seed)));
          for (const page of pages) page.validate();
          let missing = 0;
          for (const { name, page } of model.values()) {
            const list = chapterDeltaListOf(name, g);
            const holder = pages.find((p) => p.covers(name))!;
            expect(list >= holder.lowestListNumber && list <= holder.highestListNumber).toBe(true);
            const found = holder.search(name);
            if (found === undefined) missing++;
            else expect(found).toBe(page);
          }
          // Only removed entries go missing.
          expect(missing).toBeLessThanOrEqual(packed.entriesRemoved);
          expect(overflows).toBe(0);
        },
      ),
      { seed: SEED, numRuns: 80 },
    );
  });

  it('removes a list that cannot fit on any page and warns with the counts', () => {
    // 128-byte pages hold about 600 bits of lists: 60 names in one list cannot fit.
    const g = createGeometry({ bytesPerPage: 128, recordPagesPerChapter: 4, chaptersPerVolume: 4 });
    const warnings: string[] = [];
    const index = new OpenChapterIndex(g, 9n, { warn: (m) => warnings.push(m) });
    index.empty(1);
    const rng = new SplitMix64(3n);
    let put = 0;
    while (put < 60) {
      const name = rng.name();
      if (chapterDeltaListOf(name, g) !== 0) continue;
      index.put(name, put % 4);
      put++;
    }
    const memory = new Uint8Array(128);
    const result = index.packPage(memory, 0, false);
    expect(result.entriesRemoved).toBe(60);
    expect(result.listsPacked).toBeGreaterThan(0);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('contains 60 entries with 0 collisions');
    expect(warnings[1]).toContain('60 entries were removed');
    expect(chapterDeltaAddressOf(rng.name(), g)).toBeLessThan(2 ** g.chapterAddressBits);
  });
});

describe('ChapterIndexPage', () => {
  const geometry = createGeometry({ bytesPerPage: 1024, recordPagesPerChapter: 16, chaptersPerVolume: 16 });
  const index = new OpenChapterIndex(geometry, 77n, { warn: () => {} });
  index.empty(8);
  const rng = new SplitMix64(2n);
  const names = Array.from({ length: 480 }, () => rng.name());
  for (const [i, name] of names.entries()) index.put(name, i % 16);
  const packed = index.packPages();

  it('opens only with the right nonce and page size', () => {
    expect(codeOf(() => ChapterIndexPage.open(packed.pages[0]!, geometry, 78n))).toBe('ERR_CORRUPT_DATA');
    expect(() => ChapterIndexPage.open(packed.pages[0]!.subarray(0, 512), geometry, 77n)).toThrow(RangeError);
    const page = ChapterIndexPage.open(packed.pages[0]!, geometry, 77n);
    expect(page.virtualChapterNumber).toBe(8n);
    const outside = names.find((n) => !page.covers(n))!;
    expect(() => page.search(outside)).toThrow(RangeError);
  });

  it('rejects a page whose record page numbers are out of range in validate()', () => {
    // The same lists packed for a geometry with fewer record pages: the entries decode, the
    // values are too big.
    const small = createGeometry({ bytesPerPage: 1024, recordPagesPerChapter: 9, chaptersPerVolume: 16 });
    expect(small.chapterPayloadBits).toBe(geometry.chapterPayloadBits);
    expect(small.deltaListsPerChapter).toBe(geometry.deltaListsPerChapter);
    const page = ChapterIndexPage.open(packed.pages[0]!, small, 77n);
    expect(codeOf(() => page.validate())).toBe('ERR_CORRUPT_DATA');
  });

  it('never hangs, crashes or throws untyped errors on corrupted pages (fuzz)', () => {
    fc.assert(
      fc.property(
        fc.nat(packed.pages.length - 1),
        fc.array(fc.tuple(fc.nat(1023), fc.nat(255)), { minLength: 1, maxLength: 8 }),
        (which, flips) => {
          const bytes = packed.pages[which]!.slice();
          for (const [at, value] of flips) bytes[at] = value;
          let page: ChapterIndexPage;
          try {
            page = ChapterIndexPage.open(bytes, geometry, 77n);
          } catch (e) {
            expect((e as { code?: string }).code).toBe('ERR_CORRUPT_DATA');
            return;
          }
          try {
            page.validate();
          } catch (e) {
            expect((e as { code?: string }).code).toBe('ERR_CORRUPT_DATA');
          }
          for (const name of names.slice(0, 60)) {
            if (!page.covers(name)) continue;
            try {
              const found = page.search(name);
              if (found !== undefined) expect(found).toBeLessThan(16);
            } catch (e) {
              expect((e as { code?: string }).code).toBe('ERR_CORRUPT_DATA');
            }
          }
        },
      ),
      { seed: SEED, numRuns: 400 },
    );
  });
});
