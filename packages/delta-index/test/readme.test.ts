// The README example, run as written.
import { expect, it } from 'vitest';
import { DeltaIndex, DeltaIndexPage } from '../src/index';

it('runs the README example', () => {
  const index = new DeltaIndex({ listCount: 16, meanDelta: 4096, payloadBits: 10, memorySize: 1 << 16 });
  const entry = index.getEntry(3, 123_456);
  if (entry.atEnd || entry.key !== 123_456) entry.put(123_456, 789);
  expect(index.get(3, 123_456)).toBe(789);
  expect(index.get(3, 5)).toBeUndefined();

  const nameA = new Uint8Array(16).fill(0xaa);
  const nameB = new Uint8Array(16).fill(0xbb);
  index.getEntry(7, 42).put(42, 1);
  const found = index.getEntry(7, 42, nameB);
  expect(found.isCollision).toBe(false);
  found.put(42, 2, nameB);
  expect(index.get(7, 42, nameB)).toBe(2);
  expect(index.get(7, 42, nameA)).toBe(1);

  const seen: number[][] = [];
  const cursor = index.startSearch(3, 0);
  for (cursor.next(); !cursor.atEnd; cursor.next()) seen.push([cursor.key, cursor.value]);
  expect(seen).toEqual([[123_456, 789]]);

  const memory = new Uint8Array(4096);
  expect(index.packPage(0x1234n, memory, 7n, 0)).toBe(16);
  const page = DeltaIndexPage.open(memory, 0x1234n, 4096, 10);
  expect(page.get(3, 123_456)).toBe(789);

  const copy = new DeltaIndex({
    zoneCount: 2,
    listCount: 16,
    meanDelta: 4096,
    payloadBits: 10,
    memorySize: 1 << 17,
  });
  copy.restore(index.save());
  expect(copy.get(7, 42, nameB)).toBe(2);
});
