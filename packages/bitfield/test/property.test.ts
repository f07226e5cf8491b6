// Property tests: random sequences of every operation on three streams (two buffers, plus a view
// into the first buffer at a random byte offset, so views alias and overlap) are applied both to
// this package and to the bit-by-bit model, with an invariant check after every step: every read
// returns the model's value, and both whole buffers (beyond the view's ends too) equal the model's.
// Offsets reach past the ends of the arrays to exercise the zero-read / dropped-write rule.
// fast-check prints the seed and path of a failure; replay with BITFIELD_SEED=<seed>.

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
import { SEED } from './random';

type Target = 0 | 1 | 2; // buffer A, buffer B, view into A

type Op =
  | { kind: 'get'; target: Target; offset: number; size: number }
  | { kind: 'set'; target: Target; offset: number; size: number; value: number }
  | { kind: 'getBig'; target: Target; offset: number; size: number }
  | { kind: 'setBig'; target: Target; offset: number; size: number; value: number }
  | { kind: 'zero'; target: Target; offset: number; size: number }
  | {
      kind: 'move' | 'down' | 'up';
      from: Target;
      fromOffset: number;
      to: Target;
      toOffset: number;
      size: number;
    };

const target = fc.constantFrom<Target>(0, 1, 2);
const offset = fc.nat({ max: 800 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('get' as const), target, offset, size: fc.integer({ min: 0, max: 25 }) }),
  fc.record({
    kind: fc.constant('set' as const),
    target,
    offset,
    size: fc.integer({ min: 0, max: 25 }),
    value: fc.nat({ max: 0xffffffff }),
  }),
  fc.record({ kind: fc.constant('getBig' as const), target, offset, size: fc.integer({ min: 0, max: 53 }) }),
  fc.record({
    kind: fc.constant('setBig' as const),
    target,
    offset,
    size: fc.integer({ min: 0, max: 53 }),
    value: fc.maxSafeNat(),
  }),
  fc.record({ kind: fc.constant('zero' as const), target, offset, size: fc.nat({ max: 400 }) }),
  fc.record({
    kind: fc.constantFrom('move' as const, 'down' as const, 'up' as const),
    from: target,
    fromOffset: offset,
    to: target,
    toOffset: offset,
    size: fc.oneof(fc.nat({ max: 80 }), fc.nat({ max: 900 })),
  }),
  // Overlapping moves between the buffer and its view (or within either): nearby offsets.
  fc
    .record({
      kind: fc.constantFrom('move' as const, 'down' as const, 'up' as const),
      from: fc.constantFrom<Target>(0, 2),
      fromOffset: offset,
      to: fc.constantFrom<Target>(0, 2),
      delta: fc.integer({ min: -120, max: 120 }),
      size: fc.nat({ max: 700 }),
    })
    .map(({ delta, ...o }) => ({ ...o, toOffset: Math.max(0, o.fromOffset + delta) })),
);

const setup = fc.record({
  lengthA: fc.nat({ max: 100 }),
  lengthB: fc.nat({ max: 100 }),
  viewStart: fc.nat({ max: 12 }),
  viewLength: fc.nat({ max: 100 }),
  fill: fc.nat(),
});

/** Absolute bit position of `offset` in `array`'s buffer, to order moves within one buffer. */
function absolute(array: Uint8Array, offset: number): number {
  return array.byteOffset * 8 + offset;
}

describe(`random operation sequences against the bit-by-bit model (seed ${SEED})`, () => {
  test('every read matches and both buffers match the model after every step', () => {
    fc.assert(
      fc.property(setup, fc.array(op, { maxLength: 80 }), (s, ops) => {
        const a = new Uint8Array(s.lengthA);
        const b = new Uint8Array(s.lengthB);
        let x = s.fill | 1;
        for (const bytes of [a, b]) {
          for (let i = 0; i < bytes.length; i++) {
            x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) >>> 0;
            bytes[i] = x >>> 24;
          }
        }
        const modelA = a.slice();
        const modelB = b.slice();
        const start = Math.min(s.viewStart, s.lengthA);
        const end = Math.min(start + s.viewLength, s.lengthA);
        const real = [a, b, a.subarray(start, end)];
        const model = [modelA, modelB, modelA.subarray(start, end)];

        for (const [step, o] of ops.entries()) {
          switch (o.kind) {
            case 'get':
              expect(getField(real[o.target]!, o.offset, o.size)).toBe(
                modelGetField(model[o.target]!, o.offset, o.size),
              );
              break;
            case 'getBig':
              expect(getBigField(real[o.target]!, o.offset, o.size)).toBe(
                modelGetField(model[o.target]!, o.offset, o.size),
              );
              break;
            case 'set':
              setField(o.value, real[o.target]!, o.offset, o.size);
              modelSetField(o.value % 2 ** o.size, model[o.target]!, o.offset, o.size);
              break;
            case 'setBig':
              setBigField(o.value, real[o.target]!, o.offset, o.size);
              modelSetField(o.value % 2 ** o.size, model[o.target]!, o.offset, o.size);
              break;
            case 'zero':
              setZero(real[o.target]!, o.offset, o.size);
              modelSetZero(model[o.target]!, o.offset, o.size);
              break;
            default: {
              let { from, fromOffset, to, toOffset } = o;
              let move = moveBits;
              if (o.kind !== 'move') {
                // The directional moves are only exact in their own direction: order the offsets.
                const sameBuffer = real[from]!.buffer === real[to]!.buffer;
                const upward = absolute(real[to]!, toOffset) >= absolute(real[from]!, fromOffset);
                if (sameBuffer && upward !== (o.kind === 'up')) {
                  [from, fromOffset, to, toOffset] = [to, toOffset, from, fromOffset];
                }
                move = o.kind === 'up' ? moveBitsUp : moveBitsDown;
              }
              move(real[from]!, fromOffset, real[to]!, toOffset, o.size);
              modelMoveBits(model[from]!, fromOffset, model[to]!, toOffset, o.size);
            }
          }
          // Invariant: both whole buffers equal the model's.
          if (!Buffer.from(a).equals(Buffer.from(modelA)) || !Buffer.from(b).equals(Buffer.from(modelB))) {
            throw new Error(`buffers differ from the model after step ${step}: ${JSON.stringify(o)}`);
          }
        }
      }),
      { seed: SEED, numRuns: 500 },
    );
  });
});
