// Formatting a storage as an empty page store (PageStore.create): the old superblocks are
// invalidated first, durably, so an interrupted create never leaves one describing half-formatted
// pages; then a zeroed journal, the space-map pages of the initial groups and the storage sized to
// hold them (one flush); then the first superblock (one flush).

import type { Storage, WriteRequest } from '@deja/storage';
import { BATCH_PAGES, groupsFor, type Layout, spaceMapPhysical, totalPagesFor } from './_internal-layout';
import { KIND_SPACE_MAP, type StoreState, SUPERBLOCK_SIZE, sealPage } from './_internal-page-format';
import { superblockImage } from './_internal-superblock';

/**
 * Formats `storage` for `layout` with `pageCount` user pages, all free, at `generation`.
 * O(journal + pageCount / entries per space-map page) writes, three flushes.
 * @returns the committed state of the empty store (sequence 0, journal tail 0)
 * @throws the storage's failure (a PageStoreError through checkedStorage)
 */
export async function formatStorage(
  storage: Storage,
  layout: Layout,
  pageCount: number,
  generation: number,
): Promise<StoreState> {
  const pageSize = layout.pageSize;
  // First make whatever store was here unopenable, durably: an interrupted create must not leave
  // an old superblock describing half-formatted pages.
  await storage.write(0, new Uint8Array(2 * SUPERBLOCK_SIZE));
  await storage.flush();
  const writes: WriteRequest[] = [];
  const push = async (request: WriteRequest): Promise<void> => {
    writes.push(request);
    if (writes.length >= BATCH_PAGES) await storage.writev(writes.splice(0));
  };
  const zero = new Uint8Array(pageSize);
  for (let slot = 0; slot < layout.journalPages; slot++) {
    await push({ offset: (layout.journalStart + slot) * pageSize, data: zero });
  }
  for (let group = 0; group < groupsFor(layout, pageCount); group++) {
    const page = spaceMapPhysical(layout, group);
    await push({
      offset: page * pageSize,
      data: sealPage(new Uint8Array(pageSize), KIND_SPACE_MAP, page, generation, 0),
    });
  }
  // Size the storage: reads of never-written user pages must be in range.
  await push({ offset: (totalPagesFor(layout, pageCount) - 1) * pageSize, data: zero });
  await storage.writev(writes);
  await storage.flush();
  const state: StoreState = { pageCount, roots: new Map(), userData: new Uint8Array(0) };
  await storage.write(0, superblockImage(layout, 0, generation, 0, 0, state));
  await storage.flush();
  return state;
}
