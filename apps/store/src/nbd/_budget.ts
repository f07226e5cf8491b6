// The server-wide memory cap: every byte the NBD server holds on behalf of its clients is granted
// from one budget first. A connection reserves its read buffer before its socket is read at all;
// a READ reserves its reply buffer and holds it until the reply has left for the socket; a WRITE
// reserves its payload before the payload is read; a BLOCK_STATUS reserves the largest reply it
// can build. When the budget is spent, the next reservation waits (first come, first served, so a
// large request is not starved by small ones) and its connection reads nothing meanwhile: the
// client stalls on TCP flow control, the process does not grow. Connections hold at most half of
// the budget, so requests always have the other half; the server advertises and enforces a
// largest request that fits in that half, so the cap is never exceeded.
//
// Reply buffers are recycled by size (clients repeat the same request size: nbdcopy 256 KiB,
// qemu-img 2 MiB), so a steady stream of READs allocates nothing; free buffers count against the
// budget too and are dropped first when a reservation needs their room. Buffers are
// SharedArrayBuffer-backed when the server hashes on worker threads, so the workers read them
// without a copy.

/** A waiting reservation. */
interface Waiter {
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/** Who a reservation is for: connections (their read buffers) may hold at most half the budget. */
export type Holder = 'connection' | 'request';

/**
 * A byte budget with FIFO waiting, and the recycled reply buffers it accounts for. Connections
 * hold at most half of it, so however many are open, requests always have the other half (and a
 * connection waiting for room never blocks a request, nor the other way round: each has its own
 * queue). Reservations are counted up to half the budget each: callers keep requests below that.
 */
export class MemoryBudget {
  /** Bytes the server may hold for its clients. */
  readonly limit: number;
  readonly #shared: boolean;
  #connections = 0;
  #requests = 0;
  #peak = 0;
  #freeBytes = 0;
  readonly #free = new Map<number, Uint8Array[]>();
  readonly #queues: Record<Holder, Waiter[]> = { connection: [], request: [] };

  /**
   * @param limit - the cap in bytes.
   * @param shared - whether reply buffers live in shared memory (for hashing workers).
   */
  constructor(limit: number, shared: boolean) {
    this.limit = limit;
    this.#shared = shared;
  }

  /** Bytes held now: granted to connections and requests, and free recycled buffers. At most {@link limit}. */
  get used(): number {
    return this.#connections + this.#requests + this.#freeBytes;
  }

  /** The most {@link used} has been. */
  get peak(): number {
    return this.#peak;
  }

  /** Reservations waiting. */
  get waiting(): number {
    return this.#queues.connection.length + this.#queues.request.length;
  }

  /**
   * Reserves `bytes` for a connection or a request; returns undefined when granted at once,
   * else a promise that resolves when granted, or rejects with `signal`'s reason if it is aborted
   * first. Give the bytes back with {@link release} (the same count and holder).
   */
  acquire(bytes: number, holder: Holder, signal?: AbortSignal): Promise<void> | undefined {
    const n = this.#charge(bytes);
    const queue = this.#queues[holder];
    if (queue.length === 0 && this.#fits(n, holder)) {
      this.#grant(n, holder);
      return undefined;
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
        reject(signal?.reason);
        this.#wake();
      };
      const waiter: Waiter = {
        bytes: n,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });
  }

  /** Gives back `bytes` reserved with {@link acquire}. */
  release(bytes: number, holder: Holder): void {
    const n = this.#charge(bytes);
    if (holder === 'connection') this.#connections -= n;
    else this.#requests -= n;
    this.#wake();
  }

  /**
   * A buffer of `size` bytes (reserve them first): a recycled one when there is one. Give it back
   * with {@link recycle} once nothing refers to it any more.
   */
  take(size: number): Uint8Array {
    const reused = this.#free.get(size)?.pop();
    if (reused) {
      this.#freeBytes -= size;
      return reused;
    }
    return new Uint8Array(this.#shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size));
  }

  /** Keeps a buffer from {@link take} for reuse while there is room (release its bytes first). */
  recycle(buffer: Uint8Array): void {
    const size = buffer.byteLength;
    if (this.used + size > this.limit || this.#freeBytes + size > this.limit / 4) return;
    let list = this.#free.get(size);
    if (!list) {
      list = [];
      this.#free.set(size, list);
    }
    list.push(buffer);
    this.#freeBytes += size;
  }

  #charge(bytes: number): number {
    return Math.min(bytes, Math.floor(this.limit / 2));
  }

  #fits(n: number, holder: Holder): boolean {
    if (holder === 'connection' && this.#connections + n > this.limit / 2) return false;
    return this.#connections + this.#requests + n <= this.limit;
  }

  #grant(n: number, holder: Holder): void {
    if (holder === 'connection') this.#connections += n;
    else this.#requests += n;
    // Free buffers make room for live ones.
    for (const [size, list] of this.#free) {
      while (this.used > this.limit && list.length > 0) {
        list.pop();
        this.#freeBytes -= size;
      }
    }
    if (this.used > this.#peak) this.#peak = this.used;
  }

  #wake(): void {
    for (const holder of ['request', 'connection'] as const) {
      const queue = this.#queues[holder];
      for (;;) {
        const head = queue[0];
        if (!head || !this.#fits(head.bytes, holder)) break;
        queue.shift();
        this.#grant(head.bytes, holder);
        head.resolve();
      }
    }
  }
}
