// Locality of metadata among data: the allocation pattern of an import (a few metadata pages among
// every 500 data pages of 4 KiB, 40 transactions: 20,000 data pages, 120 metadata pages), then a
// transaction that rewrites 12 metadata pages spread over the import, and the checkpoint that
// writes them home. Counted: the distinct 1 MiB and 4 MiB spans of the medium (the object sizes of
// an S3 store) that hold the metadata pages, and that the commit plus its checkpoint write — each
// such span is an object an object store re-uploads whole. On a MemoryStorage (what is counted is
// where the writes land, not how fast).

import { MemoryStorage, type WriteRequest } from '@deja/storage';
import { PageStore } from '../src/index';

const PAGE = 4096;

/** Rows [what, figure]. */
export async function localityBench(): Promise<string[][]> {
  const disk = new MemoryStorage();
  const store = await PageStore.create(disk, { pageSize: PAGE, pageCount: 16 });
  const meta: number[] = [];
  const data: number[] = [];
  for (let round = 0; round < 40; round++) {
    const tx = store.begin();
    data.push(...(await tx.allocateMany('data', 500)));
    for (let k = 0; k < 3; k++) {
      const page = await tx.allocate('meta');
      tx.writeMeta(page, new Uint8Array([round, k]));
      meta.push(page);
    }
    await tx.commit();
  }
  const entries = (PAGE - 32) / 8;
  const groupStart = Math.ceil(1024 / PAGE) + store.journalPages;
  const offsetOf = (page: number) =>
    (groupStart + Math.floor(page / entries) * (entries + 1) + 1 + (page % entries)) * PAGE;
  const spans = (offsets: Iterable<number>, size: number) => {
    const at = new Set<number>();
    for (const offset of offsets) at.add(Math.floor(offset / size));
    return at.size;
  };
  const rewritten = meta.filter((_, i) => i % 10 === 0);
  const writes: number[] = [];
  let watching = false;
  const watch = (requests: readonly WriteRequest[]) => {
    if (!watching) return;
    for (const r of requests) for (let o = r.offset; o < r.offset + r.data.length; o += PAGE) writes.push(o);
  };
  const writev = disk.writev.bind(disk);
  const write = disk.write.bind(disk);
  disk.writev = (requests) => {
    watch(requests);
    return writev(requests);
  };
  disk.write = (offset, bytes) => {
    watch([{ offset, data: bytes }]);
    return write(offset, bytes);
  };
  // A writable open checkpoints: the import's journal goes home before the writes are counted.
  await store.close();
  const later = await PageStore.open(disk);
  watching = true;
  const tx = later.begin();
  for (const page of rewritten) tx.writeMeta(page, new Uint8Array([9]));
  await tx.commit();
  await later.close();
  const reopened = await PageStore.open(disk); // the checkpoint that writes them home
  await reopened.close();
  const metaMiB = (meta.length * PAGE) / 2 ** 20;
  return [
    [
      'data pages / metadata pages allocated',
      `${data.length} / ${meta.length} (${metaMiB.toFixed(2)} MiB of metadata)`,
    ],
    [
      '4 MiB spans holding metadata / holding data',
      `${spans(meta.map(offsetOf), 2 ** 22)} / ${spans(data.map(offsetOf), 2 ** 22)}`,
    ],
    ['1 MiB spans holding metadata', String(spans(meta.map(offsetOf), 2 ** 20))],
    [
      'a commit rewriting 12 of them + its checkpoint: 4 MiB / 1 MiB spans written',
      `${spans(writes, 2 ** 22)} / ${spans(writes, 2 ** 20)} (${writes.length} pages written)`,
    ],
  ];
}
