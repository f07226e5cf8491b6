// The model-based test (see _model.ts), 40 seeds of 1,000 steps: `pnpm test:slow`.
import { describe, test } from 'vitest';
import { run } from './_model';

describe('Store against a model (slow)', () => {
  for (let seed = 100; seed < 140; seed++) {
    test(`seed ${seed}`, () => run(seed, 1000), 600_000);
  }
});
