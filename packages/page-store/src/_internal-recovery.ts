// Recovery at open: scanning the journal from the superblock's tail (records, commit pages and
// their CRC chains, data lists), checking the data pages the last transaction wrote, and loading
// the space map with the journaled pages applied. Everything PageStore.open replays, and how it
// decides what to drop, is here; the class itself only applies the result.

import { crc32 } from 'node:zlib';
import type { Storage } from '@deja/storage';
import {
  BATCH_PAGES,
  CM_CHAIN,
  CM_RECORDS,
  CM_START,
  groupOf,
  groupsFor,
  type Layout,
  MAX_TOTAL_PAGES,
  regionPagesFor,
  spaceMapPhysical,
  userOf,
  userPhysical,
} from './_internal-layout';
import {
  DATA_LIST_ENTRY_SIZE,
  decodeState,
  FORMAT_VERSION,
  getU53,
  HEADER_SIZE,
  KIND_COMMIT,
  KIND_DATA_LIST,
  KIND_META,
  KIND_SPACE_MAP,
  PAGE_MAGIC,
  type PageHeader,
  pageChecksum,
  readHeader,
  SPACE_MAP_ENTRY_SIZE,
  type StoreState,
  TAG_DATA,
  TAG_FREE,
  viewOf,
} from './_internal-page-format';
import { checkedHeader, type SuperblockInfo } from './_internal-superblock';
import { corrupt } from './errors';
import type { PageStoreDroppedTransaction } from './page-store';
import { SpaceMap } from './space-map';

/** A journaled page: where its latest committed image sits and which transaction wrote it. */
export interface JournalEntry {
  readonly pos: number;
  readonly txn: number;
}

/** One record found while scanning the journal at open. */
export interface ScannedRecord {
  readonly pos: number;
  readonly kind: number;
  readonly page: number;
  readonly data?: ReadonlyArray<readonly [number, number]>;
}

export interface ScannedTxn {
  readonly txn: number;
  readonly records: ScannedRecord[];
  readonly state: StoreState;
  readonly end: number;
}

export function chainChecksum(checksums: ReadonlyMap<number, number>, from: number, to: number): number {
  const word = new Uint8Array(4);
  const view = viewOf(word);
  let chain = 0;
  for (let pos = from; pos < to; pos++) {
    view.setUint32(0, checksums.get(pos) ?? 0, true);
    chain = crc32(word, chain);
  }
  return chain;
}

/**
 * Whether a page that fails its checksum still carries, in its header, the magic, kind, version,
 * generation and transaction of the commit page expected next: a damaged (or torn) commit page.
 * A guess for the recovery report only; nothing is decided on it.
 */
export function looksLikeCommit(image: Uint8Array, generation: number, txn: number): boolean {
  const view = viewOf(image);
  return (
    view.getUint16(4, true) === PAGE_MAGIC &&
    view.getUint8(6) === KIND_COMMIT &&
    view.getUint8(7) === FORMAT_VERSION &&
    view.getUint32(12, true) === generation &&
    getU53(view, 16) === txn
  );
}

/**
 * Reads the journal from the superblock's tail: complete transactions of its generation with
 * consecutive ids, each a run of records sealed by a commit page. The replay ends at the first slot
 * that does not continue the run (an older transaction, another generation, a torn or missing
 * page). The rest of the ring is still read: to refuse a journal with a damaged transaction before
 * intact later ones, or pages of a newer generation (a newer superblock existed and is damaged),
 * and to find the commit page of a transaction that did not replay (reported as dropped).
 */
export async function scanJournal(
  storage: Storage,
  layout: Layout,
  sb: SuperblockInfo,
): Promise<{ txns: ScannedTxn[]; dropped: PageStoreDroppedTransaction | undefined }> {
  const { pageSize, journalPages } = layout;
  const { generation, tailPos } = sb;
  const txns: ScannedTxn[] = [];
  let expect = sb.sequence + 1;
  let start = tailPos;
  let pageCount = sb.state.pageCount;
  let records: ScannedRecord[] = [];
  const checksums = new Map<number, number>();
  let dropped: PageStoreDroppedTransaction | undefined;

  /** Takes the page at `pos` into the replay; false if it does not continue it. */
  const accept = (pos: number, image: Uint8Array, header: PageHeader | undefined): boolean => {
    if (header === undefined || header.version !== FORMAT_VERSION) return false;
    if (header.generation !== generation || header.txn !== expect) return false;
    const slot = pos % journalPages;
    if (header.kind === KIND_META) {
      const user = userOf(layout, header.page);
      if (user < 0 || user >= layout.maxPageCount) return false;
      records.push({ pos, kind: header.kind, page: header.page });
    } else if (header.kind === KIND_SPACE_MAP) {
      if (groupOf(layout, header.page) < 0 || header.page >= MAX_TOTAL_PAGES) return false;
      records.push({ pos, kind: header.kind, page: header.page });
    } else if (header.kind === KIND_DATA_LIST) {
      if (header.aux !== slot) return false;
      const data = parseDataList(image, layout);
      if (data === undefined) return false;
      records.push({ pos, kind: header.kind, page: header.page, data });
    } else if (header.kind === KIND_COMMIT) {
      const view = viewOf(image);
      if (header.aux !== slot || getU53(view, HEADER_SIZE + CM_START) !== start) return false;
      if (view.getUint32(HEADER_SIZE + CM_RECORDS, true) !== records.length) return false;
      if (view.getUint32(HEADER_SIZE + CM_CHAIN, true) !== chainChecksum(checksums, start, pos)) return false;
      let state: StoreState;
      try {
        state = decodeState(image, `commit of transaction ${expect}`, layout.maxPageCount);
      } catch {
        return false;
      }
      // The page count never shrinks, and every record lies inside the store the commit describes
      // (the checksums held, so a failure here is a bug or a forged page, not a torn write).
      if (state.pageCount < pageCount) return false;
      const groups = groupsFor(layout, state.pageCount);
      for (const record of records) {
        if (record.kind === KIND_META && userOf(layout, record.page) >= state.pageCount) return false;
        if (record.kind === KIND_SPACE_MAP && groupOf(layout, record.page) >= groups) return false;
        if (record.data?.some(([user]) => user >= state.pageCount)) return false;
      }
      txns.push({ txn: expect, records, state, end: pos + 1 });
      expect++;
      start = pos + 1;
      pageCount = state.pageCount;
      records = [];
      checksums.clear();
      return true;
    } else return false;
    checksums.set(pos, pageChecksum(image));
    return true;
  };

  let buffer: Uint8Array = new Uint8Array(0);
  let bufferPos = tailPos;
  let ended = false;
  for (let pos = tailPos; pos < tailPos + journalPages; pos++) {
    if (pos - bufferPos >= buffer.length / pageSize) {
      const slot = pos % journalPages;
      const count = Math.min(BATCH_PAGES, journalPages - slot, tailPos + journalPages - pos);
      buffer = await storage.read((layout.journalStart + slot) * pageSize, count * pageSize);
      bufferPos = pos;
    }
    const image = buffer.subarray((pos - bufferPos) * pageSize, (pos - bufferPos + 1) * pageSize);
    const header = readHeader(image);
    const slot = pos % journalPages;
    if (header?.version === FORMAT_VERSION) {
      // A generation is bumped by a writable open, which writes a superblock of the new generation
      // (and flushes) before any journal page of it: a journal page of a newer generation than the
      // chosen superblock proves that a newer superblock existed and is damaged. Replaying from the
      // older one would silently roll back whatever that newer run committed.
      if (header.generation > generation) {
        throw corrupt(
          `journal slot ${slot} holds generation ${header.generation}, newer than the ` +
            `superblock's ${generation}: the newest superblock is damaged`,
        );
      }
      // A page of this generation from a transaction after the one expected means a committed
      // transaction before it is unreadable: damage, not a crash (a crash only cuts the last one).
      // Refuse rather than roll back past it.
      if (header.generation === generation && header.txn > expect) {
        throw corrupt(
          `journal slot ${slot} holds transaction ${header.txn}, but transaction ${expect} before it is damaged`,
        );
      }
    }
    if (!ended) {
      if (accept(pos, image, header)) continue;
      ended = true;
    }
    // Past the replay's end: a commit page of the next transaction means it was being committed
    // (a crash) or was committed and then damaged. Spilled records of an aborted transaction carry
    // the same id but never a commit page.
    if (dropped !== undefined) continue;
    if (
      header?.version === FORMAT_VERSION &&
      header.kind === KIND_COMMIT &&
      header.generation === generation &&
      header.txn === expect
    ) {
      dropped = {
        transaction: expect,
        reason: 'journal-mismatch',
        pages: [slot],
        detail:
          `transaction ${expect} was not recovered: its commit page (journal slot ${slot}) is intact but ` +
          'the records it seals are not (a crash during its commit, or damaged journal pages)',
      };
    } else if (header === undefined && looksLikeCommit(image, generation, expect)) {
      dropped = {
        transaction: expect,
        reason: 'commit-unreadable',
        pages: [slot],
        detail:
          `transaction ${expect} was not recovered: its commit page (journal slot ${slot}) fails its ` +
          'checksum (a crash during its commit, or a damaged journal page)',
      };
    }
  }
  return { txns, dropped };
}

export function parseDataList(image: Uint8Array, layout: Layout): [number, number][] | undefined {
  const view = viewOf(image);
  const count = view.getUint32(HEADER_SIZE, true);
  if (count > layout.entriesPerDataList) return undefined;
  const entries: [number, number][] = [];
  for (let k = 0; k < count; k++) {
    const user = view.getUint32(HEADER_SIZE + 4 + k * DATA_LIST_ENTRY_SIZE, true);
    if (user >= layout.maxPageCount) return undefined;
    entries.push([user, view.getUint32(HEADER_SIZE + 8 + k * DATA_LIST_ENTRY_SIZE, true)]);
  }
  return entries;
}

/**
 * The data pages the transaction wrote that do not hold what its data lists say (none when its
 * commit's flush completed and nothing damaged them since).
 */
export async function damagedDataPages(storage: Storage, layout: Layout, txn: ScannedTxn): Promise<number[]> {
  const entries = txn.records.flatMap((record) => record.data ?? []);
  const damaged: number[] = [];
  const size = await storage.size();
  for (let i = 0; i < entries.length; i += BATCH_PAGES) {
    const batch = entries.slice(i, i + BATCH_PAGES);
    const inRange = batch.filter(([user]) => (userPhysical(layout, user) + 1) * layout.pageSize <= size);
    for (const [user] of batch) if (!inRange.some(([u]) => u === user)) damaged.push(user);
    const pages = await storage.readv(
      inRange.map(([user]) => ({
        offset: userPhysical(layout, user) * layout.pageSize,
        length: layout.pageSize,
      })),
    );
    for (let k = 0; k < inRange.length; k++)
      if (crc32(pages[k]!) !== inRange[k]![1]) damaged.push(inRange[k]![0]);
  }
  return damaged;
}

/**
 * Reads the space-map page of every group (the journaled image where there is one) into a SpaceMap,
 * and the meta tags of the journaled user pages. A home page written by a transaction newer than
 * the recovered state means the superblock that described it is damaged and an older one was taken:
 * that is refused, not silently mixed. O(groups) reads, in batches.
 */
export async function loadSpaceMap(
  storage: Storage,
  layout: Layout,
  pageCount: number,
  journaled: ReadonlyMap<number, JournalEntry>,
  sequence: number,
): Promise<{ space: SpaceMap; tags: Map<number, number> }> {
  const { pageSize, entriesPerGroup } = layout;
  const groups = groupsFor(layout, pageCount);
  const space = new SpaceMap(pageCount, regionPagesFor(layout));
  // Meta tags are only needed for the journaled user pages (the revoke check).
  const tags = new Map<number, number>();
  for (let first = 0; first < groups; first += BATCH_PAGES) {
    const count = Math.min(BATCH_PAGES, groups - first);
    const homes = await storage.readv(
      Array.from({ length: count }, (_, i) => ({
        offset: spaceMapPhysical(layout, first + i) * pageSize,
        length: pageSize,
      })),
    );
    for (let i = 0; i < count; i++) {
      const group = first + i;
      const physical = spaceMapPhysical(layout, group);
      const what = `space-map page ${group}`;
      let image = homes[i]!;
      const homeHeader = readHeader(image);
      if (homeHeader !== undefined && homeHeader.txn > sequence) {
        throw corrupt(
          `${what} was written by transaction ${homeHeader.txn}, after the recovered state ${sequence}: ` +
            'the newest superblock is damaged',
        );
      }
      const entry = journaled.get(physical);
      if (entry !== undefined) {
        image = await storage.read(
          (layout.journalStart + (entry.pos % layout.journalPages)) * pageSize,
          pageSize,
        );
      }
      const header = checkedHeader(image, what);
      if (header.kind !== KIND_SPACE_MAP || header.page !== physical) {
        throw corrupt(
          `${what}: holds a page of kind ${header.kind} for page ${header.page} (misdirected write)`,
        );
      }
      if (entry !== undefined && header.txn !== entry.txn)
        throw corrupt(`${what}: journal copy is not the committed one`);
      const view = viewOf(image);
      const base = group * entriesPerGroup;
      for (let user = base; user < base + entriesPerGroup; user++) {
        const at = HEADER_SIZE + (user - base) * SPACE_MAP_ENTRY_SIZE;
        const refs = view.getUint32(at, true);
        const tag = view.getUint32(at + 4, true);
        if (refs === 0 && tag !== TAG_FREE) throw corrupt(`${what}: free page ${user} carries a tag`);
        if (refs === 0) continue;
        if (user >= pageCount) throw corrupt(`${what}: page ${user} past the end (${pageCount}) is in use`);
        if (tag === TAG_FREE) throw corrupt(`${what}: page ${user} is in use but has no kind`);
        space.loadCount(user, refs, tag === TAG_DATA);
        if (journaled.size > 0 && journaled.has(userPhysical(layout, user))) tags.set(user, tag);
      }
    }
  }
  space.finishLoad();
  return { space, tags };
}

// ---- option checks ----
