// Model-based test (see _model.ts): 6 seeds of 250 steps in the default suite, and 4 more on
// compressed stores; model.slow.test.ts runs more and longer.
import { describe, test } from 'vitest';
import { run } from './_model';

describe('Store against a model', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    test(`seed ${seed}`, () => run(seed, 250));
  }
});

describe('compressed store against a model', () => {
  for (const seed of [1, 2, 3]) {
    test(`zstd, seed ${seed}`, () => run(seed, 250, { compression: 'zstd' }));
  }
  test('deflate, seed 4', () => run(4, 250, { compression: 'deflate' }));
});
