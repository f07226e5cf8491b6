// The model-based test (see _model.ts), 40 seeds of 1,000 steps, and 10 on compressed stores:
// `pnpm test:slow`.
import { describe, test } from 'vitest';
import { run } from './_model';

describe('Store against a model (slow)', () => {
  for (let seed = 100; seed < 140; seed++) {
    test(`seed ${seed}`, () => run(seed, 1000), 600_000);
  }
  for (let seed = 200; seed < 210; seed++) {
    test(
      `zstd, seed ${seed}`,
      () => run(seed, 1000, { compression: seed % 3 === 0 ? 'deflate' : 'zstd' }),
      600_000,
    );
  }
});
