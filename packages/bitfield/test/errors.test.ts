// Wrong use of the API throws TypeError / RangeError with a stable `code`; tests assert on the code.

import { fileURLToPath } from 'node:url';
import {
  BITFIELD_ERROR_CODES,
  BitfieldErrorCode,
  getBigField,
  getField,
  isBitfieldError,
  moveBits,
  moveBitsDown,
  moveBitsUp,
  setBigField,
  setField,
  setZero,
} from '@deja/bitfield';
import { readmeErrorCodes } from '@deja/test-helpers';
import { describe, expect, test } from 'vitest';

function codeOf(fn: () => unknown): { type: string; code: unknown } {
  try {
    fn();
  } catch (error) {
    return { type: (error as Error).constructor.name, code: (error as { code?: unknown }).code };
  }
  return { type: 'none', code: undefined };
}

const memory = new Uint8Array(16);
const notMemory = [1, 2, 3] as unknown as Uint8Array;
const type = { type: 'TypeError', code: BitfieldErrorCode.INVALID_ARG_TYPE };
const offset = { type: 'RangeError', code: BitfieldErrorCode.BIT_OFFSET };
const size = { type: 'RangeError', code: BitfieldErrorCode.BIT_SIZE };

describe('argument errors', () => {
  test('the README table lists exactly the exported codes; the guard knows them by their marker', () => {
    const readme = fileURLToPath(new URL('../README.md', import.meta.url));
    expect(readmeErrorCodes(readme)).toEqual([...BITFIELD_ERROR_CODES]);
    let thrown: unknown;
    try {
      getField(notMemory, 0, 1);
    } catch (error) {
      thrown = error;
    }
    expect(isBitfieldError(thrown, 'ERR_INVALID_ARG_TYPE')).toBe(true);
    expect(isBitfieldError(thrown, 'ERR_BIT_SIZE')).toBe(false);
    expect(isBitfieldError(Object.assign(new TypeError('x'), { code: 'ERR_INVALID_ARG_TYPE' }))).toBe(false);
  });

  test('codes are stable strings', () => {
    expect(BitfieldErrorCode).toEqual({
      INVALID_ARG_TYPE: 'ERR_INVALID_ARG_TYPE',
      BIT_OFFSET: 'ERR_BIT_OFFSET',
      BIT_SIZE: 'ERR_BIT_SIZE',
    });
  });

  test.each([
    ['getField', (m: Uint8Array, o: number, s: number) => getField(m, o, s), 25],
    ['setField', (m: Uint8Array, o: number, s: number) => setField(1, m, o, s), 25],
    ['getBigField', (m: Uint8Array, o: number, s: number) => getBigField(m, o, s), 53],
    ['setBigField', (m: Uint8Array, o: number, s: number) => setBigField(1, m, o, s), 53],
  ] as const)('%s checks memory, offset and size', (_name, call, max) => {
    expect(codeOf(() => call(memory, 3, max))).toEqual({ type: 'none', code: undefined });
    expect(codeOf(() => call(notMemory, 0, 1))).toEqual(type);
    expect(codeOf(() => call(null as unknown as Uint8Array, 0, 1))).toEqual(type);
    expect(codeOf(() => call(new Uint16Array(4) as unknown as Uint8Array, 0, 1))).toEqual(type);
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '8' as unknown as number]) {
      expect(codeOf(() => call(memory, bad, 1))).toEqual(offset);
    }
    for (const bad of [-1, max + 1, max + 8, 2.5, Number.NaN, '3' as unknown as number]) {
      expect(codeOf(() => call(memory, 0, bad))).toEqual(size);
    }
  });

  test('setZero checks memory and its range', () => {
    expect(codeOf(() => setZero(notMemory, 0, 1))).toEqual(type);
    expect(codeOf(() => setZero(memory, -8, 1))).toEqual(offset);
    expect(codeOf(() => setZero(memory, 0.5, 1))).toEqual(offset);
    expect(codeOf(() => setZero(memory, 0, -1))).toEqual(size);
    expect(codeOf(() => setZero(memory, 0, 1.5))).toEqual(size);
    expect(codeOf(() => setZero(memory, Number.MAX_SAFE_INTEGER - 3, 4))).toEqual(size);
    expect(codeOf(() => setZero(memory, Number.MAX_SAFE_INTEGER - 3, 3))).toEqual({
      type: 'none',
      code: undefined,
    });
  });

  test.each([
    ['moveBits', moveBits],
    ['moveBitsDown', moveBitsDown],
    ['moveBitsUp', moveBitsUp],
  ] as const)('%s checks both arrays and both ranges', (_name, move) => {
    expect(codeOf(() => move(notMemory, 0, memory, 0, 8))).toEqual(type);
    expect(codeOf(() => move(memory, 0, notMemory, 0, 8))).toEqual(type);
    expect(codeOf(() => move(memory, -1, memory, 0, 8))).toEqual(offset);
    expect(codeOf(() => move(memory, 0, memory, Number.NaN, 8))).toEqual(offset);
    expect(codeOf(() => move(memory, 0, memory, 0, -8))).toEqual(size);
    expect(codeOf(() => move(memory, 0, memory, Number.MAX_SAFE_INTEGER, 8))).toEqual(size);
  });

  test('messages name the function, the argument and the bad value', () => {
    expect(() => getField(memory, -3, 4)).toThrow(/getField.*offset.*-3/);
    expect(() => moveBits(memory, 0, memory, 1, -2)).toThrow(/moveBits.*size.*-2/);
  });
});
