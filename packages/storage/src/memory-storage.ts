// MemoryStorage: the Storage contract over a growable byte array in this process. It is the
// reference adapter (the conformance suite's simplest target), the default medium under
// FaultyStorage in crash tests, and a fast store for tests of the layers above. It persists nothing
// by itself; `snapshot()` hands out its bytes so a test can "reopen" them in a new MemoryStorage.

import { AbstractStorage } from './abstract-storage';

/** Options of {@link MemoryStorage}. */
export interface MemoryStorageOptions {
  /** Initial contents (copied); the store starts at this size. Default: empty. */
  readonly data?: Uint8Array;
  /** Writes ending past this many bytes reject with `ERR_NO_SPACE` (a full disk, for tests). */
  readonly maxSize?: number;
  /** Refuse writes with `ERR_READ_ONLY`. Default `false`. */
  readonly readOnly?: boolean;
}

/**
 * A store held in memory. Every operation completes synchronously underneath (the returned
 * promises are already settled), so its cost is the copy: O(length) per read or write, amortised
 * O(1) per byte of growth (the buffer doubles). `flush()` does nothing; nothing survives the process.
 *
 * @example
 * ```ts
 * const store = new MemoryStorage();
 * await store.write(4096, new Uint8Array([1, 2, 3]));
 * await store.size(); // 4099
 * await store.read(4094, 4); // Uint8Array [0, 0, 1, 2]
 * ```
 */
export class MemoryStorage extends AbstractStorage {
  #bytes: Uint8Array;
  /** Bytes of `#bytes` in use; everything past it is zero. */
  #length: number;

  /**
   * @param options - initial data, a maximum size, read-only mode.
   * @throws TypeError if `data` is not a Uint8Array; RangeError if `maxSize` is not a non-negative
   *   safe integer or is smaller than `data`.
   */
  constructor(options: MemoryStorageOptions = {}) {
    const { data, maxSize, readOnly } = options;
    if (data !== undefined && !(data instanceof Uint8Array)) {
      throw new TypeError('MemoryStorage: options.data must be a Uint8Array');
    }
    const size = data?.length ?? 0;
    super({
      location: 'memory',
      size,
      readOnly: readOnly ?? false,
      ...(maxSize !== undefined && { maxSize }),
    });
    if (maxSize !== undefined && maxSize < size) {
      throw new RangeError(`MemoryStorage: options.data (${size} bytes) is larger than maxSize (${maxSize})`);
    }
    this.#bytes = data === undefined ? new Uint8Array(0) : data.slice();
    this.#length = size;
  }

  /**
   * A copy of the store's bytes (its whole size), also after `close()` — how a test carries an
   * image to a new `MemoryStorage({ data })`, as a file would be reopened. O(size).
   * @returns a new array holding the current contents.
   */
  snapshot(): Uint8Array {
    return this.#bytes.slice(0, this.#length);
  }

  protected _read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    if (offset < this.#length) out.set(this.#bytes.subarray(offset, Math.min(offset + length, this.#length)));
    return out;
  }

  protected _write(offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    if (end > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(end, Math.min(this.#bytes.length * 2, end + (1 << 30))));
      grown.set(this.#bytes.subarray(0, this.#length));
      this.#bytes = grown;
    }
    this.#bytes.set(data, offset);
    if (end > this.#length) this.#length = end;
  }

  protected _flush(): void {}

  protected _close(): void {}
}
