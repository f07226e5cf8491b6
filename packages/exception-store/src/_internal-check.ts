// The invariant checker of the exception store (ExceptionStore.check): walks the whole B-tree and
// verifies what the property tests rely on after every step — every page referenced once, keys in
// range at every level, leaves valid, share masks inside the active (or being deleted) snapshots, no
// snapshot with two exceptions for one chunk, exception chunks unique and distinct from metadata
// pages when the allocator hands out pages. Kept apart from the store's operations; it sees the
// store through CheckedTree only.
import type { Geometry } from './_internal-layout';
import { MAX_CHUNK } from './_internal-layout';
import {
  exceptionChunk,
  excSize,
  leafBase,
  leafCount,
  mapOffset,
  mapRchunk,
  type PageBuf,
  readMask,
} from './_internal-leaf';
import { nodeChild, nodeCount, nodeKey } from './_internal-node';
import { validateLeaf } from './_internal-validate';
import { corrupt } from './errors';
import type { CheckReport } from './exception-store';

/** What the checker reads of a store: its geometry, roots and masks, and its pages. */
export interface CheckedTree {
  readonly g: Geometry;
  readonly headerPage: number;
  readonly tablePages: readonly number[];
  readonly root: number;
  readonly level: number;
  readonly active: Uint32Array;
  readonly deleting: Uint32Array;
  readonly pendingRelease: Iterable<number>;
  /** A leaf page, through the store's cache. */
  leaf(no: number): Promise<PageBuf>;
  /** An index node at `level`, through the store's cache (validated). */
  node(no: number, level: number): Promise<PageBuf>;
}

/**
 * Checks every invariant of the tree.
 *
 * @returns the pages and chunks in use, for a caller's own cross-checks.
 * @throws ExceptionStoreError `ERR_CORRUPT_DATA` naming the first page that breaks one.
 */
export async function checkTree(tree: CheckedTree, uniqueChunks: boolean): Promise<CheckReport> {
  const g = tree.g;
  const metaPages: number[] = [tree.headerPage, ...tree.tablePages];
  const exceptionChunks: number[] = [];
  const seenPages = new Set<number>(metaPages);
  const seenChunks = new Set<number>();
  let nodes = 0;
  let leaves = 0;
  let exceptions = 0;
  let chunks = 0;
  const fail = (what: string, page: number, detail: string): never => {
    throw corrupt(what, page, detail);
  };
  const visit = async (no: number, level: number, lower: number, upper: number): Promise<void> => {
    if (seenPages.has(no)) fail('B-tree page', no, 'referenced twice');
    seenPages.add(no);
    metaPages.push(no);
    if (level === 0) {
      leaves++;
      const leaf = await tree.leaf(no);
      const dv = leaf.dv;
      validateLeaf(dv, g, no);
      const base = leafBase(dv);
      if (base > lower) fail('leaf', no, `base_chunk ${base} above the range start ${lower}`);
      const count = leafCount(dv);
      for (let i = 0; i < count; i++) {
        const chunk = base + mapRchunk(dv, i);
        if (chunk < lower || chunk >= upper) fail('leaf', no, `chunk ${chunk} outside [${lower}, ${upper})`);
        chunks++;
        const union = new Uint32Array(g.maskWords);
        const mask = new Uint32Array(g.maskWords);
        for (let p = mapOffset(dv, i); p < mapOffset(dv, i + 1); p += excSize(dv, g, p)) {
          exceptions++;
          readMask(dv, g, p, mask);
          for (let k = 0; k < g.maskWords; k++) {
            const s = mask[k] as number;
            if ((s & ~((tree.active[k] as number) | (tree.deleting[k] as number))) !== 0)
              fail('leaf', no, `chunk ${chunk}: share bits outside the active mask`);
            if ((s & (union[k] as number)) !== 0)
              fail('leaf', no, `chunk ${chunk}: a snapshot uses two exceptions`);
            union[k] = ((union[k] as number) | s) >>> 0;
          }
          const c = exceptionChunk(dv, p);
          if (uniqueChunks && seenChunks.has(c)) fail('leaf', no, `exception chunk ${c} used twice`);
          seenChunks.add(c);
          exceptionChunks.push(c);
        }
      }
      return;
    }
    nodes++;
    const node = await tree.node(no, level);
    const count = nodeCount(node.dv);
    if (nodeKey(node.dv, 0) !== lower)
      fail('node', no, `first key ${nodeKey(node.dv, 0)} is not the lower bound ${lower}`);
    const entries: [number, number][] = [];
    for (let i = 0; i < count; i++) entries.push([nodeKey(node.dv, i), nodeChild(node.dv, i)]);
    for (let i = 0; i < count; i++) {
      const [key, child] = entries[i] as [number, number];
      const lo = i === 0 ? lower : key;
      const hi = i + 1 < count ? (entries[i + 1] as [number, number])[0] : upper;
      if (lo < lower || hi > upper || lo >= hi)
        fail('node', no, `entry ${i}: range [${lo}, ${hi}) outside [${lower}, ${upper})`);
      await visit(child, level - 1, lo, hi);
    }
  };
  await visit(tree.root, tree.level, 0, MAX_CHUNK + 1);
  if (uniqueChunks) {
    for (const c of exceptionChunks)
      if (seenPages.has(c)) fail('leaf', c, 'an exception chunk is also a metadata page');
  }
  return {
    metaPages,
    exceptionChunks,
    pendingReleases: [...tree.pendingRelease],
    nodes,
    leaves,
    exceptions,
    chunks,
  };
}
