// Record name helpers against a BigInt model of hash-utils.h.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chapterDeltaAddressOf,
  chapterDeltaListOf,
  checkName,
  extractChapterIndexBytes,
  extractSamplingBytes,
  extractVolumeIndexBytes,
  nameToHashSlot,
  volumeIndexListOf,
} from '../src/index';

const SEED = 0xc4a9;
const nameArb = fc.uint8Array({ minLength: 16, maxLength: 16 });

function be(name: Uint8Array, from: number, to: number): bigint {
  let v = 0n;
  for (let i = from; i < to; i++) v = (v << 8n) | BigInt(name[i]!);
  return v;
}

describe('record names', () => {
  it('extracts the three parts big-endian', () => {
    const name = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
    expect(extractVolumeIndexBytes(name)).toBe(0x0102030405060708n);
    expect(extractChapterIndexBytes(name)).toBe(0x090a0b0c0d0e);
    expect(extractSamplingBytes(name)).toBe(0x0f10);
  });

  it('maps names like the BigInt model', () => {
    fc.assert(
      fc.property(
        nameArb,
        fc.integer({ min: 0, max: 17 }),
        fc.integer({ min: 0, max: 34 }),
        fc.integer({ min: 1, max: 2 ** 20 }),
        fc.integer({ min: 0, max: 31 }),
        fc.integer({ min: 1, max: 0xffff_ffff }),
        (name, listBits, addressBits, slotCount, viAddressBits, viListCount) => {
          const chapterBytes = be(name, 8, 14);
          const g = { chapterAddressBits: addressBits, chapterDeltaListBits: listBits };
          expect(BigInt(extractChapterIndexBytes(name))).toBe(chapterBytes);
          expect(BigInt(chapterDeltaListOf(name, g))).toBe(
            (chapterBytes >> BigInt(addressBits)) & ((1n << BigInt(listBits)) - 1n),
          );
          expect(BigInt(chapterDeltaAddressOf(name, g))).toBe(
            chapterBytes & ((1n << BigInt(addressBits)) - 1n),
          );
          expect(BigInt(nameToHashSlot(name, slotCount))).toBe(chapterBytes % BigInt(slotCount));
          expect(BigInt(extractSamplingBytes(name))).toBe(be(name, 14, 16));
          expect(BigInt(volumeIndexListOf(name, viAddressBits, viListCount))).toBe(
            (be(name, 0, 8) >> BigInt(viAddressBits)) % BigInt(viListCount),
          );
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('maps names to volume index lists like the BigInt model, power-of-two list counts too', () => {
    fc.assert(
      fc.property(
        nameArb,
        fc.integer({ min: 0, max: 32 }),
        fc.oneof(
          fc.integer({ min: 0, max: 31 }).map((bits) => 2 ** bits),
          fc.integer({ min: 1, max: 0xffff_ffff }),
          fc.constantFrom(786432, 126976, 81920, 3 * 2 ** 20),
        ),
        (name, addressBits, listCount) => {
          expect(BigInt(volumeIndexListOf(name, addressBits, listCount))).toBe(
            (be(name, 0, 8) >> BigInt(addressBits)) % BigInt(listCount),
          );
        },
      ),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('rejects names that are not 16-byte Uint8Arrays', () => {
    expect(() => checkName(new Uint8Array(15))).toThrow(RangeError);
    expect(() => checkName([1, 2] as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => extractVolumeIndexBytes(new Uint8Array(17))).toThrow(RangeError);
  });
});
