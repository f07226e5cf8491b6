import { GUARD_BYTES } from '@deja/bitfield';
import { expect, test } from 'vitest';

test('resolves from source', () => {
  expect(GUARD_BYTES).toBe(8);
});
