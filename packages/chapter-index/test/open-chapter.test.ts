// Closing, saving and loading an open chapter: record collation against a model of the seed's
// interleaving, the chapter index built on close, the ALBOC 02.00 format and its round trip into
// the same or another zone count, and bad or truncated saves.

import { createConfiguration, createGeometry } from '@deja/volume-geometry';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ChapterIndexPage,
  chapterDeltaListOf,
  closeOpenChapter,
  collateOpenChapter,
  loadOpenChapter,
  makeOpenChapterZones,
  OpenChapterIndex,
  type OpenChapterZone,
  RECORD_SIZE,
  saveOpenChapter,
  volumeIndexZoneOf,
} from '../src/index';
import { codeOf, mulberry32, SplitMix64, toHex } from './_helpers';

const SEED = 0x0c105e;
// 1 KiB pages, 16 record pages: 512 records, 8 delta lists, 2 index pages.
const geometry = createGeometry({ bytesPerPage: 1024, recordPagesPerChapter: 16, chaptersPerVolume: 16 });

function dataOf(i: number): Uint8Array {
  const data = new Uint8Array(16);
  new DataView(data.buffer).setUint32(0, i, true);
  return data;
}

/** Fills zones with names from `rng`, each going to `zoneOf(name)`, until `count` or a zone fills. */
function fill(zones: OpenChapterZone[], count: number, rng: SplitMix64, zoneOf: (n: Uint8Array) => number) {
  const put: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const name = rng.name();
    if (zones[zoneOf(name)]!.put(name, dataOf(i)) === 0) {
      put.push(name);
      break;
    }
    put.push(name);
  }
  return put;
}

describe('collateOpenChapter and closeOpenChapter', () => {
  it('interleaves zones, fills the gaps with a live record and indexes every live record', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 600 }),
        fc.nat(),
        (zoneCount, count, seed) => {
          const zones = makeOpenChapterZones(geometry, zoneCount);
          const rng = new SplitMix64(BigInt(seed));
          const random = mulberry32(seed);
          const names = fill(zones, count, rng, (n) => n[15]! % zoneCount);
          // Remove some records.
          for (const name of names) if (random() < 0.15) zones[name[15]! % zoneCount]!.remove(name);

          const seen: string[] = [];
          const records = collateOpenChapter(zones, geometry, (name, page) => {
            seen.push(`${toHex(name)}@${page}`);
          });
          expect(records.length).toBe(geometry.recordsPerChapter * RECORD_SIZE);
          // Model: record i comes from zone i % zones, record 1 + floor(i / zones), if live.
          const expected: string[] = [];
          const liveRecords = new Set<string>();
          for (const zone of zones) {
            for (let n = 1; n <= zone.size; n++) {
              const r = zone.record(n);
              if (!r.deleted) liveRecords.add(toHex(r.name) + toHex(r.data));
            }
          }
          for (let i = 0; i < geometry.recordsPerChapter; i++) {
            const zone = zones[i % zoneCount]!;
            const n = 1 + Math.floor(i / zoneCount);
            const got = toHex(records.subarray(i * 32, i * 32 + 32));
            if (n <= zone.size && !zone.isDeleted(n)) {
              const r = zone.record(n);
              expect(got).toBe(toHex(r.name) + toHex(r.data));
              expected.push(`${toHex(r.name)}@${Math.floor(i / geometry.recordsPerPage)}`);
            } else if (liveRecords.size > 0) {
              // A gap holds a copy of a live record, never a deleted one.
              expect(liveRecords.has(got)).toBe(true);
            } else {
              expect(got).toBe('0'.repeat(64));
            }
          }
          expect(seen).toEqual(expected);
        },
      ),
      { seed: SEED, numRuns: 60 },
    );
  });

  it('closes a full chapter into pages a reader can search', () => {
    const zones = makeOpenChapterZones(geometry, 2);
    const rng = new SplitMix64(7n);
    const names = fill(zones, 10_000, rng, (n) => n[0]! & 1);
    expect(zones.some((z) => z.isFull)).toBe(true);
    const nonce = 0xfeedn;
    const warnings: string[] = [];
    const index = new OpenChapterIndex(geometry, nonce, { warn: (m) => warnings.push(m) });
    const closed = closeOpenChapter(zones, index, 42);
    expect(closed.virtualChapterNumber).toBe(42n);
    expect(closed.indexPages).toHaveLength(geometry.indexPagesPerChapter);
    expect(closed.recordPages).toHaveLength(geometry.recordPagesPerChapter);
    expect(closed.overflowCount).toBe(0);
    for (const p of closed.recordPages) expect(p.length).toBe(geometry.bytesPerPage);
    const pages = closed.indexPages.map((b) => ChapterIndexPage.open(b, geometry, nonce));
    // Every name is on the record page the index names (unless packing dropped its list).
    const dropped = closed.packing.entriesRemoved;
    let missing = 0;
    for (const name of names) {
      const list = chapterDeltaListOf(name, geometry);
      const page = pages.find((p) => list >= p.lowestListNumber && list <= p.highestListNumber);
      const recordPage = page?.search(name);
      if (recordPage === undefined) {
        missing++;
        continue;
      }
      const bytes = closed.recordPages[recordPage]!;
      let found = false;
      for (let r = 0; r < geometry.recordsPerPage && !found; r++) {
        found = toHex(bytes.subarray(r * 32, r * 32 + 16)) === toHex(name);
      }
      expect(found).toBe(true);
    }
    expect(missing).toBeLessThanOrEqual(dropped);
    expect(dropped > 0).toBe(warnings.length > 0);
  });

  it('builds the index pages that putting every live record in chapter order builds (model)', () => {
    // closeOpenChapter puts the names in (list, address) order; the seed puts them in chapter order.
    // Same pages, same drops, same errors: with address collisions (names sharing bytes 8..15),
    // names in two zones, three times (ERR_EXISTS), deletions and packing drops.
    const small = createGeometry({ bytesPerPage: 256, recordPagesPerChapter: 8, chaptersPerVolume: 16 });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer(), fc.nat(600), (zoneCount, seed, count) => {
        for (const g of [geometry, small]) {
          const rng = new SplitMix64(BigInt(seed >>> 0));
          const random = mulberry32(seed);
          const zones = makeOpenChapterZones(g, zoneCount);
          const pool: Uint8Array[] = [];
          for (let i = 0; i < count; i++) {
            const r = random();
            let name: Uint8Array;
            if (pool.length > 0 && r < 0.1) {
              name = rng.name(); // same list and address as an earlier name, other name
              name.set(pool[Math.floor(random() * pool.length)]!.subarray(8), 8);
            } else if (pool.length > 0 && r < 0.13) {
              name = pool[Math.floor(random() * pool.length)]!; // the same name again
            } else {
              name = rng.name();
            }
            pool.push(name);
            const zone = zones[Math.floor(random() * zoneCount)]!;
            if (zone.isFull) continue;
            if (random() < 0.05 && zone.search(name) !== undefined) zone.remove(name);
            else zone.put(name, dataOf(i));
          }
          const run = (build: () => unknown) => {
            try {
              return build();
            } catch (error) {
              return { code: (error as { code?: string }).code, message: (error as Error).message };
            }
          };
          const got = run(() => {
            const index = new OpenChapterIndex(g, 77n, { warn: () => {} });
            const closed = closeOpenChapter(zones, index, 5);
            return {
              pages: closed.indexPages.map(toHex),
              packing: closed.packing,
              overflows: closed.overflowCount,
            };
          });
          const want = run(() => {
            const index = new OpenChapterIndex(g, 77n, { warn: () => {} });
            index.empty(5);
            let overflows = 0;
            collateOpenChapter(zones, g, (name, page) => {
              try {
                index.put(name, page);
              } catch (error) {
                if ((error as { code?: string }).code === 'ERR_OVERFLOW') overflows++;
                else throw error;
              }
            });
            const { pages, ...packing } = index.packPages();
            return { pages: pages.map(toHex), packing, overflows };
          });
          expect(got).toEqual(want);
        }
      }),
      { numRuns: 60, seed: SEED },
    );
  });

  it('reports which collated records are live and which are fill copies', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 600 }),
        fc.nat(),
        (zoneCount, count, seed) => {
          const zones = makeOpenChapterZones(geometry, zoneCount);
          const names = fill(zones, count, new SplitMix64(BigInt(seed)), (n) => n[15]! % zoneCount);
          const random = mulberry32(seed);
          for (const name of names) if (random() < 0.2) zones[name[15]! % zoneCount]!.remove(name);
          const index = new OpenChapterIndex(geometry, 1n, { warn: () => {} });
          const closed = closeOpenChapter(zones, index, 3);
          expect(closed.liveRecords).toHaveLength(geometry.recordsPerChapter);
          let live = 0;
          for (let i = 0; i < geometry.recordsPerChapter; i++) {
            const zone = zones[i % zoneCount]!;
            const n = 1 + Math.floor(i / zoneCount);
            const expected = n <= zone.size && !zone.isDeleted(n) ? 1 : 0;
            expect(closed.liveRecords[i]).toBe(expected);
            if (expected === 1) {
              live++;
              const page = closed.recordPages[Math.floor(i / geometry.recordsPerPage)]!;
              const at = (i % geometry.recordsPerPage) * RECORD_SIZE;
              expect(toHex(page.subarray(at, at + 16))).toBe(toHex(zone.record(n).name));
            }
          }
          expect(closed.liveCount).toBe(live);
          expect(live).toBe(zones.reduce((sum, z) => sum + z.size - z.deletions, 0));
        },
      ),
      { seed: SEED, numRuns: 40 },
    );
  });
});

describe('saveOpenChapter / loadOpenChapter', () => {
  it('writes the ALBOC 02.00 header, the count and the interleaved live records', () => {
    const zones = makeOpenChapterZones(geometry, 2);
    const a = new Uint8Array(16).fill(0xa1);
    const b = new Uint8Array(16).fill(0xb2);
    const c = new Uint8Array(16).fill(0xc3);
    zones[0]!.put(a, dataOf(1));
    zones[0]!.put(b, dataOf(2));
    zones[1]!.put(c, dataOf(3));
    zones[0]!.remove(a);
    const saved = saveOpenChapter(zones);
    expect(Buffer.from(saved.subarray(0, 10)).toString('latin1')).toBe('ALBOC02.00');
    expect(new DataView(saved.buffer).getUint32(10, true)).toBe(2);
    expect(saved.length).toBe(14 + 2 * 32);
    // Record 1 of zone 0 is deleted; record 1 of zone 1, then record 2 of zone 0.
    expect(toHex(saved.subarray(14, 30))).toBe(toHex(c));
    expect(toHex(saved.subarray(46, 62))).toBe(toHex(b));
  });

  it('round-trips into the same and other zone counts, dropping what does not fit (model)', () => {
    const config = createConfiguration({ memorySize: 0.25, zoneCount: 1 });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 520 }),
        fc.nat(),
        (fromZones, toZones, count, seed) => {
          const zones = makeOpenChapterZones(geometry, fromZones);
          const rng = new SplitMix64(BigInt(seed));
          const random = mulberry32(seed);
          const zoneOfFrom = (n: Uint8Array) => n[3]! % fromZones;
          const names = fill(zones, count, rng, zoneOfFrom);
          for (const name of names) if (random() < 0.1) zones[zoneOfFrom(name)]!.remove(name);
          const saved = saveOpenChapter(zones);

          // Model of the load: records in save order, each zone stops once a put leaves <= 1 free.
          const target = makeOpenChapterZones(geometry, toZones);
          const zoneOf = (n: Uint8Array) => n[7]! % toZones;
          const model: Map<string, string>[] = Array.from({ length: toZones }, () => new Map());
          const capacity = target[0]!.capacity;
          const full = new Array<boolean>(toZones).fill(false);
          const recordCount = (saved.length - 14) / 32;
          for (let r = 0; r < recordCount; r++) {
            const name = saved.subarray(14 + r * 32, 30 + r * 32);
            const z = zoneOf(name);
            if (full[z]) continue;
            model[z]!.set(toHex(name), toHex(saved.subarray(30 + r * 32, 46 + r * 32)));
            if (capacity - model[z]!.size <= 1) full[z] = true;
          }
          const result = loadOpenChapter(saved, target, { zoneOf });
          expect(result.recordCount).toBe(recordCount);
          expect(result.loaded + result.dropped).toBe(recordCount);
          for (let z = 0; z < toZones; z++) {
            const zone = target[z]!;
            expect(zone.size).toBe(model[z]!.size);
            expect(zone.deletions).toBe(0);
            expect(zone.isFull).toBe(false);
            for (const [name, data] of model[z]!) {
              expect(toHex(zone.search(Buffer.from(name, 'hex'))!)).toBe(data);
            }
          }
          // Saving what was loaded into the same zone layout and loading again changes nothing.
          if (fromZones === toZones && result.dropped === 0) {
            const again = makeOpenChapterZones(geometry, toZones);
            loadOpenChapter(saveOpenChapter(target), again, { zoneOf });
            expect(toHex(saveOpenChapter(again))).toBe(toHex(saveOpenChapter(target)));
          }
        },
      ),
      { seed: SEED, numRuns: 80 },
    );
    // The volume index zone chooser spreads names over every zone.
    const four = createConfiguration({ memorySize: 0.25, zoneCount: 4 });
    const zoneOf = volumeIndexZoneOf(four);
    const counts = [0, 0, 0, 0];
    const rng = new SplitMix64(99n);
    for (let i = 0; i < 4000; i++) counts[zoneOf(rng.name())]!++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
    expect(volumeIndexZoneOf(config)(rng.name())).toBe(0);
  });

  it('assigns zones as the UDS volume index does, dense and sparse (BigInt model)', () => {
    for (const sparse of [false, true]) {
      const config = createConfiguration({ memorySize: 0.25, sparse, zoneCount: 3 });
      const zoneOf = volumeIndexZoneOf(config);
      const listCount = (n: boolean) => BigInt(n ? (sparse ? 81920 : 0) : sparse ? 126976 : 262144);
      const rng = new SplitMix64(sparse ? 11n : 12n);
      const used = new Set<number>();
      for (let i = 0; i < 3000; i++) {
        const name = rng.name();
        const hook = sparse && ((name[14]! << 8) | name[15]!) % 32 === 0;
        const lists = listCount(hook);
        const bytes = new DataView(name.buffer).getBigUint64(0, false);
        const list = (bytes >> 20n) % lists;
        const perZone = (lists + 2n) / 3n;
        expect(zoneOf(name)).toBe(Number(list / perZone));
        used.add(zoneOf(name));
      }
      expect(used.size).toBe(3);
    }
  });

  it('rejects bad magic, bad version, impossible counts and truncation with typed errors', () => {
    const zones = makeOpenChapterZones(geometry, 1);
    const rng = new SplitMix64(5n);
    fill(zones, 10, rng, () => 0);
    const saved = saveOpenChapter(zones);
    const target = makeOpenChapterZones(geometry, 1);
    const bad = (mutate: (b: Uint8Array) => Uint8Array) =>
      codeOf(() => loadOpenChapter(mutate(saved.slice()), target));
    const setByte = (at: number, value: number) => (b: Uint8Array) => {
      b[at] = value;
      return b;
    };
    expect(bad(setByte(0, 0x61))).toBe('ERR_CORRUPT_DATA');
    expect(bad(setByte(9, 0x31))).toBe('ERR_CORRUPT_DATA');
    expect(
      bad((b) => {
        new DataView(b.buffer).setUint32(10, 513, true);
        return b;
      }),
    ).toBe('ERR_CORRUPT_DATA');
    expect(bad((b) => b.subarray(0, 13))).toBe('ERR_CORRUPT_DATA');
    expect(bad((b) => b.subarray(0, b.length - 1))).toBe('ERR_CORRUPT_DATA');
    expect(bad((b) => b.subarray(0, 0))).toBe('ERR_CORRUPT_DATA');
    // Padding after the records is ignored (a save region is block-sized).
    const padded = new Uint8Array(saved.length + 100);
    padded.set(saved);
    expect(loadOpenChapter(padded, target).loaded).toBe(10);
    expect(() => loadOpenChapter(saved, makeOpenChapterZones(geometry, 2))).toThrow(TypeError);
    expect(() => loadOpenChapter(saved, makeOpenChapterZones(geometry, 2), { zoneOf: () => 2 })).toThrow(
      RangeError,
    );
  });

  it('never fails on random bytes with anything but a typed error (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, withHeader) => {
        if (withHeader && bytes.length >= 14) bytes.set(Buffer.from('ALBOC02.00', 'latin1'));
        const target = makeOpenChapterZones(geometry, 1);
        try {
          const result = loadOpenChapter(bytes, target);
          expect(result.bytesRead).toBeLessThanOrEqual(bytes.length);
        } catch (e) {
          expect((e as { code?: string }).code).toBe('ERR_CORRUPT_DATA');
        }
      }),
      { seed: SEED, numRuns: 500 },
    );
  });
});
