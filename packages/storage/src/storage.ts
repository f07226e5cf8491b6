// The Storage interface: the one contract every medium Deja writes to implements (memory, a local
// file, the fault injector, later an object store). Everything above it — the page layer, the
// exception store, the dedup index — is written against this file only, so its semantics are
// spelled out here exactly; the README repeats them as a table.

/**
 * One range to read in a batch: `length` bytes at byte `offset`. With `into` (exactly `length`
 * bytes, a view into a larger or a shared buffer, say) the bytes land there and `into` is that
 * request's result: no new array, no copy on adapters that read in place (files).
 */
export interface ReadRequest {
  readonly offset: number;
  readonly length: number;
  readonly into?: Uint8Array;
}

/** One write in a batch: `data` goes to byte `offset`. */
export interface WriteRequest {
  readonly offset: number;
  readonly data: Uint8Array;
}

/**
 * A byte-addressed store: a flat, growable array of bytes on some medium.
 *
 * Semantics every adapter keeps (the conformance suite checks them):
 *
 * - **Addressing.** Offsets and lengths are non-negative safe integers; `offset + length` must not
 *   pass `Number.MAX_SAFE_INTEGER`. No alignment is required (aligned 4 KiB pages are simply the
 *   fastest on files).
 * - **Size.** A store starts at its persisted size (0 when new). A write past the end grows it to
 *   the write's end; the gap reads as zeros, as does any byte never written. A zero-length write
 *   changes nothing. Nothing shrinks a store.
 * - **Reads** must lie inside `[0, size]`, else they reject with `ERR_OUT_OF_RANGE`. A read returns a
 *   new `Uint8Array` the caller owns.
 * - **Order.** Operations take effect in the order they are called, whether or not the caller
 *   awaited the earlier ones: a read sees every write called before it, overlapping writes land in
 *   call order, `size()` counts every write called before it. Operations on disjoint ranges may run
 *   in parallel underneath. A caller must not modify a buffer passed to `write` until the returned
 *   promise settles.
 * - **Flush** is the durability barrier: once `flush()` resolves, every write called before
 *   `flush()` was called survives a crash or power loss. Writes called later may or may not be
 *   covered. If `flush()` rejects, the handle refuses further writes and flushes (`ERR_IO`): what
 *   reached the medium since the last good flush is unknown (the kernel may have dropped those
 *   pages), so a later "successful" flush would lie. Close, reopen, recover from the last flush.
 * - **Crash.** Without a flush, a crash may keep, drop, or tear each write: a torn write has some
 *   of its 512-byte sectors new and the rest old (a sector is the unit a disk writes atomically),
 *   and unflushed writes may reach the medium in any order. Page formats above must checksum.
 * - **Failure.** Every failure is a rejected promise; methods never throw synchronously. Bad
 *   arguments reject with `TypeError`/`RangeError`, medium and state failures with a
 *   `StorageError` (see its codes). After a write rejects, its range holds unknown bytes.
 * - **Close** waits for every operation already called, then releases the medium (and its lock).
 *   It does not flush: unflushed writes are visible to the next open unless the machine crashes.
 *   Calls after `close()` reject with `ERR_CLOSED`; calling `close()` again is harmless.
 */
export interface Storage {
  /** Whether the store refuses writes (`ERR_READ_ONLY`). */
  readonly readOnly: boolean;
  /** Whether `close()` has been called. */
  readonly closed: boolean;

  /**
   * Reads `length` bytes at `offset`.
   * @returns a new array of exactly `length` bytes.
   * @throws `ERR_OUT_OF_RANGE` if the range passes the end; `ERR_CLOSED`; `ERR_IO`.
   */
  read(offset: number, length: number): Promise<Uint8Array>;

  /**
   * Writes `data` at `offset`, growing the store if it ends past the end.
   * @throws `ERR_READ_ONLY`; `ERR_NO_SPACE`; `ERR_CLOSED`; `ERR_IO`.
   */
  write(offset: number, data: Uint8Array): Promise<void>;

  /**
   * Reads several ranges; same result as one `read` per request, possibly in fewer round trips.
   * @returns one array per request, in request order: the request's `into` when it has one,
   *   else a new array.
   */
  readv(requests: readonly ReadRequest[]): Promise<Uint8Array[]>;

  /**
   * Writes several ranges, applied in array order (a later entry wins where they overlap); same
   * effect as one `write` per entry, possibly in fewer system calls or round trips. Not atomic.
   */
  writev(requests: readonly WriteRequest[]): Promise<void>;

  /**
   * Discards a range inside the current size: it reads as zeros afterwards and the medium may
   * free the space it held (a hole in a file). Ordered and covered by `flush` like a write of
   * zeros; never changes the size. Optional: callers use it when present.
   */
  discard?(offset: number, length: number): Promise<void>;

  /**
   * The durability barrier: resolves once every write called before it is durable.
   * @throws `ERR_IO` (after which the handle refuses writes and flushes); `ERR_CLOSED`.
   */
  flush(): Promise<void>;

  /** The size in bytes, counting every write called before it. */
  size(): Promise<number>;

  /** Waits for pending operations and releases the medium. Does not flush. Idempotent. */
  close(): Promise<void>;

  /**
   * The same as `close()`, for `await using`. Optional in the interface (a plain object can be a
   * Storage); every adapter of this package and of `@deja/storage-file` has it.
   */
  [Symbol.asyncDispose]?(): Promise<void>;
}
