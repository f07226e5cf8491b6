// `deja import STORE IMAGE --changed EXTENTS`: the list of changed byte ranges another tool already
// knows (LVM thin pools through thin_delta, Kubernetes CSI changed-block tracking, Deja's own
// `diff --json`) is read, checked, and only those ranges of the image are read into the live volume;
// the rest of the live volume stays as it is, so it must hold the version the list starts from.
//
// The list comes from outside and is treated as hostile: the file is size-capped before it is
// read, every number must be a whole number of bytes below 2^53, ranges must be sorted, must not
// overlap and must lie inside the image. Any violation is one `ERR_BAD_EXTENTS` failure naming the
// entry, raised before the store is touched. Adjacent ranges are merged. Accepted forms:
//
//   Deja          [{ "offset": 0, "length": 4096 }, ...]  or  { "ranges": [...] } (deja diff --json)
//   CSI           one GetMetadataDelta response or an array of them, as the external-snapshot-
//                 metadata lister prints them (`block_metadata_type`, `volume_capacity_bytes`,
//                 `block_metadata: [{ byte_offset, size_bytes }]`, a zero offset may be omitted)
//                 or in protobuf JSON (`blockMetadata`, `byteOffset`, `sizeBytes`, int64 as strings)
//   thin_delta    its XML as printed (`<superblock data_block_size="SECTORS">`, `<diff>`, then
//                 `same` / `different` / `left_only` / `right_only` elements with `begin` and
//                 `length` in data blocks); every element but `same` is a change

import { open, readFile, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Range, Store } from '../index';
import { CliFailure, EXIT } from './errors';

/** The largest extents file read (64 MiB: about a million thin_delta ranges). */
export const MAX_EXTENTS_FILE = 64 << 20;
/** Bytes read from the image per store write. */
const PIECE = 4 << 20;
/** 512-byte sectors: thin_delta's unit of `data_block_size`. */
const SECTOR = 512;

/** The failure every malformed extents list becomes. */
function bad(source: string, message: string): CliFailure {
  return new CliFailure(`${source}: ${message}`, EXIT.FAILURE, 'ERR_BAD_EXTENTS');
}

/**
 * Reads an extents file (or stdin for `-`) of at most {@link MAX_EXTENTS_FILE} bytes.
 *
 * @throws CliFailure `ERR_BAD_EXTENTS` when it is larger; the system's error when it cannot be read.
 */
export async function readExtentsText(path: string, stdin: Readable): Promise<string> {
  if (path !== '-') {
    const s = await stat(path);
    if (!s.isFile()) throw bad(path, 'not a regular file');
    if (s.size > MAX_EXTENTS_FILE)
      throw bad(path, `${s.size} bytes, over the ${MAX_EXTENTS_FILE}-byte limit`);
    return readFile(path, 'utf8');
  }
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of stdin) {
    n += (chunk as Buffer).length;
    if (n > MAX_EXTENTS_FILE) throw bad('stdin', `over the ${MAX_EXTENTS_FILE}-byte limit`);
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** A parsed list: sorted, merged ranges, and the volume size the list states (CSI), if any. */
export interface ChangedExtents {
  readonly ranges: Range[];
  readonly format: 'deja' | 'csi' | 'thin_delta';
  readonly volumeSize: number | undefined;
}

/**
 * Parses and checks an extents list (see the file comment for the forms). O(text + ranges).
 *
 * @param text - the file's content.
 * @param source - the file's name, for messages.
 * @throws CliFailure `ERR_BAD_EXTENTS` naming the entry that is malformed, unsorted or overlapping.
 */
export function parseChangedExtents(text: string, source: string): ChangedExtents {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('<')) return { ...thinDelta(trimmed, source), format: 'thin_delta' };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad(source, `not JSON (${(e as Error).message}) nor thin_delta XML`);
  }
  const list = new RangeList(source);
  const records = csiRecords(doc, source);
  if (records) {
    let volumeSize: number | undefined;
    records.forEach((rec, r) => {
      const cap = field(rec, 'volume_capacity_bytes', 'volumeCapacityBytes');
      if (cap !== undefined) {
        const size = whole(cap, source, `record ${r + 1}: volume_capacity_bytes`);
        if (volumeSize !== undefined && size !== volumeSize)
          throw bad(source, `record ${r + 1} states a volume of ${size} bytes, an earlier one ${volumeSize}`);
        volumeSize = size;
      }
      const blocks = field(rec, 'block_metadata', 'blockMetadata') ?? [];
      if (!Array.isArray(blocks)) throw bad(source, `record ${r + 1}: block_metadata is not an array`);
      blocks.forEach((b, i) => {
        const where = `record ${r + 1}, block ${i + 1}`;
        if (!isObject(b)) throw bad(source, `${where} is not an object`);
        const offset = whole(field(b, 'byte_offset', 'byteOffset') ?? 0, source, `${where}: byte_offset`);
        const length = whole(field(b, 'size_bytes', 'sizeBytes'), source, `${where}: size_bytes`);
        list.add(offset, length, where);
      });
    });
    return { ranges: list.ranges, format: 'csi', volumeSize };
  }
  const entries = Array.isArray(doc)
    ? doc
    : isObject(doc) && Array.isArray(doc.ranges)
      ? doc.ranges
      : undefined;
  if (!entries)
    throw bad(
      source,
      'expected an array of { offset, length }, { ranges: [...] }, CSI block metadata or thin_delta XML',
    );
  entries.forEach((e, i) => {
    const where = `range ${i + 1}`;
    if (!isObject(e)) throw bad(source, `${where} is not an object`);
    list.add(whole(e.offset, source, `${where}: offset`), whole(e.length, source, `${where}: length`), where);
  });
  return { ranges: list.ranges, format: 'deja', volumeSize: undefined };
}

/**
 * Checks the ranges against the image's size.
 *
 * @throws CliFailure `ERR_BAD_EXTENTS` for a range past the end, or a stated volume size that is
 *   not the image's.
 */
export function checkAgainstImage(extents: ChangedExtents, size: number, source: string): void {
  if (extents.volumeSize !== undefined && extents.volumeSize !== size)
    throw bad(source, `the list describes a volume of ${extents.volumeSize} bytes; the image has ${size}`);
  const last = extents.ranges[extents.ranges.length - 1];
  if (last && last.offset + last.length > size)
    throw bad(
      source,
      `a range ends at byte ${last.offset + last.length}, past the end of the image (${size} bytes)`,
    );
}

/** What {@link importChanged} did. */
export interface ChangedImportResult {
  /** The image's size: the live volume's size now. */
  readonly bytes: number;
  /** Bytes read from the image (the sum of the ranges). */
  readonly readBytes: number;
}

/**
 * Reads the `ranges` of `image` into the live volume at the same offsets (the volume takes the
 * image's size), then flushes. Nothing else of the image is read. The ranges must already be
 * checked ({@link parseChangedExtents}, {@link checkAgainstImage}).
 *
 * @throws CliFailure `ERR_BAD_EXTENTS` when the image ends inside a range (it shrank meanwhile).
 */
export async function importChanged(
  store: Store,
  image: string,
  size: number,
  ranges: readonly Range[],
  options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<ChangedImportResult> {
  const total = ranges.reduce((n, r) => n + r.length, 0);
  const file = await open(image, 'r');
  try {
    if (store.size !== size) await store.resize(size);
    const pieces: Range[] = [];
    for (const r of ranges)
      for (let at = r.offset; at < r.offset + r.length; at += PIECE)
        pieces.push({ offset: at, length: Math.min(PIECE, r.offset + r.length - at) });
    // One read ahead of the store's write; two buffers take turns.
    const buffers = [Buffer.allocUnsafe(PIECE), Buffer.allocUnsafe(PIECE)];
    const readPiece = async (i: number): Promise<Buffer> => {
      const p = pieces[i] as Range;
      const buf = (buffers[i % 2] as Buffer).subarray(0, p.length);
      let got = 0;
      while (got < p.length) {
        const { bytesRead } = await file.read(buf, got, p.length - got, p.offset + got);
        if (bytesRead === 0)
          throw bad(image, `the image ends at byte ${p.offset + got}, inside a changed range`);
        got += bytesRead;
      }
      return buf;
    };
    let done = 0;
    let next = pieces.length > 0 ? readPiece(0) : undefined;
    for (let i = 0; i < pieces.length; i++) {
      if (options.signal?.aborted) throw new Error('aborted');
      const bytes = await (next as Promise<Buffer>);
      next = i + 1 < pieces.length ? readPiece(i + 1) : undefined;
      next?.catch(() => {});
      const p = pieces[i] as Range;
      await store.write(p.offset, bytes);
      done += p.length;
      options.onProgress?.(done, total);
    }
    await store.flush();
    return { bytes: size, readBytes: total };
  } finally {
    await file.close();
  }
}

/** Collects ranges in order, refusing overlaps and disorder, merging neighbours. */
class RangeList {
  readonly ranges: { offset: number; length: number }[] = [];
  readonly #source: string;
  #end = 0;
  #lastWhere = '';

  constructor(source: string) {
    this.#source = source;
  }

  add(offset: number, length: number, where: string): void {
    if (length === 0) throw bad(this.#source, `${where} is empty (length 0)`);
    const end = offset + length;
    if (!Number.isSafeInteger(end)) throw bad(this.#source, `${where} ends past 2^53 bytes`);
    const last = this.ranges[this.ranges.length - 1];
    if (last && offset < this.#end) {
      const what = offset < last.offset ? 'is out of order: it starts before' : 'overlaps';
      throw bad(
        this.#source,
        `${where} (offset ${offset}, length ${length}) ${what} ${this.#lastWhere} (bytes ${last.offset} to ${this.#end}); ranges must be sorted and disjoint`,
      );
    }
    if (last && offset === this.#end) last.length += length;
    else this.ranges.push({ offset, length });
    this.#end = end;
    this.#lastWhere = where;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value under the snake_case or the camelCase name. */
function field(o: Record<string, unknown>, snake: string, camel: string): unknown {
  return o[snake] ?? o[camel];
}

/** The CSI records of a document, or undefined when it is not in that form. */
function csiRecords(doc: unknown, source: string): Record<string, unknown>[] | undefined {
  const isRecord = (v: unknown) =>
    isObject(v) && ('block_metadata' in v || 'blockMetadata' in v || 'volume_capacity_bytes' in v);
  if (isRecord(doc)) return [doc as Record<string, unknown>];
  if (Array.isArray(doc) && doc.length > 0 && isRecord(doc[0])) {
    doc.forEach((r, i) => {
      if (!isRecord(r)) throw bad(source, `record ${i + 1} is not a CSI block metadata record`);
    });
    return doc as Record<string, unknown>[];
  }
  return undefined;
}

/**
 * A whole number of bytes: a JSON number that is a safe non-negative integer, or a string of
 * decimal digits (protobuf JSON writes 64-bit integers as strings).
 */
function whole(v: unknown, source: string, what: string): number {
  let n: number | undefined;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\d{1,16}$/.test(v)) n = Number(v);
  if (n === undefined || !Number.isSafeInteger(n) || n < 0)
    throw bad(
      source,
      `${what} is ${v === undefined ? 'missing' : JSON.stringify(v)}: expected a whole number of bytes from 0 to 2^53 - 1`,
    );
  return n;
}

/** thin_delta's XML: a flat walk over its tags; any other content is refused. */
function thinDelta(text: string, source: string): { ranges: Range[]; volumeSize: undefined } {
  const list = new RangeList(source);
  let blockBytes: number | undefined;
  let inDiff = false;
  let at = 0;
  let count = 0;
  const tag = /<(\/?)([A-Za-z_?][\w-]*)((?:\s+[\w-]+\s*=\s*"[^"<>]*")*)\s*(\/?|\?)>/y;
  while (at < text.length) {
    const ws = /\s*/y;
    ws.lastIndex = at;
    ws.exec(text);
    at = ws.lastIndex;
    if (at >= text.length) break;
    tag.lastIndex = at;
    const m = tag.exec(text);
    if (!m) throw bad(source, `unexpected content at character ${at}: thin_delta XML holds only tags`);
    at = tag.lastIndex;
    const [, closing, name, attrText] = m as unknown as [string, string, string, string];
    if (name === '?xml' || closing) {
      if (name === 'diff') inDiff = false;
      continue;
    }
    const attrs = new Map<string, string>();
    for (const a of (attrText ?? '').matchAll(/([\w-]+)\s*=\s*"([^"]*)"/g))
      attrs.set(a[1] as string, a[2] as string);
    const attr = (key: string, where: string) => whole(attrs.get(key), source, `${where}: ${key}`);
    if (name === 'superblock') {
      const sectors = attr('data_block_size', '<superblock>');
      if (sectors === 0) throw bad(source, '<superblock>: data_block_size is 0');
      blockBytes = sectors * SECTOR;
    } else if (name === 'diff') {
      inDiff = true;
    } else if (name === 'same' || name === 'different' || name === 'left_only' || name === 'right_only') {
      count++;
      const where = `<${name}> element ${count}`;
      if (!inDiff || blockBytes === undefined)
        throw bad(source, `${where} is outside <superblock data_block_size=...><diff>`);
      const begin = attr('begin', where);
      const length = attr('length', where);
      if (name === 'same') continue;
      const offset = begin * blockBytes;
      const bytes = length * blockBytes;
      if (!Number.isSafeInteger(offset + bytes)) throw bad(source, `${where} ends past 2^53 bytes`);
      list.add(offset, bytes, where);
    } else {
      throw bad(
        source,
        `unexpected element <${name}> (thin_delta's default output is expected, not --verbose)`,
      );
    }
  }
  if (blockBytes === undefined) throw bad(source, 'no <superblock data_block_size=...> element');
  return { ranges: list.ranges, volumeSize: undefined };
}
