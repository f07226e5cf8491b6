// A version of a store as a volume: the live volume and every snapshot answer the same calls.

import { StoreError } from './errors';
import type { Store } from './store';
import { type Extent, LIVE } from './types';

/**
 * One version of the store's volume: the live volume or a snapshot. All versions answer the same
 * calls; every call runs through the store's queue.
 */
export class Volume {
  readonly #store: Store;
  /** `LIVE` or the snapshot's name. */
  readonly version: string;

  /** @internal Use {@link Store.volume}. */
  constructor(store: Store, version: string) {
    this.#store = store;
    this.version = version;
  }

  /** The version's size in bytes. @throws StoreError `ERR_NOT_FOUND` for a deleted snapshot. */
  get size(): number {
    return this.#store._size(this.version);
  }

  /** The chunk size. */
  get chunkSize(): number {
    return this.#store.chunkSize;
  }

  /** Reads `length` bytes at `offset`. @throws StoreError `ERR_OUT_OF_RANGE`, `ERR_NOT_FOUND`. */
  read(offset: number, length: number): Promise<Uint8Array> {
    return this.#store._read(this.version, offset, length);
  }

  /** Writes `data` at `offset` (any alignment; partial chunks are read-modify-write). */
  async write(offset: number, data: Uint8Array): Promise<void> {
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    await this.#store._write(this.version, offset, data, data.length);
  }

  /** Unmaps a range: it reads back as zeros and frees what only it held. */
  async discard(offset: number, length: number): Promise<void> {
    await this.#store._write(this.version, offset, undefined, length);
  }

  /**
   * Changes the size: the live volume grows or shrinks (see {@link Store.resize}); a snapshot's
   * size is fixed (`ERR_INVALID_STATE`).
   */
  async resize(size: number): Promise<void> {
    if (this.version !== LIVE)
      throw new StoreError('ERR_INVALID_STATE', `snapshot '${this.version}' has a fixed size`);
    await this.#store.resize(size);
  }

  /**
   * Which parts of a range hold data and which are zeros (unmapped), as merged extents. O(chunks).
   */
  allocation(offset: number, length: number): Promise<Extent[]> {
    return this.#store._allocation(this.version, offset, length);
  }

  /** Makes every acknowledged write of every version durable. */
  flush(): Promise<void> {
    return this.#store._flush();
  }
}
