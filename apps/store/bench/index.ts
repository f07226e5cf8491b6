// The store's benchmarks: `pnpm --filter @deja/store bench`.
import { hashBench } from './hash';

await hashBench();
