// Exhaustive tests of setZero: every bit offset 0..63 and every size 0..200 against the model, in a
// roomy buffer and in short buffers the run crosses the end of.

import { setZero } from '@deja/bitfield';
import { describe, expect, test } from 'vitest';
import { modelSetZero } from './model';
import { randomBytes, rng, SEED } from './random';

describe(`setZero (seed ${SEED})`, () => {
  for (const length of [40, 9, 1, 0]) {
    test(`every offset 0..63 and size 0..200, buffer of ${length} bytes`, () => {
      const next = rng(SEED + length);
      for (let offset = 0; offset < 64; offset++) {
        for (let size = 0; size <= 200; size++) {
          const memory = randomBytes(next, length);
          const expected = memory.slice();
          setZero(memory, offset, size);
          modelSetZero(expected, offset, size);
          for (let i = 0; i < length; i++) {
            if (memory[i] !== expected[i]) {
              expect({ offset, size, memory: [...memory] }).toEqual({ offset, size, memory: [...expected] });
            }
          }
        }
      }
    });
  }

  test('clears a whole buffer and nothing around a run', () => {
    const memory = new Uint8Array(10).fill(0xff);
    setZero(memory, 13, 50);
    expect([...memory]).toEqual([0xff, 0b0001_1111, 0, 0, 0, 0, 0, 0b1000_0000, 0xff, 0xff]);
    setZero(memory, 0, 80);
    expect([...memory]).toEqual(new Array(10).fill(0));
  });

  test('a size far beyond the array clears to its end', () => {
    const memory = new Uint8Array(12).fill(0xff);
    setZero(memory, 13, 2 ** 50);
    expect([...memory]).toEqual([0xff, 0b0001_1111, ...new Array(10).fill(0)]);
  });
});
