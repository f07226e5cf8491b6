// Which codec compresses the store's chunks (issue 15): `DEJA_BENCH_ONLY=compression pnpm --filter
// @deja/store bench`. For each candidate, at 4 KiB chunks on one thread: compress and decompress
// MB/s (a warm-up round, then the best of DEJA_BENCH_ROUNDS rounds, default 5), the ratio with every
// chunk stored alone (compressed, or raw when that does not shrink it) and the ratio once fragments
// are packed into 4 KiB pages by src/_packed.ts's PagePacker (its directory counted). Two data sets:
// the non-zero chunks of one version of the demo's VM-like image (bench/generator.ts) and a
// text-heavy "filesystem image" (source and documentation files of the workspace's node_modules,
// sorted by path, each starting on a 4 KiB boundary, up to a byte budget). Then the whole-history
// figures the issue names: dedup + compression over 5 versions of each (distinct non-zero chunks,
// each compressed and packed), against the 13.36x and against borg 1.2 with lz4 and fixed
// 4 KiB chunks on the same text images (when borg is installed).
//
// Sizes: DEJA_BENCH_SAMPLE_MIB (speed sample, default 32), DEJA_BENCH_MIB (VM history version,
// default 1024 as the peer benchmark; 0 skips it), DEJA_BENCH_TEXT_MIB (text history version, default 64).
import { execFileSync, spawnSync } from 'node:child_process';
import { hash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import * as zstd from '@bokuweb/zstd-wasm';
import { deflateSync as fflateDeflate, inflateSync as fflateInflate } from 'fflate';
import * as lz4 from 'lz4-napi';
import * as snappy from 'snappy';
import { deflateCodec, zstdCodec } from '../src/_codec';
import { maxFragmentBytes, PagePacker } from '../src/_packed';
import { ImageHistory } from './generator';

const CHUNK = 4096;
const MiB = 1 << 20;
const here = dirname(fileURLToPath(import.meta.url));

interface Candidate {
  name: string;
  /** undefined: stored raw (the store's codecs say so when a chunk does not shrink enough). */
  compress(chunk: Uint8Array): Uint8Array | undefined;
  decompress(fragment: Uint8Array, size: number): Uint8Array;
}

async function candidates(): Promise<Candidate[]> {
  const ours = [await zstdCodec(1), deflateCodec(1)];
  return [
    ...ours.map((c) => ({
      name: `store codec: ${c.name} 1 (src/_codec.ts)`,
      compress: (b: Uint8Array) => c.compress(b),
      decompress: (f: Uint8Array, n: number) => c.decompress(f, n),
    })),
    {
      name: 'node:zlib deflateRaw 1',
      compress: (c) => deflateRawSync(c, { level: 1 }),
      decompress: (f, n) => inflateRawSync(f, { maxOutputLength: n }),
    },
    {
      name: 'node:zlib deflateRaw 6',
      compress: (c) => deflateRawSync(c, { level: 6 }),
      decompress: (f, n) => inflateRawSync(f, { maxOutputLength: n }),
    },
    {
      name: 'node:zlib deflateRaw 1, 4 KiB window',
      compress: (c) => deflateRawSync(c, { level: 1, windowBits: 12, memLevel: 5 }),
      decompress: (f, n) => inflateRawSync(f, { maxOutputLength: n, windowBits: 12 }),
    },
    {
      name: 'fflate deflate 1',
      compress: (c) => fflateDeflate(c, { level: 1 }),
      decompress: (f, n) => fflateInflate(f, { out: new Uint8Array(n) }),
    },
    {
      name: '@bokuweb/zstd-wasm 1',
      compress: (c) => zstd.compress(c, 1),
      decompress: (f) => zstd.decompress(f),
    },
    {
      name: '@bokuweb/zstd-wasm 3',
      compress: (c) => zstd.compress(c, 3),
      decompress: (f) => zstd.decompress(f),
    },
    {
      name: 'lz4-napi (lz4_flex block)',
      compress: (c) => lz4.compressSync(c as Buffer),
      decompress: (f) => lz4.uncompressSync(f),
    },
    {
      name: 'snappy (snap, raw)',
      compress: (c) => snappy.compressSync(c),
      decompress: (f) => snappy.uncompressSync(f, { asBuffer: true }) as Buffer,
    },
  ];
}

function isZero(c: Uint8Array): boolean {
  for (let i = 0; i < c.length; i++) if (c[i] !== 0) return false;
  return true;
}

/** The non-zero chunks of one version of the VM-like image. */
function vmSample(bytes: number): Uint8Array[] {
  const h = new ImageHistory({ size: bytes, seed: 2026 });
  const out: Uint8Array[] = [];
  for (let c = 0; c < h.chunks; c++) {
    const b = new Uint8Array(CHUNK);
    h.chunk(c, 0, b);
    if (!isZero(b)) out.push(b);
  }
  return out;
}

const TEXT_EXT = /\.(js|cjs|mjs|ts|mts|cts|md|markdown|json|txt|yml|yaml|html|css|map)$/i;

/** Source and documentation files of the workspace's node_modules, sorted by path, deterministic. */
export function textFiles(): string[] {
  const root = resolve(here, '../../../node_modules/.pnpm');
  const out: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(p); // symbolic links (pnpm links each dependency) would repeat packages
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        if (n !== '.bin') walk(p);
      } else if (st.isFile() && TEXT_EXT.test(n) && st.size > 0 && st.size < 4 * MiB) out.push(p);
    }
  };
  walk(root);
  return out.sort();
}

/** Lays files out as a file system holds them: each from a 4 KiB boundary, zero-padded. */
function layout(files: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const f of files) size += Math.ceil(f.length / CHUNK) * CHUNK;
  const img = new Uint8Array(size);
  let at = 0;
  for (const f of files) {
    img.set(f, at);
    at += Math.ceil(f.length / CHUNK) * CHUNK;
  }
  return img;
}

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

/**
 * A seeded history of a text file system of `budget` bytes: version 0 holds the first files that
 * fit; each later version edits 3% of its files (a line inserted at a seeded place, so the file's
 * blocks from there on change) and replaces 1% with the next unused files of the list.
 */
export class TextHistory {
  readonly #pool: Uint8Array[];
  readonly #versions: Uint8Array[][] = [];
  constructor(paths: string[], budget: number) {
    this.#pool = [];
    let total = 0;
    for (const p of paths) {
      if (total >= budget * 1.2) break;
      const b = readFileSync(p);
      this.#pool.push(b);
      total += Math.ceil(b.length / CHUNK) * CHUNK;
    }
    const first: Uint8Array[] = [];
    let used = 0;
    let next = 0;
    while (next < this.#pool.length && used < budget) {
      const f = this.#pool[next++] as Uint8Array;
      first.push(f);
      used += Math.ceil(f.length / CHUNK) * CHUNK;
    }
    this.#versions.push(first);
    for (let v = 1; v < 5; v++) {
      const prev = this.#versions[v - 1] as Uint8Array[];
      const cur = prev.map((f, i) => {
        const h = mix(v * 7919, i);
        if (h % 100 < 3) {
          const at = (h >>> 8) % (f.length + 1);
          const line = new TextEncoder().encode(`// edited in version ${v}, file ${i}\n`);
          const g = new Uint8Array(f.length + line.length);
          g.set(f.subarray(0, at));
          g.set(line, at);
          g.set(f.subarray(at), at + line.length);
          return g;
        }
        if (h % 100 === 3 && next < this.#pool.length) return this.#pool[next++] as Uint8Array;
        return f;
      });
      this.#versions.push(cur);
    }
  }
  version(v: number): Uint8Array {
    return layout(this.#versions[v] as Uint8Array[]);
  }
}

function chunksOf(img: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at + CHUNK <= img.length; at += CHUNK) {
    const c = img.subarray(at, at + CHUNK);
    if (!isZero(c)) out.push(c);
  }
  return out;
}

/** Stored bytes of chunks whose compressed lengths are `lens`: alone (raw when not smaller) and packed. */
function storedBytes(lens: ArrayLike<number>): { alone: number; packed: number } {
  let alone = 0;
  let raw = 0;
  let pages = 0;
  const packer = new PagePacker<number>(CHUNK);
  const limit = maxFragmentBytes(CHUNK);
  for (let i = 0; i < lens.length; i++) {
    const n = lens[i] as number;
    alone += Math.min(n, CHUNK);
    if (n > limit) raw++;
    else pages += packer.add(i, n).length;
  }
  pages += packer.flush().length;
  return { alone, packed: (raw + pages) * CHUNK };
}

interface Row {
  name: string;
  cMBs: number;
  dMBs: number;
  ratio: number;
  packed: number;
}

function measure(cand: Candidate, chunks: Uint8Array[], rounds: number): Row {
  const bytes = chunks.length * CHUNK;
  let frags: (Uint8Array | undefined)[] = [];
  let cBest = Number.POSITIVE_INFINITY;
  let dBest = Number.POSITIVE_INFINITY;
  for (let r = 0; r <= rounds; r++) {
    const t0 = performance.now();
    frags = chunks.map((c) => cand.compress(c));
    const t1 = performance.now();
    for (const f of frags) if (f !== undefined) cand.decompress(f, CHUNK);
    const t2 = performance.now();
    if (r > 0) {
      cBest = Math.min(cBest, t1 - t0);
      dBest = Math.min(dBest, t2 - t1);
    }
  }
  // Round trip once, so a candidate that loses bytes is not reported.
  for (let i = 0; i < chunks.length; i++) {
    const f = frags[i];
    const back = f === undefined ? (chunks[i] as Uint8Array) : cand.decompress(f, CHUNK);
    if (Buffer.compare(Buffer.from(back), Buffer.from(chunks[i] as Uint8Array)) !== 0) {
      throw new Error(`${cand.name} does not round-trip chunk ${i}`);
    }
  }
  const s = storedBytes(frags.map((f) => f?.length ?? CHUNK));
  return {
    name: cand.name,
    cMBs: bytes / (cBest / 1000) / 1e6,
    dMBs: bytes / (dBest / 1000) / 1e6,
    ratio: bytes / s.alone,
    packed: bytes / s.packed,
  };
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const zstd = require(workerData.zstdPath);
(async () => {
  await zstd.init();
  const buf = new Uint8Array(workerData.sab);
  const chunks = [];
  for (let at = 0; at < buf.length; at += 4096) chunks.push(buf.slice(at, at + 4096));
  let c = Infinity, d = Infinity;
  for (let r = 0; r <= workerData.rounds; r++) {
    const t0 = performance.now();
    const frags = chunks.map((x) => zstd.compress(x, 1));
    const t1 = performance.now();
    for (const f of frags) zstd.decompress(f);
    const t2 = performance.now();
    if (r > 0) { c = Math.min(c, t1 - t0); d = Math.min(d, t2 - t1); }
  }
  parentPort.postMessage({ c, d });
})();
`;

/** zstd-wasm level 1 on a worker thread: alone, then with the main thread compressing at once. */
async function workerSpeed(chunks: Uint8Array[], rounds: number, main: Candidate): Promise<void> {
  const sab = new SharedArrayBuffer(chunks.length * CHUNK);
  const all = new Uint8Array(sab);
  chunks.forEach((c, i) => {
    all.set(c, i * CHUNK);
  });
  const bytes = chunks.length * CHUNK;
  const zstdPath = createRequire(import.meta.url).resolve('@bokuweb/zstd-wasm');
  const run = () =>
    new Promise<{ c: number; d: number }>((done, fail) => {
      const w = new Worker(WORKER, { eval: true, workerData: { sab, rounds, zstdPath } });
      w.once('message', (m) => {
        done(m);
        void w.terminate();
      });
      w.once('error', fail);
    });
  const alone = await run();
  const both = run();
  const m = measure(main, chunks, rounds);
  const w = await both;
  const mb = (ms: number) => bytes / (ms / 1000) / 1e6;
  console.log(
    `
zstd-wasm 1 on a worker thread (the hashing worker's kind), ${chunks.length} VM-like chunks: alone ${mb(alone.c).toFixed(0)} MB/s compress, ${mb(alone.d).toFixed(0)} MB/s decompress; ` +
      `worker and main thread at once: ${mb(w.c).toFixed(0)} + ${m.cMBs.toFixed(0)} MB/s compress, ${mb(w.d).toFixed(0)} + ${m.dMBs.toFixed(0)} MB/s decompress`,
  );
}

function table(title: string, rows: Row[]): void {
  // Absolute MB/s drift on a shared machine: each row also as a ratio to node:zlib deflateRaw 1,
  // measured in the same run.
  const base = rows.find((r) => r.name === 'node:zlib deflateRaw 1') ?? (rows[0] as Row);
  console.log(`\n${title}\n`);
  console.log(
    '| codec | compress MB/s | decompress MB/s | vs node:zlib deflateRaw 1 (compress / decompress) | ratio, chunks alone | ratio, packed 4 KiB pages |',
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${r.cMBs.toFixed(0)} | ${r.dMBs.toFixed(0)} | ${(r.cMBs / base.cMBs).toFixed(2)}x / ${(r.dMBs / base.dMBs).toFixed(2)}x | ${r.ratio.toFixed(2)} | ${r.packed.toFixed(2)} |`,
    );
  }
}

/** Per-call cost of node:zlib's sync API: a call on 4 KiB against 64 KiB inputs of the same data. */
function zlibSetup(chunks: Uint8Array[]): void {
  const big: Uint8Array[] = [];
  for (let i = 0; i + 16 <= chunks.length && big.length < 64; i += 16) {
    big.push(Buffer.concat(chunks.slice(i, i + 16)));
  }
  const small = big.flatMap((b) =>
    Array.from({ length: 16 }, (_, k) => b.subarray(k * CHUNK, (k + 1) * CHUNK)),
  );
  const best = (fn: () => void): number => {
    let t = Number.POSITIVE_INFINITY;
    for (let r = 0; r < 4; r++) {
      const t0 = performance.now();
      fn();
      t = Math.min(t, performance.now() - t0);
    }
    return t;
  };
  const bytes = big.length * 16 * CHUNK;
  const tSmall = best(() => {
    for (const c of small) deflateRawSync(c, { level: 1 });
  });
  const tBig = best(() => {
    for (const b of big) deflateRawSync(b, { level: 1 });
  });
  const empty = new Uint8Array(0);
  const tEmpty = best(() => {
    for (let i = 0; i < 1000; i++) deflateRawSync(empty, { level: 1 });
  });
  const dSmall = small.map((c) => deflateRawSync(c, { level: 1 }));
  const tInf = best(() => {
    for (const f of dSmall) inflateRawSync(f);
  });
  const tInfEmpty = best(() => {
    const e = deflateRawSync(empty);
    for (let i = 0; i < 1000; i++) inflateRawSync(e);
  });
  console.log(
    `\nnode:zlib sync calls: deflateRaw level 1 at 4 KiB ${(bytes / tSmall / 1e3).toFixed(0)} MB/s, at 64 KiB ${(bytes / tBig / 1e3).toFixed(0)} MB/s (${(tSmall / tBig).toFixed(2)}x the time); ` +
      `an empty deflateRawSync costs ${((tEmpty / 1000) * 1000).toFixed(1)} us, an empty inflateRawSync ${((tInfEmpty / 1000) * 1000).toFixed(1)} us ` +
      `(inflate of 4 KiB fragments: ${(bytes / tInf / 1e3).toFixed(0)} MB/s); a 4 KiB chunk's whole budget at 500 MB/s is ${((CHUNK / 500e6) * 1e6).toFixed(1)} us`,
  );
}

/** Distinct non-zero chunks of a history, each compressed by every candidate: compressed lengths. */
function historyLengths(
  versions: number,
  chunkOf: (v: number) => Iterable<Uint8Array>,
  cands: Candidate[],
): { logical: number; distinct: number; lens: number[][] } {
  const seen = new Set<string>();
  const lens: number[][] = cands.map(() => []);
  let logical = 0;
  for (let v = 0; v < versions; v++) {
    for (const c of chunkOf(v)) {
      logical += CHUNK;
      if (isZero(c)) continue;
      const key = hash('sha256', c, 'base64');
      if (seen.has(key)) continue;
      seen.add(key);
      cands.forEach((k, i) => {
        (lens[i] as number[]).push(k.compress(c)?.length ?? CHUNK);
      });
    }
  }
  return { logical, distinct: seen.size, lens };
}

function historyTable(
  title: string,
  h: { logical: number; distinct: number; lens: number[][] },
  cands: Candidate[],
) {
  console.log(
    `\n${title}: ${(h.logical / MiB).toFixed(0)} MiB logical, ${h.distinct} distinct non-zero chunks\n`,
  );
  console.log('| codec | dedup only | dedup + compression, chunks alone | dedup + compression, packed |');
  console.log('| --- | --- | --- | --- |');
  cands.forEach((k, i) => {
    const s = storedBytes(h.lens[i] as number[]);
    console.log(
      `| ${k.name} | ${(h.logical / (h.distinct * CHUNK)).toFixed(2)} | ${(h.logical / s.alone).toFixed(2)} | ${(h.logical / s.packed).toFixed(2)} |`,
    );
  });
}

function du(path: string): number {
  return Number(execFileSync('du', ['-sB1', path], { encoding: 'utf8' }).split('\t')[0]);
}

export async function compressionBench(): Promise<void> {
  // zstdCodec() (in candidates()) loads the WebAssembly module; a second zstd.init() would
  // re-instantiate it asynchronously under calls in flight (they then read zeros).
  const cands = await candidates();
  const rounds = Number(process.env.DEJA_BENCH_ROUNDS ?? 5);
  const sample = Number(process.env.DEJA_BENCH_SAMPLE_MIB ?? 32) * MiB;
  const vmMiB = Number(process.env.DEJA_BENCH_MIB ?? 1024);
  const textMiB = Number(process.env.DEJA_BENCH_TEXT_MIB ?? 64);
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(
    `compression candidates, 4 KiB chunks, one thread; ${cpus()[0]?.model ?? ''}, ${cpus().length} cores, Node ${process.version}; load average ${load()}`,
  );
  const vm = vmSample(sample);
  const paths = textFiles();
  const text = chunksOf(new TextHistory(paths, sample).version(0));
  console.log(
    `data: ${vm.length} non-zero VM-like chunks; ${text.length} text chunks from ${paths.length} files`,
  );
  zlibSetup(text);
  table(
    `VM-like image (bench/generator.ts, seed 2026), ${vm.length} non-zero chunks, best of ${rounds}`,
    cands.map((c) => measure(c, vm, rounds)),
  );
  table(
    `text file-system image (node_modules sources and docs, sorted, 4 KiB-aligned), ${text.length} chunks, best of ${rounds}`,
    cands.map((c) => measure(c, text, rounds)),
  );
  await workerSpeed(vm, rounds, cands[0] as Candidate);
  console.log(`\nload average after the speed runs: ${load()}`);

  // Whole histories (the store's codecs are the library rows of the same name and level).
  const libs = cands.filter((c) => !c.name.startsWith('store codec'));
  const hist = new ImageHistory({ size: vmMiB * MiB, seed: 2026 });
  if (vmMiB > 0) {
    const vmH = historyLengths(
      5,
      function* (v) {
        const b = new Uint8Array(CHUNK);
        for (let c = 0; c < hist.chunks; c++) {
          hist.chunk(c, v, b);
          yield b;
        }
      },
      libs,
    );
    historyTable(
      `VM-like history, 5 versions of ${vmMiB} MiB (seed 2026; the issue's ideal for deflate-1: 13.36x)`,
      vmH,
      libs,
    );
  }

  const th = new TextHistory(paths, textMiB * MiB);
  const imgs = [0, 1, 2, 3, 4].map((v) => th.version(v));
  const textH = historyLengths(
    5,
    function* (v) {
      const img = imgs[v] as Uint8Array;
      for (let at = 0; at + CHUNK <= img.length; at += CHUNK) yield img.subarray(at, at + CHUNK);
    },
    libs,
  );
  historyTable(`text history, 5 versions of about ${textMiB} MiB`, textH, libs);
  if (spawnSync('borg', ['--version']).status === 0) {
    const dir = await mkdtemp(join(tmpdir(), 'deja-comp-'));
    try {
      const env = { ...process.env, BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes' };
      const repo = join(dir, 'borg');
      execFileSync('borg', ['init', '--encryption=none', repo], { env });
      for (let v = 0; v < 5; v++) {
        await writeFile(join(dir, `text-v${v + 1}.img`), imgs[v] as Uint8Array);
        execFileSync(
          'borg',
          [
            'create',
            '--chunker-params',
            'fixed,4096',
            '--compression',
            'lz4',
            `${repo}::v${v + 1}`,
            `text-v${v + 1}.img`,
          ],
          { cwd: dir, env },
        );
        await rm(join(dir, `text-v${v + 1}.img`));
      }
      const stored = du(repo);
      console.log(
        `\nborg 1.2, fixed 4 KiB chunks, lz4, same 5 text images: repository ${(stored / MiB).toFixed(1)} MiB (du, metadata included), ratio ${(textH.logical / stored).toFixed(2)}`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } else {
    console.log('\nborg not installed: no borg figure');
  }
  console.log(`load average at the end: ${load()}`);
}
