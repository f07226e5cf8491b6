// A Map from page numbers to numbers, held in typed arrays. A transaction keeps several maps keyed
// by page (references, allocations, data-page checksums) and the space map one (reservations,
// shared counts): an import's transaction puts tens of thousands of pages into each, and a V8 Map
// costs 0.3-0.5 us per new key on this machine (measured: 480,000 sets of sequential page numbers
// in 170-240 ms), where an open-addressing table over typed arrays costs about a tenth of that.
//
// Keys are integers in [0, 2^53) (page numbers, u32 on disk); values any number. Iteration is in
// insertion order, as a Map's: entries live in dense arrays in the order they came, a deleted one
// keeps its place (key NaN) until the next rebuild. The hash table (Fibonacci hashing, linear
// probing) maps a key to its dense index; a deleted key's slot becomes a tombstone. A rebuild
// (when entries and tombstones reach half the slots) compacts the dense arrays in order and sizes
// the table to four times the live entries. Changing the map while iterating it: deleting is safe,
// adding may rebuild and is not (no caller does either).

const EMPTY = -1;
const GONE = -2;
const MIN_SLOTS = 16;

/** A `Map<number, number>` for page numbers, in typed arrays (see the file comment). */
export class PageMap implements Iterable<[number, number]> {
  /** Per slot: the entry's index in the dense arrays, EMPTY, or GONE (a deleted entry's slot). */
  #slots: Int32Array;
  /** 32 - log2(slots): the hash's top bits pick the slot. */
  #shift: number;
  #keys: Float64Array;
  #values: Float64Array;
  /** Dense entries used, deleted ones included (= live entries + GONE slots). */
  #used = 0;
  #size = 0;

  constructor() {
    this.#slots = new Int32Array(MIN_SLOTS).fill(EMPTY);
    this.#shift = 32 - Math.log2(MIN_SLOTS);
    this.#keys = new Float64Array(MIN_SLOTS / 2);
    this.#values = new Float64Array(MIN_SLOTS / 2);
  }

  /** Live entries. */
  get size(): number {
    return this.#size;
  }

  /** The slot holding `key`, or -1. */
  #find(key: number): number {
    const slots = this.#slots;
    const mask = slots.length - 1;
    let i = hash(key) >>> this.#shift;
    for (;;) {
      const at = slots[i] as number;
      if (at === EMPTY) return -1;
      if (at >= 0 && this.#keys[at] === key) return i;
      i = (i + 1) & mask;
    }
  }

  get(key: number): number | undefined {
    const slot = this.#find(key);
    return slot < 0 ? undefined : this.#values[this.#slots[slot] as number];
  }

  has(key: number): boolean {
    return this.#find(key) >= 0;
  }

  set(key: number, value: number): this {
    const slots = this.#slots;
    const mask = slots.length - 1;
    let i = hash(key) >>> this.#shift;
    for (;;) {
      const at = slots[i] as number;
      if (at === EMPTY) break;
      if (at >= 0 && this.#keys[at] === key) {
        this.#values[at] = value;
        return this;
      }
      i = (i + 1) & mask;
    }
    if (this.#used + 1 > slots.length >>> 1) {
      this.#rebuild(this.#size + 1);
      return this.set(key, value);
    }
    const at = this.#used++;
    this.#keys[at] = key;
    this.#values[at] = value;
    slots[i] = at;
    this.#size++;
    return this;
  }

  delete(key: number): boolean {
    const slot = this.#find(key);
    if (slot < 0) return false;
    this.#keys[this.#slots[slot] as number] = Number.NaN;
    this.#slots[slot] = GONE;
    this.#size--;
    return true;
  }

  clear(): void {
    if (this.#used === 0) return;
    this.#slots = new Int32Array(MIN_SLOTS).fill(EMPTY);
    this.#shift = 32 - Math.log2(MIN_SLOTS);
    this.#keys = new Float64Array(MIN_SLOTS / 2);
    this.#values = new Float64Array(MIN_SLOTS / 2);
    this.#used = 0;
    this.#size = 0;
  }

  /** Compacts the entries in order and rehashes them into a table sized for `live` entries. */
  #rebuild(live: number): void {
    let slotCount = MIN_SLOTS;
    while (slotCount < live * 4) slotCount *= 2;
    const keys = new Float64Array(slotCount >>> 1);
    const values = new Float64Array(slotCount >>> 1);
    const slots = new Int32Array(slotCount).fill(EMPTY);
    const shift = 32 - Math.log2(slotCount);
    const mask = slotCount - 1;
    let n = 0;
    for (let j = 0; j < this.#used; j++) {
      const key = this.#keys[j] as number;
      if (Number.isNaN(key)) continue;
      keys[n] = key;
      values[n] = this.#values[j] as number;
      let i = hash(key) >>> shift;
      while (slots[i] !== EMPTY) i = (i + 1) & mask;
      slots[i] = n++;
    }
    this.#slots = slots;
    this.#shift = shift;
    this.#keys = keys;
    this.#values = values;
    this.#used = n;
  }

  *keys(): IterableIterator<number> {
    for (let j = 0; j < this.#used; j++) {
      const key = this.#keys[j] as number;
      if (!Number.isNaN(key)) yield key;
    }
  }

  *values(): IterableIterator<number> {
    for (let j = 0; j < this.#used; j++)
      if (!Number.isNaN(this.#keys[j] as number)) yield this.#values[j] as number;
  }

  *entries(): IterableIterator<[number, number]> {
    for (let j = 0; j < this.#used; j++) {
      const key = this.#keys[j] as number;
      if (!Number.isNaN(key)) yield [key, this.#values[j] as number];
    }
  }

  [Symbol.iterator](): IterableIterator<[number, number]> {
    return this.entries();
  }

  /** Calls `fn(value, key)` for each entry in insertion order, without an iterator object per entry. */
  forEach(fn: (value: number, key: number) => void): void {
    for (let j = 0; j < this.#used; j++) {
      const key = this.#keys[j] as number;
      if (!Number.isNaN(key)) fn(this.#values[j] as number, key);
    }
  }
}

/** Fibonacci hashing of an integer key below 2^53: 32 well-mixed bits (the caller takes the top ones). */
function hash(key: number): number {
  const high = (key / 4294967296) | 0;
  return Math.imul((key | 0) ^ Math.imul(high, 0x85ebca6b), 0x9e3779b1);
}
