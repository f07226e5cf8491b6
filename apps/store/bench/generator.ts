// A seeded history of a VM-like disk image, for the demo and the peer benchmark. Every version has
// the same size; about 35% of its 4 KiB chunks are zeros, 25% duplicate another chunk, the rest are
// unique chunks of random bytes (compressed or encrypted files), text (logs, sources) or structured
// records (databases, tables). Each version rewrites about 3% of the chunks, in runs of 1..16
// chunks, as a guest's writes would. Any version can be generated on its own, deterministically.

export const GEN_CHUNK = 4096;

/** Options of the image history. */
export interface HistoryOptions {
  /** Bytes per version (a multiple of 4 KiB). */
  readonly size: number;
  /** Seed of the whole history. */
  readonly seed?: number;
  /** Fraction of chunks rewritten per version (default 0.03). */
  readonly changeRate?: number;
}

function mix(a: number, b: number): number {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

const WORDS =
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were their one all we can her has there been if more when will would who so no kernel block device write read sector inode journal commit error warning info debug systemd network interface address route user session login cron daemon started stopped failed success request response database table index query select insert update delete value key record page buffer cache memory process thread signal timeout retry connection socket listen accept close open file directory path mount volume snapshot backup restore'.split(
    ' ',
  );
const enc = new TextEncoder();
const WORD_BYTES = WORDS.map((w) => enc.encode(`${w} `));

/** Fills `out` (4 KiB) with the content of kind `kind` seeded by `s`. */
function fill(out: Uint8Array, kind: number, s: number): void {
  let x = s | 1;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  if (kind === 0) {
    const w = new Uint32Array(out.buffer, out.byteOffset, out.length >>> 2);
    for (let i = 0; i < w.length; i++) w[i] = next();
  } else if (kind === 1) {
    let at = 0;
    while (at < out.length) {
      const word = WORD_BYTES[next() % WORD_BYTES.length] as Uint8Array;
      const n = Math.min(word.length, out.length - at);
      out.set(word.subarray(0, n), at);
      at += n;
      if ((next() & 15) === 0 && at < out.length) out[at++] = 10;
    }
  } else {
    const dv = new DataView(out.buffer, out.byteOffset, out.length);
    const base = next();
    for (let r = 0; r < out.length / 32; r++) {
      dv.setUint32(r * 32, base + r, true);
      dv.setUint32(r * 32 + 4, next() & 0xffff, true);
      dv.setFloat64(r * 32 + 8, (base % 1000) + r * 0.25, true);
      for (let k = 16; k < 32; k++) out[r * 32 + k] = 97 + ((base + r + k) % 26);
    }
  }
}

/** The image history: `version(v)` (v = 0, 1, ...) returns the whole image of version v. */
export class ImageHistory {
  readonly size: number;
  readonly chunks: number;
  readonly seed: number;
  readonly changeRate: number;

  constructor(options: HistoryOptions) {
    if (options.size % GEN_CHUNK !== 0) throw new RangeError('size must be a multiple of 4 KiB');
    this.size = options.size;
    this.chunks = options.size / GEN_CHUNK;
    this.seed = options.seed ?? 1;
    this.changeRate = options.changeRate ?? 0.03;
  }

  /** The version (0..v) in which chunk `c` last changed, as of version `v`. */
  #generation(c: number, v: number): number {
    // Changes come in runs of 16-chunk groups, each group picks a run inside it.
    const group = Math.floor(c / 16);
    for (let g = v; g > 0; g--) {
      const h = mix(this.seed ^ g, group);
      if (h / 2 ** 32 < (this.changeRate * 16) / 6.25) {
        const start = h & 15;
        const len = 1 + ((h >>> 4) % 16);
        const at = c % 16;
        if (at >= start && at < start + len) return g;
      }
    }
    return 0;
  }

  /** Writes chunk `c` of version `v` into `out` (4 KiB). */
  chunk(c: number, v: number, out: Uint8Array): void {
    const gen = this.#generation(c, v);
    const h = mix(this.seed + gen * 7919, c);
    if (gen === 0) {
      const cls = h % 100;
      if (cls < 35) {
        out.fill(0);
        return;
      }
      if (cls < 60) {
        // A duplicate of one of 512 popular contents (shared libraries, zeroed-then-formatted blocks).
        const src = mix(this.seed, h) % 512;
        fill(out, src % 3, mix(this.seed + 1, src));
        return;
      }
      fill(out, h % 3, mix(this.seed + 2, c));
      return;
    }
    fill(out, h % 3, mix(this.seed + 3 + gen, c));
  }

  /** The whole image of version `v`. */
  version(v: number): Uint8Array {
    const out = new Uint8Array(this.size);
    for (let c = 0; c < this.chunks; c++) this.chunk(c, v, out.subarray(c * GEN_CHUNK, (c + 1) * GEN_CHUNK));
    return out;
  }

  /** Version `v` as a stream of 1 MiB pieces (no whole image in memory). */
  async *stream(v: number): AsyncGenerator<Uint8Array> {
    const per = 256;
    for (let c = 0; c < this.chunks; c += per) {
      const n = Math.min(per, this.chunks - c);
      const piece = new Uint8Array(n * GEN_CHUNK);
      for (let k = 0; k < n; k++) this.chunk(c + k, v, piece.subarray(k * GEN_CHUNK, (k + 1) * GEN_CHUNK));
      yield piece;
    }
  }
}
