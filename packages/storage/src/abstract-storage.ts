// AbstractStorage: the base every adapter of this package extends (the abstract-level pattern).
// It owns everything the Storage contract promises that does not depend on the medium — argument
// checks, the logical size and bounds, call-order semantics for concurrent operations, flush
// coverage, the closed / read-only / failed-flush states — so each adapter only implements raw
// positional I/O (`_read`, `_write`, `_flush`, `_close`) and a future adapter (an object store)
// inherits the same behaviour, which the conformance suite then checks.
//
// Ordering. An operation waits only for the earlier operations it conflicts with: a read or write
// waits for earlier writes (and a write for earlier reads) whose ranges overlap its own; a flush
// waits for every earlier write; close waits for everything. An operation with nothing to wait
// for is dispatched synchronously, so adapters whose `_read`/`_write` return plain values (memory,
// FileStorage with `io: 'sync'`) pay no extra promise hops. With `serial: true` every operation
// waits for the one called before it instead (FaultyStorage, which must be deterministic).

import {
  type Awaitable,
  checkBytes,
  checkReadRequests,
  checkSpan,
  checkWriteRequests,
  isPromiseLike,
} from './_internal-validate';
import { StorageError } from './errors';
import type { ReadRequest, Storage, WriteRequest } from './storage';

/** Options of {@link AbstractStorage}'s constructor. */
export interface AbstractStorageOptions {
  /** How error messages name the store (a path, `'memory'`, ...). */
  readonly location: string;
  /** The size of the store as opened, in bytes. */
  readonly size: number;
  /** Refuse writes with `ERR_READ_ONLY`. Default `false`. */
  readonly readOnly?: boolean;
  /** Reject writes that would end past this many bytes with `ERR_NO_SPACE`, before any effect. */
  readonly maxSize?: number;
  /** Run operations one at a time in call order instead of in parallel where disjoint. */
  readonly serial?: boolean;
}

type Kind = 'read' | 'write' | 'flush' | 'barrier';
type Span = readonly [start: number, end: number];

interface Inflight {
  readonly kind: Kind;
  readonly spans: readonly Span[];
  /** For a write: the end of its furthest range. */
  readonly end: number;
  /** Resolves (never rejects) when the operation has settled. */
  settled: Promise<unknown>;
}

const noop = (): void => {};

/**
 * Base class of the adapters: implements the {@link Storage} contract on top of five raw
 * primitives. Subclasses receive only validated, in-bounds, non-empty requests, in an order that
 * respects the contract, and may return plain values (synchronous fast path) or promises.
 */
export abstract class AbstractStorage implements Storage {
  readonly readOnly: boolean;
  /** How error messages name this store. */
  protected readonly location: string;
  #size: number;
  /** The size counting only writes that succeeded; the floor `#size` falls back to on failure. */
  #committed: number;
  readonly #maxSize: number | undefined;
  readonly #serial: boolean;
  readonly #inflight = new Set<Inflight>();
  #last: Inflight | undefined;
  #closing: Promise<void> | undefined;
  #failedFlush: unknown;
  #hasFailedFlush = false;

  /**
   * @param options - the store's name for messages, its opened size and its mode.
   * @throws RangeError if `size` or `maxSize` is not a non-negative safe integer.
   */
  constructor(options: AbstractStorageOptions) {
    checkSpan(options.size, 0, 'size: ');
    if (options.maxSize !== undefined) checkSpan(options.maxSize, 0, 'maxSize: ');
    this.location = options.location;
    this.#size = options.size;
    this.#committed = options.size;
    this.readOnly = options.readOnly ?? false;
    this.#maxSize = options.maxSize;
    this.#serial = options.serial ?? false;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Reads `length` bytes at `offset`. O(length) plus O(in-flight operations) to order it.
   * @param offset - byte offset, a non-negative safe integer.
   * @param length - bytes to read.
   * @returns a new array of exactly `length` bytes; never-written bytes are zeros.
   * @throws `ERR_OUT_OF_RANGE` if `offset + length` passes the size; `ERR_CLOSED`; `ERR_IO`.
   */
  read(offset: number, length: number): Promise<Uint8Array> {
    try {
      checkSpan(offset, length);
      this.#checkState('read', false);
      this.#checkBounds(offset, length, '');
    } catch (error) {
      return Promise.reject(error);
    }
    if (length === 0) return Promise.resolve(new Uint8Array(0));
    return this.#schedule('read', [[offset, offset + length]], 0, () => this._read(offset, length));
  }

  /**
   * Writes `data` at `offset`; a write past the end grows the store (the gap reads as zeros).
   * O(data.length) plus O(in-flight operations). Do not modify `data` until the promise settles.
   * @param offset - byte offset, a non-negative safe integer.
   * @param data - the bytes; a zero-length write changes nothing.
   * @throws `ERR_READ_ONLY`; `ERR_NO_SPACE`; `ERR_CLOSED`; `ERR_IO` (also after a failed flush).
   */
  write(offset: number, data: Uint8Array): Promise<void> {
    let end: number;
    try {
      checkBytes(data);
      checkSpan(offset, data.length);
      this.#checkState('write', true);
      end = offset + data.length;
      if (data.length > 0) this.#checkCapacity(end, '');
    } catch (error) {
      return Promise.reject(error);
    }
    if (data.length === 0) return Promise.resolve();
    if (end > this.#size) this.#size = end;
    return this.#schedule('write', [[offset, end]], end, () => this._write(offset, data));
  }

  /**
   * Reads several ranges; the result equals one {@link read} per request.
   * @param requests - `{ offset, length }` ranges, each inside the store.
   * @returns one new array per request, in order.
   * @throws `ERR_OUT_OF_RANGE` (naming the request index); `ERR_CLOSED`; `ERR_IO`.
   */
  readv(requests: readonly ReadRequest[]): Promise<Uint8Array[]> {
    const spans: Span[] = [];
    try {
      checkReadRequests(requests);
      this.#checkState('readv', false);
      for (let i = 0; i < requests.length; i++) {
        const { offset, length } = requests[i]!;
        this.#checkBounds(offset, length, `requests[${i}]: `);
        if (length > 0) spans.push([offset, offset + length]);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const copy = requests.map(({ offset, length, into }) =>
      into === undefined ? { offset, length } : { offset, length, into },
    );
    if (spans.length === 0) return Promise.resolve(copy.map((r) => r.into ?? new Uint8Array(0)));
    const placed = (got: Uint8Array[]): Uint8Array[] => {
      // Adapters that do not read in place return new arrays: their bytes go where asked.
      for (let i = 0; i < copy.length; i++) {
        const into = copy[i]?.into;
        if (into !== undefined && got[i] !== into) {
          into.set(got[i] as Uint8Array);
          got[i] = into;
        }
      }
      return got;
    };
    return this.#schedule('read', spans, 0, () => {
      const got = this._readv(copy);
      return isPromiseLike(got) ? got.then(placed) : placed(got);
    });
  }

  /**
   * Writes several ranges, applied in array order (a later entry wins where entries overlap).
   * Not atomic: a crash may keep any subset. Do not modify the buffers until the promise settles.
   * @param requests - `{ offset, data }` writes.
   * @throws `ERR_READ_ONLY`; `ERR_NO_SPACE` (before any entry is written); `ERR_CLOSED`; `ERR_IO`.
   */
  writev(requests: readonly WriteRequest[]): Promise<void> {
    const spans: Span[] = [];
    const writes: WriteRequest[] = [];
    let end = 0;
    try {
      checkWriteRequests(requests);
      this.#checkState('writev', true);
      for (let i = 0; i < requests.length; i++) {
        const { offset, data } = requests[i]!;
        if (data.length === 0) continue;
        this.#checkCapacity(offset + data.length, `requests[${i}]: `);
        spans.push([offset, offset + data.length]);
        writes.push({ offset, data });
        end = Math.max(end, offset + data.length);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    if (writes.length === 0) return Promise.resolve();
    if (end > this.#size) this.#size = end;
    return this.#schedule('write', spans, end, () => this._writev(writes));
  }

  /**
   * The durability barrier: resolves once every write called before it is durable. A no-op on a
   * read-only store. If it rejects, later writes and flushes reject with `ERR_IO`.
   * @throws `ERR_IO`; `ERR_CLOSED`.
   */
  /**
   * Discards a range inside the current size: it reads as zeros afterwards, and an adapter that
   * can (a file's hole punching) frees its space. Ordered like a write; never changes the size.
   * @throws `ERR_OUT_OF_RANGE` past the size; `ERR_READ_ONLY`; `ERR_CLOSED`; `ERR_IO`.
   */
  discard(offset: number, length: number): Promise<void> {
    try {
      checkSpan(offset, length);
      this.#checkState('write', true);
      this.#checkBounds(offset, length, '');
    } catch (error) {
      return Promise.reject(error);
    }
    if (length === 0) return Promise.resolve();
    return this.#schedule('write', [[offset, offset + length]], offset + length, () =>
      this._discard(offset, length),
    );
  }

  flush(): Promise<void> {
    try {
      this.#checkState('flush', false);
      if (this.#hasFailedFlush) this.#checkState('flush', true);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.readOnly) return Promise.resolve();
    const result = this.#schedule('flush', [], 0, () => this._flush());
    // Registered before the caller's handlers, so the handle is marked failed before they run.
    result.catch((error: unknown) => {
      this.#hasFailedFlush = true;
      this.#failedFlush = error;
    });
    return result;
  }

  /**
   * The size in bytes, counting every write called before it (O(1)).
   * @throws `ERR_CLOSED`.
   */
  size(): Promise<number> {
    try {
      this.#checkState('size', false);
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.resolve(this.#size);
  }

  /**
   * Waits for every operation already called, then releases the medium. Does not flush.
   * Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const pending = [...this.#inflight].map((entry) => entry.settled);
    this.#closing = Promise.all(pending).then(() => this._close());
    return this.#closing;
  }

  /** `await using store = ...` closes the store at the end of the scope (see {@link close}). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Runs `run` after every operation called before it, and before every operation called after
   * it: for adapter-specific operations that must not interleave (FaultyStorage's `crash()`).
   * The caller checks the closed state first.
   */
  protected _exclusive<T>(run: () => Awaitable<T>): Promise<T> {
    return this.#schedule('barrier', [], 0, run);
  }

  /**
   * Reads an in-bounds, non-empty range. `into` (exactly `length` bytes), when given, may receive
   * the bytes in place (return it then); an adapter that ignores it returns a new array.
   */
  protected abstract _read(offset: number, length: number, into?: Uint8Array): Awaitable<Uint8Array>;

  /** Writes a non-empty buffer; the size has already been grown to cover it. */
  protected abstract _write(offset: number, data: Uint8Array): Awaitable<void>;

  /** Makes every completed write durable. */
  protected abstract _flush(): Awaitable<void>;

  /** Releases the medium; called once, after every operation has settled. */
  protected abstract _close(): Awaitable<void>;

  /**
   * Reads a batch (entries may be empty); default: one `_read` per entry. An entry's `into` may be
   * used or ignored (a result that is not `into` is copied there).
   */
  protected _readv(requests: readonly ReadRequest[]): Awaitable<Uint8Array[]> {
    const out = requests.map(({ offset, length, into }) =>
      length === 0 ? (into ?? new Uint8Array(0)) : this._read(offset, length, into),
    );
    return out.some(isPromiseLike) ? Promise.all(out) : (out as Uint8Array[]);
  }

  /** Writes a batch of non-empty entries in order; default: one `_write` per entry, in sequence. */
  /** Makes a range read as zeros. Default: writes zeros; adapters that can free space override it. */
  protected _discard(offset: number, length: number): Awaitable<void> {
    return this._write(offset, new Uint8Array(length));
  }

  protected _writev(requests: readonly WriteRequest[]): Awaitable<void> {
    const from = (start: number): Awaitable<void> => {
      for (let i = start; i < requests.length; i++) {
        const { offset, data } = requests[i]!;
        const result = this._write(offset, data);
        if (isPromiseLike(result)) return result.then(() => from(i + 1));
      }
    };
    return from(0);
  }

  #checkState(operation: string, writes: boolean): void {
    if (this.#closing !== undefined) {
      throw new StorageError('ERR_CLOSED', `${this.location}: ${operation}() called after close()`);
    }
    if (!writes) return;
    if (this.readOnly) {
      throw new StorageError('ERR_READ_ONLY', `${this.location}: ${operation}() on a store opened read-only`);
    }
    if (this.#hasFailedFlush) {
      throw new StorageError(
        'ERR_IO',
        `${this.location}: ${operation}() refused: an earlier flush failed, so what reached the medium ` +
          'since the last good flush is unknown; close and reopen the store',
        { cause: this.#failedFlush },
      );
    }
  }

  #checkBounds(offset: number, length: number, where: string): void {
    if (offset + length > this.#size) {
      throw new StorageError(
        'ERR_OUT_OF_RANGE',
        `${this.location}: ${where}read of ${length} bytes at offset ${offset} passes the end of the store ` +
          `(size ${this.#size})`,
      );
    }
  }

  #checkCapacity(end: number, where: string): void {
    if (this.#maxSize !== undefined && end > this.#maxSize) {
      throw new StorageError(
        'ERR_NO_SPACE',
        `${this.location}: ${where}write ending at byte ${end} passes the store's maximum size ${this.#maxSize}`,
      );
    }
  }

  /** Runs `run` once the operations it must follow have settled; tracks it while in flight. */
  #schedule<T>(kind: Kind, spans: readonly Span[], end: number, run: () => Awaitable<T>): Promise<T> {
    const after = this.#dependencies(kind, spans);
    let result: Promise<T>;
    if (after === undefined) {
      let value: Awaitable<T>;
      try {
        value = run();
      } catch (error) {
        this.#settle(kind, end, undefined, false);
        return Promise.reject(error);
      }
      if (!isPromiseLike(value)) {
        this.#settle(kind, end, undefined, true);
        return Promise.resolve(value);
      }
      result = value;
    } else {
      result = after.then(run);
    }
    const entry: Inflight = { kind, spans, end, settled: result };
    const tracked = result.then(
      (value) => {
        this.#settle(kind, end, entry, true);
        return value;
      },
      (error: unknown) => {
        this.#settle(kind, end, entry, false);
        throw error;
      },
    );
    entry.settled = tracked.then(noop, noop);
    this.#inflight.add(entry);
    this.#last = entry;
    return tracked;
  }

  /** What an operation must wait for: `undefined` when nothing (dispatch now). */
  #dependencies(kind: Kind, spans: readonly Span[]): Promise<unknown> | undefined {
    if (this.#serial) return this.#last?.settled;
    const waits: Promise<unknown>[] = [];
    for (const entry of this.#inflight) {
      if (conflicts(entry, kind, spans)) waits.push(entry.settled);
    }
    if (waits.length === 0) return undefined;
    return waits.length === 1 ? waits[0] : Promise.all(waits);
  }

  #settle(kind: Kind, end: number, entry: Inflight | undefined, ok: boolean): void {
    if (entry !== undefined) {
      this.#inflight.delete(entry);
      if (this.#last === entry) this.#last = undefined;
    }
    if (kind !== 'write') return;
    if (ok) {
      if (end > this.#committed) this.#committed = end;
      return;
    }
    // A failed write may not have grown the medium: fall back to what succeeded or is still
    // pending. (Its bytes are unknown either way; reads past the medium's end return zeros.)
    let size = this.#committed;
    for (const other of this.#inflight) if (other.kind === 'write' && other.end > size) size = other.end;
    this.#size = size;
  }
}

function conflicts(entry: Inflight, kind: Kind, spans: readonly Span[]): boolean {
  if (kind === 'barrier' || entry.kind === 'barrier') return true;
  if (kind === 'flush') return entry.kind === 'write';
  if (entry.kind === 'flush' || (kind === 'read' && entry.kind === 'read')) return false;
  for (const [a0, a1] of entry.spans) {
    for (const [b0, b1] of spans) if (a0 < b1 && b0 < a1) return true;
  }
  return false;
}
