// Unit tests of the parts: record pages, the page cache, the volume index (collisions, lazy
// expiry, save/restore), and the framed formats.

import { createGeometry } from '@deja/volume-geometry';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32, frame, unframe } from '../src/_format';
import {
  checkRecordPageOrder,
  encodeRecordPage,
  PageCache,
  searchRecordPage,
  summarizeRecordPage,
  VolumeIndex,
  VolumeIndexRecord,
} from '../src/advanced';
import { searchRecordWindow, summaryWindow, WINDOW_MISSED } from '../src/record-page';
import { hex, makeNames, SMALL } from './_helpers';

function configFor(chapters: number, sparse = 0) {
  const geometry = createGeometry({ ...SMALL, chaptersPerVolume: chapters, sparseChaptersPerVolume: sparse });
  return Object.freeze({
    geometry,
    memorySize: 0,
    sparse: sparse > 0,
    reduced: false,
    cacheChapters: 7,
    volumeIndexMeanDelta: 4096,
    sparseSampleRate: sparse > 0 ? 4 : 0,
    zoneCount: 1,
  });
}

describe('record pages', () => {
  it('sorts records by name and finds each by binary search (property)', () => {
    fc.assert(
      fc.property(
        fc.nat(32),
        fc.nat(1000),
        fc.boolean(),
        fc.nat(3),
        fc.nat(3),
        (count, seed, shareWord, skew, pad) => {
          const names = makeNames(count, seed);
          // Names sharing their first word exercise the tie-break on the whole name.
          if (shareWord) for (const n of names) n.set([1, 2, 3, 4]);
          // A source that does not start at a multiple of 4 bytes, or records that do not (`skew`,
          // `pad`), take the byte-copy path.
          const source = new Uint8Array(count * 32 + 8).subarray(skew);
          names.forEach((n, i) => {
            source.set(n, i * 32 + pad);
            source[i * 32 + pad + 16] = i;
          });
          const offsets = Uint32Array.from({ length: count }, (_, i) => i * 32 + pad);
          const page = new Uint8Array(1024).fill(7);
          encodeRecordPage(page, source, offsets, count);
          expect(checkRecordPageOrder(page, count)).toBe(-1);
          expect(page.subarray(count * 32).every((b) => b === 0)).toBe(true);
          names.forEach((n, i) => {
            const at = searchRecordPage(page, count, n);
            expect(at).toBeGreaterThanOrEqual(0);
            expect(page[at]).toBe(i);
          });
          for (const absent of makeNames(5, seed + 5000))
            expect(searchRecordPage(page, count, absent)).toBe(-1);
        },
      ),
      { seed: 5, numRuns: 200 },
    );
  });

  it('finds names on full pages whose first bytes are uniform, skewed or shared, as a scan does (property)', () => {
    // The interpolation guesses of searchRecordPage assume uniform names; skewed first words (a
    // few values, runs of equal words, one outlier at the top) must still find every name.
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1024 }),
        fc.nat(1000),
        fc.constantFrom('uniform', 'few', 'outlier', 'squared'),
        (count, seed, shape) => {
          const names = makeNames(count, seed);
          names.forEach((n, i) => {
            if (shape === 'few') n.set([0, 0, 0, i % 3]);
            if (shape === 'outlier') n.set(i === 0 ? [255, 255, 255, 255] : [0, 0, (i >> 8) & 255, i & 255]);
            if (shape === 'squared') {
              const k = Math.floor((i * i) / 4) >>> 0;
              n.set([(k >>> 24) & 255, (k >>> 16) & 255, (k >>> 8) & 255, k & 255]);
            }
          });
          const source = new Uint8Array(count * 32);
          for (const [i, n] of names.entries()) source.set(n, i * 32);
          const offsets = Uint32Array.from({ length: count }, (_, i) => i * 32);
          const page = new Uint8Array(count * 32);
          encodeRecordPage(page, source, offsets, count);
          const scan = (n: Uint8Array) => {
            for (let r = 0; r < count; r++)
              if (hex(page.subarray(r * 32, r * 32 + 16)) === hex(n)) return r * 32 + 16;
            return -1;
          };
          const summary = summarizeRecordPage(page, count);
          for (const n of [...names.slice(0, 64), ...makeNames(8, seed + 7000)]) {
            expect(searchRecordPage(page, count, n)).toBe(scan(n));
            expect(searchRecordPage(page, count, n, summary)).toBe(scan(n));
          }
        },
      ),
      { seed: 8, numRuns: 120 },
    );
  });

  it('the window a summary gives holds the name if the page does, and never misses (property)', () => {
    // Uniform names, and first words that repeat (runs of equal summary keys) or crowd the top.
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1024 }),
        fc.nat(1000),
        fc.constantFrom('uniform', 'few', 'outlier'),
        (count, seed, shape) => {
          const names = makeNames(count, seed);
          names.forEach((n, i) => {
            if (shape === 'few') n.set([0, 0, 0, i % 3]);
            if (shape === 'outlier') n.set(i === 0 ? [255, 255, 255, 255] : [0, 0, (i >> 8) & 255, i & 255]);
          });
          const source = new Uint8Array(count * 32);
          for (const [i, n] of names.entries()) source.set(n, i * 32);
          const offsets = Uint32Array.from({ length: count }, (_, i) => i * 32);
          const page = new Uint8Array(count * 32);
          encodeRecordPage(page, source, offsets, count);
          const summary = summarizeRecordPage(page, count);
          const span = new Int32Array(2);
          const absent = makeNames(16, seed + 9000);
          // Absent names that share a present name's first word, between and around the runs.
          for (const n of absent.slice(0, 8)) n.set(names[(n[5]! * count) >> 8]!.subarray(0, 4));
          for (const n of [...names, ...absent]) {
            summaryWindow(summary, count, n, span);
            const [first, records] = [span[0]!, span[1]!];
            expect(first).toBeGreaterThanOrEqual(0);
            expect(records).toBeGreaterThanOrEqual(1);
            expect(first + records).toBeLessThanOrEqual(count);
            // One run and the next record; two runs when the name's first word is a summary key.
            if (shape === 'uniform') expect(records).toBeLessThanOrEqual(33);
            const window = page.slice(first * 32, (first + records) * 32);
            const whole = searchRecordPage(page, count, n);
            expect(searchRecordWindow(window, first, count, n)).toBe(whole < 0 ? -1 : whole - first * 32);
            // The same in a longer buffer, told how many records it holds.
            const roomy = new Uint8Array(window.length + 96);
            roomy.set(window);
            expect(searchRecordWindow(roomy, first, count, n, records)).toBe(
              whole < 0 ? -1 : whole - first * 32,
            );
          }
        },
      ),
      { seed: 12, numRuns: 200 },
    );
  });

  it('a window of a page answers exactly when it brackets the name, else WINDOW_MISSED (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 32 }),
        fc.nat(1000),
        fc.nat(31),
        fc.nat(8),
        (count, seed, f, w) => {
          const names = makeNames(count, seed);
          const source = new Uint8Array(count * 32);
          names.forEach((n, i) => {
            source.set(n, i * 32);
            source[i * 32 + 16] = i;
          });
          const offsets = Uint32Array.from({ length: count }, (_, i) => i * 32);
          const page = new Uint8Array(1024);
          encodeRecordPage(page, source, offsets, count);
          const first = f % count;
          const records = Math.min(w + 1, count - first);
          const window = page.slice(first * 32, (first + records) * 32);
          let missed = 0;
          for (const n of [...names, ...makeNames(5, seed + 5000)]) {
            const whole = searchRecordPage(page, count, n);
            const at = searchRecordWindow(window, first, count, n);
            if (at === WINDOW_MISSED) {
              missed++;
              // Only a name that sorts outside the window may miss.
              if (whole >= 0) expect(whole < first * 32 || whole >= (first + records) * 32).toBe(true);
            } else {
              expect(at).toBe(whole < 0 ? -1 : whole - first * 32);
            }
          }
          // A window holding the whole page never misses.
          if (first === 0 && records === count) expect(missed).toBe(0);
        },
      ),
      { seed: 6, numRuns: 300 },
    );
  });

  it('checkRecordPageOrder finds a record out of order', () => {
    const page = new Uint8Array(128);
    page[0] = 5;
    page[32] = 3;
    expect(checkRecordPageOrder(page, 2)).toBe(1);
  });
});

describe('PageCache', () => {
  it('evicts the least recently used page and keys pages by chapter', () => {
    const cache = new PageCache(2);
    const a = new Uint8Array(1);
    const b = new Uint8Array(2);
    const c = new Uint8Array(3);
    cache.set(1, 10, a);
    cache.set(2, 10, b);
    expect(cache.get(1, 10)).toBe(a); // 1 is now the most recent
    cache.set(3, 10, c);
    expect(cache.get(2, 10)).toBeUndefined();
    expect(cache.get(1, 10)).toBe(a);
    expect(cache.get(1, 11)).toBeUndefined(); // another chapter in that slot
    cache.delete(1);
    expect(cache.get(1, 10)).toBeUndefined();
    expect(cache.size).toBe(1);
    expect(() => new PageCache(1)).toThrow(RangeError);
  });

  it('peek finds a page as get does, without moving it in the LRU order', () => {
    const cache = new PageCache(2);
    const a = new Uint8Array(1);
    const b = new Uint8Array(2);
    const summary = new Uint32Array([7]);
    cache.set(1, 10, a, summary);
    cache.set(2, 10, b);
    expect(cache.peek(1, 10)).toBe(a);
    expect(cache.lastSummary).toBe(summary);
    expect(cache.peek(1, 11)).toBeUndefined();
    expect(cache.peek(3, 10)).toBeUndefined();
    // 1 is still the least recently used (a get would have kept it): it goes first.
    cache.set(3, 10, new Uint8Array(3));
    expect(cache.peek(1, 10)).toBeUndefined();
    expect(cache.peek(2, 10)).toBe(b);
    expect(cache.hits + cache.misses).toBe(0);
  });
});

describe('VolumeIndex', () => {
  it('puts, finds, moves and removes entries; expired chapters vanish lazily', () => {
    const vi = new VolumeIndex(configFor(8));
    const record = new VolumeIndexRecord();
    const names = makeNames(300, 1);
    vi.setOpenChapter(0);
    for (const name of names.slice(0, 100)) {
      expect(vi.lookup(name, record).isFound).toBe(false);
      expect(vi.put(record, 0)).toBe(true);
    }
    for (const name of names.slice(0, 100)) {
      vi.lookup(name, record);
      expect(record.isFound).toBe(true);
      expect(record.virtualChapter).toBe(0);
    }
    vi.setOpenChapter(5);
    vi.lookup(names[0]!, record);
    vi.setChapter(record, 5);
    expect(vi.lookup(names[0]!, record).virtualChapter).toBe(5);
    vi.lookup(names[1]!, record);
    vi.remove(record);
    expect(vi.lookup(names[1]!, record).isFound).toBe(false);
    expect(() => vi.put(vi.lookup(names[200]!, record), 9)).toThrow(RangeError);
    // Chapter 0 leaves the 8-chapter window when chapter 8 opens; name 0 (chapter 5) stays.
    vi.setOpenChapter(8);
    const before = vi.getStats().entries;
    expect(vi.lookup(names[2]!, record).isFound).toBe(false);
    expect(vi.getStats().discards).toBeGreaterThan(0);
    expect(vi.getStats().entries).toBeLessThan(before);
    expect(vi.lookup(names[0]!, record).virtualChapter).toBe(5);
    // Long after, stored chapter numbers wrap: nothing old comes back as a recent chapter.
    vi.setOpenChapter(8 + 64 * 16 + 3);
    for (const name of names.slice(0, 100)) expect(vi.lookup(name, record).isFound).toBe(false);
  });

  it('peekChapter answers as lookup does, changing nothing, and -1 for a list waiting for a flush', () => {
    const vi = new VolumeIndex(configFor(8));
    const record = new VolumeIndexRecord();
    const cursor = new VolumeIndexRecord();
    const names = makeNames(400, 9);
    for (let chapter = 0; chapter < 8; chapter++) {
      vi.setOpenChapter(chapter);
      for (const name of names.slice(chapter * 40, chapter * 40 + 40)) {
        if (!vi.lookup(name, record).isFound) vi.put(record, chapter);
      }
    }
    const entries = vi.getStats().entries;
    for (const name of names) {
      const peeked = vi.peekChapter(name, cursor);
      vi.lookup(name, record);
      expect(peeked).toBe(record.isFound ? record.virtualChapter : -1);
    }
    // Chapters 0 and 1 leave the window: a list holding their entries waits for its flush, which
    // peekChapter does not do (it answers -1) and lookup does.
    vi.setOpenChapter(9);
    let waiting = 0;
    for (const name of names.slice(0, 80)) {
      const peeked = vi.peekChapter(name, cursor);
      expect(vi.getStats().entries).toBe(entries);
      if (peeked === -1) waiting++;
      else expect(peeked).toBeGreaterThanOrEqual(2);
    }
    expect(waiting).toBeGreaterThan(0);
    for (const name of names.slice(0, 80)) expect(vi.lookup(name, record).isFound).toBe(false);
    expect(vi.getStats().entries).toBeLessThan(entries);
  });

  it('two names with one address: a plain entry and a collision entry carrying the name', () => {
    const vi = new VolumeIndex(configFor(8));
    const record = new VolumeIndexRecord();
    const [a, b] = makeNames(2, 2);
    b!.set(a!.subarray(0, 8)); // same volume-index bytes: same list and address
    vi.setOpenChapter(3);
    vi.lookup(a!, record);
    vi.put(record, 2);
    vi.lookup(b!, record);
    expect(record.isFound).toBe(true); // a hint: the plain entry of `a`
    expect(record.isCollision).toBe(false);
    vi.put(record, 3); // `b` is not in chapter 2: a collision entry with b's name
    expect(vi.lookup(b!, record).isCollision).toBe(true);
    expect(record.virtualChapter).toBe(3);
    expect(vi.lookup(a!, record).isCollision).toBe(false);
    expect(record.virtualChapter).toBe(2);
    expect(vi.getStats().collisions).toBe(1);
  });

  it('saves and restores exactly; a damaged save is ERR_CORRUPT_DATA and leaves it empty', () => {
    const vi = new VolumeIndex(configFor(8, 5));
    const record = new VolumeIndexRecord();
    const names = makeNames(500, 3);
    vi.setOpenChapter(4);
    names.forEach((n, i) => {
      vi.lookup(n, record);
      vi.put(record, 2 + (i % 3));
    });
    const saved = vi.save();
    const copy = new VolumeIndex(configFor(8, 5));
    copy.restore(saved);
    names.forEach((n, i) => {
      expect(copy.lookup(n, record).virtualChapter).toBe(2 + (i % 3));
    });
    const broken = saved.slice(0, saved.length - 9);
    const other = new VolumeIndex(configFor(8, 5));
    expect(() => other.restore(broken)).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT_DATA' }));
    expect(other.getStats().entries).toBe(0);
    expect(() => new VolumeIndex(configFor(8)).restore(saved)).toThrow(
      expect.objectContaining({ code: 'ERR_CORRUPT_DATA' }),
    );
  });

  it('a sparse index samples by the sampling bytes', () => {
    const vi = new VolumeIndex(configFor(8, 5));
    const name = new Uint8Array(16);
    name[15] = 8;
    expect(vi.isSample(name)).toBe(true);
    name[15] = 9;
    expect(vi.isSample(name)).toBe(false);
    expect(new VolumeIndex(configFor(8)).isSample(name)).toBe(false);
  });
});

describe('frames', () => {
  it('round-trips and rejects every kind of damage', () => {
    const payload = Uint8Array.from({ length: 100 }, (_, i) => i);
    const framed = frame('TESTPART', 3, payload);
    expect(hex(unframe(framed, 0, 'TESTPART', 3, 'test').payload)).toBe(hex(payload));
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return (error as { code: string }).code;
      }
      return 'none';
    };
    expect(code(() => unframe(framed, 0, 'OTHERPRT', 3, 'test'))).toBe('ERR_CORRUPT_DATA');
    expect(code(() => unframe(framed, 0, 'TESTPART', 4, 'test'))).toBe('ERR_UNSUPPORTED_VERSION');
    expect(code(() => unframe(framed.subarray(0, 50), 0, 'TESTPART', 3, 'test'))).toBe('ERR_CORRUPT_DATA');
    for (let i = 0; i < framed.length; i += 7) {
      const bad = framed.slice();
      bad[i]! ^= 1;
      expect(['ERR_CORRUPT_DATA', 'ERR_UNSUPPORTED_VERSION']).toContain(
        code(() => unframe(bad, 0, 'TESTPART', 3, 't')),
      );
    }
  });
});
