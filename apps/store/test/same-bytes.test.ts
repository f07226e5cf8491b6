// sameBytes and isZero against a naive byte loop, on views at any offset of larger buffers.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { isZero, sameBytes } from '../src/_hash';

function naive(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

test('sameBytes agrees with a byte loop on views of any offset and length', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 64 }),
      fc.nat(8),
      fc.nat(8),
      fc.option(fc.tuple(fc.nat(63), fc.integer({ min: 1, max: 255 }))),
      fc.boolean(),
      (bytes, padA, padB, flip, shorter) => {
        const a = new Uint8Array(padA + bytes.length + 3).fill(7);
        a.set(bytes, padA);
        const b = new Uint8Array(padB + bytes.length + 5).fill(9);
        b.set(bytes, padB);
        const va = a.subarray(padA, padA + bytes.length);
        let vb = b.subarray(padB, padB + bytes.length);
        if (flip && bytes.length > 0) {
          const at = flip[0] % bytes.length;
          vb[at] = ((vb[at] as number) + flip[1]) & 255;
        }
        if (shorter && vb.length > 0) vb = vb.subarray(1);
        expect(sameBytes(va, vb)).toBe(naive(va, vb));
        expect(sameBytes(vb, va)).toBe(naive(va, vb));
      },
    ),
  );
});

test('isZero sees a single set bit anywhere in a chunk', () => {
  const chunk = new Uint8Array(4096);
  expect(isZero(chunk)).toBe(true);
  for (const at of [0, 1, 2047, 4095]) {
    chunk[at] = 0x80;
    expect(isZero(chunk)).toBe(false);
    expect(isZero(chunk.subarray(at + 1))).toBe(true);
    chunk[at] = 0;
  }
});
