// Fuzzing helpers shared by the bounded default run and the long slow run: damaged and random
// pages, damaged save streams. Every outcome must be a clean success or ERR_CORRUPT_DATA (or, for a
// restore, ERR_OVERFLOW when the lists do not fit and ERR_PARAMETER_MISMATCH when the damage hit the
// coding parameters): never another error, a hang or a wrong read.
import { expect } from 'vitest';
import { DeltaIndex, DeltaIndexError, DeltaIndexPage } from '../src/index';
import { checkInvariants, decodeIndexList, type Model } from './_model';
import { mulberry32 } from './_rng';
import { loadVectors } from './_vectors';

interface PageCase {
  name: string;
  mean_delta: number;
  payload_bits: number;
  nonce: string;
  pages: { page_b64: string }[];
}

export function vectorPages(): { memory: Uint8Array; nonce: bigint; mean: number; payload: number }[] {
  const { cases } = loadVectors<{ cases: PageCase[] }>('delta_index_pages.json');
  return cases.flatMap((c) =>
    c.pages.map((p) => ({
      memory: new Uint8Array(Buffer.from(p.page_b64, 'base64')),
      nonce: BigInt(c.nonce),
      mean: c.mean_delta,
      payload: c.payload_bits,
    })),
  );
}

function expectCorrupt(error: unknown, save = false): void {
  if (!(error instanceof DeltaIndexError)) throw error;
  if (error.code === 'ERR_CORRUPT_DATA') return;
  // A save stream carries no checksum: damage to its coding parameters reads as a mismatch.
  if (save && (error.code === 'ERR_OVERFLOW' || error.code === 'ERR_PARAMETER_MISMATCH')) return;
  throw error;
}

/** Open a page and walk and search every list; returns 'ok', 'rejected' or 'corrupt-list'. */
export function exercisePage(
  memory: Uint8Array,
  nonce: bigint,
  mean: number,
  payload: number,
  seed: number,
): string {
  let page: DeltaIndexPage;
  try {
    page = DeltaIndexPage.open(memory, nonce, mean, payload);
  } catch (error) {
    expectCorrupt(error);
    return 'rejected';
  }
  const random = mulberry32(seed);
  let outcome = 'ok';
  for (let list = 0; list < page.listCount; list++) {
    try {
      const keys: number[] = [];
      const entry = page.startSearch(list, 0);
      let steps = 0;
      for (entry.next(); !entry.atEnd; entry.next()) {
        keys.push(entry.key);
        if (entry.value >= 2 ** payload) throw new Error(`value ${entry.value} wider than ${payload} bits`);
        if (entry.isCollision && entry.collisionName().length !== 16) throw new Error('short name');
        if (++steps > page.listBits(list)) throw new Error('more entries than bits');
      }
      for (const key of keys) {
        if (page.getEntry(list, key).key !== key) throw new Error(`key ${key} not found again`);
      }
      for (let i = 0; i < 4; i++) page.get(list, random() % 2 ** 24);
    } catch (error) {
      expectCorrupt(error);
      outcome = 'corrupt-list';
    }
  }
  return outcome;
}

/** Flip, set or randomize a few bytes or bits of a copy of `bytes`. */
export function damage(bytes: Uint8Array, random: () => number): Uint8Array {
  const copy = bytes.slice();
  const edits = 1 + (random() % 4);
  for (let i = 0; i < edits; i++) {
    // Bias towards the header and offset table, where validation lives.
    const at = random() % 2 === 0 ? random() % Math.min(64, copy.length) : random() % copy.length;
    switch (random() % 3) {
      case 0:
        copy[at]! ^= 1 << (random() % 8);
        break;
      case 1:
        copy[at] = random() & 0xff;
        break;
      default:
        copy[at] = random() % 2 === 0 ? 0 : 0xff;
    }
  }
  return copy;
}

/** A page with a valid header and offset table over random list bits. */
export function randomValidPage(random: () => number, size: number, nonce: bigint): Uint8Array {
  const memory = new Uint8Array(size).map(() => (random() % 3 === 0 ? 0 : random() & 0xff));
  const view = new DataView(memory.buffer);
  const lists = random() % 12;
  view.setBigUint64(0, nonce, true);
  view.setBigUint64(8, 1n, true);
  view.setUint16(16, 0, true);
  view.setUint16(18, lists, true);
  let offset = 160 + 19 * (lists + 1);
  const room = (size - 7) * 8 - offset;
  const setOffset = (i: number, value: number) => {
    for (let b = 0; b < 19; b++) {
      const bit = 160 + 19 * i + b;
      if ((value >>> b) & 1) memory[bit >>> 3]! |= 1 << (bit & 7);
      else memory[bit >>> 3]! &= ~(1 << (bit & 7));
    }
  };
  setOffset(0, offset);
  for (let i = 1; i <= lists; i++) {
    offset += random() % Math.max(1, Math.floor(room / Math.max(lists, 1)));
    setOffset(i, offset);
  }
  memory.fill(0xff, size - 7);
  return memory;
}

/** Fuzz page validation and decoding; returns how many pages were accepted. */
export function fuzzPages(iterations: number, seed: number): Record<string, number> {
  const random = mulberry32(seed);
  const pages = vectorPages();
  const tally: Record<string, number> = { ok: 0, rejected: 0, 'corrupt-list': 0 };
  for (let i = 0; i < iterations; i++) {
    const base = pages[random() % pages.length]!;
    const memory =
      i % 3 === 2 ? randomValidPage(random, 64 + (random() % 2000), base.nonce) : damage(base.memory, random);
    const outcome = exercisePage(memory, base.nonce, base.mean, base.payload, random());
    tally[outcome] = tally[outcome]! + 1;
  }
  return tally;
}

const LISTS = 6;

function saveSource(seed: number): { streams: Uint8Array[]; model: Model } {
  const random = mulberry32(seed);
  const index = new DeltaIndex({
    zoneCount: 2,
    listCount: LISTS,
    meanDelta: 300,
    payloadBits: 5,
    memorySize: 1 << 16,
  });
  const model: Model = Array.from({ length: LISTS }, () => []);
  for (let i = 0; i < 150; i++) {
    const list = random() % LISTS;
    const key = random() % 400;
    const name = new Uint8Array(16).fill(random() & 3);
    const entry = index.getEntry(list, key, name);
    const found = !entry.atEnd && entry.key === key;
    if (found && entry.isCollision) continue;
    entry.put(key, i & 31, found ? name : null);
  }
  for (let list = 0; list < LISTS; list++) model[list] = decodeIndexList(index, list);
  return { streams: index.save(), model };
}

/** Fuzz restore with damaged, truncated and extended save streams. */
export function fuzzSaves(iterations: number, seed: number): Record<string, number> {
  const random = mulberry32(seed);
  const tally: Record<string, number> = { ok: 0, rejected: 0 };
  const sources = [saveSource(seed), saveSource(seed + 1)];
  for (let i = 0; i < iterations; i++) {
    const { streams } = sources[i % 2]!;
    const z = random() % streams.length;
    const damaged: Uint8Array[] = streams.map((s) => s.slice());
    switch (random() % 4) {
      case 0:
        damaged[z] = damaged[z]!.subarray(0, random() % damaged[z]!.length);
        break;
      case 1: {
        const longer = new Uint8Array(damaged[z]!.length + 1 + (random() % 20));
        longer.set(damaged[z]!);
        damaged[z] = longer;
        break;
      }
      default:
        damaged[z] = damage(damaged[z]!, random);
    }
    const target = new DeltaIndex({
      zoneCount: 1 + (random() % 3),
      listCount: LISTS,
      meanDelta: 300,
      payloadBits: 5,
      memorySize: 3 * 4096,
      exactZoneMemory: true,
    });
    try {
      target.restore(damaged);
    } catch (error) {
      expectCorrupt(error, true);
      expect(target.getStats().recordCount).toBe(0);
      tally.rejected = tally.rejected! + 1;
      continue;
    }
    // Accepted: the index must be internally consistent and usable.
    const model: Model = Array.from({ length: LISTS }, (_, list) => decodeIndexList(target, list));
    checkInvariants(target, model);
    tally.ok = tally.ok! + 1;
  }
  return tally;
}
