// Which hash names a chunk: throughput of the candidates on 4 KiB chunks (64 MiB of random data),
// each measured twice in this process, the second run reported. The store uses SHA-256/128
// (node:crypto): see src/_hash.ts for why.
import { createHash, hash, randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { createBLAKE3, createXXHash128 } from 'hash-wasm';

const CHUNK = 4096;
const N = 16384;
const data = randomBytes(N * CHUNK);

function measure(label: string, fn: (chunk: Uint8Array) => void): number {
  let rate = 0;
  for (let round = 0; round < 2; round++) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) fn(data.subarray(i * CHUNK, (i + 1) * CHUNK));
    rate = (N * CHUNK) / ((performance.now() - t0) / 1000) / 1e6;
  }
  console.log(`${label.padEnd(34)} ${rate.toFixed(0).padStart(6)} MB/s`);
  return rate;
}

export async function hashBench(): Promise<void> {
  console.log(`chunk names, 4 KiB chunks, ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`);
  const sha = measure('sha256 (node:crypto hash, used)', (c) => hash('sha256', c, 'buffer'));
  measure('sha256 (createHash)', (c) => createHash('sha256').update(c).digest());
  const x = await createXXHash128();
  const xx = measure('xxh128 (hash-wasm, not collision-resistant)', (c) => {
    x.init();
    x.update(c);
    x.digest('binary');
  });
  const b = await createBLAKE3(128);
  const b3 = measure('blake3-128 (hash-wasm)', (c) => {
    b.init();
    b.update(c);
    b.digest('binary');
  });
  console.log(`ratios against sha256: xxh128 ${(xx / sha).toFixed(2)}x, blake3 ${(b3 / sha).toFixed(2)}x`);
}
