// Test helpers: hex, the vectors' splitmix64 name generator, and a seeded PRNG.

import { createGeometry, type IndexGeometry } from '@deja/volume-geometry';

export function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

const MASK64 = (1n << 64n) - 1n;

/** splitmix64 as the vectors' README describes it; a name is LE64(a) || LE64(b). */
export class SplitMix64 {
  #state: bigint;
  constructor(seed: bigint) {
    this.#state = seed & MASK64;
  }
  next(): bigint {
    this.#state = (this.#state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.#state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }
  name(): Uint8Array {
    const out = new Uint8Array(16);
    const view = new DataView(out.buffer);
    view.setBigUint64(0, this.next(), true);
    view.setBigUint64(8, this.next(), true);
    return out;
  }
}

/** A small fast seeded PRNG (mulberry32) for property tests' own randomness. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface VectorGeometry {
  bytes_per_page: number;
  record_pages_per_chapter: number;
  chapters_per_volume: number;
  sparse_chapters_per_volume: number;
}

export function geometryOf(g: VectorGeometry): IndexGeometry {
  return createGeometry({
    bytesPerPage: g.bytes_per_page,
    recordPagesPerChapter: g.record_pages_per_chapter,
    chaptersPerVolume: g.chapters_per_volume,
    sparseChaptersPerVolume: g.sparse_chapters_per_volume,
  });
}

export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).name;
  }
  return 'no error';
}
