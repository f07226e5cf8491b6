// Pulling a volume from an NBD export into a store's live volume: what PBS offers QEMU, for any
// NBD server (qemu-nbd, a running VM's QEMU, nbdkit, another Deja). `base:allocation` says which
// extents read as zeros, so they are unmapped without reading them; with a dirty bitmap
// (`qemu:dirty-bitmap:NAME`, the blocks written since the bitmap was created) only the dirty
// ranges are read, the rest of the live volume is left as it is: it must hold the version the
// bitmap started from (the previous import). Reads run a few requests ahead of the store's writes.

import { StoreError } from '../errors';
import type { Store } from '../store';
import type { LongOptions, Range } from '../types';
import { NbdClient, type NbdClientTlsOptions, type NbdExtent, type NbdTarget } from './client';
import { BASE_ALLOCATION, DIRTY_BITMAP_PREFIX, STATE_DIRTY, STATE_ZERO } from './protocol';

/** Options of {@link importNbd}. */
export interface NbdImportOptions extends LongOptions {
  /** Read only the ranges this dirty bitmap marks (`qemu:dirty-bitmap:NAME`). */
  readonly dirtyBitmap?: string;
  /** TLS credentials (required for `nbds` URIs). */
  readonly tls?: NbdClientTlsOptions;
  /** READ requests in flight (default 8). */
  readonly depth?: number;
}

/** What an NBD import did. */
export interface NbdImportResult {
  /** The export's size: the live volume's size now. */
  readonly bytes: number;
  /** Bytes read over NBD (data extents of the ranges imported). */
  readonly readBytes: number;
  /** Bytes the server reported as zeros, unmapped without reading. */
  readonly zeroBytes: number;
  /** Byte ranges imported: the whole export, or the dirty ranges. */
  readonly ranges: readonly Range[];
}

/** Bytes per READ request. */
const STEP = 4 << 20;

/**
 * Makes the store's live volume equal to an NBD export (or, with `dirtyBitmap`, applies the
 * export's dirty ranges to it), then flushes. Take a snapshot afterwards to keep the version.
 *
 * @param store - a store open for writing.
 * @param source - an NBD URI (`nbd://host/export`, `nbd+unix:///export?socket=PATH`, `nbds...`).
 * @returns what was read and what was zero.
 * @throws StoreError from the connection (`ERR_NBD_REFUSED` for an unknown export or a missing
 *   bitmap, ...); StoreError from the store (`ERR_ABORTED` when `signal` fires).
 */
export async function importNbd(
  store: Store,
  source: string | NbdTarget,
  options: NbdImportOptions = {},
): Promise<NbdImportResult> {
  const dirty = options.dirtyBitmap === undefined ? undefined : DIRTY_BITMAP_PREFIX + options.dirtyBitmap;
  const client = await NbdClient.connect(source, {
    contexts: dirty ? [BASE_ALLOCATION, dirty] : [BASE_ALLOCATION],
    ...(options.tls ? { tls: options.tls } : {}),
  });
  try {
    if (dirty && !client.contexts.has(dirty))
      throw new StoreError('ERR_NBD_REFUSED', `the export has no dirty bitmap '${options.dirtyBitmap}'`);
    const size = client.size;
    if (store.size !== size) await store.resize(size);
    const ranges: Range[] = dirty
      ? (await client.extents(dirty))
          .filter((e) => (e.flags & STATE_DIRTY) !== 0)
          .map(({ offset, length }) => ({ offset, length }))
      : size > 0
        ? [{ offset: 0, length: size }]
        : [];
    const total = ranges.reduce((n, r) => n + r.length, 0);
    // The work: zero extents to unmap, data extents to read, in offset order.
    const pieces: { offset: number; length: number; zero: boolean }[] = [];
    for (const r of ranges) {
      const alloc: NbdExtent[] = client.contexts.has(BASE_ALLOCATION)
        ? await client.extents(BASE_ALLOCATION, r.offset, r.length)
        : [{ offset: r.offset, length: r.length, flags: 0 }];
      for (const e of alloc) {
        if ((e.flags & STATE_ZERO) !== 0) pieces.push({ offset: e.offset, length: e.length, zero: true });
        else
          for (let at = e.offset; at < e.offset + e.length; at += STEP)
            pieces.push({ offset: at, length: Math.min(STEP, e.offset + e.length - at), zero: false });
      }
    }
    const depth = Math.max(1, options.depth ?? 8);
    const ahead: Promise<Uint8Array>[] = [];
    let next = 0;
    const fill = () => {
      while (ahead.length < depth && next < pieces.length) {
        const p = pieces[next++] as { offset: number; length: number; zero: boolean };
        const read = p.zero ? Promise.resolve(new Uint8Array(0)) : client.read(p.offset, p.length);
        read.catch(() => {});
        ahead.push(read);
      }
    };
    let done = 0;
    let readBytes = 0;
    let zeroBytes = 0;
    for (const p of pieces) {
      if (options.signal?.aborted) throw new StoreError('ERR_ABORTED', 'the NBD import was aborted');
      fill();
      const bytes = await (ahead.shift() as Promise<Uint8Array>);
      fill();
      if (p.zero) {
        await store.discard(p.offset, p.length);
        zeroBytes += p.length;
      } else {
        await store.write(p.offset, bytes);
        readBytes += p.length;
      }
      done += p.length;
      options.onProgress?.({ bytes: done, total });
    }
    await store.flush();
    return { bytes: size, readBytes, zeroBytes, ranges };
  } finally {
    await client.close().catch(() => {});
  }
}
