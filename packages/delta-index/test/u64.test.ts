// toU64: the one check of u64 arguments in the family (used by pages here and by @deja/chapter-index).
import { expect, it } from 'vitest';
import { toU64 } from '../src/index';

it('accepts bigints in [0, 2^64) and safe integers >= 0, returning bigints', () => {
  expect(toU64('n', 0)).toBe(0n);
  expect(toU64('n', Number.MAX_SAFE_INTEGER)).toBe(BigInt(Number.MAX_SAFE_INTEGER));
  expect(toU64('n', 0n)).toBe(0n);
  expect(toU64('n', (1n << 64n) - 1n)).toBe((1n << 64n) - 1n);
});

it('rejects other types with TypeError and values out of range with RangeError ERR_INVALID_ARGUMENT', () => {
  expect(() => toU64('n', '1' as unknown as number)).toThrow(TypeError);
  for (const value of [-1, 0.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN, -1n, 1n << 64n]) {
    expect(() => toU64('n', value)).toThrow(
      expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARGUMENT' }),
    );
  }
});
