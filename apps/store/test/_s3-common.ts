// Helpers shared by the whole-store tests and the crash test's child process (no vitest here):
// seeded randomness, chunk contents, the two S3Storages a store runs on, and the crash workload.

import { S3Storage, type S3StorageOptions } from '@deja/storage-s3';
import { BUCKET, CREDENTIALS } from '../../../packages/storage-s3/test/_bucket';

export { BUCKET, CREDENTIALS };

export const CS = 512;

/** Seeded xorshift32 in [0, 1). */
export function prng(seed: number): () => number {
  let x = (seed * 2654435761) >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/** Bytes for a write: zeros, one of a few repeating patterns (so chunks deduplicate), or random. */
export function content(rand: () => number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const kind = rand();
  if (kind < 0.15) return out;
  if (kind < 0.6) {
    const k = 1 + Math.floor(rand() * 4);
    for (let i = 0; i < length; i++) out[i] = (k * 31 + (i % 97) * k) & 0xff;
    return out;
  }
  for (let i = 0; i < length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

export async function openAdapters(
  endpoint: string,
  prefix: string,
  more: Partial<S3StorageOptions> = {},
): Promise<{ data: S3Storage; index: S3Storage; owned: true }> {
  const options = (part: string): S3StorageOptions => ({
    bucket: BUCKET,
    prefix: `${prefix}/${part}`,
    endpoint,
    credentials: CREDENTIALS,
    objectSize: 4096,
    cacheBytes: 8 * 4096,
    lock: { leaseMs: 5000 },
    ...more,
  });
  const [data, index] = await Promise.allSettled([
    S3Storage.open(options('data')),
    S3Storage.open(options('index')),
  ]);
  // Handed over to the store, which closes them (releasing the bucket's lock) when it closes.
  if (data.status === 'fulfilled' && index.status === 'fulfilled')
    return { data: data.value, index: index.value, owned: true };
  for (const opened of [data, index]) if (opened.status === 'fulfilled') await opened.value.close();
  throw data.status === 'rejected' ? data.reason : (index as PromiseRejectedResult).reason;
}

/** One step of the crash workload: the child runs them, the parent replays them on a model. */
export type CrashOp =
  | { readonly kind: 'write'; readonly offset: number; readonly data: Uint8Array }
  | { readonly kind: 'discard'; readonly offset: number; readonly length: number }
  | { readonly kind: 'flush' }
  | { readonly kind: 'snapshot'; readonly name: string };

/** The crash workload of one round: writes and discards of the live volume, flushes, snapshots. */
export function crashOps(seed: number, round: number, size: number, count: number): CrashOp[] {
  const rand = prng(seed * 1000 + round);
  const int = (n: number) => Math.floor(rand() * n);
  const ops: CrashOp[] = [];
  for (let i = 0; i < count; i++) {
    const r = rand();
    const offset = int(size);
    if (r < 0.65)
      ops.push({ kind: 'write', offset, data: content(rand, Math.min(size - offset, 1 + int(4 * CS))) });
    else if (r < 0.75) ops.push({ kind: 'discard', offset, length: Math.min(size - offset, int(4 * CS)) });
    else if (r < 0.93) ops.push({ kind: 'flush' });
    else ops.push({ kind: 'snapshot', name: `r${round}-${i}` });
  }
  return ops;
}
