// The store's public types and constants: options, what it reports, and the name of the live
// volume. Kept apart from the Store class so the CLI, the NBD server and the transfer functions
// can name them without the class.

import type { PageStore } from '@deja/page-store';
import type { Storage } from '@deja/storage';

/** The name that stands for the live volume wherever a version is named. */
export const LIVE = '@live';

/** File names inside a store directory. */
export const DATA_FILE = 'data.deja';
export const INDEX_FILE = 'index.deja';

/** Chunk sizes a store accepts. */
export const MIN_CHUNK = 512;
export const MAX_CHUNK = 65536;
/** Longest snapshot name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 64;

/** What opening the page layer found (`PageStore.recovery`). */
export type RecoveryReport = PageStore['recovery'];

/**
 * Where a store lives: a directory (the store opens its files and closes them), or storage
 * adapters (other media, tests). Adapters stay the caller's, to close after the store (the
 * family's rule: closing something never closes what you handed it), unless `owned: true` hands
 * them over: then the store closes them when it closes, or when `create`/`open` fails.
 */
export type StoreLocation = string | { data: Storage; index?: Storage; owned?: boolean };

/** Sizing of the dedup index. */
export interface IndexOptions {
  /** Records (distinct chunks) the index remembers before its oldest chapters expire. Default:
   * twice the volume's chunks, at least 65,536. */
  readonly records?: number;
  /** A sparse index: about ten times the records for the same memory (samples 1 name in 32 for
   * the older chapters). */
  readonly sparse?: boolean;
}

/** Options of {@link Store.create}. */
export interface StoreCreateOptions {
  /** Volume size in bytes (0 allowed; grow it later with `resize`). */
  readonly size: number;
  /** Chunk size: a power of two from 512 to 65,536 bytes (default 4096). */
  readonly chunkSize?: number;
  /** Compare bytes before sharing a chunk the index suggests (default true). */
  readonly verify?: boolean;
  /** The dedup index's sizing. */
  readonly index?: IndexOptions;
  /** Most snapshots at once (a multiple of 32; default: the most the chunk size allows, at most 256). */
  readonly maxSnapshots?: number;
  /** Metadata pages cached in memory (default 1024). */
  readonly cachePages?: number;
  /** Pages of the page layer to start with (it grows as chunks are stored; default 16). */
  readonly initialPages?: number;
  /** Pages of the page layer's redo journal: the most one commit can carry (default 1024). */
  readonly journalPages?: number;
  /**
   * Compression of the stored chunks, fixed for the store's life (default 'off'): 'zstd'
   * (Zstandard, WebAssembly) or 'deflate' (node:zlib). A chunk that compresses is packed with
   * others into one page (up to 14); one that does not is stored whole.
   */
  readonly compression?: 'off' | 'zstd' | 'deflate';
  /** The codec's level (zstd 1..19, deflate 1..9; default 1). */
  readonly compressionLevel?: number;
}

/** Options of {@link Store.open}. */
export interface StoreOpenOptions {
  /** Overrides the verify setting chosen at creation. */
  readonly verify?: boolean;
  /** Metadata pages cached in memory (default 1024). */
  readonly cachePages?: number;
  /** Check every chunk read against its content name (default true). */
  readonly verifyReads?: boolean;
  /**
   * Open for reading only, under a shared lock: readers coexist, no writer can open meanwhile;
   * every mutation rejects with `ERR_READ_ONLY`. Needs no dedup index.
   */
  readonly readOnly?: boolean;
}

/** A snapshot as listed. */
export interface SnapshotInfo {
  readonly name: string;
  /** Creation time, ms since the epoch. */
  readonly created: number;
  /** Logical size in bytes (the volume's size when it was taken). */
  readonly size: number;
}

/** What deleting a snapshot would free, and what it shares. */
export interface SnapshotUsage {
  readonly name: string;
  /** Bytes of chunks only this snapshot references (freed by deleting it). */
  readonly exclusiveBytes: number;
  /** Bytes of chunks this snapshot has its own copy of but shares with another snapshot. */
  readonly sharedBytes: number;
}

/** A run of a volume that is all zeros (unmapped) or holds data. */
export interface Extent {
  readonly offset: number;
  readonly length: number;
  /** True for unmapped (zero) chunks: they cost no storage and export as holes. */
  readonly zero: boolean;
}

/** A byte range of a volume. */
export interface Range {
  readonly offset: number;
  readonly length: number;
}

/** Figures of {@link Store.stats}. */
export interface StoreStats {
  readonly chunkSize: number;
  /** Live volume size. */
  readonly logicalBytes: number;
  /** Live chunks that are zero (unmapped). */
  readonly zeroChunks: number;
  /** Live chunks with data. */
  readonly mappedChunks: number;
  /** Distinct stored chunks. */
  readonly distinctChunks: number;
  /** Bytes of the data pages in use: chunks stored whole, and packed pages of fragments. */
  readonly dataBytes: number;
  /**
   * Metadata pages (block map, names, exceptions, page-layer structures) plus the index file: the
   * blocks it holds on disk for a local file (it is sparse), its length on other storage.
   */
  readonly metadataBytes: number;
  /** dataBytes + metadataBytes. */
  readonly storedBytes: number;
  /** Non-zero logical bytes over data bytes, across every version (with compression: both together). */
  readonly dedupRatio: number;
  /** The dedup index's memory per record it can hold, bytes (0 when no index is open). */
  readonly indexBytesPerRecord: number;
  /** Records the dedup index holds before its oldest chapters expire. */
  readonly indexRecords: number;
  /** Whether the dedup index is sparse. */
  readonly indexSparse: boolean;
  readonly snapshots: number;
  /** Whether the index is in use (false while lost and not yet rebuilt). */
  readonly indexAvailable: boolean;
  /** The store's codec: 'off', 'zstd' or 'deflate'. */
  readonly compression: string;
  /** Data pages holding several compressed chunks (fragments). */
  readonly packedPages: number;
  /**
   * Bytes that dead fragments hold inside packed pages still in use (a fragment whose last
   * reference went, its page kept by the others): what a compaction would give back.
   */
  readonly deadFragmentBytes: number;
}

/** What {@link Store.compact} did. */
export interface CompactReport {
  /** Packed pages whose live fragments moved (each is free now). */
  readonly pagesCompacted: number;
  /** New packed pages they moved into. */
  readonly pagesWritten: number;
  readonly fragmentsMoved: number;
  /** (pagesCompacted - pagesWritten) x chunk size. */
  readonly bytesFreed: number;
}

/** One problem {@link Store.check} found. */
export interface CheckProblem {
  readonly kind: 'refcount' | 'leak' | 'dangling' | 'name' | 'counter' | 'structure' | 'data';
  readonly message: string;
  readonly page?: number;
}

/** The outcome of {@link Store.check}. */
export interface CheckReport {
  readonly ok: boolean;
  readonly problems: CheckProblem[];
  /** Data chunks whose bytes were checked against their names (with `data: true`). */
  readonly chunksVerified: number;
  /** What `repair` fixed. */
  readonly repaired: number;
  /**
   * What opening found: a transaction dropped from the journal (a commit a crash interrupted, or
   * damage after a flush; the two cannot be told apart) is worth telling the user about.
   */
  readonly recovery: RecoveryReport;
}

/** Progress of a long operation. */
export interface Progress {
  readonly bytes: number;
  readonly total: number | undefined;
}

/** Options of long operations. */
export interface LongOptions {
  readonly onProgress?: (p: Progress) => void;
  readonly signal?: AbortSignal;
}
