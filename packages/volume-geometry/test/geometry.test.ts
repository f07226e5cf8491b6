// Unit and property tests of the geometry, the chapter arithmetic and the configurations: argument
// checking with stable codes, the derived-field identities for random geometries, and a model of a
// volume's live chapters checked after every opened chapter.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chaptersToExpire,
  computeDedupWindow,
  computeIndexStorageLayout,
  computeVolumeIndexLayout,
  createConfiguration,
  createGeometry,
  decodeUdsMemorySize,
  encodeUdsMemorySize,
  hasSparseChapters,
  isChapterSparse,
  isReducedGeometry,
  isSparseGeometry,
  mapToPhysicalChapter,
} from '../src/index';

const SEED = 0x5eed_6e0;
const GiB = 1024 ** 3;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).name;
  }
  return 'no error';
}

describe('createGeometry', () => {
  const base = { bytesPerPage: 4096, recordPagesPerChapter: 8, chaptersPerVolume: 16 };

  it('defaults sparse chapters and remapping to 0 and freezes the result', () => {
    const g = createGeometry(base);
    expect(g.sparseChaptersPerVolume).toBe(0);
    expect(g.denseChaptersPerVolume).toBe(16);
    expect(g.remappedVirtual).toBe(0);
    expect(g.remappedPhysical).toBe(0);
    expect(Object.isFrozen(g)).toBe(true);
    expect(isSparseGeometry(g)).toBe(false);
    expect(isReducedGeometry(g)).toBe(false);
    expect(isReducedGeometry(createGeometry({ ...base, chaptersPerVolume: 15 }))).toBe(true);
    expect(isSparseGeometry(createGeometry({ ...base, sparseChaptersPerVolume: 1 }))).toBe(true);
  });

  it('rejects out-of-range parameters with ERR_INVALID_GEOMETRY (a RangeError)', () => {
    const bad = [
      { ...base, bytesPerPage: 4064 + 16 }, // not a multiple of 32
      { ...base, bytesPerPage: 96 }, // below the minimum
      { ...base, bytesPerPage: 131072 }, // offsets are 19 bits
      { ...base, recordPagesPerChapter: 0 },
      { ...base, recordPagesPerChapter: 65536 },
      { ...base, chaptersPerVolume: 0 },
      { ...base, sparseChaptersPerVolume: 16 }, // no dense chapter left
      { ...base, sparseChaptersPerVolume: -1 },
      { ...base, remappedPhysical: 16 },
      { ...base, remappedVirtual: -1 },
      { bytesPerPage: 65536, recordPagesPerChapter: 4096, chaptersPerVolume: 1 }, // 2^23 records
      { bytesPerPage: 128, recordPagesPerChapter: 4096, chaptersPerVolume: 1 }, // list larger than a page
    ];
    for (const params of bad) {
      expect(
        codeOf(() => createGeometry(params)),
        JSON.stringify(params),
      ).toBe('ERR_INVALID_GEOMETRY');
      expect(() => createGeometry(params)).toThrow(RangeError);
    }
  });

  it('rejects non-integers with TypeError', () => {
    expect(() => createGeometry({ ...base, bytesPerPage: 4096.5 })).toThrow(TypeError);
    expect(() => createGeometry({ ...base, chaptersPerVolume: Number.NaN })).toThrow(TypeError);
    expect(() => createGeometry({ ...base, recordPagesPerChapter: '8' as unknown as number })).toThrow(
      TypeError,
    );
    expect(() => createGeometry(null as unknown as typeof base)).toThrow(TypeError);
  });

  it('keeps the derived-field identities for random geometries', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 2048 }).map((n) => n * 32),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 20000 }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        (bytesPerPage, recordPagesPerChapter, chaptersPerVolume, sparseFraction) => {
          const sparseChaptersPerVolume = Math.floor(chaptersPerVolume * sparseFraction);
          let g: ReturnType<typeof createGeometry>;
          try {
            g = createGeometry({
              bytesPerPage,
              recordPagesPerChapter,
              chaptersPerVolume,
              sparseChaptersPerVolume,
            });
          } catch (e) {
            // Only the documented refusals: too many records, or a page too small for a list.
            expect((e as { code?: string }).code).toBe('ERR_INVALID_GEOMETRY');
            const records = (bytesPerPage / 32) * recordPagesPerChapter;
            expect(records >= 2 ** 23 || bytesPerPage <= 1024).toBe(true);
            return;
          }
          expect(g.recordsPerPage * 32).toBe(bytesPerPage);
          expect(g.recordsPerChapter).toBe(g.recordsPerPage * recordPagesPerChapter);
          expect(g.recordsPerVolume).toBe(g.recordsPerChapter * chaptersPerVolume);
          expect(g.denseChaptersPerVolume + g.sparseChaptersPerVolume).toBe(chaptersPerVolume);
          expect(g.deltaListsPerChapter).toBe(2 ** g.chapterDeltaListBits);
          // One delta list per 32 to 64 records (the largest power of two <= (records - 1) / 32),
          // and a single list for chapters of up to 64 records.
          const x = g.recordsPerChapter - 1;
          if (x < 64) expect(g.deltaListsPerChapter).toBe(1);
          else {
            expect(g.deltaListsPerChapter * 32).toBeLessThanOrEqual(x);
            expect(g.deltaListsPerChapter * 64).toBeGreaterThan(x);
          }
          // The payload holds every record page number, and no more than one spare bit.
          expect(2 ** g.chapterPayloadBits).toBeGreaterThanOrEqual(recordPagesPerChapter);
          expect(g.chapterPayloadBits === 1 || 2 ** (g.chapterPayloadBits - 1) < recordPagesPerChapter).toBe(
            true,
          );
          expect(g.chapterAddressBits).toBeLessThanOrEqual(22);
          expect(g.indexPagesPerChapter).toBeGreaterThanOrEqual(1);
          expect(g.pagesPerChapter).toBe(g.indexPagesPerChapter + recordPagesPerChapter);
          expect(g.pagesPerVolume).toBe(g.pagesPerChapter * chaptersPerVolume);
          expect(g.bytesPerVolume).toBe(bytesPerPage * (g.pagesPerVolume + 1));
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe('chapter arithmetic', () => {
  const g = createGeometry({ bytesPerPage: 4096, recordPagesPerChapter: 8, chaptersPerVolume: 16 });

  it('rejects bad chapter numbers', () => {
    expect(() => mapToPhysicalChapter(g, -1)).toThrow(RangeError);
    expect(() => mapToPhysicalChapter(g, 1.5)).toThrow(TypeError);
    expect(() => chaptersToExpire(g, 2 ** 53)).toThrow(TypeError);
    expect(() => hasSparseChapters(g, 5, 4)).toThrow(RangeError);
    expect(() => isChapterSparse(g, 0, 4, -3)).toThrow(RangeError);
  });

  it('maps a normal geometry modulo the chapter count', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 5000 }).map((n) => n * 2),
        fc.nat(),
        (chapters, virtual) => {
          const even = createGeometry({
            bytesPerPage: 4096,
            recordPagesPerChapter: 1,
            chaptersPerVolume: chapters,
          });
          expect(mapToPhysicalChapter(even, virtual)).toBe(virtual % chapters);
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });

  // Model: the live chapters of a volume from the moment the remapped chapter is the oldest one
  // (oldest = remappedVirtual, a full volume), opening one chapter at a time and expiring what
  // chaptersToExpire says from the oldest end. Invariant after every step: at most
  // chaptersPerVolume live chapters, each in its own physical chapter in range.
  it('never puts two live chapters in one physical chapter (model of expiry with remapping)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }).map((n) => 2 * n + 1),
        fc.nat({ max: 1_000_000 }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        fc.integer({ min: 1, max: 200 }),
        (chapters, remappedVirtual, physicalFraction, steps) => {
          const remappedPhysical = Math.floor(chapters * physicalFraction);
          const geo = createGeometry({
            bytesPerPage: 4096,
            recordPagesPerChapter: 1,
            chaptersPerVolume: chapters,
            remappedVirtual,
            remappedPhysical,
          });
          let oldest = remappedVirtual;
          let newest = remappedVirtual + chapters - 1;
          // Plain checks in the loop (expect() per chapter would dominate the run time).
          const check = () => {
            if (newest - oldest + 1 > chapters) throw new Error(`${newest - oldest + 1} live chapters`);
            const seen = new Set<number>();
            for (let v = oldest; v <= newest; v++) {
              const p = mapToPhysicalChapter(geo, v);
              if (p < 0 || p >= chapters) throw new Error(`chapter ${v} maps to ${p}`);
              if (seen.has(p)) throw new Error(`chapter ${v} reuses physical chapter ${p}`);
              seen.add(p);
            }
          };
          check();
          for (let i = 0; i < steps; i++) {
            newest += 1;
            const expire = chaptersToExpire(geo, newest);
            if (expire < 0 || expire > 2) throw new Error(`expire ${expire}`);
            oldest += expire;
            check();
          }
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('expires nothing until the volume is full, then one chapter per chapter without remapping', () => {
    for (let newest = 0; newest < 40; newest++) {
      expect(chaptersToExpire(g, newest)).toBe(newest < 16 ? 0 : 1);
    }
  });

  it('agrees with a direct definition of sparse chapters', () => {
    const sparse = createGeometry({
      bytesPerPage: 4096,
      recordPagesPerChapter: 1,
      chaptersPerVolume: 100,
      sparseChaptersPerVolume: 90,
    });
    fc.assert(
      fc.property(
        fc.nat({ max: 10_000 }),
        fc.nat({ max: 150 }),
        fc.nat({ max: 200 }),
        (oldest, span, offset) => {
          const newest = oldest + span;
          const virtual = oldest + Math.min(offset, span);
          const has = span + 1 > 10;
          expect(hasSparseChapters(sparse, oldest, newest)).toBe(has);
          // Sparse: not among the newest 10 chapters.
          expect(isChapterSparse(sparse, oldest, newest, virtual)).toBe(has && newest - virtual >= 10);
          expect(hasSparseChapters(g, oldest, newest)).toBe(false);
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe('createConfiguration', () => {
  it('sizes the documented configurations', () => {
    const quarter = createConfiguration({ memorySize: 0.25 });
    expect(quarter.geometry.recordPagesPerChapter).toBe(64);
    expect(quarter.geometry.indexPagesPerChapter).toBe(6);
    expect(quarter.geometry.chaptersPerVolume).toBe(1024);
    // The seed: a 256 GB window in about 2.5 GB of storage for 0.25 GB of memory.
    expect(computeDedupWindow(quarter.geometry)).toBe(256 * GiB);
    const storage = computeIndexStorageLayout(quarter).totalBytes;
    expect(storage / GiB).toBeGreaterThan(2.5);
    expect(storage / GiB).toBeLessThan(2.7);

    expect(createConfiguration({ memorySize: 0.5 }).geometry.indexPagesPerChapter).toBe(13);
    expect(createConfiguration({ memorySize: 0.75 }).geometry.indexPagesPerChapter).toBe(20);

    const one = createConfiguration({ memorySize: 1 });
    expect(one.geometry.indexPagesPerChapter).toBe(26);
    expect(computeDedupWindow(one.geometry)).toBe(1024 * GiB);
    expect(computeIndexStorageLayout(one).totalBytes / GiB).toBeGreaterThan(9);
    expect(computeIndexStorageLayout(one).totalBytes / GiB).toBeLessThan(11);

    const sparse = createConfiguration({ memorySize: 1, sparse: true });
    expect(sparse.geometry.chaptersPerVolume).toBe(10240);
    expect(sparse.geometry.sparseChaptersPerVolume).toBe(9728);
    expect(computeDedupWindow(sparse.geometry)).toBe(10 * 1024 * GiB);
    expect(sparse.sparseSampleRate).toBe(32);

    const reduced = createConfiguration({ memorySize: 3, reduced: true });
    expect(reduced.geometry.chaptersPerVolume).toBe(3071);
    expect(isReducedGeometry(reduced.geometry)).toBe(true);
  });

  it('keeps the volume index list count when a volume is reduced', () => {
    for (const memorySize of [0.25, 0.5, 2]) {
      for (const sparse of [false, true]) {
        const full = computeVolumeIndexLayout(createConfiguration({ memorySize, sparse }));
        const reduced = computeVolumeIndexLayout(createConfiguration({ memorySize, sparse, reduced: true }));
        expect(reduced.nonHook.listCount).toBe(full.nonHook.listCount);
        expect(reduced.hook?.listCount).toBe(full.hook?.listCount);
      }
    }
  });

  it('splits delta memory over zones in 64 KiB units', () => {
    const one = computeVolumeIndexLayout(createConfiguration({ memorySize: 0.25 }));
    for (const zoneCount of [2, 3, 16]) {
      const z = computeVolumeIndexLayout(createConfiguration({ memorySize: 0.25, zoneCount }));
      expect(z.zoneCount).toBe(zoneCount);
      expect(z.nonHook.zoneMemoryBytes % 65536).toBe(0);
      expect(z.nonHook.zoneMemoryBytes * zoneCount).toBeGreaterThanOrEqual(one.nonHook.memorySize);
      expect(z.nonHook.zoneMemoryBytes * zoneCount - one.nonHook.memorySize).toBeLessThan(65536 * zoneCount);
      expect(z.nonHook.chapterZoneBits).toBe(Math.floor(one.nonHook.chapterSizeInBits / zoneCount));
      // The save size does not depend on the zone count.
      expect(z.saveBytes).toBe(one.saveBytes);
    }
  });

  it('rejects unsupported memory sizes and zone counts', () => {
    for (const memorySize of [0, 0.1, 0.3, 1.5, 1025, -1]) {
      expect(
        codeOf(() => createConfiguration({ memorySize })),
        String(memorySize),
      ).toBe('ERR_INVALID_MEMORY_SIZE');
    }
    for (const zoneCount of [0, 17]) {
      expect(codeOf(() => createConfiguration({ memorySize: 1, zoneCount }))).toBe(
        'ERR_INVALID_CONFIGURATION',
      );
    }
    expect(() => createConfiguration({ memorySize: Number.NaN })).toThrow(TypeError);
    expect(() => createConfiguration({ memorySize: 1, sparse: 'yes' as unknown as boolean })).toThrow(
      TypeError,
    );
  });

  it('round-trips UDS memory size codes', () => {
    const codes = [-256, -512, -768, 1, 2, 1024, -1280, -1536, -1792, 4097, 5120];
    for (const code of codes) {
      const { memorySize, reduced } = decodeUdsMemorySize(code);
      expect(encodeUdsMemorySize(memorySize, reduced)).toBe(code);
    }
    expect(decodeUdsMemorySize(-1280)).toEqual({ memorySize: 0.25, reduced: true });
    expect(decodeUdsMemorySize(4100)).toEqual({ memorySize: 4, reduced: true });
    for (const code of [0, -1, -255, -1023, -1024, 1025, 4096, 5121, -1281]) {
      expect(
        codeOf(() => decodeUdsMemorySize(code)),
        String(code),
      ).toBe('ERR_INVALID_MEMORY_SIZE');
    }
  });
});
