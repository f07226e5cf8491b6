// Test helpers: stores on MemoryStorage, a seeded PRNG, chunk contents from a small pool (so
// chunks repeat and deduplicate), and a naive model of every version (an array of bytes each).
import { MemoryStorage } from '@deja/storage';
import { fraction, splitmix32 } from '@deja/test-helpers';
import { LIVE, Store, type StoreCreateOptions } from '../src/index';

export { LIVE };

/** A seeded generator of numbers in [0, 1) (splitmix32 from the shared test helpers). */
export function prng(seed: number): () => number {
  const random = splitmix32(seed);
  return () => fraction(random);
}

/** A store on two MemoryStorages, reopenable from their contents. */
export class MemStore {
  data = new MemoryStorage();
  index = new MemoryStorage();
  store!: Store;

  static async create(options: StoreCreateOptions): Promise<MemStore> {
    const m = new MemStore();
    m.store = await Store.create({ data: m.data, index: m.index }, { initialPages: 4096, ...options });
    return m;
  }

  /** Closes cleanly and opens again. */
  async reopen(): Promise<void> {
    await this.store.close();
    this.data = new MemoryStorage({ data: this.data.snapshot() });
    this.index = new MemoryStorage({ data: this.index.snapshot() });
    this.store = await Store.open({ data: this.data, index: this.index });
  }
}

/** Bytes for a chunk-sized write: zeros, one of `pool` repeating patterns, or random. */
export function content(rand: () => number, length: number, pool = 6): Uint8Array {
  const out = new Uint8Array(length);
  const kind = rand();
  if (kind < 0.2) return out;
  if (kind < 0.7) {
    const k = Math.floor(rand() * pool) + 1;
    for (let i = 0; i < length; i++) out[i] = (k * 31 + (i % 97) * k) & 0xff;
    return out;
  }
  for (let i = 0; i < length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

/**
 * Like {@link content}, with chunks that compress without repeating (a small alphabet in runs),
 * for compressed stores: zeros, patterns, compressible and random bytes.
 */
export function mixedContent(rand: () => number, length: number, pool = 6): Uint8Array {
  const kind = rand();
  if (kind > 0.45) return content(rand, length, pool);
  const out = new Uint8Array(length);
  const symbols = 2 + Math.floor(rand() * 14);
  const base = Math.floor(rand() * 200);
  for (let i = 0; i < length; ) {
    const run = 1 + Math.floor(rand() * 24);
    out.fill(base + Math.floor(rand() * symbols), i, Math.min(length, i + run));
    i += run;
  }
  return out;
}

/** Resizes a model array. */
export function resized(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(bytes.subarray(0, Math.min(size, bytes.length)));
  return out;
}

/** Asserts two byte arrays are equal, naming the first difference. */
export function expectBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (actual.length !== expected.length)
    throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i])
      throw new Error(`${what}: byte ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}
