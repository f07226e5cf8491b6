// A small in-memory stand-in for @deja/storage's PageStore, exactly the contract the exception
// store is written against (stable page numbers, buffered metadata writes, data pages writable
// only when allocated in the transaction, refcounts, roots, atomic commit). It checks misuse
// strictly so that a store bug shows up as a thrown error here, not as silent corruption.

import type { PageStoreLike, PageTransactionLike } from '../src/page-layer';

class FakeError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'StorageError';
  }
}

interface State {
  meta: Map<number, Uint8Array>;
  data: Map<number, Uint8Array>;
  kinds: Map<number, 'meta' | 'data'>;
  refs: Uint32Array;
  roots: Map<string, number>;
  sequence: number;
}

function cloneState(s: State): State {
  return {
    meta: new Map(s.meta),
    data: new Map(s.data),
    kinds: new Map(s.kinds),
    refs: s.refs.slice(),
    roots: new Map(s.roots),
    sequence: s.sequence,
  };
}

export class FakePageStore implements PageStoreLike {
  readonly pageSize: number;
  readonly metaPayloadSize: number;
  readonly pageCount: number;
  state: State;
  open: FakeTransaction | undefined;
  cursor = 0;
  freeCount: number;

  constructor(options: { pageSize?: number; pageCount?: number; headerBytes?: number } = {}, state?: State) {
    this.pageSize = options.pageSize ?? 4096;
    this.metaPayloadSize = this.pageSize - (options.headerBytes ?? 32);
    this.pageCount = options.pageCount ?? 1 << 13;
    this.state = state ?? {
      meta: new Map(),
      data: new Map(),
      kinds: new Map(),
      refs: new Uint32Array(this.pageCount),
      roots: new Map(),
      sequence: 0,
    };
    this.freeCount = 0;
    for (let p = 0; p < this.pageCount; p++) if (this.state.refs[p] === 0) this.freeCount++;
  }

  get sequence(): number {
    return this.state.sequence;
  }

  /** A new handle on the committed state (as after a crash and reopen: the open transaction is lost). */
  reopen(): FakePageStore {
    return new FakePageStore(
      {
        pageSize: this.pageSize,
        pageCount: this.pageCount,
        headerBytes: this.pageSize - this.metaPayloadSize,
      },
      cloneState(this.state),
    );
  }

  begin(): FakeTransaction {
    if (this.open) throw new FakeError('ERR_BUSY', 'a transaction is already open');
    this.open = new FakeTransaction(this);
    return this.open;
  }

  async readMeta(page: number): Promise<Uint8Array> {
    const p = this.state.meta.get(page);
    if (!p) throw new FakeError('ERR_CORRUPT_DATA', `page ${page} is not a committed metadata page`);
    return p.slice();
  }

  async readData(page: number): Promise<Uint8Array> {
    return (this.state.data.get(page) ?? new Uint8Array(this.pageSize)).slice();
  }

  getRoot(name: string): number | undefined {
    return this.state.roots.get(name);
  }

  refCount(page: number): number {
    return this.state.refs[page] ?? 0;
  }

  freePageCount(): number {
    return this.freeCount;
  }

  /** Test hook: changes a committed metadata payload (a copy: other handles keep theirs). */
  corruptMeta(page: number, edit: (bytes: Uint8Array) => void): void {
    const p = this.state.meta.get(page);
    if (!p) throw new Error(`no meta page ${page}`);
    const copy = p.slice();
    edit(copy);
    this.state.meta.set(page, copy);
  }
}

export class FakeTransaction implements PageTransactionLike {
  readonly meta = new Map<number, Uint8Array>();
  readonly data = new Map<number, Uint8Array>();
  readonly refs = new Map<number, number>();
  readonly allocated = new Map<number, 'meta' | 'data'>();
  readonly roots = new Map<string, number | undefined>();
  done = false;

  constructor(readonly store: FakePageStore) {}

  #live(): void {
    if (this.done) throw new FakeError('ERR_INVALID_STATE', 'transaction finished');
  }

  #ref(page: number): number {
    return this.refs.get(page) ?? (this.store.state.refs[page] as number);
  }

  async readMeta(page: number): Promise<Uint8Array> {
    this.#live();
    const p = this.meta.get(page);
    if (p) return p.slice();
    if (this.#ref(page) === 0) throw new FakeError('ERR_INVALID_STATE', `readMeta of free page ${page}`);
    return this.store.readMeta(page);
  }

  writeMeta(page: number, payload: Uint8Array): void {
    this.#live();
    if (payload.length !== this.store.metaPayloadSize) throw new RangeError('payload size');
    if (this.#ref(page) === 0) throw new FakeError('ERR_INVALID_STATE', `writeMeta of free page ${page}`);
    const kind = this.allocated.get(page) ?? this.store.state.kinds.get(page);
    if (kind !== 'meta') throw new FakeError('ERR_INVALID_STATE', `writeMeta of ${kind} page ${page}`);
    this.meta.set(page, payload.slice());
  }

  async readData(page: number): Promise<Uint8Array> {
    this.#live();
    const d = this.data.get(page);
    if (d) return d.slice();
    return this.store.readData(page);
  }

  async writeData(page: number, data: Uint8Array): Promise<void> {
    this.#live();
    if (data.length !== this.store.pageSize) throw new RangeError('data size');
    if (this.allocated.get(page) !== 'data' || this.#ref(page) === 0) {
      throw new FakeError('ERR_INVALID_STATE', `writeData to page ${page} not allocated in this transaction`);
    }
    this.data.set(page, data.slice());
  }

  async allocate(kind: 'meta' | 'data'): Promise<number> {
    this.#live();
    const s = this.store;
    for (let n = 0; n < s.pageCount; n++) {
      const p = (s.cursor + n) % s.pageCount;
      if (s.state.refs[p] === 0 && !this.allocated.has(p)) {
        s.cursor = (p + 1) % s.pageCount;
        this.allocated.set(p, kind);
        this.refs.set(p, 1);
        return p;
      }
    }
    throw new FakeError('ERR_NO_SPACE', 'no free page');
  }

  incRef(page: number): void {
    this.#live();
    const r = this.#ref(page);
    if (r === 0) throw new FakeError('ERR_INVALID_STATE', `incRef of free page ${page}`);
    this.refs.set(page, r + 1);
  }

  decRef(page: number): void {
    this.#live();
    const r = this.#ref(page);
    if (r === 0) throw new FakeError('ERR_INVALID_STATE', `decRef of free page ${page}`);
    this.refs.set(page, r - 1);
  }

  setRoot(name: string, page: number | undefined): void {
    this.#live();
    this.roots.set(name, page);
  }

  async commit(): Promise<void> {
    this.#live();
    const s = this.store.state;
    for (const [p, kind] of this.allocated) s.kinds.set(p, kind);
    for (const [p, r] of this.refs) {
      const before = s.refs[p] as number;
      s.refs[p] = r;
      if (before === 0 && r > 0) this.store.freeCount--;
      if (before > 0 && r === 0) {
        this.store.freeCount++;
        s.meta.delete(p);
        s.data.delete(p);
        s.kinds.delete(p);
      }
    }
    for (const [p, m] of this.meta) if ((s.refs[p] as number) > 0) s.meta.set(p, m);
    for (const [p, d] of this.data) if ((s.refs[p] as number) > 0) s.data.set(p, d);
    for (const [n, p] of this.roots) {
      if (p === undefined) s.roots.delete(n);
      else s.roots.set(n, p);
    }
    s.sequence++;
    this.done = true;
    this.store.open = undefined;
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    this.store.open = undefined;
  }
}
