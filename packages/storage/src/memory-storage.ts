// MemoryStorage: the Storage contract over sparse 64 KiB blocks in this process. It is the
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
 * A store held in memory, sparse: bytes live in 64 KiB blocks allocated on first write, so a write
 * far past the end (an index laying out a volume of gigabytes, say) costs only the blocks it
 * touches and holes cost nothing. Every operation completes synchronously underneath (the returned
 * promises are already settled), so its cost is the copy: O(length) per read or write.
 * `flush()` does nothing; nothing survives the process.
 *
 * @example
 * ```ts
 * const store = new MemoryStorage();
 * await store.write(4096, new Uint8Array([1, 2, 3]));
 * await store.size(); // 4099
 * await store.read(4094, 4); // Uint8Array [0, 0, 1, 2]
 * ```
 */
/** Bytes per block of a {@link MemoryStorage}. */
const BLOCK_BITS = 16;
const BLOCK_SIZE = 1 << BLOCK_BITS;

export class MemoryStorage extends AbstractStorage {
  /** Block number -> its bytes; a missing block reads as zeros. */
  readonly #blocks = new Map<number, Uint8Array>();
  /** The store's size; everything past it is zero. */
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
    this.#length = 0;
    if (data !== undefined) this._write(0, data);
    this.#length = size;
  }

  /**
   * A copy of the store's bytes (its whole size), also after `close()` — how a test carries an
   * image to a new `MemoryStorage({ data })`, as a file would be reopened. O(size).
   * @returns a new array holding the current contents.
   */
  snapshot(): Uint8Array {
    return this._read(0, this.#length);
  }

  /**
   * Copies the range out of its blocks: into `into` when given (a `readv` request's, so a reader
   * that reuses its buffers allocates nothing; holes are zeroed there), else into a new array.
   */
  protected override _read(offset: number, length: number, into?: Uint8Array): Uint8Array {
    const out = into ?? new Uint8Array(length);
    const end = Math.min(offset + length, this.#length);
    for (let at = offset; at < end; ) {
      const block = Math.floor(at / BLOCK_SIZE);
      const within = at - block * BLOCK_SIZE;
      const n = Math.min(BLOCK_SIZE - within, end - at);
      const bytes = this.#blocks.get(block);
      if (bytes !== undefined) out.set(bytes.subarray(within, within + n), at - offset);
      else if (into !== undefined) into.fill(0, at - offset, at - offset + n);
      at += n;
    }
    if (into !== undefined && end < offset + length) into.fill(0, Math.max(0, end - offset));
    return out;
  }

  /** Zeros the range; whole 64 KiB blocks are dropped (holes cost nothing). */
  protected override _discard(offset: number, length: number): void {
    const end = offset + length;
    for (let at = offset; at < end; ) {
      const block = Math.floor(at / BLOCK_SIZE);
      const within = at - block * BLOCK_SIZE;
      const n = Math.min(BLOCK_SIZE - within, end - at);
      if (n === BLOCK_SIZE) this.#blocks.delete(block);
      else this.#blocks.get(block)?.fill(0, within, within + n);
      at += n;
    }
  }

  protected _write(offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    for (let at = offset; at < end; ) {
      const block = Math.floor(at / BLOCK_SIZE);
      const within = at - block * BLOCK_SIZE;
      const n = Math.min(BLOCK_SIZE - within, end - at);
      let bytes = this.#blocks.get(block);
      if (bytes === undefined) {
        bytes = new Uint8Array(BLOCK_SIZE);
        this.#blocks.set(block, bytes);
      }
      bytes.set(data.subarray(at - offset, at - offset + n), within);
      at += n;
    }
    if (end > this.#length) this.#length = end;
  }

  protected _flush(): void {}

  protected _close(): void {}
}
