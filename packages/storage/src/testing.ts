// @deja/storage/testing: the tools for crash tests of anything built on a Storage — FaultyStorage,
// which loses power or fails an operation at a chosen operation number, and crashSweep, which
// crashes a workload at every operation in every mode and hands each post-crash image to a checker.
export { type CrashInfo, type CrashSweepOptions, type CrashSweepResult, crashSweep } from './crash-sweep';
export {
  CRASH_MODES,
  type CrashMode,
  type FaultyOperation,
  FaultyStorage,
  type FaultyStorageOptions,
} from './faulty-storage';
