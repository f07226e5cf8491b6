// Where a store's bytes live: opening its directory's files (or the adapters given), sizing and
// creating its dedup index, and the blob chains of metadata pages the snapshot table uses.

import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DedupIndex } from '@deja/dedup-index';
import type { PageStore, PageTransaction } from '@deja/page-store';
import type { Storage } from '@deja/storage';
import { FileStorage } from '@deja/storage-file';
import { CHAIN_HEADER, type Header } from './_layout';
import { StoreError, wrapError } from './errors';
import { DATA_FILE, INDEX_FILE, type StoreLocation } from './types';

export async function openLocation(
  location: StoreLocation,
  create: boolean,
  readOnly = false,
): Promise<{ data: Storage; index: Storage | undefined; where: string; owned: boolean }> {
  if (typeof location !== 'string') {
    if (typeof location !== 'object' || location === null || typeof location.data !== 'object') {
      throw new TypeError('location must be a directory path or { data, index?, owned? } storage adapters');
    }
    return { data: location.data, index: location.index, where: 'the store', owned: location.owned === true };
  }
  const where = `store ${location}`;
  const dataPath = join(location, DATA_FILE);
  if (create) {
    await mkdir(location, { recursive: true });
    const exists = await stat(dataPath).then(
      () => true,
      () => false,
    );
    if (exists) throw new StoreError('ERR_EXISTS', `${where} already holds a store (${DATA_FILE})`);
  } else {
    const exists = await stat(dataPath).then(
      () => true,
      () => false,
    );
    if (!exists) throw new StoreError('ERR_NOT_FOUND', `no store at ${location} (${DATA_FILE} is missing)`);
  }
  let data: Storage;
  try {
    data = await FileStorage.open(dataPath, { create, readOnly });
  } catch (e) {
    throw wrapError(e, `${where}: ${DATA_FILE}`);
  }
  // A read-only store needs no dedup advice and must not write the index's save: the index file
  // is opened read-only, for its size only (and not at all if it is missing).
  if (readOnly) {
    const index = await FileStorage.open(join(location, INDEX_FILE), { readOnly: true }).catch(
      () => undefined,
    );
    return { data, index, where, owned: true };
  }
  let index: Storage;
  try {
    index = await FileStorage.open(join(location, INDEX_FILE), { create: true });
  } catch (e) {
    await data.close().catch(() => {});
    throw wrapError(e, `${where}: ${INDEX_FILE}`);
  }
  return { data, index, where, owned: true };
}

export async function createIndex(storage: Storage, header: Header): Promise<DedupIndex> {
  // 16,384 records per chapter (32 KiB pages) for real volumes; small indexes (tests, tiny
  // volumes) get 4 KiB pages and 256-record chapters, so chapters close and expire there too.
  const small = header.indexRecords < 65536;
  const bytesPerPage = small ? 4096 : 32768;
  const recordPagesPerChapter = small ? 2 : 16;
  const perChapter = (bytesPerPage / 32) * recordPagesPerChapter;
  const chapters = Math.max(4, Math.ceil(header.indexRecords / perChapter));
  const sparse = header.indexSparse && chapters >= 20;
  return DedupIndex.create(storage, {
    geometry: {
      bytesPerPage,
      recordPagesPerChapter,
      chaptersPerVolume: sparse ? chapters * 10 : chapters,
      ...(sparse ? { sparseChaptersPerVolume: Math.floor(chapters * 9.5) } : {}),
    },
  });
}

/** Reads a blob chain. */
export async function readChain(pages: PageStore, first: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let page = first;
  let guard = 0;
  while (page >= 0) {
    if (++guard > 1 << 16)
      throw new StoreError('ERR_CORRUPT_DATA', `snapshot table chain loops at page ${page}`);
    const buf = await pages.readMeta(page);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const next = dv.getUint32(0, true) - 1;
    const len = dv.getUint32(4, true);
    if (len > buf.length - CHAIN_HEADER)
      throw new StoreError('ERR_CORRUPT_DATA', `snapshot table page ${page}: length ${len}`);
    parts.push(buf.subarray(CHAIN_HEADER, CHAIN_HEADER + len));
    page = next;
  }
  return Buffer.concat(parts);
}

export async function chainPages(pages: PageStore, first: number): Promise<number[]> {
  const out: number[] = [];
  let page = first;
  while (page >= 0 && out.length < 1 << 16) {
    out.push(page);
    const buf = await pages.readMeta(page);
    page = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(0, true) - 1;
  }
  return out;
}

/** Rewrites a blob chain: frees the old pages, writes new ones. Returns the first page. */
export async function writeChain(
  tx: PageTransaction,
  pages: PageStore,
  first: number,
  bytes: Uint8Array,
): Promise<number> {
  let page = first;
  while (page >= 0) {
    const buf = await tx.readMeta(page);
    const next = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(0, true) - 1;
    tx.decRef(page);
    page = next;
  }
  const per = pages.metaPayloadSize - CHAIN_HEADER;
  const count = Math.max(1, Math.ceil(bytes.length / per));
  const list: number[] = [];
  for (let i = 0; i < count; i++) list.push(await tx.allocate('meta'));
  for (let i = 0; i < count; i++) {
    const part = bytes.subarray(i * per, (i + 1) * per);
    const buf = new Uint8Array(pages.metaPayloadSize);
    const dv = new DataView(buf.buffer);
    dv.setUint32(0, i + 1 < count ? (list[i + 1] as number) + 1 : 0, true);
    dv.setUint32(4, part.length, true);
    buf.set(part, CHAIN_HEADER);
    tx.writeMeta(list[i] as number, buf);
  }
  return list[0] as number;
}
