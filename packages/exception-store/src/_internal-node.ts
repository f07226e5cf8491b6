// B-tree index nodes: a header (magic, level, count) and (key, child page) entries, as in the
// seed's struct node. entries[0].key is the node's lower bound (0 for the leftmost node at each
// level); lookups ignore it, as the seed does, but it is kept exact so that a node merged into
// its left neighbour brings a correct separator key along.

import { getU64, NODE_ENTRY, NODE_HEADER, NODE_MAGIC, setU64 } from './_internal-layout';
import type { PageBuf } from './_internal-leaf';

export function initNode(p: PageBuf, level: number): void {
  p.bytes.fill(0);
  p.dv.setUint16(0, NODE_MAGIC, true);
  p.dv.setUint16(2, level, true);
  p.dv.setUint32(4, 0, true);
}

export function nodeLevel(dv: DataView): number {
  return dv.getUint16(2, true);
}

export function nodeCount(dv: DataView): number {
  return dv.getUint32(4, true);
}

export function nodeKey(dv: DataView, i: number): number {
  return getU64(dv, NODE_HEADER + i * NODE_ENTRY);
}

export function nodeChild(dv: DataView, i: number): number {
  return getU64(dv, NODE_HEADER + i * NODE_ENTRY + 8);
}

export function setNodeKey(dv: DataView, i: number, key: number): void {
  setU64(dv, NODE_HEADER + i * NODE_ENTRY, key);
}

function setEntry(dv: DataView, i: number, key: number, child: number): void {
  setU64(dv, NODE_HEADER + i * NODE_ENTRY, key);
  setU64(dv, NODE_HEADER + i * NODE_ENTRY + 8, child);
}

/** Index of the child whose range holds `chunk`: the last entry with key <= chunk. O(log count). */
export function findChild(dv: DataView, chunk: number): number {
  let lo = 1;
  let hi = nodeCount(dv);
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (nodeKey(dv, mid) <= chunk) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** Inserts (key, child) at index `at` (the seed's insert_child). O(fanout). */
export function insertEntry(p: PageBuf, at: number, key: number, child: number): void {
  const count = nodeCount(p.dv);
  p.bytes.copyWithin(
    NODE_HEADER + (at + 1) * NODE_ENTRY,
    NODE_HEADER + at * NODE_ENTRY,
    NODE_HEADER + count * NODE_ENTRY,
  );
  setEntry(p.dv, at, key, child);
  p.dv.setUint32(4, count + 1, true);
}

/** Removes the entry at index `at`. O(fanout). */
export function removeEntry(p: PageBuf, at: number): void {
  const count = nodeCount(p.dv);
  p.bytes.copyWithin(
    NODE_HEADER + at * NODE_ENTRY,
    NODE_HEADER + (at + 1) * NODE_ENTRY,
    NODE_HEADER + count * NODE_ENTRY,
  );
  p.bytes.fill(0, NODE_HEADER + (count - 1) * NODE_ENTRY, NODE_HEADER + count * NODE_ENTRY);
  p.dv.setUint32(4, count - 1, true);
}

/** Moves entries [from, count) of `src` to the end of `dst`. O(fanout). */
export function moveEntries(src: PageBuf, from: number, dst: PageBuf): void {
  const scount = nodeCount(src.dv);
  const dcount = nodeCount(dst.dv);
  const n = scount - from;
  dst.bytes.set(
    src.bytes.subarray(NODE_HEADER + from * NODE_ENTRY, NODE_HEADER + scount * NODE_ENTRY),
    NODE_HEADER + dcount * NODE_ENTRY,
  );
  src.bytes.fill(0, NODE_HEADER + from * NODE_ENTRY, NODE_HEADER + scount * NODE_ENTRY);
  src.dv.setUint32(4, from, true);
  dst.dv.setUint32(4, dcount + n, true);
}

/** Fills a new root with the old root and its new sibling (root growth). */
export function setRootEntries(p: PageBuf, oldRoot: number, key: number, child: number): void {
  setEntry(p.dv, 0, 0, oldRoot);
  setEntry(p.dv, 1, key, child);
  p.dv.setUint32(4, 2, true);
}
