// One test per error code of @deja/delta-index (the README's table lists exactly
// DELTA_INDEX_ERROR_CODES), and the marker guard that recognises a DeltaIndexError across copies of
// the package.
import { fileURLToPath } from 'node:url';
import { readmeErrorCodes } from '@deja/test-helpers';
import { describe, expect, it } from 'vitest';
import {
  DELTA_INDEX_ERROR_CODES,
  DeltaIndex,
  DeltaIndexError,
  type DeltaIndexErrorCode,
  DeltaIndexPage,
  isDeltaIndexError,
} from '../src/index';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return expect.fail('expected a throw');
}

function expectCode(error: unknown, code: DeltaIndexErrorCode): void {
  expect(isDeltaIndexError(error, code), String(error)).toBe(true);
}

const name = (byte: number) => new Uint8Array(16).fill(byte);

describe('every code', () => {
  it('the README table lists exactly the exported codes', () => {
    const readme = fileURLToPath(new URL('../README.md', import.meta.url));
    expect(readmeErrorCodes(readme)).toEqual([...DELTA_INDEX_ERROR_CODES]);
    expect(Object.isFrozen(DELTA_INDEX_ERROR_CODES)).toBe(true);
  });

  it('ERR_OVERFLOW: a put past 65535 bits in one list', () => {
    const index = new DeltaIndex({ listCount: 1, meanDelta: 256, payloadBits: 25, memorySize: 1 << 18 });
    let error: unknown;
    for (let key = 100; error === undefined; key += 100) {
      try {
        index.getEntry(0, key).put(key, 1);
      } catch (caught) {
        error = caught;
      }
    }
    expectCode(error, 'ERR_OVERFLOW');
  });

  it('ERR_CORRUPT_DATA: a page opened with another nonce', () => {
    const index = new DeltaIndex({ listCount: 4, meanDelta: 256, payloadBits: 4, memorySize: 1 << 14 });
    index.getEntry(1, 10).put(10, 3);
    const memory = new Uint8Array(256);
    index.packPage(1n, memory, 0n, 0);
    expect(DeltaIndexPage.open(memory, 1n, 256, 4).get(1, 10)).toBe(3);
    expectCode(
      thrown(() => DeltaIndexPage.open(memory, 2n, 256, 4)),
      'ERR_CORRUPT_DATA',
    );
  });

  it('ERR_INVALID_STATE: a cursor read past the end of its list', () => {
    const index = new DeltaIndex({ listCount: 1, meanDelta: 256, payloadBits: 4, memorySize: 1 << 14 });
    const cursor = index.startSearch(0, 0);
    cursor.next();
    expect(cursor.atEnd).toBe(true);
    expectCode(
      thrown(() => cursor.next()),
      'ERR_INVALID_STATE',
    );
  });

  it('ERR_EXISTS: a named put on an entry that already is that collision entry', () => {
    const index = new DeltaIndex({ listCount: 1, meanDelta: 256, payloadBits: 4, memorySize: 1 << 14 });
    index.getEntry(0, 7).put(7, 1);
    index.getEntry(0, 7, name(2)).put(7, 2, name(2));
    const entry = index.getEntry(0, 7, name(2));
    expect(entry.isCollision).toBe(true);
    expectCode(
      thrown(() => entry.put(7, 3, name(2))),
      'ERR_EXISTS',
    );
    expect(index.get(0, 7, name(2))).toBe(2);
  });

  it('ERR_PARAMETER_MISMATCH: a save restored by an index with another payload width', () => {
    const options = { listCount: 4, meanDelta: 256, payloadBits: 4, memorySize: 1 << 14 };
    const index = new DeltaIndex(options);
    index.getEntry(0, 5).put(5, 1);
    const other = new DeltaIndex({ ...options, payloadBits: 5 });
    expectCode(
      thrown(() => other.restore(index.save())),
      'ERR_PARAMETER_MISMATCH',
    );
  });
});

describe('isDeltaIndexError', () => {
  it('recognises the marker, not the prototype, and checks the code when given', () => {
    const error = new DeltaIndexError('ERR_EXISTS', 'test');
    expect(error.name).toBe('DeltaIndexError');
    expect(isDeltaIndexError(error)).toBe(true);
    expect(isDeltaIndexError(error, 'ERR_EXISTS')).toBe(true);
    expect(isDeltaIndexError(error, 'ERR_OVERFLOW')).toBe(false);
    // A copy from another install: same marker, another class.
    const foreign = Object.assign(new Error('x'), { code: 'ERR_EXISTS' });
    Object.defineProperty(foreign, Symbol.for('@deja/delta-index.error'), { value: true });
    expect(isDeltaIndexError(foreign, 'ERR_EXISTS')).toBe(true);
    for (const value of [null, undefined, 'ERR_EXISTS', { code: 'ERR_EXISTS' }, new Error('x')]) {
      expect(isDeltaIndexError(value)).toBe(false);
    }
  });

  it('keeps cause when wrapping', () => {
    const cause = new Error('below');
    expect(new DeltaIndexError('ERR_CORRUPT_DATA', 'wrapped', { cause }).cause).toBe(cause);
  });
});
