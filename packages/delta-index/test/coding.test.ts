// Coding constants and size helpers against the reference C (coding_constants.json).
import { describe, expect, it } from 'vitest';
import {
  computeCodingConstants,
  computeDeltaIndexSaveBytes,
  computeDeltaIndexSize,
  getDeltaIndexPageCount,
  getZoneMemorySize,
  MAX_MEAN_DELTA,
} from '../src/index';
import { loadVectors } from './_vectors';

interface CodingVectors {
  coding_constants: {
    mean_delta: number;
    min_bits: number;
    min_keys: number;
    incr_keys: number;
    set_delta_underflow: boolean;
  }[];
  compute_delta_index_size: { entry_count: number; mean_delta: number; payload_bits: number; bits: number }[];
  get_delta_index_page_count: {
    entry_count: number;
    list_count: number;
    mean_delta: number;
    payload_bits: number;
    bytes_per_page: number;
    pages: number;
  }[];
}

const vectors = loadVectors<CodingVectors>('coding_constants.json');

describe('computeCodingConstants', () => {
  it('matches every reference row, including the means whose BASE exceeds INCR', () => {
    expect(vectors.coding_constants.length).toBeGreaterThan(50);
    for (const row of vectors.coding_constants) {
      expect(computeCodingConstants(row.mean_delta), `mean ${row.mean_delta}`).toEqual({
        minBits: row.min_bits,
        minKeys: row.min_keys,
        incrKeys: row.incr_keys,
      });
      expect(row.min_keys > row.incr_keys).toBe(row.set_delta_underflow);
    }
  });

  it('satisfies BASE + INCR = 2^MINBITS and INCR < 2^MINBITS for random means', () => {
    for (let mean = 1; mean < 200_000; mean += 997) {
      const c = computeCodingConstants(mean);
      expect(c.minKeys + c.incrKeys).toBe(2 ** c.minBits);
      expect(c.incrKeys).toBeLessThan(2 ** c.minBits);
      expect(c.incrKeys + 1).toBeGreaterThanOrEqual(2 ** (c.minBits - 1));
    }
  });

  it('keeps the shortest code within one 25-bit field up to MAX_MEAN_DELTA', () => {
    expect(computeCodingConstants(MAX_MEAN_DELTA).minBits).toBe(25);
    expect(computeCodingConstants(MAX_MEAN_DELTA + 1).minBits).toBe(26);
  });

  it('rejects means outside [1, 2^32 - 1]', () => {
    for (const bad of [0, -1, 1.5, 2 ** 32, Number.NaN]) {
      expect(() => computeCodingConstants(bad)).toThrow(RangeError);
    }
    expect(() => computeCodingConstants('4' as unknown as number)).toThrow(TypeError);
    try {
      computeCodingConstants(0);
    } catch (error) {
      expect((error as { code?: string }).code).toBe('ERR_INVALID_ARGUMENT');
    }
  });
});

describe('size helpers', () => {
  it('computeDeltaIndexSize matches every reference row', () => {
    expect(vectors.compute_delta_index_size.length).toBeGreaterThan(1000);
    for (const row of vectors.compute_delta_index_size) {
      expect(computeDeltaIndexSize(row.entry_count, row.mean_delta, row.payload_bits)).toBe(row.bits);
    }
  });

  it('getDeltaIndexPageCount matches every reference row', () => {
    expect(vectors.get_delta_index_page_count.length).toBeGreaterThan(5);
    for (const row of vectors.get_delta_index_page_count) {
      expect(
        getDeltaIndexPageCount(
          row.entry_count,
          row.list_count,
          row.mean_delta,
          row.payload_bits,
          row.bytes_per_page,
        ),
      ).toBe(row.pages);
    }
  });

  it('getDeltaIndexPageCount rejects pages too small for one average list', () => {
    expect(() => getDeltaIndexPageCount(65536, 1, 65536, 8, 4096)).toThrow(RangeError);
    expect(() => getDeltaIndexPageCount(64, 0, 65536, 8, 4096)).toThrow(RangeError);
    expect(() => getDeltaIndexPageCount(64, 1, 65536, 8, 20)).toThrow(RangeError);
  });

  it('rounds zone memory up to 64 KiB and sizes saves like the seed', () => {
    expect(getZoneMemorySize(1, 1)).toBe(65536);
    expect(getZoneMemorySize(1, 65536)).toBe(65536);
    expect(getZoneMemorySize(1, 65537)).toBe(131072);
    expect(getZoneMemorySize(3, 3 * 65536 + 2)).toBe(65536);
    expect(computeDeltaIndexSaveBytes(1024, 100_000)).toBe(40 + 1024 * 9 + 131072);
    expect(computeDeltaIndexSaveBytes(0, 0)).toBe(40);
    expect(() => computeDeltaIndexSaveBytes(-1, 0)).toThrow(RangeError);
  });
});
