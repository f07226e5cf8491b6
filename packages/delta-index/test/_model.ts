// A naive model of a delta index (per list, an array of entries in stream order) and the invariant
// checker the property tests run after every step: list layout in zone memory, guard lists, saved
// search positions, decoded contents and statistics.
import { expect } from 'vitest';
import type { DeltaIndex } from '../src/index';

export interface ModelEntry {
  key: number;
  value: number;
  /** Hex name of a collision entry; null for a plain entry. */
  name: string | null;
}

export type Model = ModelEntry[][];

export function hexName(name: Uint8Array | null): string | null {
  return name === null ? null : Buffer.from(name).toString('hex');
}

/** The index of the plain entry with `key`, or -1. */
function plainIndex(entries: ModelEntry[], key: number): number {
  return entries.findIndex((e) => e.name === null && e.key === key);
}

/** The entry getEntry(list, key, name) stops on when the key is present, or -1. */
export function modelFind(entries: ModelEntry[], key: number, name: string | null): number {
  const p = plainIndex(entries, key);
  if (p < 0 || name === null) return p;
  for (let i = p + 1; i < entries.length && entries[i]!.name !== null; i++) {
    if (entries[i]!.name === name) return i;
  }
  return p;
}

/** The chapter-index insert rule on the model; returns what happened. */
export function modelInsert(entries: ModelEntry[], key: number, value: number, name: string | null): string {
  const found = modelFind(entries, key, name);
  if (found >= 0 && entries[found]!.name !== null) return 'duplicate_ignored';
  if (found >= 0) {
    entries.splice(found + 1, 0, { key, value, name: name ?? '00'.repeat(16) });
    return 'collision';
  }
  let at = entries.findIndex((e) => e.key >= key);
  if (at < 0) at = entries.length;
  entries.splice(at, 0, { key, value, name: null });
  return 'inserted';
}

/** Remove entry `i`; a collision entry right after a removed plain entry becomes plain. */
export function modelRemoveAt(entries: ModelEntry[], i: number): void {
  const removed = entries[i]!;
  entries.splice(i, 1);
  const next = entries[i];
  if (removed.name === null && next !== undefined && next.name !== null) next.name = null;
}

/** Decode list `list` of the index through the public cursor. */
export function decodeIndexList(index: DeltaIndex, list: number): ModelEntry[] {
  const out: ModelEntry[] = [];
  const entry = index.startSearch(list, 0);
  for (entry.next(); !entry.atEnd; entry.next()) {
    out.push({
      key: entry.key,
      value: entry.value,
      name: entry.isCollision ? hexName(entry.collisionName()) : null,
    });
  }
  return out;
}

/** Check every invariant of the index against the model. */
export function checkInvariants(index: DeltaIndex, model: Model): void {
  let records = 0;
  let collisions = 0;
  for (const zone of index._zones) {
    const n = zone.listCount;
    expect(zone.listStart(0)).toBe(0);
    expect(zone.listSize(0)).toBe(0);
    for (let i = 0; i <= n; i++) {
      expect(zone.listStart(i) + zone.listSize(i), `list slot ${i} overlaps the next`).toBeLessThanOrEqual(
        zone.listStart(i + 1),
      );
    }
    expect(zone.listStart(n + 1)).toBe(zone.size * 8 - 56);
    expect(zone.listSize(n + 1)).toBe(56);
    expect([...zone.memory.subarray(zone.size - 7)]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    for (let slot = 1; slot <= n; slot++) {
      const saveOffset = zone.saveOffset(slot);
      const saveKey = zone.saveKey(slot);
      expect(saveOffset).toBeLessThanOrEqual(zone.listSize(slot));
      if (saveOffset === 0) {
        expect(saveKey).toBe(0);
        continue;
      }
      // The saved offset must be an entry boundary (not a collision) whose predecessor has saveKey.
      const entry = index.startSearch(zone.firstList + slot - 1, 0);
      let previous = 0;
      for (entry.next(); !entry.atEnd && entry.offset < saveOffset; entry.next()) previous = entry.key;
      expect(entry.offset, `saved offset of list ${zone.firstList + slot - 1}`).toBe(saveOffset);
      expect(entry.isCollision).toBe(false);
      expect(saveKey).toBe(previous);
    }
    records += zone.recordCount;
    collisions += zone.collisionCount;
  }
  let modelRecords = 0;
  let modelCollisions = 0;
  for (let list = 0; list < model.length; list++) {
    const entries = model[list]!;
    expect(decodeIndexList(index, list), `list ${list}`).toEqual(entries);
    modelRecords += entries.length;
    modelCollisions += entries.filter((e) => e.name !== null).length;
  }
  expect(records).toBe(modelRecords);
  expect(collisions).toBe(modelCollisions);
  const stats = index.getStats();
  expect(stats.recordCount).toBe(modelRecords);
  expect(stats.collisionCount).toBe(modelCollisions);
}
