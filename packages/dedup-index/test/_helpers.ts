// Test helpers: seeded names and metadata, small geometries, and a model of the index (a Map from
// name to metadata with the chapter each name's newest record is in, and the window's expiry rule).

import type { GeometryParameters } from '@deja/volume-geometry';
import type { DedupIndex } from '../src/index';

/** A small PRNG (mulberry32), seeded. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** `count` distinct-looking 16-byte names from a seed. */
export function makeNames(count: number, seed: number): Uint8Array[] {
  const next = rng(seed);
  return Array.from({ length: count }, () => {
    const name = new Uint8Array(16);
    const view = new DataView(name.buffer);
    for (let i = 0; i < 4; i++) view.setUint32(i * 4, next());
    return name;
  });
}

/** Metadata that encodes a name index and a version. */
export function meta(index: number, version = 0): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  view.setUint32(0, index);
  view.setUint32(4, version);
  view.setUint32(8, 0xdeadbeef);
  return out;
}

export function hex(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('hex');
}

/** 1 KiB pages (32 records), 4 record pages per chapter (128 records), 8 chapters. */
export const SMALL: GeometryParameters = {
  bytesPerPage: 1024,
  recordPagesPerChapter: 4,
  chaptersPerVolume: 8,
};

/** A request kind of the batch API. */
export type Kind = 'post' | 'update' | 'query' | 'refresh' | 'delete';

/** One batch: a kind, then names (by number in a name list) and metadata versions. */
export interface BatchOp {
  kind: Kind;
  names: number[];
  version: number;
}

/** Names or metadata side by side, 16 bytes each. */
export function pack(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.length * 16);
  parts.forEach((part, i) => {
    out.set(part, i * 16);
  });
  return out;
}

/** Runs a batch through the batch API, names taken from `names`. */
export function runBatch(
  index: DedupIndex,
  op: BatchOp,
  names: Uint8Array[],
): Promise<(Uint8Array | boolean | undefined)[]> {
  const packed = pack(op.names.map((n) => names[n]!));
  const metadata = pack(op.names.map((n) => meta(n, op.version)));
  switch (op.kind) {
    case 'post':
      return index.postMany(packed, metadata);
    case 'update':
      return index.updateMany(packed, metadata);
    case 'query':
      return index.queryMany(packed);
    case 'refresh':
      return index.queryMany(packed, { refresh: true });
    case 'delete':
      return index.deleteMany(packed);
  }
}
