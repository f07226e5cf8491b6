// The zone's own bit moves and entry writes (DeltaZone.shiftBits, writeEntry, readValue) against
// @deja/bitfield's reference moveBits / setField on copies of the same random memory (fast-check,
// seeded): every bit of the memory must match, inside and outside the moved run.
import { getField, moveBits, setField, setZero } from '@deja/bitfield';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeltaZone } from '../src/_zone';
import { computeCodingConstants, keyBitsFor } from '../src/coding';

function zoneOver(memory: Uint8Array, meanDelta = 4096, valueBits = 10): DeltaZone {
  const { minBits, minKeys, incrKeys } = computeCodingConstants(meanDelta);
  return new DeltaZone(memory, 0, 1, minBits, minKeys, incrKeys, valueBits, true);
}

const BYTES = 96;

describe('DeltaZone.shiftBits', () => {
  // A zone below 2^31 bits computes its word indexes with int32 shifts; others with divisions.
  it.each([true, false])(
    'moves like moveBits, overlapping both ways, at every shift and near both ends (narrow: %s)',
    (narrow) => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: BYTES, maxLength: BYTES }),
          fc.integer({ min: 0, max: BYTES * 8 - 1 }),
          fc.integer({ min: -200, max: 200 }),
          fc.integer({ min: 1, max: 600 }),
          (bytes, from, distance, wanted) => {
            const to = from + distance;
            const size = Math.min(wanted, BYTES * 8 - Math.max(from, to));
            fc.pre(to >= 0 && size > 0);
            const expected = bytes.slice();
            moveBits(expected, from, expected, to, size);
            const memory = bytes.slice();
            const zone = zoneOver(memory);
            expect(zone.narrow).toBe(true);
            (zone as { narrow: boolean }).narrow = narrow;
            zone.shiftBits(from, to, size);
            expect(memory).toEqual(expected);
          },
        ),
        { seed: 20261207, numRuns: 3000 },
      );
    },
  );

  it('takes the fallback for memory that does not start on a word boundary', () => {
    const buffer = new Uint8Array(BYTES + 1);
    for (let i = 0; i < buffer.length; i++) buffer[i] = (i * 37) & 0xff;
    const memory = buffer.subarray(1);
    const expected = memory.slice();
    moveBits(expected, 100, expected, 133, 300);
    zoneOver(memory).shiftBits(100, 133, 300);
    expect(memory).toEqual(expected);
  });
});

describe('DeltaZone.writeEntry', () => {
  it('writes payload and key code as the field-by-field encoding does, for short and long tails', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.constantFrom(1, 5, 100, 4080, 65536, 48_408_810),
        fc.integer({ min: 0, max: 25 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 2 ** 25 - 1 }),
        fc.double({ min: 0, max: 60, noNaN: true }),
        (bytes, mean, valueBits, position, rawValue, scale) => {
          const { minBits, minKeys, incrKeys } = computeCodingConstants(mean);
          const delta = Math.floor(scale * mean);
          const keyBits = keyBitsFor(delta, minBits, minKeys, incrKeys);
          fc.pre(position + valueBits + keyBits <= (64 - 7) * 8);
          const value = rawValue & ((1 << valueBits) - 1);
          const expected = bytes.slice();
          setField(value, expected, position, valueBits);
          if (delta < minKeys) setField(delta, expected, position + valueBits, minBits);
          else {
            const temp = delta - minKeys;
            const zeros = Math.floor(temp / incrKeys);
            setField((temp % incrKeys) + minKeys, expected, position + valueBits, minBits);
            setZero(expected, position + valueBits + minBits, zeros);
            setField(1, expected, position + valueBits + minBits + zeros, 1);
          }
          const memory = bytes.slice();
          const zone = zoneOver(memory, mean, valueBits);
          zone.writeEntry(position, value, delta);
          expect(memory).toEqual(expected);
          expect(zone.readValue(position)).toBe(getField(expected, position, valueBits));
        },
      ),
      { seed: 20261207, numRuns: 3000 },
    );
  });
});
