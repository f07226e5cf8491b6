// The exception store's operation queue: operations run one at a time, in call order, each after
// the previous one settled (a failure does not stop the queue), and a failure of a lower package
// leaves it wrapped in the store's error. `idle` says whether anything is queued or running, so a
// lookup can answer from the cache at once when nothing could change the answer before its turn.

/** Runs operations one at a time, in call order. */
export class OperationQueue {
  #tail: Promise<unknown> = Promise.resolve();
  /** Operations queued or running. */
  #inflight = 0;
  readonly #wrap: (error: unknown) => unknown;

  /** @param wrap - turns what an operation threw into what its caller sees. */
  constructor(wrap: (error: unknown) => unknown) {
    this.#wrap = wrap;
  }

  /** Whether no operation is queued or running. */
  get idle(): boolean {
    return this.#inflight === 0;
  }

  /** Runs `fn` after every operation queued before it. O(1). */
  run<T>(fn: () => Promise<T>): Promise<T> {
    this.#inflight++;
    const run = this.#tail.then(fn).catch((error: unknown) => {
      throw this.#wrap(error);
    });
    const settled = run.then(
      () => {
        this.#inflight--;
      },
      () => {
        this.#inflight--;
      },
    );
    this.#tail = settled;
    return run;
  }
}
