// Moving whole volumes and their differences in and out of a store: import of an image (file or
// stream) into the live volume, export of any version to a sparse file or a stream, and the diff
// stream (`exportDiff` / `applyDiff`) that ships the changes between two versions to another
// store or onto an image file.
//
// Diff stream format (version 2, little-endian):
//
//   header  "DEJADIFF" | u32 version (2) | u32 chunk size | u64 target size
//           | u16 length + UTF-8 of the base version | u16 length + UTF-8 of the target version
//           | u64 base size | u32 CRC-32 of the header bytes before it
//   record  u8 type (1 data, 2 zero) | u64 offset | u32 length
//           | 16 bytes: the base's digest over the record's range | data (type 1 only)
//           | u32 CRC-32 of the record's bytes before it
//   end     u8 type (3) | u64 records | u32 0 | u32 CRC-32 of those 13 bytes
//
// A record's CRC is checked before it is applied, so a damaged stream never writes damaged bytes;
// a stream cut short fails at its end with ERR_BAD_STREAM after applying the records before it
// (apply the same stream again once it is whole: applying is idempotent). The base digest (the
// first 16 bytes of the SHA-256 of the base version's bytes over the record's range, zeros past
// the base's size) lets the target be checked before each write: a record is applied only onto
// the base's bytes, or skipped where the target's bytes are already there (a second application),
// so a stream applied to the wrong image or store fails with ERR_INVALID_STATE instead of mixing
// two histories. Version 1 (no base size, no digests) is still read, unchecked.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, writeSync } from 'node:fs';
import { type FileHandle, open, stat, unlink } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import type { ChunkCodec } from './_codec';
import { sameBytes } from './_hash';
import { type BatchNames, type BatchWrite, HashPool, hashBatch, UnpackError } from './_hash-pool';
import { type RawChunks, uncheckedChunks, verifyBatch } from './_util';
import { StoreError } from './errors';
import type { Store } from './store';
import { LIVE, type LongOptions } from './types';
import type { Volume } from './volume';

const MAGIC = 'DEJADIFF';
const VERSION = 2;
const T_DATA = 1;
const T_ZERO = 2;
const T_END = 3;
/**
 * Bytes moved per step of import and export: a message to a hashing worker per step (each costs
 * the sender 0.1-0.2 ms of wall time on this machine), so 2 MiB rather than 1 (a first 1 GiB
 * import 2.90-3.36 s with 1 MiB, 2.73-3.10 s with 2, alternating on the quiet machine).
 */
const STEP = 2 << 20;

/** A source of bytes: a file path, or any async iterable of byte chunks (a Node Readable). */
export type ByteSource = string | AsyncIterable<Uint8Array>;
/** A sink: a file path, or a Node Writable. */
export type ByteSink = string | Writable;

/** Options of {@link importImage}. */
export interface ImportOptions extends LongOptions {
  /** Hashing worker threads (default: one per core beyond the first, at most 3; 0 hashes inline). */
  readonly workers?: number;
}

/** Options of {@link exportVersion}. */
export interface ExportOptions extends LongOptions {
  /** Worker threads that check chunks against their names (default as for imports). */
  readonly workers?: number;
}

/** What an import did. */
export interface ImportResult {
  /** Bytes read from the image (the live volume's new size). */
  readonly bytes: number;
  /** Chunks whose content changed. */
  readonly changedChunks: number;
}

function aborted(options: LongOptions): void {
  if (options.signal?.aborted) throw new StoreError('ERR_ABORTED', 'aborted by its signal');
}

async function* chunksOf(source: ByteSource): AsyncGenerator<Uint8Array> {
  if (typeof source === 'string') {
    for await (const b of createReadStream(source, { highWaterMark: STEP })) yield b as Uint8Array;
  } else {
    for await (const b of source) {
      if (!(b instanceof Uint8Array)) throw new TypeError('a stream source must yield Uint8Array chunks');
      yield b;
    }
  }
}

/**
 * A buffer in shared memory: handed to a hashing worker without a copy (the worker only reads
 * it, and the import keeps it until the store took it). Taken from `spare` (buffers the import
 * is done with) when it has one, so an import of any size holds a few pieces, not a heap of them
 * waiting for the garbage collector.
 */
function sharedBytes(size: number, spare?: Uint8Array[]): Uint8Array {
  const reused = spare?.pop();
  if (reused !== undefined && reused.byteLength === size) return reused;
  return new Uint8Array(new SharedArrayBuffer(size));
}

/**
 * Pieces of exactly `size` bytes (the last may be shorter) in shared memory: a file is read
 * straight into them; a stream's chunks are copied in.
 */
async function* pieces(source: ByteSource, size: number, spare: Uint8Array[]): AsyncGenerator<Uint8Array> {
  if (typeof source === 'string') {
    const fh = await open(source, 'r');
    // READS_AHEAD pieces are read at once (each on a thread of the pool), so a piece is there when
    // the import wants it even while the cores are busy hashing and storing.
    const reading: Promise<Uint8Array | undefined>[] = [];
    try {
      let position = 0;
      for (;;) {
        while (reading.length < READS_AHEAD) {
          const read = readPiece(fh, position, size, spare);
          // Seen when its turn comes; until then a failure must not count as unhandled.
          read.catch(() => {});
          reading.push(read);
          position += size;
        }
        const piece = await reading.shift();
        if (piece === undefined) return;
        yield piece;
        if (piece.length < size) return;
      }
    } finally {
      await Promise.allSettled(reading);
      await fh.close();
    }
  }
  yield* regroup(chunksOf(source), size, spare);
}

/** Pieces of a file an import reads at once. */
const READS_AHEAD = 2;

/** Up to `size` bytes of a file from `position`, in shared memory; undefined at its end. */
async function readPiece(
  fh: FileHandle,
  position: number,
  size: number,
  spare: Uint8Array[],
): Promise<Uint8Array | undefined> {
  const buf = sharedBytes(size, spare);
  let fill = 0;
  while (fill < size) {
    const { bytesRead } = await fh.read(buf, fill, size - fill, position + fill);
    if (bytesRead === 0) break;
    fill += bytesRead;
  }
  if (fill === 0) {
    spare.push(buf);
    return undefined;
  }
  return fill === size ? buf : buf.subarray(0, fill);
}

/** Regroups a byte stream into pieces of exactly `size` bytes (the last may be shorter). */
async function* regroup(
  source: AsyncIterable<Uint8Array>,
  size: number,
  spare?: Uint8Array[],
): AsyncGenerator<Uint8Array> {
  let buf = sharedBytes(size, spare);
  let fill = 0;
  for await (const piece of source) {
    let at = 0;
    while (at < piece.length) {
      const n = Math.min(size - fill, piece.length - at);
      buf.set(piece.subarray(at, at + n), fill);
      fill += n;
      at += n;
      if (fill === size) {
        yield buf;
        buf = sharedBytes(size, spare);
        fill = 0;
      }
    }
  }
  if (fill > 0) yield buf.subarray(0, fill);
}

/**
 * Makes an image the live volume: writes it over the live volume (only changed chunks cost a
 * write; zero chunks unmap), sets the volume's size to the image's, and flushes. Chunks are hashed
 * on worker threads, ahead of the store taking them.
 */
export async function importImage(
  store: Store,
  source: ByteSource,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const total = typeof source === 'string' ? (await stat(source)).size : undefined;
  if (total !== undefined && total > store.size) await store.resize(total);
  if (total !== undefined) await store._reserve(Math.ceil(total / store.chunkSize));
  const pool = new HashPool(options.workers ?? defaultWorkers());
  const cs = store.chunkSize;
  let offset = 0;
  let changed = 0;
  // Up to DEPTH pieces wait here; the workers hash at most onWorkers of them at a time, and
  // when the store wants a piece whose names are not back yet, this thread hashes a later piece
  // nobody has taken rather than wait (the workers' queue stays short, so what this thread takes
  // is work they had not started). On two cores that puts the idle main thread of a later
  // version's import (most chunks unchanged: little to store, everything to hash) to work, and
  // leaves the worker more time to compress on a compressed store.
  const DEPTH = 3;
  const onWorkers = 2 * pool.size;
  interface Ahead {
    piece: Uint8Array;
    names?: Promise<BatchNames>;
    ready: boolean;
  }
  const ahead: Ahead[] = [];
  const spare: Uint8Array[] = [];
  const input = pieces(source, STEP, spare);
  let busy = 0;
  let stopped = false;
  // Whether the workers also give CRC-32s: from the start, then while a piece changes at least a
  // quarter of its chunks.
  let crcs = store._codec === undefined;
  // Hands pieces to the workers in order while fewer than onWorkers are there; called again as
  // each comes back, so a worker has its next piece before this thread gets to its loop.
  const pump = (): void => {
    for (const a of ahead) {
      if (busy >= onWorkers || stopped) return;
      if (a.names !== undefined) continue;
      busy++;
      // With each chunk's CRC-32 for the page layer, on the worker (not for packed pages), while
      // the pieces bring many new chunks: in a later version most are unchanged, and the CRC-32s
      // of all would cost the worker more than the few new ones cost this thread.
      const names = pool.hash(a.piece, cs, undefined, undefined, crcs);
      a.names = names;
      const back = (): void => {
        a.ready = true;
        busy--;
        pump();
      };
      names.then(back, back);
    }
  };
  const hashHere = (a: Ahead): void => {
    a.names = Promise.resolve(hashBatch(a.piece, cs));
    a.ready = true;
  };
  // The next piece is always being read (a file: READS_AHEAD pieces at once, on the thread pool)
  // while the store takes the piece before.
  let reading: Promise<IteratorResult<Uint8Array>> | undefined;
  try {
    let done = false;
    // The next piece is asked for before it is awaited (the store takes the one before
    // meanwhile): a source that fails then (stdin stopped by Ctrl-C) must not count as an
    // unhandled rejection, which ends the process; its turn sees the failure.
    const ask = (): Promise<IteratorResult<Uint8Array>> => {
      const p = input.next();
      p.catch(() => {});
      return p;
    };
    reading = ask();
    for (;;) {
      while (!done && ahead.length < DEPTH) {
        const next = await (reading as Promise<IteratorResult<Uint8Array>>);
        reading = undefined;
        if (next.done) done = true;
        else {
          ahead.push({ piece: next.value, ready: false });
          if (ahead.length < DEPTH) reading = ask();
        }
      }
      if (!done && reading === undefined) reading = ask();
      pump();
      const item = ahead.shift();
      if (!item) break;
      aborted(options);
      if (item.names === undefined) hashHere(item);
      while (!item.ready) {
        let later: Ahead | undefined;
        for (let k = ahead.length - 1; k >= 0 && later === undefined; k--)
          if ((ahead[k] as Ahead).names === undefined) later = ahead[k];
        if (later === undefined) break;
        hashHere(later);
        await nextTurn(); // the workers' replies come in before this looks again
      }
      const { piece } = item;
      if (offset + piece.length > store.size) await store.resize(offset + piece.length);
      const changedHere = await store._write(
        LIVE,
        offset,
        piece,
        piece.length,
        await (item.names as Promise<BatchNames>),
        pool,
      );
      changed += changedHere;
      crcs = store._codec === undefined && changedHere * 4 >= piece.length / cs;
      offset += piece.length;
      // The store has written (or shared) every chunk of the piece: its buffer can take the next.
      if (piece.byteLength === STEP && piece.byteOffset === 0) spare.push(new Uint8Array(piece.buffer));
      options.onProgress?.({ bytes: offset, total });
    }
  } finally {
    // Settle what is still reading and hashing, so no rejection goes unhandled.
    stopped = true;
    await reading?.catch(() => {});
    await input.return(undefined).catch(() => {});
    await Promise.allSettled(ahead.map((a) => a.names));
    await pool.close();
  }
  if (offset !== store.size) await store.resize(offset);
  await store.flush();
  return { bytes: offset, changedChunks: changed };
}

/** Hashing workers by default: one per core beyond the first, at most 3. */
function defaultWorkers(): number {
  return Math.max(0, Math.min(3, availableParallelism() - 1));
}

/**
 * Writes a version to a file (sparse: zero chunks become holes; an existing file is replaced; not
 * fsynced), to a device or pipe named by a path, or to a stream (every byte). Chunks are checked against their names on worker threads
 * (unless the store's `verifyReads` is off) while the next ones are read.
 */
export async function exportVersion(
  store: Store,
  version: string,
  sink: ByteSink,
  options: ExportOptions = {},
): Promise<number> {
  const vol = store.volume(version);
  const size = vol.size;
  const cs = store.chunkSize;
  const per = STEP / cs;
  const chunks = Math.ceil(size / cs);
  // A compressed store's fragments are decompressed on the workers too (then checked there).
  const codec = store._codec;
  const pool = new HashPool(store.verifyReads || codec ? (options.workers ?? defaultWorkers()) : 0);
  let fh: FileHandle | undefined;
  let sparse = false;
  if (typeof sink === 'string') {
    // A regular file is replaced by a new, sparse one (unlinked first: truncating a big file in
    // place makes ext4 write the old data out first). Anything else (a block device, a pipe,
    // /dev/null) gets every byte, in order.
    const st = await stat(sink).catch(() => undefined);
    sparse = st === undefined || st.isFile();
    if (st?.isFile()) await unlink(sink);
    fh = await open(sink, sparse ? 'wx' : 'r+');
  }
  // Read the next step while the pool checks the current one against its names.
  const pending: {
    first: number;
    raw: RawChunks;
    names: Promise<BatchNames> | undefined;
    verify: boolean;
    ready: boolean;
  }[] = [];
  // Bytes of the volume done (in a file the batches this thread takes on its own finish out of
  // order, so progress counts them, not positions).
  let done = 0;
  // Chunks are read into shared memory, so the workers check them without a copy.
  const spare: Uint8Array[] = [];
  // A batch read and named (by a worker or here): checked, then written unless a worker did.
  const finish = async (
    first: number,
    raw: RawChunks,
    hashed: BatchNames | undefined,
    verify: boolean,
  ): Promise<void> => {
    if (hashed && verify) {
      verifyBatch(raw, hashed, first, `export of ${version}`);
      store._keepChecked(raw);
    }
    const start = first * cs;
    const end = Math.min(size, start + raw.physical.length * cs);
    if (fh && !hashed?.written) {
      // Synchronous positional writes, one system call each, no thread-pool round trip (the file
      // system's page cache takes them; the export is not fsynced).
      writeRunsSync(fh.fd, raw.bytes, writeRuns(raw.physical, start, end, cs, sparse));
    } else if (!fh) {
      await writeTo(sink as Writable, raw.bytes.subarray(0, end - start));
    }
    spare.push(raw.bytes);
    done += end - start;
    options.onProgress?.({ bytes: done, total: size });
  };
  try {
    if (fh && sparse) await fh.truncate(size);
    let next = 0;
    for (;;) {
      while (next < chunks && pending.length < 2) {
        aborted(options);
        const count = Math.min(per, chunks - next);
        // A sparse file skips the unmapped chunks: they are neither zeroed nor hashed. A
        // compressed store's packed pages are read into the second half of the buffer.
        const buf = sharedBytes((codec ? 2 : 1) * per * cs, spare);
        const raw = await store._readRaw(version, next, count, buf, !sparse, codec !== undefined);
        const only = store.verifyReads ? uncheckedChunks(raw) : undefined;
        // A file is written by the worker that names the batch, once the names match (so the
        // main thread only resolves mappings and reads pages); not in a compressed store, whose
        // workers decompress too and are the busier side already.
        const write: BatchWrite | undefined =
          fh && pool.size > 0 && !codec
            ? {
                fd: fh.fd,
                runs: writeRuns(raw.physical, next * cs, Math.min(size, (next + count) * cs), cs, sparse),
                ...(store.verifyReads ? { expect: raw.names } : {}),
              }
            : undefined;
        let names: Promise<BatchNames> | undefined;
        if (raw.unpack) {
          const { jobs, refs } = raw.unpack;
          names = pool
            .unpackAndHash(
              buf.subarray(0, 2 * count * cs),
              count * cs,
              cs,
              jobs,
              codec as ChunkCodec,
              only ?? new Uint8Array(count),
            )
            .catch((e: unknown) => {
              throw e instanceof UnpackError ? store._fragmentError(refs[e.index] as number, e.message) : e;
            });
        } else if (only) {
          names = pool.hash(raw.bytes.subarray(0, count * cs), cs, only, write);
        }
        const entry = { first: next, raw, names, verify: store.verifyReads, ready: names === undefined };
        const settled = (): void => {
          entry.ready = true;
        };
        names?.then(settled, settled);
        pending.push(entry);
        next += count;
      }
      const item = pending.shift();
      if (!item) break;
      // While the worker still checks this batch, this thread reads, checks and writes the next
      // one itself rather than wait (a file only: its writes are positional, in any order).
      while (fh && !codec && pool.size > 0 && !item.ready && next < chunks) {
        aborted(options);
        const count = Math.min(per, chunks - next);
        const raw = await store._readRaw(version, next, count, sharedBytes(per * cs, spare), !sparse, false);
        const only = store.verifyReads ? uncheckedChunks(raw) : undefined;
        await finish(next, raw, only && hashBatch(raw.bytes.subarray(0, count * cs), cs, only), true);
        next += count;
        await nextTurn(); // the worker's reply comes in before this looks again
      }
      await finish(item.first, item.raw, await item.names, item.verify);
    }
  } finally {
    await Promise.allSettled(pending.map((p) => p.names));
    await pool.close();
    await fh?.close();
  }
  return size;
}

/** Writes `runs` (triples: offset in `bytes`, length, file position) with positional writes. */
function writeRunsSync(fd: number, bytes: Uint8Array, runs: Float64Array): void {
  for (let j = 0; j < runs.length; j += 3) {
    let at = runs[j] as number;
    let left = runs[j + 1] as number;
    let position = runs[j + 2] as number;
    while (left > 0) {
      const n = writeSync(fd, bytes, at, left, position);
      if (n <= 0) throw new Error('the system wrote no bytes');
      at += n;
      left -= n;
      position += n;
    }
  }
}

/**
 * The writes of a batch of chunks read into one buffer, as triples (offset in the buffer, length,
 * file position): the bytes of `start .. end` of the volume, or in a sparse file only the runs of
 * chunks that hold data (`physical[i] >= 0`).
 */
function writeRuns(
  physical: number[],
  start: number,
  end: number,
  cs: number,
  sparse: boolean,
): Float64Array {
  if (!sparse) return Float64Array.of(0, end - start, start);
  const runs: number[] = [];
  let i = 0;
  while (i < physical.length) {
    if ((physical[i] as number) < 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < physical.length && (physical[j] as number) >= 0) j++;
    const from = i * cs;
    runs.push(from, Math.min(j * cs, end - start) - from, start + from);
    i = j;
  }
  return Float64Array.from(runs);
}

function writeTo(sink: Writable, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    sink.once('error', onError);
    const ok = sink.write(bytes, (e) => {
      sink.off('error', onError);
      if (e) reject(e);
      else if (ok) resolve();
    });
    if (!ok) sink.once('drain', () => resolve());
  });
}

function withCrc(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 4);
  out.set(bytes);
  new DataView(out.buffer).setUint32(bytes.length, crc32(bytes), true);
  return out;
}

function setU64(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, v % 2 ** 32, true);
  dv.setUint32(off + 4, Math.floor(v / 2 ** 32), true);
}
function getU64(dv: DataView, off: number): number {
  return dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 2 ** 32;
}

/** Bytes of a record before its data in a version-2 stream: type, offset, length, base digest. */
const RECORD_HEAD = 13 + 16;

const zeroPage = new Uint8Array(65536);

/**
 * A diff record's digest of a range's bytes: the first 16 bytes of the SHA-256 of `bytes`
 * followed by zeros up to `length` bytes (none: all zeros).
 */
function digestOf(bytes: Uint8Array | undefined, length: number): Uint8Array {
  const h = createHash('sha256');
  if (bytes) h.update(bytes);
  for (let left = length - (bytes?.length ?? 0); left > 0; left -= zeroPage.length)
    h.update(zeroPage.subarray(0, Math.min(left, zeroPage.length)));
  return h.digest().subarray(0, 16);
}

/**
 * {@link digestOf} of a target's bytes over `[offset, offset + length)`, read STEP bytes at a time
 * (a zero record may be long: the memory stays bounded).
 */
async function digestOfRange(
  read: (offset: number, length: number) => Promise<Uint8Array>,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const h = createHash('sha256');
  for (let pos = 0; pos < length; pos += STEP)
    h.update(await read(offset + pos, Math.min(STEP, length - pos)));
  return h.digest().subarray(0, 16);
}

/** `length` bytes of a file from `offset` (zeros past its end). */
async function readAt(file: FileHandle, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  for (let got = 0; got < length; ) {
    const { bytesRead } = await file.read(out, got, length - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return out;
}

/**
 * Writes the changes from version `base` to version `target` as a diff stream: applying it to a
 * copy of `base` gives `target`. O(changed chunks).
 *
 * @returns the number of records written.
 */
export async function exportDiff(
  store: Store,
  base: string,
  target: string,
  sink: ByteSink,
  options: LongOptions = {},
): Promise<number> {
  const out = typeof sink === 'string' ? createWriteStream(sink) : sink;
  try {
    const vol = store.volume(target);
    const from = store.volume(base);
    const ranges = await store.diff(base, target);
    const enc = new TextEncoder();
    const b = enc.encode(base);
    const t = enc.encode(target);
    const head = new Uint8Array(8 + 4 + 4 + 8 + 2 + b.length + 2 + t.length + 8);
    const hv = new DataView(head.buffer);
    head.set(enc.encode(MAGIC), 0);
    hv.setUint32(8, VERSION, true);
    hv.setUint32(12, store.chunkSize, true);
    setU64(hv, 16, vol.size);
    hv.setUint16(24, b.length, true);
    head.set(b, 26);
    hv.setUint16(26 + b.length, t.length, true);
    head.set(t, 28 + b.length);
    setU64(hv, 28 + b.length + t.length, from.size);
    await writeTo(out, withCrc(head));
    let records = 0;
    let done = 0;
    const total = ranges.reduce((n, r) => n + r.length, 0);
    for (const range of ranges) {
      const end = Math.min(range.offset + range.length, vol.size);
      for (let pos = range.offset; pos < end; pos += STEP) {
        aborted(options);
        const n = Math.min(STEP, end - pos);
        for (const ext of await vol.allocation(pos, n)) {
          const data = ext.zero ? undefined : await vol.read(ext.offset, ext.length);
          const rec = new Uint8Array(RECORD_HEAD + (data ? data.length : 0));
          const rv = new DataView(rec.buffer);
          rec[0] = data ? T_DATA : T_ZERO;
          setU64(rv, 1, ext.offset);
          rv.setUint32(9, ext.length, true);
          const inBase = Math.max(0, Math.min(ext.length, from.size - ext.offset));
          rec.set(digestOf(inBase > 0 ? await from.read(ext.offset, inBase) : undefined, ext.length), 13);
          if (data) rec.set(data, RECORD_HEAD);
          await writeTo(out, withCrc(rec));
          records++;
        }
        done += n;
        options.onProgress?.({ bytes: done, total });
      }
    }
    const end = new Uint8Array(13);
    end[0] = T_END;
    setU64(new DataView(end.buffer), 1, records);
    await writeTo(out, withCrc(end));
    return records;
  } finally {
    if (typeof sink === 'string')
      await new Promise<void>((resolve, reject) =>
        out.end((e?: Error | null) => (e ? reject(e) : resolve())),
      );
  }
}

/** Reads exact byte counts from a stream. */
class Reader {
  readonly #it: AsyncIterator<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  #at = 0;
  consumed = 0;
  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }
  async take(n: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let fill = 0;
    while (fill < n) {
      if (this.#at === this.#buf.length) {
        const next = await this.#it.next();
        if (next.done)
          throw new StoreError(
            'ERR_BAD_STREAM',
            `diff stream: truncated in ${what} at byte ${this.consumed + fill}`,
          );
        this.#buf = next.value;
        this.#at = 0;
      }
      const k = Math.min(n - fill, this.#buf.length - this.#at);
      out.set(this.#buf.subarray(this.#at, this.#at + k), fill);
      this.#at += k;
      fill += k;
    }
    this.consumed += n;
    return out;
  }
}

function checkCrc(bytes: Uint8Array, crc: Uint8Array, what: string, at: number): void {
  const want = new DataView(crc.buffer, crc.byteOffset, 4).getUint32(0, true);
  if (crc32(bytes) !== want)
    throw new StoreError('ERR_BAD_STREAM', `diff stream: ${what} at byte ${at} fails its CRC`);
}

/** What a diff stream said about itself. */
export interface DiffInfo {
  readonly base: string;
  readonly target: string;
  readonly chunkSize: number;
  readonly size: number;
  readonly records: number;
}

/**
 * Applies a diff stream to a volume of a store (its live volume, usually) or to an image file
 * (created if missing). The target is resized to the stream's target size. Flushes (or fsyncs).
 *
 * @throws StoreError `ERR_BAD_STREAM` for a malformed, damaged or truncated stream.
 */
export async function applyDiff(
  source: ByteSource,
  target: Volume | string,
  options: LongOptions = {},
): Promise<DiffInfo> {
  const r = new Reader(chunksOf(source));
  const fixed = await r.take(26, 'the header');
  const dec = new TextDecoder();
  if (dec.decode(fixed.subarray(0, 8)) !== MAGIC)
    throw new StoreError('ERR_BAD_STREAM', 'diff stream: bad magic (not a Deja diff)');
  const hv = new DataView(fixed.buffer);
  const version = hv.getUint32(8, true);
  if (version !== 1 && version !== VERSION)
    throw new StoreError('ERR_BAD_STREAM', `diff stream: version ${version} is not supported`);
  // Version 1 streams carry no base size and no digests: applied unchecked, as before.
  const checked = version >= 2;
  const chunkSize = hv.getUint32(12, true);
  const size = getU64(hv, 16);
  const bl = hv.getUint16(24, true);
  const bBytes = await r.take(bl + 2, 'the header');
  const tl = new DataView(bBytes.buffer).getUint16(bl, true);
  const tBytes = await r.take(tl + (checked ? 8 : 0), 'the header');
  const headCrc = await r.take(4, 'the header');
  const head = new Uint8Array(26 + bl + 2 + tBytes.length);
  head.set(fixed);
  head.set(bBytes, 26);
  head.set(tBytes, 28 + bl);
  checkCrc(head, headCrc, 'the header', 0);
  const baseSize = checked ? getU64(new DataView(tBytes.buffer), tl) : undefined;
  const info = {
    base: dec.decode(bBytes.subarray(0, bl)),
    target: dec.decode(tBytes.subarray(0, tl)),
    chunkSize,
    size,
  };
  const file =
    typeof target === 'string'
      ? await open(target, 'a+').then(async (fh) => {
          await fh.close();
          return open(target, 'r+');
        })
      : undefined;
  try {
    const vol = typeof target === 'string' ? undefined : target;
    if (vol) {
      if (vol.size !== size && vol.version !== LIVE)
        throw new StoreError(
          'ERR_INVALID_STATE',
          `diff stream: target size ${size} differs from snapshot '${vol.version}' (${vol.size} bytes)`,
        );
    }
    const resize = async (n: number) => {
      if (file) await file.truncate(n);
      else if (vol && vol.size !== n) await vol.resize(n);
    };
    // Grow first so every record fits; shrink at the end.
    const current = file ? (await file.stat()).size : (vol as Volume).size;
    // The target holds the base (or, applied before, the stream's target): its size says so first.
    if (baseSize !== undefined && current !== baseSize && current !== size)
      throw new StoreError(
        'ERR_INVALID_STATE',
        `diff stream: the target holds ${current} bytes, but '${info.base}' has ${baseSize} (and '${info.target}' ${size}): apply it to a copy of '${info.base}'`,
      );
    if (size > current) await resize(size);
    let records = 0;
    let written = 0;
    let bytes = 0;
    for (;;) {
      aborted(options);
      const at = r.consumed;
      const rec = await r.take(13, 'a record header');
      const rv = new DataView(rec.buffer);
      const type = rec[0];
      const offset = getU64(rv, 1);
      const length = rv.getUint32(9, true);
      if (type === T_END) {
        checkCrc(rec, await r.take(4, 'the end record'), 'the end record', at);
        if (offset !== records)
          throw new StoreError(
            'ERR_BAD_STREAM',
            `diff stream: the end record counts ${offset} records, ${records} were read`,
          );
        break;
      }
      if ((type !== T_DATA && type !== T_ZERO) || offset + length > size) {
        throw new StoreError(
          'ERR_BAD_STREAM',
          `diff stream: bad record at byte ${at} (type ${type}, ${offset}+${length} of ${size})`,
        );
      }
      if (type === T_DATA && length > 1 << 26)
        throw new StoreError('ERR_BAD_STREAM', `diff stream: record at byte ${at} is too long (${length})`);
      const baseDigest = checked ? await r.take(16, 'a record header') : undefined;
      const data = type === T_DATA ? await r.take(length, 'record data') : undefined;
      const head = checked ? RECORD_HEAD : 13;
      const whole = new Uint8Array(head + (data ? data.length : 0));
      whole.set(rec);
      if (baseDigest) whole.set(baseDigest, 13);
      if (data) whole.set(data, head);
      checkCrc(whole, await r.take(4, 'a record'), 'a record', at);
      // With a digest: the target's bytes there now are the base's (write), the record's own
      // (applied before: nothing to do), or neither (another history: stop before writing).
      let write = true;
      if (baseDigest) {
        const now = await digestOfRange(
          (at, n) => (file ? readAt(file, at, n) : (vol as Volume).read(at, n)),
          offset,
          length,
        );
        if (!sameBytes(now, baseDigest)) {
          if (!sameBytes(now, digestOf(data, length))) {
            // Nothing written yet: the target keeps its size too.
            if (written === 0 && size > current) await resize(current);
            throw new StoreError(
              'ERR_INVALID_STATE',
              `diff stream: bytes ${offset}..${offset + length} of the target hold neither '${info.base}' nor '${info.target}' (record ${records + 1}; the ${records} before it are in place): apply the stream to a copy of '${info.base}'`,
            );
          }
          write = false;
        }
      }
      if (write && file) {
        const bytesOut = data ?? new Uint8Array(Math.min(length, STEP));
        for (let pos = 0; pos < length; pos += bytesOut.length) {
          const n = Math.min(bytesOut.length, length - pos);
          await file.write(bytesOut, 0, n, offset + pos);
        }
      } else if (write && data) await (vol as Volume).write(offset, data);
      else if (write) await (vol as Volume).discard(offset, length);
      if (write) written++;
      records++;
      bytes += length;
      options.onProgress?.({ bytes, total: undefined });
    }
    await resize(size);
    if (file) await file.sync();
    else await (vol as Volume).flush();
    return { ...info, records };
  } finally {
    await file?.close();
  }
}
