// hash-utils.h against the reference vectors: chapter delta lists and addresses of the chapter index
// cases, open-chapter hash slots of the open chapter trace, and the byte extractors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chapterDeltaAddressAt,
  chapterDeltaListAt,
  chapterIndexBytesAt,
  extractChapterIndexBytes,
  extractSamplingBytes,
  extractVolumeIndexBytes,
  hashToChapterDeltaAddress,
  hashToChapterDeltaList,
  nameToHashSlot,
} from '../src/index';
import { fromHex, loadVectors } from './_vectors';

interface ChapterCases {
  cases: {
    name: string;
    geometry: { chapter_address_bits: number; chapter_delta_list_bits: number };
    searches: { name: string; delta_list: number; address: number }[];
  }[];
}

interface OpenChapter {
  ops: {
    slot_count: number;
    names_hex: string[];
    steps: { op: string; name: number; hash_slot?: number }[];
  };
}

describe('hash utils', () => {
  it('map names to the reference chapter delta lists and addresses', () => {
    const { cases } = loadVectors<ChapterCases>('chapter_index_pages.json');
    let checked = 0;
    for (const c of cases) {
      const { chapter_address_bits: addressBits, chapter_delta_list_bits: listBits } = c.geometry;
      for (const search of c.searches) {
        const name = fromHex(search.name);
        expect(hashToChapterDeltaList(name, addressBits, listBits), `${c.name} ${search.name}`).toBe(
          search.delta_list,
        );
        expect(hashToChapterDeltaAddress(name, addressBits)).toBe(search.address);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('map names to the reference open-chapter hash slots', () => {
    const { ops } = loadVectors<OpenChapter>('open_chapter.json');
    const puts = ops.steps.filter((s) => s.op === 'put' && s.hash_slot !== undefined);
    expect(puts.length).toBeGreaterThan(10);
    for (const step of puts) {
      expect(nameToHashSlot(fromHex(ops.names_hex[step.name]!), ops.slot_count)).toBe(step.hash_slot);
    }
  });

  it('extract big-endian byte ranges', () => {
    const name = fromHex('0102030405060708f1f2f3f4f5f6a1b2');
    expect(extractVolumeIndexBytes(name)).toBe(0x0102030405060708n);
    expect(extractChapterIndexBytes(name)).toBe(0xf1f2f3f4f5f6);
    expect(extractSamplingBytes(name)).toBe(0xa1b2);
    expect(hashToChapterDeltaAddress(name, 16)).toBe(0xf5f6);
    expect(hashToChapterDeltaList(name, 16, 8)).toBe(0xf4);
    expect(nameToHashSlot(name, 1000)).toBe(0xf1f2f3f4f5f6 % 1000);
    expect(() => extractChapterIndexBytes(new Uint8Array(15))).toThrow(RangeError);
    expect(() => nameToHashSlot(name, 0)).toThrow(RangeError);
    expect(() => extractVolumeIndexBytes(new Uint8Array(17))).toThrow(RangeError);
    expect(() => hashToChapterDeltaList(new Uint8Array(17), 16, 8)).toThrow(RangeError);
    expect(() => extractSamplingBytes([1, 2] as unknown as Uint8Array)).toThrow(TypeError);
  });

  it('the unchecked ...At kernels match a bigint model at any offset and width', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 40 }),
        fc.nat(),
        fc.integer({ min: 0, max: 48 }),
        fc.integer({ min: 0, max: 31 }),
        (bytes, at, addressBits, listBits) => {
          const offset = at % (bytes.length - 15);
          let chapterBytes = 0n;
          for (let i = 8; i < 14; i++) chapterBytes = (chapterBytes << 8n) | BigInt(bytes[offset + i]!);
          expect(BigInt(chapterIndexBytesAt(bytes, offset))).toBe(chapterBytes);
          expect(BigInt(chapterDeltaListAt(bytes, offset, addressBits, listBits))).toBe(
            (chapterBytes >> BigInt(addressBits)) & ((1n << BigInt(listBits)) - 1n),
          );
          expect(BigInt(chapterDeltaAddressAt(bytes, offset, addressBits))).toBe(
            chapterBytes & ((1n << BigInt(addressBits)) - 1n),
          );
          const name = bytes.slice(offset, offset + 16);
          if (addressBits <= 32) {
            expect(hashToChapterDeltaAddress(name, addressBits)).toBe(
              chapterDeltaAddressAt(bytes, offset, addressBits),
            );
          }
          expect(hashToChapterDeltaList(name, addressBits, listBits)).toBe(
            chapterDeltaListAt(bytes, offset, addressBits, listBits),
          );
        },
      ),
      { seed: 0x4a5b, numRuns: 1000 },
    );
  });
});
