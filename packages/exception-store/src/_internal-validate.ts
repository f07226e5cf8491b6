// Structural validation of B-tree pages read back from the page layer. The page layer already
// rejects torn, stale and misdirected pages by checksum; this catches a page that is intact but
// wrong (a bug, a hand edit, a leaf where a node belongs), so that no offset read from a page can
// send a loop out of bounds or return a wrong answer.

import {
  EXC_HEAD,
  type Geometry,
  getU64,
  LEAF_HEADER,
  LEAF_MAGIC,
  LEAF_VERSION,
  MAP_ENTRY,
  MAX_CHUNK,
  maskEncodedBytes,
  NODE_ENTRY,
  NODE_HEADER,
  NODE_MAGIC,
} from './_internal-layout';
import { corrupt } from './errors';

/** Checks a leaf page's header, map and exception lists. O(page size). */
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
    if (next <= off || next > g.payload) {
      throw corrupt(
        'leaf',
        page,
        `map entry ${i}: exception list [${off}, ${next}) is empty or out of the page`,
      );
    }
    for (let p = off; p < next; ) p += validateException(dv, g, page, p, next);
  }
}

/**
 * Checks one exception (tag, chunk, share mask in canonical form, ending at or before `end`).
 *
 * @returns its size in bytes.
 */
function validateException(dv: DataView, g: Geometry, page: number, p: number, end: number): number {
  if (p + EXC_HEAD > end) throw corrupt('leaf', page, `exception at ${p} overruns its list ending at ${end}`);
  const tag = dv.getUint8(p);
  const size = EXC_HEAD + (tag === 0 ? g.maskBytes : tag * g.idBytes);
  if (p + size > end) throw corrupt('leaf', page, `exception at ${p} overruns its list ending at ${end}`);
  if (getU64(dv, p + 1) > MAX_CHUNK) throw corrupt('leaf', page, `exception at ${p}: chunk beyond 2^53`);
  let n = 0;
  if (tag === 0) {
    for (let k = 0; k < g.maskWords; k++) {
      for (let v = dv.getUint32(p + EXC_HEAD + k * 4, true); v !== 0; v &= v - 1) n++;
    }
    if (n === 0) throw corrupt('leaf', page, `exception at ${p} has an empty share mask`);
  } else {
    let prev = -1;
    for (let j = 0; j < tag; j++) {
      const at = p + EXC_HEAD + j * g.idBytes;
      const id = g.idBytes === 1 ? dv.getUint8(at) : dv.getUint16(at, true);
      if (id <= prev || id >= g.maskWidth)
        throw corrupt('leaf', page, `exception at ${p}: snapshot id ${id} out of order or beyond the mask`);
      prev = id;
    }
    n = tag;
  }
  if (maskEncodedBytes(g.maskWidth, n) !== size - EXC_HEAD)
    throw corrupt('leaf', page, `exception at ${p}: share mask of ${n} snapshots not in its shortest form`);
  return size;
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
