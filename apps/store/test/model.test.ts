// Model-based test (see _model.ts): 6 seeds of 250 steps in the default suite; model.slow.test.ts
// runs more and longer.
import { describe, test } from 'vitest';
import { run } from './_model';

describe('Store against a model', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    test(`seed ${seed}`, () => run(seed, 250));
  }
});
