// The store's metadata pages: a bounded write-back cache of page-layer metadata pages, and the
// radix array built on it. The block map (logical chunk -> physical chunk), the name table
// (physical chunk -> content name) and the dirty bitmap are each a RadixArray: a tree of metadata
// pages whose leaves hold fixed-size items and whose nodes hold child page numbers. Pages appear
// only where items were written, so the store's metadata grows with what is stored, not with the
// volume's size, and every page keeps its number for life (the page layer's journal makes the
// in-place rewrites atomic).

/** A little-endian u32 of `buf` at `off`, without a DataView (the write path's hot reads). */
export function getU32(buf: Uint8Array, off: number): number {
  return (
    ((buf[off] as number) |
      ((buf[off + 1] as number) << 8) |
      ((buf[off + 2] as number) << 16) |
      ((buf[off + 3] as number) << 24)) >>>
    0
  );
}

/** Stores a little-endian u32 into `buf` at `off`. */
export function setU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
  buf[off + 2] = (v >>> 16) & 0xff;
  buf[off + 3] = v >>> 24;
}

/** What the cache needs from the store: the page layer, through the open transaction. */
export interface MetaHost {
  /** Payload bytes of a metadata page. */
  readonly payload: number;
  /** A metadata page's payload as the open transaction sees it (a copy the cache may keep). */
  read(page: number): Promise<Uint8Array>;
  /** Hands a changed payload to the open transaction (begun if needed). */
  write(page: number, payload: Uint8Array): void;
  /** A new metadata page in the open transaction (reads as zeros). */
  allocate(): Promise<number>;
  /** Frees a metadata page in the open transaction. */
  free(page: number): void;
}

interface Entry {
  buf: Uint8Array;
  dirty: boolean;
}

/**
 * A FIFO cache of metadata payloads. Dirty pages go to the page layer's transaction at
 * {@link MetaCache.writeBack} (before each commit) or when evicted by {@link MetaCache.trim}, so
 * memory stays bounded by `limit` pages however large a transaction is (the page layer spills
 * to its journal).
 */
export class MetaCache {
  readonly #map = new Map<number, Entry>();
  readonly #host: MetaHost;
  readonly limit: number;

  constructor(host: MetaHost, limit: number) {
    this.#host = host;
    this.limit = Math.max(8, limit);
  }

  get host(): MetaHost {
    return this.#host;
  }

  /** The payload of `page`, cached. The caller may change it and must then call markDirty. */
  async get(page: number): Promise<Uint8Array> {
    const e = this.#map.get(page);
    if (e !== undefined) {
      return e.buf;
    }
    const buf = await this.#host.read(page);
    this.#insert(page, { buf, dirty: false });
    return buf;
  }

  /** A cached payload without I/O, or undefined. */
  peek(page: number): Uint8Array | undefined {
    return this.#map.get(page)?.buf;
  }

  /** A new page (zeros), cached and dirty. */
  async create(): Promise<{ page: number; buf: Uint8Array }> {
    const page = await this.#host.allocate();
    const buf = new Uint8Array(this.#host.payload);
    this.#insert(page, { buf, dirty: true });
    this.#dirty++;
    return { page, buf };
  }

  markDirty(page: number): void {
    const e = this.#map.get(page);
    if (e === undefined) throw new Error(`internal: page ${page} marked dirty but not cached`);
    if (!e.dirty) this.#dirty++;
    e.dirty = true;
  }

  /** Frees a page and forgets it. */
  free(page: number): void {
    if (this.#map.get(page)?.dirty) this.#dirty--;
    this.#map.delete(page);
    this.#host.free(page);
  }

  /** Hands every dirty page to the transaction. */
  writeBack(): void {
    for (const [page, e] of this.#map) {
      if (e.dirty) {
        this.#host.write(page, e.buf);
        e.dirty = false;
      }
    }
    this.#dirty = 0;
  }

  get size(): number {
    return this.#map.size;
  }

  /** Cached pages changed since they were last handed to the transaction. */
  get dirty(): number {
    return this.#dirty;
  }
  #dirty = 0;

  #insert(page: number, e: Entry): void {
    this.#map.set(page, e);
  }

  /**
   * Evicts the oldest pages down to the limit, handing dirty ones to the transaction first. Only
   * called between operations, so no caller holds a payload that could be evicted under it.
   */
  trim(): void {
    if (this.#map.size <= this.limit) return;
    const target = this.limit - (this.limit >>> 3);
    for (const [page, e] of this.#map) {
      if (this.#map.size <= target) break;
      if (e.dirty) {
        this.#host.write(page, e.buf);
        this.#dirty--;
      }
      this.#map.delete(page);
    }
  }
}

/** Where an item lives: its leaf page, the leaf's payload and the item's byte offset in it. */
export interface LeafSlot {
  page: number;
  buf: Uint8Array;
  off: number;
}

/** Where a radix array lives: its root page (-1: empty) and height (levels, 1 = the root is a leaf). */
export interface RadixRoot {
  root: number;
  height: number;
}

/**
 * A sparse array of fixed-size items over metadata pages. Leaves hold `perLeaf` items of
 * `itemBytes`; nodes hold u32 child page + 1 (0: none). Reading an item whose leaf does not exist
 * gives zeros. O(height) cached page lookups per access; the last leaf is remembered, so a run
 * of neighbouring items costs one lookup.
 */
export class RadixArray {
  readonly itemBytes: number;
  readonly perLeaf: number;
  readonly perNode: number;
  readonly #cache: MetaCache;
  #root: RadixRoot;
  #lastLeafIndex = -1;
  #lastLeafPage = -1;
  /** The one result object `leaf` fills (read it before the next call on this array). */
  readonly #slot: LeafSlot = { page: -1, buf: new Uint8Array(0), off: 0 };

  constructor(cache: MetaCache, itemBytes: number, root: RadixRoot) {
    this.#cache = cache;
    this.itemBytes = itemBytes;
    this.perLeaf = Math.floor(cache.host.payload / itemBytes);
    this.perNode = Math.floor(cache.host.payload / 4);
    this.#root = { ...root };
  }

  get root(): RadixRoot {
    return { ...this.#root };
  }

  /** Items a tree of `height` levels holds. */
  capacity(height: number): number {
    let c = this.perLeaf;
    for (let k = 1; k < height; k++) c *= this.perNode;
    return c;
  }

  /**
   * The leaf holding item `index` and the item's byte offset in it, or undefined when the leaf
   * does not exist and `create` is false. With `create`, the caller must markDirty(page) after
   * changing the leaf. The result is one object reused by every call on this array: read it
   * before the next call.
   */
  async leaf(index: number, create: boolean): Promise<LeafSlot | undefined> {
    const leafIndex = Math.floor(index / this.perLeaf);
    const slot = this.#slot;
    const off = (index - leafIndex * this.perLeaf) * this.itemBytes;
    if (leafIndex !== this.#lastLeafIndex) {
      const page = await this.#leafPage(leafIndex, create);
      if (page < 0) return undefined;
      this.#lastLeafIndex = leafIndex;
      this.#lastLeafPage = page;
    }
    const page = this.#lastLeafPage;
    slot.buf = this.#cache.peek(page) ?? (await this.#cache.get(page));
    slot.page = page;
    slot.off = off;
    return slot;
  }

  /**
   * {@link RadixArray.leaf} without I/O: the slot when every page on the way is cached, undefined
   * when the leaf does not exist, null when finding out would need a read (call `leaf` then).
   * Same reused result object as `leaf`.
   */
  peekLeaf(index: number): LeafSlot | undefined | null {
    const leafIndex = Math.floor(index / this.perLeaf);
    let page = -1;
    if (leafIndex === this.#lastLeafIndex) {
      page = this.#lastLeafPage;
    } else {
      const item = leafIndex * this.perLeaf;
      if (this.#root.root < 0 || this.capacity(this.#root.height) <= item) return undefined;
      page = this.#root.root;
      let rest = item;
      for (let level = this.#root.height - 1; level > 0; level--) {
        const span = this.capacity(level);
        const slot = Math.floor(rest / span);
        rest -= slot * span;
        const buf = this.#cache.peek(page);
        if (buf === undefined) return null;
        const child = getU32(buf, slot * 4);
        if (child === 0) return undefined;
        page = child - 1;
      }
      this.#lastLeafIndex = leafIndex;
      this.#lastLeafPage = page;
    }
    const buf = this.#cache.peek(page);
    if (buf === undefined) return null;
    const slot = this.#slot;
    slot.buf = buf;
    slot.page = page;
    slot.off = (index - leafIndex * this.perLeaf) * this.itemBytes;
    return slot;
  }

  markDirty(page: number): void {
    this.#cache.markDirty(page);
  }

  /**
   * Calls `fn` for every existing leaf in order of index, with the index of its first item.
   * Missing leaves (all zeros) are skipped. O(pages).
   */
  async forEachLeaf(
    fn: (firstItem: number, buf: Uint8Array, page: number) => void | Promise<void>,
  ): Promise<void> {
    const { root, height } = this.#root;
    if (root < 0) return;
    const walk = async (page: number, level: number, first: number): Promise<void> => {
      const buf = await this.#cache.get(page);
      if (level === 0) {
        await fn(first, buf, page);
        return;
      }
      const span = this.capacity(level);
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (let i = 0; i < this.perNode; i++) {
        const child = dv.getUint32(i * 4, true);
        if (child !== 0) await walk(child - 1, level - 1, first + i * span);
      }
    };
    await walk(root, height - 1, 0);
  }

  /** Every page of the tree (nodes and leaves). */
  async pages(): Promise<number[]> {
    const out: number[] = [];
    const { root, height } = this.#root;
    if (root < 0) return out;
    const walk = async (page: number, level: number): Promise<void> => {
      out.push(page);
      if (level === 0) return;
      const buf = await this.#cache.get(page);
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (let i = 0; i < this.perNode; i++) {
        const child = dv.getUint32(i * 4, true);
        if (child !== 0) await walk(child - 1, level - 1);
      }
    };
    await walk(root, height - 1);
    return out;
  }

  /** Frees every page of the tree; the array reads as zeros afterwards. */
  async clear(): Promise<void> {
    for (const page of await this.pages()) this.#cache.free(page);
    this.#root = { root: -1, height: 1 };
    this.#lastLeafIndex = -1;
    this.#lastLeafPage = -1;
  }

  async #leafPage(leafIndex: number, create: boolean): Promise<number> {
    const item = leafIndex * this.perLeaf;
    if (this.#root.root < 0) {
      if (!create) return -1;
      let height = 1;
      while (this.capacity(height) <= item) height++;
      // Build only the path: a fresh root at the needed height.
      const { page } = await this.#cache.create();
      this.#root = { root: page, height };
    }
    while (this.capacity(this.#root.height) <= item) {
      if (!create) return -1;
      const { page, buf } = await this.#cache.create();
      new DataView(buf.buffer, buf.byteOffset, buf.byteLength).setUint32(0, this.#root.root + 1, true);
      this.#root = { root: page, height: this.#root.height + 1 };
    }
    let page = this.#root.root;
    let rest = item;
    for (let level = this.#root.height - 1; level > 0; level--) {
      const span = this.capacity(level);
      const slot = Math.floor(rest / span);
      rest -= slot * span;
      const buf = this.#cache.peek(page) ?? (await this.#cache.get(page));
      const child = getU32(buf, slot * 4);
      if (child !== 0) {
        page = child - 1;
        continue;
      }
      if (!create) return -1;
      const fresh = await this.#cache.create();
      // `buf` may have been evicted by the allocation above; re-read it before changing it.
      const parent = await this.#cache.get(page);
      new DataView(parent.buffer, parent.byteOffset, parent.byteLength).setUint32(
        slot * 4,
        fresh.page + 1,
        true,
      );
      this.#cache.markDirty(page);
      page = fresh.page;
    }
    return page;
  }
}
