// Content names for many chunks at once, on worker threads: hashing is the one part of the write
// path that does not need the store's state, so an import hashes the next batch on another core
// while the main thread stores the previous one. A pool of zero workers hashes in the calling
// thread (same results).

import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { ChunkCodec } from './_codec';
import { isZero, NAME_BYTES, nameOf } from './_hash';
import { maxFragmentBytes } from './_packed';

/** Names of a batch: `names` holds 16 bytes per chunk (zeros for an all-zero chunk). */
export interface BatchNames {
  readonly names: Uint8Array;
  /** 1 where the chunk is all zeros. */
  readonly zero: Uint8Array;
  /** Whether a worker wrote the batch out (see {@link BatchWrite}). */
  readonly written?: boolean;
  /**
   * When asked for (and hashed on a worker): the CRC-32 (`node:zlib`'s `crc32`) of each whole
   * non-zero chunk, 0 for the others; the page layer takes them for the data pages it writes
   * instead of computing them on the importing thread.
   */
  readonly crcs?: Uint32Array;
}

/**
 * A batch a worker writes to a file once it has named its chunks (an export): `runs` are triples
 * (offset in the batch, length, file position). With `expect` (16 bytes per chunk), only when
 * every chunk the job checks (`only`) has that name and is not all zeros, so damaged bytes are
 * never written; the caller then finds the damage in the names it gets back. A pool without
 * workers writes nothing: `written` tells the caller.
 */
export interface BatchWrite {
  readonly fd: number;
  readonly runs: Float64Array;
  readonly expect?: Uint8Array;
}

// The worker's code, as plain JavaScript (it runs the same way from sources and from dist). A
// compression job runs the store's codec (src/_codec.ts) the same way, byte for byte: zstd
// through the same package (loaded by path, once), deflate through node:zlib with the same
// window and memory (test/hash-pool.test.ts compares both with the codec's own output).
const WORKER = `
const { parentPort } = require('node:worker_threads');
const { hash } = require('node:crypto');
const { crc32, deflateRawSync, inflateRawSync } = require('node:zlib');
const { writeSync } = require('node:fs');
const zeros = new Uint8Array(65536);
const shared = new Map();
let zstdReady;
function windowBits(cs) { return Math.min(15, Math.max(9, 31 - Math.clz32(cs - 1) + 1)); }
async function compress(m, data) {
  const { id, chunkSize, codec, level, max, offsets } = m;
  let zstd;
  if (codec === 2) {
    zstdReady ??= (async () => { const z = require(m.zstdPath); await z.init(); return z; })();
    zstd = await zstdReady;
  }
  const out = [];
  const lengths = new Uint32Array(offsets.length);
  let total = 0;
  for (let i = 0; i < offsets.length; i++) {
    const c = data.subarray(offsets[i], offsets[i] + chunkSize);
    const f = codec === 2 ? zstd.compress(c, level) : deflateRawSync(c, { level, windowBits: windowBits(chunkSize), memLevel: 5 });
    if (f.length > max) continue;
    lengths[i] = f.length;
    out.push(f);
    total += f.length;
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const f of out) { bytes.set(f, at); at += f.length; }
  parentPort.postMessage({ id, bytes, lengths }, [bytes.buffer, lengths.buffer]);
}
// Decompresses fragments into their chunks' places (jobs: source offset, length, destination
// offset, in data), the same way as the store's codec: deflate capped at chunkSize + 1 bytes,
// zstd only on frames whose header the caller checked declares chunkSize bytes. Returns the
// index of the first fragment that fails, with why, or undefined.
async function unpack(m, data) {
  const { chunkSize, unpack: jobs, codec } = m;
  let zstd;
  if (codec === 2) {
    zstdReady ??= (async () => { const z = require(m.zstdPath); await z.init(); return z; })();
    zstd = await zstdReady;
  }
  for (let j = 0; j < jobs.length; j += 3) {
    const src = data.subarray(jobs[j], jobs[j] + jobs[j + 1]);
    let out;
    try {
      out = codec === 2 ? zstd.decompress(src) : inflateRawSync(src, { windowBits: 15, maxOutputLength: chunkSize + 1 });
    } catch (e) {
      return { at: j / 3, why: (codec === 2 ? 'zstd: ' : 'deflate: ') + String(e && e.message || e) };
    }
    if (out.length !== chunkSize) return { at: j / 3, why: 'fragment inflates to ' + out.length + ' bytes, not ' + chunkSize };
    data.set(out, jobs[j + 2]);
  }
  return undefined;
}
parentPort.on('message', (m) => {
  if (m.drop !== undefined) { shared.delete(m.drop); return; }
  if (m.register !== undefined) { shared.set(m.register, m.sab); return; }
  const { id } = m;
  const data = m.data ?? new Uint8Array(shared.get(m.buffer), m.offset, m.length);
  if (m.offsets !== undefined) {
    compress(m, data).catch((e) => parentPort.postMessage({ id, error: String(e && e.message || e) }));
    return;
  }
  if (m.unpack !== undefined) {
    unpack(m, data).then(
      (bad) => bad === undefined ? hashJob(m, data.subarray(0, m.hashLength)) : parentPort.postMessage({ id, bad: bad.at, error: bad.why }),
      (e) => parentPort.postMessage({ id, error: String(e && e.message || e) }),
    );
    return;
  }
  hashJob(m, data);
});
function hashJob(m, data) {
  const { id, chunkSize } = m;
  const n = Math.ceil(data.length / chunkSize);
  const names = new Uint8Array(n * 16);
  const zero = new Uint8Array(n);
  const z = Buffer.from(zeros.buffer, 0, chunkSize);
  const only = m.only;
  const crcs = m.crc === true ? new Uint32Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    if (only !== undefined && only[i] === 0) continue;
    const c = Buffer.from(data.buffer, data.byteOffset + i * chunkSize, Math.min(chunkSize, data.length - i * chunkSize));
    if (c.length === chunkSize && c.equals(z)) { zero[i] = 1; continue; }
    names.set(hash('sha256', c, 'buffer').subarray(0, 16), i * 16);
    if (crcs !== undefined && c.length === chunkSize) crcs[i] = crc32(c);
  }
  let written = false;
  if (m.write !== undefined) {
    try {
      written = writeOut(m.write, data, names, zero, only, n);
    } catch (e) {
      parentPort.postMessage({ id, error: String(e && e.message || e), code: e && e.code, syscall: 'write' });
      return;
    }
  }
  if (crcs !== undefined) parentPort.postMessage({ id, names, zero, written, crcs }, [names.buffer, zero.buffer, crcs.buffer]);
  else parentPort.postMessage({ id, names, zero, written }, [names.buffer, zero.buffer]);
}
// Writes the batch's runs (offset in data, length, file position) to the output, when every chunk
// that was to be checked (only) has the name expected of it (expect; none: no check). Otherwise
// writes nothing: the caller reports the damage from the names it gets back.
function writeOut(w, data, names, zero, only, n) {
  if (w.expect !== undefined) {
    for (let i = 0; i < n; i++) {
      if (only !== undefined && only[i] === 0) continue;
      if (zero[i] === 1) return false;
      for (let k = 0; k < 16; k++) if (names[i * 16 + k] !== w.expect[i * 16 + k]) return false;
    }
  }
  const runs = w.runs;
  for (let j = 0; j < runs.length; j += 3) {
    let at = runs[j], left = runs[j + 1], pos = runs[j + 2];
    while (left > 0) {
      const done = writeSync(w.fd, data, at, left, pos);
      if (done <= 0) throw new Error('the system wrote no bytes');
      at += done; left -= done; pos += done;
    }
  }
  return true;
}
`;

/** Where the zstd package is, for the workers to load it (undefined: not found from here). */
const ZSTD_PATH: string | undefined = (() => {
  try {
    return createRequire(import.meta.url).resolve('@bokuweb/zstd-wasm');
  } catch {
    return undefined;
  }
})();

/** Shared buffers a worker keeps a handle to at most (the oldest is dropped past it). */
const REGISTERED = 16;

/**
 * Hashes chunks in the calling thread; with `only`, just the chunks it marks 1 (the others get
 * zeros for a name and 0 for a flag).
 */
export function hashBatch(data: Uint8Array, chunkSize: number, only?: Uint8Array): BatchNames {
  const n = Math.ceil(data.length / chunkSize);
  const names = new Uint8Array(n * NAME_BYTES);
  const zero = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (only !== undefined && only[i] === 0) continue;
    const c = data.subarray(i * chunkSize, Math.min(data.length, (i + 1) * chunkSize));
    if (c.length === chunkSize && isZero(c)) {
      zero[i] = 1;
      continue;
    }
    names.set(nameOf(c), i * NAME_BYTES);
  }
  return { names, zero };
}

interface Pending {
  // biome-ignore lint/suspicious/noExplicitAny: a hash or a compression result, by job
  resolve: (r: any) => void;
  reject: (e: unknown) => void;
}

/** What a worker sends back: names, fragments, or a failure. */
interface Reply {
  id: number;
  names?: Uint8Array;
  zero?: Uint8Array;
  bytes?: Uint8Array;
  lengths?: Uint32Array;
  error?: string;
  /** An unpack job: the index of the fragment that failed to decompress. */
  bad?: number;
  /** A write job's failure: the system call and its error code. */
  syscall?: string;
  crcs?: Uint32Array;
  code?: string;
  written?: boolean;
}

/** A fragment an unpack job could not decompress: its index in the job, and why. */
export class UnpackError extends Error {
  readonly index: number;
  constructor(index: number, why: string) {
    super(why);
    this.index = index;
  }
}

/**
 * A small pool of hashing workers. `hash(data, chunkSize)` resolves to the batch's names; batches
 * are spread over the workers round-robin. `close()` ends the workers (idempotent).
 */
export class HashPool {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, Pending>();
  /**
   * Shared buffers already handed to the workers, with their numbers: a later batch in one of
   * them is sent as (number, offset, length). Handing a SharedArrayBuffer over costs far more
   * than a message of numbers, on both threads.
   */
  readonly #registered = new Map<SharedArrayBuffer, number>();
  #nextBuffer = 0;
  #next = 0;
  #id = 0;
  #closed = false;

  /** @param workers - worker threads (0: hash in the calling thread). */
  constructor(workers: number) {
    for (let i = 0; i < workers; i++) {
      const w = new Worker(WORKER, { eval: true });
      w.unref();
      w.on('message', (m: Reply) => {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        if (m.bad !== undefined) p?.reject(new UnpackError(m.bad, m.error ?? 'failed'));
        else if (m.syscall !== undefined)
          p?.reject(Object.assign(new Error(m.error), { code: m.code, syscall: m.syscall }));
        else if (m.error !== undefined) p?.reject(new Error(`compression worker: ${m.error}`));
        else if (m.lengths !== undefined) p?.resolve(fragmentsOf(m.bytes as Uint8Array, m.lengths));
        else
          p?.resolve({
            names: m.names,
            zero: m.zero,
            written: m.written === true,
            ...(m.crcs === undefined ? {} : { crcs: m.crcs }),
          });
      });
      w.on('error', (e) => this.#failAll(e));
      this.#workers.push(w);
    }
  }

  get size(): number {
    return this.#workers.length;
  }

  /**
   * Names of every chunk of `data` (the last may be short: it is hashed as it is), or with
   * `only` of the chunks it marks 1 (see {@link hashBatch}). With `crc`, a worker also gives each
   * whole chunk's CRC-32 (`BatchNames.crcs`; not when the pool hashes in the calling thread,
   * where the page layer computing them costs the same).
   */
  hash(
    data: Uint8Array,
    chunkSize: number,
    only?: Uint8Array,
    write?: BatchWrite,
    crc?: boolean,
  ): Promise<BatchNames> {
    if (this.#workers.length === 0 || this.#closed) return Promise.resolve(hashBatch(data, chunkSize, only));
    return this.#post<BatchNames>(data, {
      chunkSize,
      ...(only === undefined ? {} : { only }),
      ...(write === undefined ? {} : { write }),
      ...(crc === true ? { crc: true } : {}),
    });
  }

  /**
   * Decompresses fragments into their chunks' places, then names the chunks: `data` holds
   * `hashLength` bytes of chunks, then the packed pages; `jobs` are triples (fragment offset,
   * length, chunk offset) in `data`, whose zstd frame headers the caller has checked. On a worker
   * when the pool has one for `codec` (else in the calling thread, the same way).
   * @throws UnpackError naming the first fragment that does not decompress to a whole chunk
   */
  unpackAndHash(
    data: Uint8Array,
    hashLength: number,
    chunkSize: number,
    jobs: Int32Array,
    codec: ChunkCodec,
    only?: Uint8Array,
  ): Promise<BatchNames> {
    if (!this.compresses(codec)) {
      for (let j = 0; j < jobs.length; j += 3) {
        let out: Uint8Array;
        try {
          out = codec.decompress(
            data.subarray(jobs[j] as number, (jobs[j] as number) + (jobs[j + 1] as number)),
            chunkSize,
          );
        } catch (e) {
          return Promise.reject(new UnpackError(j / 3, e instanceof Error ? e.message : String(e)));
        }
        data.set(out, jobs[j + 2] as number);
      }
      return this.hash(data.subarray(0, hashLength), chunkSize, only);
    }
    return this.#post(data, {
      chunkSize,
      unpack: jobs,
      codec: codec.id,
      zstdPath: ZSTD_PATH,
      hashLength,
      ...(only === undefined ? {} : { only }),
    });
  }

  /**
   * Whether {@link HashPool.compress} runs `codec` on a worker (else it compresses in the
   * calling thread).
   */
  compresses(codec: ChunkCodec): boolean {
    return (
      this.#workers.length > 0 &&
      !this.#closed &&
      (codec.id === 1 || (codec.id === 2 && ZSTD_PATH !== undefined))
    );
  }

  /**
   * The fragments of the chunks of `data` at `offsets` (undefined: the chunk does not shrink
   * enough to be packed), exactly as `codec.compress` gives them, on a worker.
   */
  compress(
    data: Uint8Array,
    chunkSize: number,
    offsets: number[],
    codec: ChunkCodec,
  ): Promise<(Uint8Array | undefined)[]> {
    if (!this.compresses(codec))
      return Promise.resolve(offsets.map((o) => codec.compress(data.subarray(o, o + chunkSize))));
    return this.#post(data, {
      chunkSize,
      offsets,
      codec: codec.id,
      level: codec.level,
      max: maxFragmentBytes(chunkSize),
      zstdPath: ZSTD_PATH,
    });
  }

  /** Sends a job about `data` to the next worker. */
  #post<T>(data: Uint8Array, job: Record<string, unknown>): Promise<T> {
    const id = this.#id++;
    const w = this.#workers[this.#next++ % this.#workers.length] as Worker;
    const p = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const buffer = data.buffer;
      if (buffer instanceof SharedArrayBuffer) {
        // Shared memory: the workers read the caller's bytes where they are.
        const number = this.#registered.get(buffer) ?? this.#register(buffer);
        w.postMessage({ id, ...job, buffer: number, offset: data.byteOffset, length: data.byteLength });
      } else {
        // Copied, not transferred: the caller keeps its bytes to store them.
        w.postMessage({ id, ...job, data });
      }
    });
    // A caller that stops early (an abort) may drop a batch: its rejection at close is expected.
    p.catch(() => {});
    return p;
  }

  /** Numbers a shared buffer for the workers, dropping the oldest past {@link REGISTERED}. */
  #register(buffer: SharedArrayBuffer): number {
    if (this.#registered.size >= REGISTERED) {
      const [oldest, number] = this.#registered.entries().next().value as [SharedArrayBuffer, number];
      this.#registered.delete(oldest);
      for (const w of this.#workers) w.postMessage({ drop: number });
    }
    const number = this.#nextBuffer++;
    this.#registered.set(buffer, number);
    for (const w of this.#workers) w.postMessage({ register: number, sab: buffer });
    return number;
  }

  #failAll(e: unknown): void {
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#workers.map((w) => w.terminate()));
    this.#failAll(new Error('hash pool closed'));
  }
}

/** Splits a worker's concatenated fragments by their lengths (0: no fragment). */
function fragmentsOf(bytes: Uint8Array, lengths: Uint32Array): (Uint8Array | undefined)[] {
  const out: (Uint8Array | undefined)[] = [];
  let at = 0;
  for (const n of lengths) {
    out.push(n === 0 ? undefined : bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}
