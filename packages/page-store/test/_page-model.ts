// A naive model of a PageStore's committed state (a Map of pages with their kind, reference count
// and bytes, the page count, the roots and the user data), a seeded random transaction generator that drives a
// real store and the model side by side, and a checker that compares a store with a model page by
// page. Shared by the unit, crash and slow tests.

import { splitmix32 } from '@deja/test-helpers';
import { expect } from 'vitest';
import type { PageStore } from '../src/index';

export interface ModelPage {
  kind: 'meta' | 'data';
  refs: number;
  bytes: Uint8Array;
}

export interface Model {
  sequence: number;
  /** The committed page count (`undefined`: not known yet, not checked). */
  pageCount?: number | undefined;
  pages: Map<number, ModelPage>;
  roots: Map<string, number>;
  userData: Uint8Array;
}

export function emptyModel(pageCount?: number): Model {
  return { sequence: 0, pageCount, pages: new Map(), roots: new Map(), userData: new Uint8Array(0) };
}

export function cloneModel(model: Model): Model {
  return {
    sequence: model.sequence,
    pageCount: model.pageCount,
    pages: new Map([...model.pages].map(([page, p]) => [page, { ...p }])),
    roots: new Map(model.roots),
    userData: model.userData,
  };
}

const ROOT_NAMES = ['tree', 'blockmap', 'refs'];

export interface TxnPlan {
  /** Operations per transaction: 1 .. maxOps. */
  maxOps: number;
  /** Probability (0..1) that a transaction aborts instead of committing. */
  abortRate: number;
  /** Probability (0..1) that an operation is an explicit `tx.grow` by a few pages. */
  growRate?: number;
}

/**
 * Runs one random transaction on `store` and returns the model it should commit (or `undefined`
 * if it aborted). `onCommit(next)` is called right before commit() (the commit is then under way).
 * Reads inside the transaction are checked against the model as it goes (read-your-writes).
 */
export async function randomTransaction(
  store: PageStore,
  model: Model,
  random: () => number,
  plan: TxnPlan,
  onCommit: (next: Model) => void,
): Promise<Model | undefined> {
  const next = cloneModel(model);
  const tx = store.begin();
  // A transaction that only reads commits without I/O and keeps the sequence.
  let changed = false;
  const ops = 1 + (random() % plan.maxOps);
  const live = () => [...next.pages.keys()];
  for (let i = 0; i < ops; i++) {
    const choice = random() % 100;
    const pages = live();
    const pick = () => pages[random() % pages.length]!;
    if (plan.growRate !== undefined && random() % 1000 < plan.growRate * 1000) {
      const target = tx.pageCount + 1 + (random() % 5);
      if (target > store.maxPageCount) {
        expect((await tx.grow(target).catch((error: { code?: string }) => error))?.code).toBe('ERR_NO_SPACE');
      } else {
        await tx.grow(target);
        expect(tx.pageCount).toBe(target);
      }
      changed ||= tx.pageCount !== store.pageCount;
      continue;
    }
    if (choice < 30 || pages.length === 0) {
      if (store.freePageCount() === 0 && tx.pageCount >= store.maxPageCount) {
        tx.setUserData(randomBytes(random, random() % 8));
        next.userData = tx.getUserData();
        changed = true;
        continue;
      }
      const kind = random() % 3 === 0 ? 'data' : 'meta';
      const page = await tx.allocate(kind);
      expect(next.pages.has(page)).toBe(false);
      if (kind === 'meta') {
        const bytes = metaPayload(random, store.metaPayloadSize).subarray(
          0,
          1 + (random() % store.metaPayloadSize),
        );
        tx.writeMeta(page, bytes);
        next.pages.set(page, { kind, refs: 1, bytes: padded(bytes, store.metaPayloadSize) });
      } else {
        const bytes = randomBytes(random, store.pageSize);
        await tx.writeData(page, bytes);
        next.pages.set(page, { kind, refs: 1, bytes });
      }
    } else if (choice < 55) {
      const page = pick();
      const p = next.pages.get(page)!;
      if (p.kind === 'meta') {
        const bytes = metaPayload(random, store.metaPayloadSize);
        tx.writeMeta(page, bytes);
        p.bytes = bytes;
      } else {
        expectBytes(await tx.readData(page), p.bytes, `tx.readData(${page})`);
        // A data page is not metadata: both directions are refused (issue 17, item 4).
        expect(() => tx.writeMeta(page, new Uint8Array(1))).toThrow(TypeError);
        await expect(tx.readMeta(page)).rejects.toBeInstanceOf(TypeError);
        continue;
      }
    } else if (choice < 65) {
      const page = pick();
      tx.incRef(page);
      next.pages.get(page)!.refs++;
    } else if (choice < 80) {
      const page = pick();
      tx.decRef(page);
      const p = next.pages.get(page)!;
      if (--p.refs === 0) next.pages.delete(page);
    } else if (choice < 90) {
      const name = ROOT_NAMES[random() % ROOT_NAMES.length]!;
      const page = pages.length > 0 && random() % 4 !== 0 ? pick() : undefined;
      tx.setRoot(name, page);
      if (page === undefined) next.roots.delete(name);
      else next.roots.set(name, page);
    } else {
      const bytes = randomBytes(random, random() % Math.min(40, store.userDataSize));
      tx.setUserData(bytes);
      next.userData = bytes;
    }
    changed = true;
    // Read back one live page as the transaction sees it.
    const check = live();
    if (check.length > 0) {
      const page = check[random() % check.length]!;
      const p = next.pages.get(page)!;
      expect(tx.refCount(page)).toBe(p.refs);
      if (p.kind === 'meta') expectBytes(await tx.readMeta(page), p.bytes, `tx.readMeta(${page})`);
    }
  }
  if (random() % 1000 < plan.abortRate * 1000) {
    tx.abort();
    return undefined;
  }
  if (tx.pageCount !== store.pageCount) changed = true;
  next.pageCount = tx.pageCount;
  if (changed) next.sequence++;
  onCommit(next);
  await tx.commit();
  return next;
}

/** Asserts that `store`'s committed state is exactly `model` (every page, roots, user data, counts). */
export async function expectState(store: PageStore, model: Model): Promise<void> {
  expect(store.sequence).toBe(model.sequence);
  if (model.pageCount !== undefined) expect(store.pageCount, 'pageCount').toBe(model.pageCount);
  let live = 0;
  for (let page = 0; page < store.pageCount; page++) {
    const p = model.pages.get(page);
    if (store.refCount(page) !== (p?.refs ?? 0))
      expect(store.refCount(page), `refCount(${page})`).toBe(p?.refs ?? 0);
    if (p === undefined) continue;
    live++;
    if (p.kind === 'meta') expectBytes(await store.readMeta(page), p.bytes, `readMeta(${page})`);
    else {
      expectBytes(await store.readData(page), p.bytes, `readData(${page})`);
      await expect(store.readMeta(page), `readMeta(${page}) of a data page`).rejects.toBeInstanceOf(
        TypeError,
      );
    }
  }
  expect(store.freePageCount()).toBe(store.pageCount - live);
  expect(store.roots()).toEqual(model.roots);
  expect(store.getUserData()).toEqual(model.userData);
  await store.verify();
}

/** Applies `count` random transactions, tracking the model; returns the final model. */
export async function runTransactions(
  store: PageStore,
  model: Model,
  seed: number,
  count: number,
  plan: TxnPlan,
): Promise<Model> {
  const random = splitmix32(seed);
  let current = model;
  for (let t = 0; t < count; t++) {
    current = (await randomTransaction(store, current, random, plan, () => {})) ?? current;
  }
  return current;
}

/** Byte equality with a cheap fast path (vitest's deep equality walks typed arrays slowly). */
export function expectBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (!Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected)) {
    expect(actual, what).toEqual(expected);
  }
}

function metaPayload(random: () => number, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  const n = 1 + (random() % 24);
  for (let i = 0; i < n; i++) bytes[random() % size] = random() & 0xff;
  return bytes;
}

function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 4) {
    const word = random();
    for (let k = 0; k < 4 && i + k < length; k++) bytes[i + k] = (word >>> (8 * k)) & 0xff;
  }
  return bytes;
}

function padded(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(bytes);
  return out;
}
