// The long suite (pnpm --filter @deja/bitfield test:slow): moveBits for every size 0..600 at every
// offset pair 0..63, between arrays and within one; setZero for every size 0..1100; fields and
// moves at bit offsets beyond 2^31 and 2^32 in a 512 MiB buffer; and a long fast-check run. The
// default suite runs bounded versions of each.

import {
  getBigField,
  getField,
  moveBits,
  moveBitsDown,
  moveBitsUp,
  setBigField,
  setField,
  setZero,
} from '@deja/bitfield';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { modelGetField, modelMoveBits, modelSetField, modelSetZero } from './model';
import { randomBytes, rng, SEED } from './random';

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

describe(`exhaustive (seed ${SEED})`, () => {
  test('moveBits: every size 0..600, every offset pair 0..63, two arrays and one array', () => {
    const next = rng(SEED + 100);
    const source = randomBytes(next, 96);
    const target = new Uint8Array(96);
    const expected = new Uint8Array(96);
    const memory = new Uint8Array(96);
    const sameExpected = new Uint8Array(96);
    const fresh = randomBytes(next, 96);
    for (let size = 0; size <= 600; size++) {
      for (let from = 0; from < 64; from++) {
        for (let to = 0; to < 64; to++) {
          target.set(fresh);
          expected.set(fresh);
          moveBits(source, from, target, to, size);
          modelMoveBits(source, from, expected, to, size);
          if (!same(target, expected))
            expect({ from, to, size, target }).toEqual({ from, to, size, target: expected });
          memory.set(fresh);
          sameExpected.set(fresh);
          moveBits(memory, from, memory, to, size);
          modelMoveBits(sameExpected, from, sameExpected, to, size);
          if (!same(memory, sameExpected)) {
            expect({ from, to, size, memory }).toEqual({ from, to, size, memory: sameExpected });
          }
          const [low, high] = from < to ? [from, to] : [to, from];
          memory.set(fresh);
          sameExpected.set(fresh);
          moveBitsDown(memory, high, memory, low, size);
          moveBitsUp(memory, low + 7, memory, high + 7, size);
          modelMoveBits(sameExpected, high, sameExpected, low, size);
          modelMoveBits(sameExpected, low + 7, sameExpected, high + 7, size);
          if (!same(memory, sameExpected)) {
            expect({ low, high, size, memory }).toEqual({ low, high, size, memory: sameExpected });
          }
        }
      }
    }
  });

  test('setZero: every size 0..1100 at every offset 0..63', () => {
    const next = rng(SEED + 101);
    for (let size = 0; size <= 1100; size++) {
      for (let offset = 0; offset < 64; offset++) {
        const memory = randomBytes(next, 150);
        const expected = memory.slice();
        setZero(memory, offset, size);
        modelSetZero(expected, offset, size);
        if (!same(memory, expected))
          expect({ offset, size, memory }).toEqual({ offset, size, memory: expected });
      }
    }
  });

  test('offsets beyond 2^31 and 2^32 bits in a 512 MiB buffer', () => {
    const memory = new Uint8Array(2 ** 29 + 64);
    const next = rng(SEED + 102);
    for (const base of [2 ** 31 - 40, 2 ** 31, 2 ** 32 - 300, 2 ** 32 + 8 * 10]) {
      // Only the region around `base` is touched, so compare that window.
      const window = () => memory.subarray(Math.floor(base / 8) - 16, Math.floor(base / 8) + 200);
      for (let i = 0; i < 200; i++) memory[Math.floor(base / 8) - 16 + i] = next();
      const model = window().slice();
      const modelBase = 16 * 8 + (base % 8);
      for (let k = 0; k < 64; k++) {
        const size = k % 26;
        expect(getField(memory, base + k, size)).toBe(modelGetField(model, modelBase + k, size));
        expect(getBigField(memory, base + k, 53 - (k % 20))).toBe(
          modelGetField(model, modelBase + k, 53 - (k % 20)),
        );
        const value = next();
        setField(value, memory, base + k * 3, size);
        modelSetField(value % 2 ** size, model, modelBase + k * 3, size);
        setBigField(value * 1024 + k, memory, base + k * 5, 45);
        modelSetField(value * 1024 + k, model, modelBase + k * 5, 45);
        setZero(memory, base + k * 7, k * 3);
        modelSetZero(model, modelBase + k * 7, k * 3);
        moveBits(memory, base + k, memory, base + 64 - k, 200 + k * 9);
        modelMoveBits(model, modelBase + k, model, modelBase + 64 - k, 200 + k * 9);
        expect(same(window(), model)).toBe(true);
      }
    }
    // The last bytes of the buffer: a field across its end reads zeros past it.
    memory.fill(0xff, memory.length - 8);
    const lastBit = memory.length * 8;
    expect(getField(memory, lastBit - 5, 25)).toBe(0b11111);
    expect(getBigField(memory, lastBit - 40, 53)).toBe(2 ** 40 - 1);
  });

  test('long fast-check run of mixed fields and moves on one buffer', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 300 }),
        fc.array(
          fc.tuple(
            fc.nat({ max: 3 }),
            fc.nat({ max: 2600 }),
            fc.nat({ max: 2600 }),
            fc.nat({ max: 1200 }),
            fc.nat(),
          ),
          { maxLength: 100 },
        ),
        (length, ops) => {
          const memory = new Uint8Array(length).fill(0xa5);
          const model = memory.slice();
          for (const [kind, a, b, size, value] of ops) {
            if (kind === 0) {
              setField(value, memory, a, size % 26);
              modelSetField(value % 2 ** (size % 26), model, a, size % 26);
            } else if (kind === 1) {
              setZero(memory, a, size);
              modelSetZero(model, a, size);
            } else if (kind === 2) {
              moveBits(memory, a, memory, b, size);
              modelMoveBits(model, a, model, b, size);
            } else {
              expect(getBigField(memory, a, size % 54)).toBe(modelGetField(model, a, size % 54));
            }
            if (!same(memory, model))
              throw new Error(`differs after ${JSON.stringify([kind, a, b, size, value])}`);
          }
        },
      ),
      { seed: SEED, numRuns: 20_000 },
    );
  });
});
