// The human sizes of the `deja` command line: what users type (powers of 1024, exact arithmetic,
// bad input refused) and what they read.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { formatCount, formatDuration, formatRate, formatSize, parseSize } from '../src/cli/size';

describe('parseSize', () => {
  test.each([
    ['4096', 4096],
    ['0', 0],
    ['4K', 4096],
    ['4k', 4096],
    ['4KiB', 4096],
    ['4KB', 4096],
    ['20G', 20 * 2 ** 30],
    ['20 GiB', 20 * 2 ** 30],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['1.5M', 1572864],
    ['512B', 512],
    ['0.5K', 512],
    ['2T', 2 * 2 ** 40],
    ['1P', 2 ** 50],
  ])('%s', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  test.each(['', 'G', '20X', '-1', '1e3', '1.1K', '0.1', '20 G B', '1,5G', 'K4', '1.5.0G', '8E'])(
    'refuses %j',
    (text) => {
      expect(() => parseSize(text)).toThrow(RangeError);
    },
  );

  test('the largest safe size is accepted, one more is not', () => {
    expect(parseSize(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => parseSize('9007199254740992')).toThrow(RangeError);
  });
});

describe('formatSize', () => {
  test.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [1.3 * 2 ** 30, '1.3 GiB'],
    [20 * 2 ** 30, '20 GiB'],
    [2 ** 20 - 1, '1 MiB'],
    [1023.9 * 1024, '1023.9 KiB'],
    [5 * 2 ** 60, '5 EiB'],
  ])('%d', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });
});

test('rates and durations', () => {
  expect(formatRate(150e6, 1)).toBe('150 MB/s');
  expect(formatRate(12.34e6, 1)).toBe('12.3 MB/s');
  expect(formatRate(1, 0)).toBe('- MB/s');
  expect(formatDuration(0.421)).toBe('0.42 s');
  expect(formatDuration(12.34)).toBe('12.3 s');
  expect(formatDuration(245)).toBe('4 min 05 s');
  expect(formatDuration(7380)).toBe('2 h 03 min');
});

test('counts: thousands separators, as en-US formats integers', () => {
  expect([0, 7, 999, 1000, 28787, 1234567, -45678].map(formatCount)).toEqual([
    '0',
    '7',
    '999',
    '1,000',
    '28,787',
    '1,234,567',
    '-45,678',
  ]);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.integer(),
        fc.maxSafeInteger(),
        fc.maxSafeNat().map((n) => (n === 0 ? 0 : -n)), // counts are never -0
      ),
      (n) => {
        expect(formatCount(n)).toBe(n.toLocaleString('en-US'));
      },
    ),
  );
});
