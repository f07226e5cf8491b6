// A model-checked random workload for crash sweeps of a byte store (any @deja/storage adapter):
// seeded writes, batched writes and flushes, a model of what was flushed and what was only cached,
// and the rule each crash mode imposes on the post-crash image. Used by the crash suites of
// @deja/storage (over memory) and @deja/storage-file (over files). Structural types only, so this
// private package depends on no published one.
import { splitmix32 } from './random';

/** The part of a Storage the workload drives. */
export interface WorkloadStore {
  write(offset: number, data: Uint8Array): Promise<void>;
  writev(requests: readonly { offset: number; data: Uint8Array }[]): Promise<void>;
  flush(): Promise<void>;
}

/** What the workload has made durable and what it has only written since the last flush. */
export interface CrashModel {
  durable: Uint8Array;
  cache: { offset: number; data: Uint8Array }[];
}

/** A fresh, empty model. */
export function emptyCrashModel(): CrashModel {
  return { durable: new Uint8Array(0), cache: [] };
}

/** The bytes a reader sees: the durable image with every cached write laid over it in order. */
export function overlay(model: CrashModel): Uint8Array {
  const size = model.cache.reduce((s, w) => Math.max(s, w.offset + w.data.length), model.durable.length);
  const out = new Uint8Array(size);
  out.set(model.durable);
  for (const w of model.cache) out.set(w.data, w.offset);
  return out;
}

/**
 * A seeded workload of `steps` writes (60%), two-entry writevs (20%) and flushes (20%) within the
 * first 7.5 KB; `model` is reset at the start of each run and follows what was called and flushed.
 * Every write fills its range with one byte value, which {@link checkCrashImage} relies on.
 */
export function randomStorageWorkload(seed: number, steps: number, model: CrashModel) {
  return async (store: WorkloadStore): Promise<void> => {
    model.durable = new Uint8Array(0);
    model.cache = [];
    const random = splitmix32(seed);
    for (let step = 0; step < steps; step++) {
      const choice = random() % 10;
      if (choice < 6) {
        const offset = random() % 6000;
        const data = new Uint8Array(1 + (random() % 1500)).fill(1 + (step % 255));
        model.cache.push({ offset, data });
        await store.write(offset, data);
      } else if (choice < 8) {
        const batch = [0, 1].map((k) => ({
          offset: random() % 6000,
          data: new Uint8Array(1 + (random() % 700)).fill(1 + ((step + k * 100) % 255)),
        }));
        model.cache.push(...batch);
        await store.writev(batch);
      } else {
        await store.flush();
        model.durable = overlay(model);
        model.cache = [];
      }
    }
  };
}

/**
 * Checks a post-crash image against the model: `drop` keeps exactly the durable bytes, `keep`
 * everything written, `torn` and `random` any byte either durable or from a write since the flush.
 *
 * @throws Error naming the first byte that breaks the mode's rule.
 */
export function checkCrashImage(image: Uint8Array, model: CrashModel, mode: string): void {
  const expected = mode === 'drop' ? model.durable : mode === 'keep' ? overlay(model) : undefined;
  if (expected !== undefined) {
    if (image.length !== expected.length) {
      throw new Error(`mode ${mode}: image of ${image.length} bytes, expected ${expected.length}`);
    }
    const at = image.findIndex((v, i) => v !== expected[i]);
    if (at >= 0) throw new Error(`mode ${mode}: byte ${at} holds ${image[at]}, expected ${expected[at]}`);
    return;
  }
  for (let b = 0; b < Math.max(image.length, model.durable.length); b++) {
    const value = image[b] ?? 0;
    if (value === (model.durable[b] ?? 0)) continue;
    if (!model.cache.some((w) => b >= w.offset && b < w.offset + w.data.length && w.data[0] === value)) {
      throw new Error(`mode ${mode}: byte ${b} holds ${value}: neither flushed nor written since`);
    }
  }
}
