// The decoded index page tables (src/_internal-index-table.ts) against the page they come from: for
// every name of a chapter, names that collide with them (same list and address, another name) and
// absent names, the table's answer is the page's (ChapterIndexPage.search), over random chapters
// with many collisions, in small geometries and in the 0.25 GB configuration's.

import { ChapterIndexPage, chapterDeltaListOf, OpenChapterIndex } from '@deja/chapter-index';
import { createConfiguration, createGeometry, type IndexGeometry } from '@deja/volume-geometry';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeIndexTable,
  NO_TABLE,
  searchIndexPage,
  searchIndexTable,
  TABLE_AMBIGUOUS,
} from '../src/_internal-index-table';
import { rng, SMALL } from './_helpers';

const NONCE = 77;

/** Pack a chapter of `names` (record page i % pages) into opened index pages. */
function pack(geometry: IndexGeometry, names: Uint8Array[], pages: number[]): ChapterIndexPage[] {
  const index = new OpenChapterIndex(geometry, NONCE, { warn: () => {} });
  index.empty(3);
  names.forEach((name, i) => {
    try {
      index.put(name, pages[i]!);
    } catch {
      // A full list or a name put twice: the page holds what fitted, as a chapter close leaves it.
    }
  });
  return index.packPages().pages.map((bytes) => ChapterIndexPage.open(bytes, geometry, NONCE));
}

/** The page's answer and the table's for `name`, or null when the name's list is on no page. */
function answers(
  geometry: IndexGeometry,
  pages: ChapterIndexPage[],
  tables: Uint32Array[],
  name: Uint8Array,
): [number | undefined, number | undefined] | null {
  const list = chapterDeltaListOf(name, geometry);
  const p = pages.findIndex((page) => list >= page.lowestListNumber && list <= page.highestListNumber);
  if (p < 0) return null;
  const fromTable = searchIndexPage(pages[p]!, tables[p]!, name, list, geometry);
  return [pages[p]!.search(name), fromTable < 0 ? undefined : fromTable];
}

/** Names from a seed: `count` random ones, then for a fraction of them a collider (bytes 8..13 kept). */
function chapterNames(seed: number, count: number, collide: number): Uint8Array[] {
  const next = rng(seed);
  const random = () => {
    const name = new Uint8Array(16);
    const view = new DataView(name.buffer);
    for (let i = 0; i < 4; i++) view.setUint32(i * 4, next());
    return name;
  };
  const names = Array.from({ length: count }, random);
  const colliders = names
    .filter(() => next() / 2 ** 32 < collide)
    .map((name) => {
      const other = random();
      other.set(name.subarray(8, 14), 8);
      return other;
    });
  return [...names, ...colliders];
}

function check(geometry: IndexGeometry, seed: number, count: number, collide: number): void {
  const next = rng(seed ^ 0x5bd1e995);
  const all = chapterNames(seed, count, collide);
  // Some names are left out of the chapter: absent names, some sharing an address with a present one.
  const present = all.filter(() => next() % 4 !== 0);
  const pageOf = present.map(() => next() % geometry.recordPagesPerChapter);
  const pages = pack(geometry, present, pageOf);
  const tables = pages.map((page) => decodeIndexTable(page, geometry));
  for (const table of tables) expect(table.length).toBeGreaterThan(0);
  let compared = 0;
  for (const name of [...all, ...chapterNames(seed + 1, 64, 0)]) {
    const pair = answers(geometry, pages, tables, name);
    if (pair === null) continue;
    expect(pair[1], `seed ${seed}`).toBe(pair[0]);
    compared++;
  }
  expect(compared).toBeGreaterThan(0);
}

describe('index page tables', () => {
  it('answer as the page, collisions and absent names included (small geometries, property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 400 }),
        fc.constantFrom(0, 0.1, 0.5),
        fc.constantFrom(1, 2, 4),
        (seed, count, collide, indexPages) => {
          const geometry = createGeometry({ ...SMALL, recordPagesPerChapter: 4 * indexPages });
          check(geometry, seed, count, collide);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('answer as the page in the 0.25 GB configuration (a full chapter, 6 index pages)', () => {
    const geometry = createConfiguration({ memorySize: 0.25 }).geometry;
    check(geometry, 11, geometry.recordsPerChapter - 2000, 0.01);
  });

  it('leave a key held twice to the page, and tell an absent address or a list off the page', () => {
    // Lists 7 and 8 (the first list, the count, their starts, then the end); payload 3 bits. List 7
    // holds keys 5 (twice: a collision) and 9, list 8 is empty.
    const table = Uint32Array.of(7, 2, 5, 8, 8, 5 * 8 + 1, 5 * 8 + 6, 9 * 8 + 7);
    expect(searchIndexTable(table, 7, 5, 3)).toBe(TABLE_AMBIGUOUS);
    expect(searchIndexTable(table, 7, 9, 3)).toBe(7);
    expect(searchIndexTable(table, 7, 4, 3)).toBe(-1);
    expect(searchIndexTable(table, 7, 10, 3)).toBe(-1);
    expect(searchIndexTable(table, 8, 5, 3)).toBe(-1);
    expect(searchIndexTable(table, 6, 5, 3)).toBe(-1);
    expect(searchIndexTable(table, 9, 5, 3)).toBe(-1);
  });

  it('is NO_TABLE when a key and a payload do not fit 32 bits', () => {
    const geometry = createGeometry({ ...SMALL });
    const [page] = pack(geometry, chapterNames(5, 20, 0), new Array(20).fill(0));
    const wide = { ...geometry, chapterAddressBits: 30, chapterPayloadBits: 3 };
    expect(decodeIndexTable(page!, wide)).toBe(NO_TABLE);
  });
});
