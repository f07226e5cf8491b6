// @deja/test-helpers (private, never published): what the tests and benchmarks of several packages
// need alike, written once. Named re-exports only.
export {
  fraction,
  mixSeed,
  type Random,
  randomBelow,
  randomBytes,
  randomInt,
  splitmix32,
  xorshift32,
} from './random';
export { readmeErrorCodes } from './readme-codes';
export {
  type CrashModel,
  checkCrashImage,
  emptyCrashModel,
  overlay,
  randomStorageWorkload,
  type WorkloadStore,
} from './storage-crash-model';
