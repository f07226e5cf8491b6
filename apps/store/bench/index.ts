// The store's benchmarks: `pnpm --filter @deja/store bench`. DEJA_BENCH_ONLY=hash|peer|nbd|compression|compression-ab
// runs one.

import { compressionBench } from './compression';
import { compressionAbBench } from './compression-ab';
import { hashBench } from './hash';
import { nbdBench } from './nbd';
import { peerBench } from './peer';

const only = process.env.DEJA_BENCH_ONLY;
if (!only || only === 'hash') await hashBench();
if (!only || only === 'peer') await peerBench();
if (!only || only === 'nbd') await nbdBench();
if (!only || only === 'compression') await compressionBench();
if (!only || only === 'compression-ab') await compressionAbBench();
