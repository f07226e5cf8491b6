// Longer model-based runs (pnpm --filter @deja/exception-store test:slow): the default run's
// configurations with more runs, longer sequences and other seeds.

import { describe, it } from 'vitest';
import { CONFIGS, runModel } from './_model';

describe('model-based (slow)', () => {
  for (const cfg of CONFIGS) {
    for (const seed of [101, 202, 303]) {
      it(`${cfg.label}, seed ${seed}`, async () => {
        await runModel({ ...cfg, seed: seed + cfg.seed, runs: cfg.runs * 4, length: cfg.length * 2 });
      });
    }
  }
});
