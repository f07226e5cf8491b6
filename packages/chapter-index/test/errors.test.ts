// One test per error code of @deja/chapter-index (the README's table lists exactly
// CHAPTER_INDEX_ERROR_CODES), delta index failures wrapped with `cause`, and the marker guard that
// recognises a ChapterIndexError across copies of the package.
import { fileURLToPath } from 'node:url';
import { isDeltaIndexError } from '@deja/delta-index';
import { readmeErrorCodes } from '@deja/test-helpers';
import { createGeometry } from '@deja/volume-geometry';
import { describe, expect, it } from 'vitest';
import {
  CHAPTER_INDEX_ERROR_CODES,
  ChapterIndexError,
  type ChapterIndexErrorCode,
  ChapterIndexPage,
  isChapterIndexError,
  loadOpenChapter,
  makeOpenChapterZones,
  OpenChapterIndex,
  saveOpenChapter,
} from '../src/index';
import { SplitMix64 } from './_helpers';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return expect.fail('expected a throw');
}

function expectCode(error: unknown, code: ChapterIndexErrorCode): void {
  expect(isChapterIndexError(error, code), String(error)).toBe(true);
}

const geometry = createGeometry({ bytesPerPage: 1024, recordPagesPerChapter: 16, chaptersPerVolume: 16 });

describe('every code', () => {
  it('the README table lists exactly the exported codes', () => {
    const readme = fileURLToPath(new URL('../README.md', import.meta.url));
    expect(readmeErrorCodes(readme)).toEqual([...CHAPTER_INDEX_ERROR_CODES]);
    expect(Object.isFrozen(CHAPTER_INDEX_ERROR_CODES)).toBe(true);
  });

  it('ERR_CORRUPT_DATA: a chapter index page opened with another nonce', () => {
    const index = new OpenChapterIndex(geometry, 77n, { warn: () => {} });
    index.empty(8);
    const rng = new SplitMix64(2n);
    for (let i = 0; i < 64; i++) index.put(rng.name(), i % 16);
    const page = index.packPages().pages[0]!;
    expect(ChapterIndexPage.open(page, geometry, 77n)).toBeInstanceOf(ChapterIndexPage);
    expectCode(
      thrown(() => ChapterIndexPage.open(page, geometry, 78n)),
      'ERR_CORRUPT_DATA',
    );
  });

  it('ERR_CORRUPT_DATA: a saved open chapter cut inside its records or its header', () => {
    const zones = makeOpenChapterZones(geometry, 1);
    const rng = new SplitMix64(5n);
    for (let i = 0; i < 10; i++) zones[0]!.put(rng.name(), new Uint8Array(16));
    const saved = saveOpenChapter(zones);
    expect(loadOpenChapter(saved, makeOpenChapterZones(geometry, 1)).loaded).toBe(10);
    expectCode(
      thrown(() => loadOpenChapter(saved.subarray(0, saved.length - 20), makeOpenChapterZones(geometry, 1))),
      'ERR_CORRUPT_DATA',
    );
    expectCode(
      thrown(() => loadOpenChapter(saved.subarray(0, 13), makeOpenChapterZones(geometry, 1))),
      'ERR_CORRUPT_DATA',
    );
  });

  it('ERR_OVERFLOW: more records than the chapter index memory holds, wrapping the delta index error', () => {
    const index = new OpenChapterIndex(geometry, 1n, { warn: () => {} });
    index.empty(0);
    const rng = new SplitMix64(3n);
    let error: unknown;
    for (let i = 0; i < 1 << 20 && error === undefined; i++) {
      try {
        index.put(rng.name(), i % 16);
      } catch (caught) {
        error = caught;
      }
    }
    expectCode(error, 'ERR_OVERFLOW');
    expect(isDeltaIndexError((error as ChapterIndexError).cause, 'ERR_OVERFLOW')).toBe(true);
  });

  it('ERR_EXISTS: a name put a third time into one chapter index', () => {
    const index = new OpenChapterIndex(geometry, 1n, { warn: () => {} });
    index.empty(3);
    const name = new SplitMix64(1n).name();
    index.put(name, 1);
    index.put(name, 2);
    expectCode(
      thrown(() => index.put(name, 3)),
      'ERR_EXISTS',
    );
    expect(index.recordCount).toBe(2);
  });
});

describe('isChapterIndexError', () => {
  it('recognises the marker, not the prototype, and checks the code when given', () => {
    const error = new ChapterIndexError('ERR_EXISTS', 'test');
    expect(error.name).toBe('ChapterIndexError');
    expect(isChapterIndexError(error, 'ERR_EXISTS')).toBe(true);
    expect(isChapterIndexError(error, 'ERR_OVERFLOW')).toBe(false);
    const foreign = Object.assign(new Error('x'), { code: 'ERR_EXISTS' });
    Object.defineProperty(foreign, Symbol.for('@deja/chapter-index.error'), { value: true });
    expect(isChapterIndexError(foreign, 'ERR_EXISTS')).toBe(true);
    for (const value of [null, undefined, 'ERR_EXISTS', { code: 'ERR_EXISTS' }, new Error('x')]) {
      expect(isChapterIndexError(value)).toBe(false);
    }
  });
});
