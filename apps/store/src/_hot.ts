// A small cache of checked data pages. A volume's most shared chunks (the same block written in
// many places) are read again and again by an export or an NBD client, each time alone (no
// neighbour to read with), so each costs a system call and a hash; and an import that meets such
// a chunk again compares its bytes with the stored copy before sharing it, a read each time.
// Here they are kept with the name they were checked against; a page is taken (or compared) from
// here only under the name the store still gives it, so a page freed and reused for other bytes
// is never served. One slab holds every page (4-way set associative, least recently used out),
// so keeping one allocates nothing.

import { NAME_BYTES, sameBytes } from './_hash';

/** Ways per set: a page may sit in any of the WAYS slots of its set. */
const WAYS = 4;

export class HotPages {
  readonly #size: number;
  readonly #sets: number;
  /** Per slot: the page it holds + 1 (0: empty), and when it was last used. */
  readonly #page: Float64Array;
  readonly #used: Uint32Array;
  readonly #bytes: Uint8Array;
  readonly #names: Uint8Array;
  #clock = 0;

  /** @param size - bytes per page; @param limit - pages kept at most (rounded down to a multiple of 4). */
  constructor(size: number, limit: number) {
    this.#size = size;
    this.#sets = Math.max(0, Math.floor(limit / WAYS));
    const slots = this.#sets * WAYS;
    this.#page = new Float64Array(slots);
    this.#used = new Uint32Array(slots);
    this.#bytes = new Uint8Array(slots * size);
    this.#names = new Uint8Array(slots * NAME_BYTES);
  }

  /** The first slot of `page`'s set. */
  #set(page: number): number {
    return ((Math.imul(page | 0, 0x9e3779b1) >>> 0) % this.#sets) * WAYS;
  }

  /**
   * Copies `page` into `into` at `at` if it is kept under the name at `names[nameAt..]`.
   * @returns whether it was. O(1).
   */
  take(page: number, names: Uint8Array, nameAt: number, into: Uint8Array, at: number): boolean {
    const slot = this.#find(page, names, nameAt);
    if (slot < 0) return false;
    const size = this.#size;
    into.set(this.#bytes.subarray(slot * size, (slot + 1) * size), at);
    this.#used[slot] = ++this.#clock;
    return true;
  }

  /**
   * Whether `page` is kept under the name at `names[nameAt..]`, without touching it. O(1).
   */
  holds(page: number, names: Uint8Array, nameAt: number): boolean {
    return this.#find(page, names, nameAt) >= 0;
  }

  /**
   * Compares `page`'s kept bytes with `bytes[at..]` when it is kept under the name at
   * `names[nameAt..]`: true or false, or undefined when it is not kept so. O(page size).
   */
  compare(
    page: number,
    names: Uint8Array,
    nameAt: number,
    bytes: Uint8Array,
    at: number,
  ): boolean | undefined {
    const slot = this.#find(page, names, nameAt);
    if (slot < 0) return undefined;
    this.#used[slot] = ++this.#clock;
    const size = this.#size;
    return sameBytes(this.#bytes.subarray(slot * size, (slot + 1) * size), bytes.subarray(at, at + size));
  }

  /** The slot keeping `page` under the name at `names[nameAt..]`, or -1. */
  #find(page: number, names: Uint8Array, nameAt: number): number {
    if (this.#sets === 0) return -1;
    const first = this.#set(page);
    for (let slot = first; slot < first + WAYS; slot++) {
      if (this.#page[slot] !== page + 1) continue;
      const kept = this.#names;
      const o = slot * NAME_BYTES;
      for (let k = 0; k < NAME_BYTES; k++) if (kept[o + k] !== names[nameAt + k]) return -1;
      return slot;
    }
    return -1;
  }

  /** Keeps `page`'s bytes (`bytes[at..]`) under the name at `names[nameAt..]`. O(1). */
  keep(page: number, names: Uint8Array, nameAt: number, bytes: Uint8Array, at: number): void {
    if (this.#sets === 0) return;
    const first = this.#set(page);
    // The page's own slot, else an empty one, else the least recently used of the set.
    let slot = first;
    for (let s = first; s < first + WAYS; s++) {
      if (this.#page[s] === page + 1 || this.#page[s] === 0) {
        slot = s;
        break;
      }
      if ((this.#used[s] as number) < (this.#used[slot] as number)) slot = s;
    }
    const size = this.#size;
    this.#bytes.set(bytes.subarray(at, at + size), slot * size);
    this.#names.set(names.subarray(nameAt, nameAt + NAME_BYTES), slot * NAME_BYTES);
    this.#page[slot] = page + 1;
    this.#used[slot] = ++this.#clock;
  }
}
