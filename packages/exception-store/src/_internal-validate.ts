// Structural validation of B-tree pages read back from the page layer. The page layer already
// rejects torn, stale and misdirected pages by checksum; this catches a page that is intact but
// wrong (a bug, a hand edit, a leaf where a node belongs), so that no offset read from a page can
// send a loop out of bounds or return a wrong answer.

import {
  type Geometry,
  getU64,
  LEAF_HEADER,
  LEAF_MAGIC,
  LEAF_VERSION,
  MAP_ENTRY,
  MAX_CHUNK,
  NODE_ENTRY,
  NODE_HEADER,
  NODE_MAGIC,
} from './_internal-layout';
import { corrupt } from './errors';

/** Checks a leaf page's header, map and exception lists. O(page size x mask words). */
export function validateLeaf(dv: DataView, g: Geometry, page: number): void {
  if (dv.getUint16(0, true) !== LEAF_MAGIC) throw corrupt('leaf', page, 'bad magic');
  if (dv.getUint16(2, true) !== LEAF_VERSION)
    throw corrupt('leaf', page, `unknown version ${dv.getUint16(2, true)}`);
  const count = dv.getUint32(4, true);
  const mapTop = LEAF_HEADER + (count + 1) * MAP_ENTRY;
  if (count > g.payload || mapTop > g.payload)
    throw corrupt('leaf', page, `count ${count} overflows the page`);
  const base = getU64(dv, 8);
  if (base > MAX_CHUNK) throw corrupt('leaf', page, 'base_chunk too large');
  const first = dv.getUint32(LEAF_HEADER, true);
  if (first < mapTop)
    throw corrupt('leaf', page, `exceptions at ${first} overlap the map ending at ${mapTop}`);
  if (dv.getUint32(LEAF_HEADER + count * MAP_ENTRY, true) !== g.payload) {
    throw corrupt('leaf', page, 'sentinel map entry does not end at the page end');
  }
  let prev = -1;
  for (let i = 0; i < count; i++) {
    const off = dv.getUint32(LEAF_HEADER + i * MAP_ENTRY, true);
    const next = dv.getUint32(LEAF_HEADER + (i + 1) * MAP_ENTRY, true);
    const r = dv.getUint32(LEAF_HEADER + i * MAP_ENTRY + 4, true);
    if (r <= prev) throw corrupt('leaf', page, `map entry ${i}: rchunk ${r} not above ${prev}`);
    if (base + r > MAX_CHUNK) throw corrupt('leaf', page, `map entry ${i}: chunk beyond 2^53`);
    prev = r;
    if (next <= off || next > g.payload || (next - off) % g.excSize !== 0) {
      throw corrupt('leaf', page, `map entry ${i}: exception list [${off}, ${next}) is empty or misaligned`);
    }
    for (let p = off; p < next; p += g.excSize) {
      let any = 0;
      for (let k = 0; k < g.maskWords; k++) any |= dv.getUint32(p + k * 4, true);
      if (any === 0) throw corrupt('leaf', page, `map entry ${i}: exception at ${p} has an empty share mask`);
      if (getU64(dv, p + g.maskWords * 4) > MAX_CHUNK)
        throw corrupt('leaf', page, `exception at ${p}: chunk beyond 2^53`);
    }
  }
}

/** Checks a node page's header and key order. O(fanout). */
export function validateNode(dv: DataView, g: Geometry, page: number): void {
  if (dv.getUint16(0, true) !== NODE_MAGIC) throw corrupt('node', page, 'bad magic');
  const level = dv.getUint16(2, true);
  if (level < 1) throw corrupt('node', page, 'level 0');
  const count = dv.getUint32(4, true);
  if (count < 1 || count > g.fanout) throw corrupt('node', page, `count ${count} outside [1, ${g.fanout}]`);
  let prev = -1;
  for (let i = 0; i < count; i++) {
    const key = getU64(dv, NODE_HEADER + i * NODE_ENTRY);
    const child = getU64(dv, NODE_HEADER + i * NODE_ENTRY + 8);
    if (key > MAX_CHUNK || child > MAX_CHUNK) throw corrupt('node', page, `entry ${i}: value beyond 2^53`);
    if (i > 0 && key <= prev) throw corrupt('node', page, `entry ${i}: key ${key} not above ${prev}`);
    prev = key;
  }
}
