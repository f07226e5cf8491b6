// Tests of moveBits, moveBitsDown and moveBitsUp against the model (which moves through a temporary):
// every pair of bit offsets 0..63 for a set of sizes covering each path (small, head/tail only,
// same and different bit phase), between two arrays, within one array in both directions, between
// overlapping views of one buffer, and off the end of either array.

import { moveBits, moveBitsDown, moveBitsUp } from '@deja/bitfield';
import { describe, expect, test } from 'vitest';
import { modelMoveBits } from './model';
import { randomBytes, rng, SEED } from './random';

// 0..80 exhaustively (the small path ends at 57), then sizes around whole bytes and words.
const SIZES = [
  ...Array.from({ length: 81 }, (_, i) => i),
  95,
  96,
  97,
  127,
  128,
  129,
  200,
  255,
  256,
  257,
  300,
];
const LENGTH = 64; // bytes: offsets 0..63 plus 300 bits still fit

function check(
  name: string,
  memory: Uint8Array,
  expected: Uint8Array,
  from: number,
  to: number,
  size: number,
): void {
  for (let i = 0; i < memory.length; i++) {
    if (memory[i] !== expected[i]) {
      expect({ name, from, to, size, memory: [...memory] }).toEqual({
        name,
        from,
        to,
        size,
        memory: [...expected],
      });
    }
  }
}

describe(`moveBits (seed ${SEED})`, () => {
  test('between two arrays: every offset pair 0..63, sizes 0..80 and beyond', () => {
    const next = rng(SEED);
    const source = randomBytes(next, LENGTH);
    const original = source.slice();
    for (const size of SIZES) {
      for (let from = 0; from < 64; from++) {
        for (let to = 0; to < 64; to++) {
          const target = randomBytes(next, LENGTH);
          const expected = target.slice();
          moveBits(source, from, target, to, size);
          modelMoveBits(source, from, expected, to, size);
          check('two arrays', target, expected, from, to, size);
        }
      }
    }
    check('source untouched', source, original, 0, 0, 0);
  });

  test('within one array, overlapping in both directions: every offset pair 0..63', () => {
    const next = rng(SEED + 1);
    for (const size of SIZES) {
      for (let from = 0; from < 64; from++) {
        for (let to = 0; to < 64; to++) {
          const memory = randomBytes(next, LENGTH);
          const expected = memory.slice();
          moveBits(memory, from, memory, to, size);
          modelMoveBits(expected, from, expected, to, size);
          check('same array', memory, expected, from, to, size);
        }
      }
    }
  });

  test('moveBitsDown and moveBitsUp are exact in their own direction', () => {
    const next = rng(SEED + 2);
    for (const size of SIZES) {
      for (let a = 0; a < 64; a++) {
        for (let b = a; b < 64; b++) {
          // Down: destination at or below the source.
          let memory = randomBytes(next, LENGTH);
          let expected = memory.slice();
          moveBitsDown(memory, b, memory, a, size);
          modelMoveBits(expected, b, expected, a, size);
          check('down', memory, expected, b, a, size);
          // Up: destination at or above the source.
          memory = randomBytes(next, LENGTH);
          expected = memory.slice();
          moveBitsUp(memory, a, memory, b, size);
          modelMoveBits(expected, a, expected, b, size);
          check('up', memory, expected, a, b, size);
        }
      }
    }
  });

  test('overlapping views of one ArrayBuffer are handled as one stream', () => {
    const next = rng(SEED + 3);
    for (let round = 0; round < 400; round++) {
      const buffer = randomBytes(next, 96);
      const expected = buffer.slice();
      const fromView = buffer.subarray(next() % 16, 80 + (next() % 16));
      const toView = buffer.subarray(next() % 16, 80 + (next() % 16));
      const size = next() % 400;
      const from = next() % (fromView.length * 8 - size + 1 || 1);
      const to = next() % (toView.length * 8 - size + 1 || 1);
      if (from + size > fromView.length * 8 || to + size > toView.length * 8) continue;
      moveBits(fromView, from, toView, to, size);
      modelMoveBits(expected, fromView.byteOffset * 8 + from, expected, toView.byteOffset * 8 + to, size);
      check('views', buffer, expected, from, to, size);
    }
  });

  test('reads past the end of the source see zeros, writes past the end of the target are dropped', () => {
    const next = rng(SEED + 4);
    for (const [fromLength, toLength] of [
      [20, 64],
      [64, 20],
      [20, 20],
      [0, 10],
      [10, 0],
    ] as const) {
      for (const size of [0, 1, 9, 57, 58, 100, 200, 400]) {
        for (let from = 0; from < 64; from += 3) {
          for (let to = 0; to < 64; to += 5) {
            const source = randomBytes(next, fromLength);
            const target = randomBytes(next, toLength);
            const expected = target.slice();
            moveBits(source, from + 100, target, to + 50, size);
            modelMoveBits(source, from + 100, expected, to + 50, size);
            check('past the end', target, expected, from, to, size);
            // The same within one short array, both directions.
            const memory = randomBytes(next, fromLength);
            const same = memory.slice();
            moveBits(memory, from + 90, memory, to + 80, size);
            modelMoveBits(same, from + 90, same, to + 80, size);
            check('past the end, same array', memory, same, from, to, size);
          }
        }
      }
    }
  });

  test('a long move of a pattern keeps every bit', () => {
    const memory = new Uint8Array(4096 + 16);
    const next = rng(SEED + 5);
    for (let i = 0; i < 4096; i++) memory[i] = next();
    const expected = memory.slice();
    moveBits(memory, 3, memory, 77, 4000 * 8);
    modelMoveBits(expected, 3, expected, 77, 4000 * 8);
    check('long up', memory, expected, 3, 77, 32000);
    moveBits(memory, 77, memory, 5, 4000 * 8);
    modelMoveBits(expected, 77, expected, 5, 4000 * 8);
    check('long down', memory, expected, 77, 5, 32000);
  });
});

describe(`moveBits word path alignment (seed ${SEED})`, () => {
  test('views at every byte offset 0..3 of buffers of every length mod 4, runs up to the buffer end', () => {
    const next = rng(SEED + 6);
    for (let bufferLength = 96; bufferLength < 100; bufferLength++) {
      for (let fromStart = 0; fromStart < 4; fromStart++) {
        for (let toStart = 0; toStart < 4; toStart++) {
          for (const size of [256, 263, 300, 511, 512, 600]) {
            for (let round = 0; round < 6; round++) {
              const shared = next() % 2 === 0;
              const fromBuffer = randomBytes(next, bufferLength);
              const toBuffer = shared ? fromBuffer : randomBytes(next, bufferLength);
              const from = fromBuffer.subarray(fromStart);
              const to = toBuffer.subarray(toStart);
              // Offsets chosen so that some runs end exactly at the end of the buffer.
              const fromSpan = from.length * 8 - size;
              const toSpan = to.length * 8 - size;
              const fromOffset = round === 0 ? fromSpan : next() % (fromSpan + 1);
              const toOffset = round === 1 ? toSpan : next() % (toSpan + 1);
              const expectedFrom = fromBuffer.slice();
              const expectedTo = shared ? expectedFrom : toBuffer.slice();
              moveBits(from, fromOffset, to, toOffset, size);
              modelMoveBits(
                expectedFrom,
                fromStart * 8 + fromOffset,
                expectedTo,
                toStart * 8 + toOffset,
                size,
              );
              const label = `buffer ${bufferLength}, views at ${fromStart}/${toStart}, shared ${shared}`;
              check(label, toBuffer, expectedTo, fromOffset, toOffset, size);
              check(label, fromBuffer, expectedFrom, fromOffset, toOffset, size);
            }
          }
        }
      }
    }
  });

  test('a move into an array whose view starts mid-word of another array of the same buffer', () => {
    const buffer = new ArrayBuffer(203);
    const whole = new Uint8Array(buffer);
    const next = rng(SEED + 7);
    for (let i = 0; i < whole.length; i++) whole[i] = next();
    const expected = whole.slice();
    const a = new Uint8Array(buffer, 1, 150);
    const b = new Uint8Array(buffer, 3, 200);
    moveBits(a, 5, b, 9, 1100); // b's bit 9 is absolute bit 33, a's bit 5 is absolute bit 13: up
    modelMoveBits(expected, 13, expected, 33, 1100);
    check('mid-word up', whole, expected, 13, 33, 1100);
    moveBits(b, 30, a, 3, 1150); // absolute 54 -> 11: down
    modelMoveBits(expected, 54, expected, 11, 1150);
    check('mid-word down', whole, expected, 54, 11, 1150);
  });
});

describe('moveBits with sizes far beyond the arrays', () => {
  test('only the bits landing inside the destination are moved, without walking the whole size', () => {
    const next = rng(SEED + 8);
    for (const move of [moveBits, moveBitsDown, moveBitsUp]) {
      for (const [fromOffset, toOffset] of [
        [3, 70],
        [70, 3],
        [0, 0],
        [5, 5000],
      ] as const) {
        const source = randomBytes(next, 40);
        const target = randomBytes(next, 40);
        const expected = target.slice();
        move(source, fromOffset, target, toOffset, 2 ** 45);
        modelMoveBits(source, fromOffset, expected, toOffset, Math.max(0, 320 - toOffset));
        check(move.name, target, expected, fromOffset, toOffset, 2 ** 45);
      }
    }
  });
});
