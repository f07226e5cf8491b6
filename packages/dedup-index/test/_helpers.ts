// Test helpers: seeded names and metadata, small geometries, and a model of the index (a Map from
// name to metadata with the chapter each name's newest record is in, and the window's expiry rule).

import type { GeometryParameters } from '@deja/volume-geometry';

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
