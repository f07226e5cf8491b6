// The two alternating superblocks: their image (geometry, generation, journal tail, state) and
// choosing the newest valid one at open, which tells a damaged newer superblock (ERR_CORRUPT_DATA)
// from an unknown format (ERR_UNSUPPORTED_VERSION) and from an empty slot.

import type { Storage } from '@deja/storage';
import {
  type Layout,
  layoutFor,
  MAX_PAGE_SIZE,
  MIN_JOURNAL_PAGES,
  MIN_PAGE_SIZE,
  SB_ENTRIES_PER_GROUP,
  SB_JOURNAL_PAGES,
  SB_MAX_PAGE_COUNT,
  SB_PAGE_SIZE,
  SB_SEQ,
  SB_TAIL,
} from './_internal-layout';
import {
  decodeState,
  encodeState,
  FORMAT_VERSION,
  getU53,
  HEADER_SIZE,
  KIND_SUPERBLOCK,
  type PageHeader,
  readHeader,
  type StoreState,
  SUPERBLOCK_SIZE,
  sealPage,
  setU53,
  viewOf,
} from './_internal-page-format';
import { corrupt, PageStoreError } from './errors';

export interface SuperblockInfo {
  readonly layout: Layout;
  readonly slot: number;
  /** The other slot holds neither a valid superblock nor zeros. */
  readonly otherDamaged: boolean;
  readonly superblockSeq: number;
  readonly generation: number;
  readonly sequence: number;
  readonly tailPos: number;
  readonly state: StoreState;
}

export function superblockImage(
  layout: Layout,
  superblockSeq: number,
  generation: number,
  sequence: number,
  tailPos: number,
  state: StoreState,
): Uint8Array {
  const image = new Uint8Array(SUPERBLOCK_SIZE);
  const view = viewOf(image);
  view.setUint32(HEADER_SIZE + SB_PAGE_SIZE, layout.pageSize, true);
  view.setUint32(HEADER_SIZE + SB_JOURNAL_PAGES, layout.journalPages, true);
  view.setUint32(HEADER_SIZE + SB_MAX_PAGE_COUNT, layout.maxPageCount, true);
  view.setUint32(HEADER_SIZE + SB_ENTRIES_PER_GROUP, layout.entriesPerGroup, true);
  setU53(view, HEADER_SIZE + SB_SEQ, superblockSeq);
  setU53(view, HEADER_SIZE + SB_TAIL, tailPos);
  encodeState(image, state);
  const slot = superblockSeq % 2;
  return sealPage(image, KIND_SUPERBLOCK, slot, generation, sequence, slot);
}

/**
 * Reads both superblock slots (bytes 0 and 512) and returns the valid one with the highest
 * superblock sequence.
 */
export async function readBestSuperblock(storage: Storage, size: number): Promise<SuperblockInfo> {
  let best: SuperblockInfo | undefined;
  let unsupported: number | undefined;
  const head = await storage.read(0, Math.min(size, 2 * SUPERBLOCK_SIZE));
  const valid = [false, false];
  for (const slot of [0, 1]) {
    const image = head.subarray(slot * SUPERBLOCK_SIZE, (slot + 1) * SUPERBLOCK_SIZE);
    if (image.length < SUPERBLOCK_SIZE) continue;
    const header = readHeader(image);
    if (header === undefined || header.kind !== KIND_SUPERBLOCK) continue;
    if (header.version !== FORMAT_VERSION) {
      unsupported = Math.max(unsupported ?? 0, header.version);
      valid[slot] = true;
      continue;
    }
    const info = parseSuperblock(image, header, slot);
    if (info === undefined) continue;
    valid[slot] = true;
    if (best === undefined || info.superblockSeq > best.superblockSeq) best = info;
  }
  if (unsupported !== undefined && (best === undefined || unsupported > FORMAT_VERSION)) {
    throw new PageStoreError(
      'ERR_UNSUPPORTED_VERSION',
      `page store: format version ${unsupported}; this code reads version ${FORMAT_VERSION}`,
    );
  }
  if (best === undefined)
    throw corrupt('no valid superblock (not a page store, or both superblocks are damaged)');
  const other = 1 - best.slot;
  const otherImage = head.subarray(other * SUPERBLOCK_SIZE, (other + 1) * SUPERBLOCK_SIZE);
  const otherDamaged = !valid[other] && otherImage.some((byte) => byte !== 0);
  return { ...best, otherDamaged };
}

export function parseSuperblock(
  image: Uint8Array,
  header: PageHeader,
  slot: number,
): SuperblockInfo | undefined {
  const view = viewOf(image);
  const pageSize = view.getUint32(HEADER_SIZE + SB_PAGE_SIZE, true);
  if (pageSize < MIN_PAGE_SIZE || pageSize > MAX_PAGE_SIZE || (pageSize & (pageSize - 1)) !== 0)
    return undefined;
  const journalPages = view.getUint32(HEADER_SIZE + SB_JOURNAL_PAGES, true);
  const maxPageCount = view.getUint32(HEADER_SIZE + SB_MAX_PAGE_COUNT, true);
  const superblockSeq = getU53(view, HEADER_SIZE + SB_SEQ);
  if (header.page !== slot || header.aux !== slot || superblockSeq % 2 !== slot) return undefined;
  if (journalPages < MIN_JOURNAL_PAGES) return undefined;
  const layout = layoutFor(pageSize, journalPages, maxPageCount);
  if (
    layout === undefined ||
    layout.entriesPerGroup !== view.getUint32(HEADER_SIZE + SB_ENTRIES_PER_GROUP, true)
  ) {
    return undefined;
  }
  let state: StoreState;
  try {
    state = decodeState(image, `superblock ${slot}`, layout.maxPageCount);
  } catch {
    return undefined;
  }
  return {
    layout,
    slot,
    otherDamaged: false,
    superblockSeq,
    generation: header.generation,
    sequence: header.txn,
    tailPos: getU53(view, HEADER_SIZE + SB_TAIL),
    state,
  };
}

/** The header of an intact page of the current format, or a typed error naming `what`. */
export function checkedHeader(image: Uint8Array, what: string): PageHeader {
  const header = readHeader(image);
  if (header === undefined) throw corrupt(`${what}: bad checksum or magic`);
  if (header.version !== FORMAT_VERSION) {
    throw new PageStoreError(
      'ERR_UNSUPPORTED_VERSION',
      `page store: ${what} has format version ${header.version}`,
    );
  }
  return header;
}
