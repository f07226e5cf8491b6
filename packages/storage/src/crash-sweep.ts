// crashSweep: the loop every crash test of the layers above would otherwise write by hand — run a
// workload once to count its operations, then once per (crash point, crash mode) on a fresh
// FaultyStorage that loses power at that point, reopen what survived and hand it to a checker.
// A failure names the point, mode and seed, so one run can be replayed alone.

import { mixSeed } from './_internal-random';
import type { Awaitable } from './_internal-validate';
import { isStorageError } from './errors';
import { CRASH_MODES, type CrashMode, FaultyStorage } from './faulty-storage';
import type { Storage } from './storage';

/** What the checker of one crash run is told. */
export interface CrashInfo {
  /** The operation during which the power failed; `operations` means after the workload ended. */
  readonly crashAt: number;
  /** The crash mode of this run. */
  readonly mode: CrashMode;
  /** The FaultyStorage seed of this run (replay with `FaultyStorage.wrap(store, { seed, crashAt, crashMode })`). */
  readonly seed: number;
  /** Operations the whole workload performs (counted in the first, crash-free run). */
  readonly operations: number;
  /** Flushes that completed before the crash. */
  readonly flushes: number;
}

/** Options of {@link crashSweep}. */
export interface CrashSweepOptions {
  /** Makes a fresh, open medium for one run (e.g. `() => new MemoryStorage()`). */
  create(): Awaitable<Storage>;
  /**
   * The workload: operations on the faulty store. It must be deterministic (same calls in the same
   * order every run). It may stop at the first rejection or swallow them; after the crash every
   * operation rejects with `ERR_CRASHED`.
   */
  workload(storage: FaultyStorage): Promise<void>;
  /** Opens the post-crash image of a medium `create()` made (now closed) as a fresh adapter. */
  reopen(medium: Storage): Awaitable<Storage>;
  /** Checks the reopened image; throw (or reject) to fail the sweep. The image is closed afterwards. */
  check(image: Storage, info: CrashInfo): Awaitable<void>;
  /** Crash modes to run at every point. Default: all four. */
  readonly modes?: readonly CrashMode[];
  /** Base seed; each run's seed is derived from it, the point and the mode. Default 0. */
  readonly seed?: number;
  /** Crash points to run. Default: every operation, 0 to `operations` inclusive. */
  readonly points?: Iterable<number>;
  /** Sector size for `'torn'`. Default 512. */
  readonly sectorSize?: number;
  /** Cleans up after a run (delete a temporary file...), given the medium `create()` made. */
  dispose?(medium: Storage): Awaitable<void>;
}

/** What {@link crashSweep} did. */
export interface CrashSweepResult {
  /** Operations in the workload. */
  readonly operations: number;
  /** Crash runs checked. */
  readonly runs: number;
}

/**
 * Crashes a workload at every operation, in every mode, and checks each post-crash image.
 * O((operations + 1) × modes) workload runs; runs happen one after another.
 *
 * @param options - how to make and reopen a medium, the workload, the checker.
 * @returns how many operations the workload has and how many runs were checked.
 * @throws the first checker failure, wrapped in an Error whose message names the crash point,
 *   mode and seed (the checker's error is its `cause`); an Error if the workload fails without a
 *   crash or does not reach the crash point (it is not deterministic).
 */
export async function crashSweep(options: CrashSweepOptions): Promise<CrashSweepResult> {
  const modes = options.modes ?? CRASH_MODES;
  const baseSeed = options.seed ?? 0;
  const sectorSize = options.sectorSize ?? 512;

  const clean = await FaultyStorage.wrap(await options.create(), { seed: baseSeed, sectorSize });
  try {
    await options.workload(clean);
  } catch (error) {
    throw new Error(`crash sweep: the workload failed in its crash-free run: ${describe(error)}`, {
      cause: error,
    });
  } finally {
    await clean.close();
    await options.dispose?.(clean.inner);
  }
  const operations = clean.operations;
  const points = options.points ?? Array.from({ length: operations + 1 }, (_, i) => i);

  let runs = 0;
  for (const crashAt of points) {
    for (let m = 0; m < modes.length; m++) {
      const mode = modes[m]!;
      const seed = mixSeed(baseSeed, crashAt * CRASH_MODES.length + CRASH_MODES.indexOf(mode));
      const where = `crash at operation ${crashAt} of ${operations}, mode '${mode}', seed ${seed}`;
      const faulty = await FaultyStorage.wrap(await options.create(), {
        seed,
        crashAt,
        crashMode: mode,
        sectorSize,
      });
      try {
        try {
          await options.workload(faulty);
        } catch (error) {
          if (!faulty.crashed && !isStorageError(error, 'ERR_CRASHED')) {
            throw new Error(`crash sweep: the workload failed before the crash (${where})`, { cause: error });
          }
        }
        // crash() and close() both wait for operations the workload left running.
        if (!faulty.crashed && crashAt >= operations) await faulty.crash(mode);
        await faulty.close();
        if (!faulty.crashed) {
          throw new Error(
            `crash sweep: the workload ended after ${faulty.operations} operations without reaching the ` +
              `crash point (${where}); it must perform the same operations every run`,
          );
        }
        const image = await options.reopen(faulty.inner);
        try {
          await options.check(image, { crashAt, mode, seed, operations, flushes: faulty.flushes });
        } catch (error) {
          throw new Error(`crash sweep: check failed after a ${where}: ${describe(error)}`, { cause: error });
        } finally {
          await image.close();
        }
        runs++;
      } finally {
        await options.dispose?.(faulty.inner);
      }
    }
  }
  return { operations, runs };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
