// The error contract of @deja/hbitmap: the README's table lists exactly HBITMAP_ERROR_CODES, one
// case per code (each raised by the call the table names), and the marker guard.
import { fileURLToPath } from 'node:url';
import { readmeErrorCodes } from '@deja/test-helpers';
import { expect, it } from 'vitest';
import { HBITMAP_ERROR_CODES, HBitmap, HBitmapError, isHBitmapError } from '../src/index';

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return expect.fail('expected a throw');
}

it('the README table lists exactly the exported codes', () => {
  const readme = fileURLToPath(new URL('../README.md', import.meta.url));
  expect(readmeErrorCodes(readme)).toEqual([...HBITMAP_ERROR_CODES]);
});

const cases: [string, () => unknown, ErrorConstructor][] = [
  [
    'ERR_INVALID_ARG_TYPE',
    () => new HBitmap(100).serializePart('x' as unknown as Uint8Array, 0, 100),
    TypeError,
  ],
  ['ERR_OUT_OF_RANGE', () => new HBitmap(100).get(100), RangeError],
  ['ERR_MISALIGNED', () => new HBitmap(100, 2).reset(1, 4), RangeError],
  ['ERR_BUFFER_TOO_SMALL', () => new HBitmap(100).serializePart(new Uint8Array(4), 0, 100), RangeError],
  [
    'ERR_EXISTS',
    () => {
      const hb = new HBitmap(100);
      hb.createMeta(4);
      hb.createMeta(4);
    },
    HBitmapError as unknown as ErrorConstructor,
  ],
  ['ERR_NOT_FOUND', () => new HBitmap(100).freeMeta(), HBitmapError as unknown as ErrorConstructor],
  [
    'ERR_NOT_SERIALIZABLE',
    () => new HBitmap(2 ** 53, 58).serializationAlign(),
    HBitmapError as unknown as ErrorConstructor,
  ],
];

it('covers every code once', () => {
  expect(cases.map(([code]) => code)).toEqual([...HBITMAP_ERROR_CODES]);
});

for (const [code, call, type] of cases) {
  it(`${code}`, () => {
    const error = caught(call);
    expect(error).toBeInstanceOf(type);
    expect(error).toMatchObject({ code });
    expect(isHBitmapError(error)).toBe(type === (HBitmapError as unknown as ErrorConstructor));
  });
}

it('the guard recognises errors by their marker, not by instanceof', () => {
  const copy = Object.assign(new Error('x'), { name: 'HBitmapError', code: 'ERR_EXISTS' });
  expect(isHBitmapError(copy)).toBe(false);
  Object.defineProperty(copy, Symbol.for('@deja/hbitmap.error'), { value: true });
  expect(isHBitmapError(copy, 'ERR_EXISTS')).toBe(true);
  expect(isHBitmapError(copy, 'ERR_NOT_FOUND')).toBe(false);
});
