// The open chapter as a whole: its zones, closing it into record pages and index pages, and saving
// and loading it (the seed's open-chapter.c beyond the single zone).
//
// Closing interleaves the zones' records (record i of the chapter is record 1 + floor(i / zones) of
// zone i % zones) to keep temporal locality, fills unused and deleted places with a copy of a valid
// record so that record pages hold only valid records, and maps each real record's name to its
// record page in the chapter index.
//
// A save is "ALBOC" "02.00", a u32 LE record count, then the live records, interleaved the same way,
// 32 bytes each (name, metadata). Loading parcels records out to the zones by name, so it works for
// a different zone count; a zone that would fill completely stops taking records (its later ones
// are dropped), as in the seed.

import { computeVolumeIndexLayout, type IndexConfiguration, type IndexGeometry } from '@deja/volume-geometry';
import { ChapterIndexError } from './errors';
import type { OpenChapterIndex, PackedChapterIndex } from './open-chapter-index';
import { OpenChapterZone } from './open-chapter-zone';
import { extractSamplingBytes, RECORD_NAME_SIZE, RECORD_SIZE, volumeIndexListOf } from './record-name';

/** The magic that opens a saved open chapter. */
export const OPEN_CHAPTER_MAGIC = 'ALBOC';
/** The only saved open chapter version. */
export const OPEN_CHAPTER_VERSION = '02.00';
const HEADER_BYTES = OPEN_CHAPTER_MAGIC.length + OPEN_CHAPTER_VERSION.length + 4;

/**
 * Makes the zones of an open chapter: each gets an equal share of the chapter
 * (floor(recordsPerChapter / zoneCount) records).
 *
 * @param geometry - the index geometry
 * @param zoneCount - the number of index zones, in [1, 16]
 * @returns `zoneCount` empty zones
 * @throws RangeError for a zone count out of range
 * Cost: O(recordsPerChapter) memory.
 */
export function makeOpenChapterZones(geometry: IndexGeometry, zoneCount = 1): OpenChapterZone[] {
  if (!Number.isInteger(zoneCount) || zoneCount < 1 || zoneCount > 16) {
    throw new RangeError(`zone count must be an integer in [1, 16], got ${zoneCount}`);
  }
  const capacity = Math.floor(geometry.recordsPerChapter / zoneCount);
  return Array.from({ length: zoneCount }, () => new OpenChapterZone(capacity));
}

/** A zone chooser: which zone of `zoneCount` a record name belongs to. */
export type ZoneOf = (name: Uint8Array) => number;

/**
 * The zone chooser UDS uses (uds_get_volume_index_zone()): a name's volume index delta list divided
 * by the lists per zone. In a sparse index, sampled names (sampling bytes divisible by the sample
 * rate) use the hook sub-index's lists, the others the non-hook sub-index's.
 *
 * @param config - the index configuration (its zone count and volume index shape)
 * @returns a function from a 16-byte name to a zone in [0, zoneCount)
 * Cost: O(1) to make and per call.
 */
export function volumeIndexZoneOf(config: IndexConfiguration): ZoneOf {
  const layout = computeVolumeIndexLayout(config);
  const zoneCount = config.zoneCount;
  const chooser = (sub: { listCount: number; addressBits: number }): ZoneOf => {
    const listsPerZone = Math.ceil(sub.listCount / zoneCount);
    return (name) => Math.floor(volumeIndexListOf(name, sub.addressBits, sub.listCount) / listsPerZone);
  };
  const nonHook = chooser(layout.nonHook);
  if (layout.hook === undefined) return nonHook;
  const hook = chooser(layout.hook);
  const rate = layout.sparseSampleRate;
  return (name) => (extractSamplingBytes(name) % rate === 0 ? hook(name) : nonHook(name));
}

function checkZones(zones: readonly OpenChapterZone[]): void {
  if (!Array.isArray(zones) || zones.length === 0 || zones.length > 16) {
    throw new RangeError('zones must be an array of 1 to 16 OpenChapterZone');
  }
  for (const zone of zones) {
    if (!(zone instanceof OpenChapterZone)) throw new TypeError('zones must hold OpenChapterZone objects');
  }
}

/**
 * Chooses the record that fills unused and deleted places of a closing chapter. The seed takes the
 * last record of the first full zone, assuming it cannot be deleted; it crashes (NULL pointer) when
 * no zone is full and does not check the flag. This port takes that record when it is live, else the
 * newest live record of any zone, else an all-zero record (a chapter with no live record).
 */
function chooseFillRecord(zones: readonly OpenChapterZone[]): Uint8Array {
  const recordOf = (zone: OpenChapterZone, n: number) =>
    zone._records.subarray(n * RECORD_SIZE, (n + 1) * RECORD_SIZE);
  for (const zone of zones) {
    if (zone.size === zone.capacity) {
      if (zone._deleted[zone.size] === 0) return recordOf(zone, zone.size);
      break;
    }
  }
  for (const zone of zones) {
    for (let n = zone.size; n >= 1; n--) {
      if (zone._deleted[n] === 0) return recordOf(zone, n);
    }
  }
  return new Uint8Array(RECORD_SIZE);
}

/**
 * Interleaves the zones' records into a chapter's worth of records (the record half of
 * fill_delta_chapter_index()): record i comes from zone i % zones, record 1 + floor(i / zones);
 * unused and deleted places get the fill record. `onRecord` is called for each real record with its
 * name and record page.
 *
 * @param zones - the open chapter zones
 * @param geometry - the index geometry
 * @param onRecord - called for each live record, in chapter order
 * @returns `recordsPerChapter` records of 32 bytes, back to back
 * @throws RangeError / TypeError for bad zones
 * Cost: O(recordsPerChapter).
 */
export function collateOpenChapter(
  zones: readonly OpenChapterZone[],
  geometry: IndexGeometry,
  onRecord?: (name: Uint8Array, pageNumber: number) => void,
): Uint8Array {
  return collate(
    zones,
    geometry,
    onRecord && ((bytes, offset, page) => onRecord(bytes.subarray(offset, offset + RECORD_NAME_SIZE), page)),
  );
}

/**
 * collateOpenChapter() with the callback given the collated buffer and the record's offset in it
 * (no per-record allocation). Records are copied as eight 32-bit words: every record buffer starts
 * at offset 0 of its own ArrayBuffer and records are 32 bytes, so the views are aligned.
 */
function collate(
  zones: readonly OpenChapterZone[],
  geometry: IndexGeometry,
  onRecord?: (bytes: Uint8Array, offset: number, pageNumber: number) => void,
): Uint8Array {
  checkZones(zones);
  const zoneCount = zones.length;
  const { recordsPerChapter, recordsPerPage } = geometry;
  const out = new Uint8Array(recordsPerChapter * RECORD_SIZE);
  const out32 = new Uint32Array(out.buffer);
  const zones32 = zones.map((zone) => new Uint32Array(zone._records.buffer, zone._records.byteOffset));
  const WORDS = RECORD_SIZE / 4;
  let fill: Uint8Array | undefined;
  for (let i = 0; i < recordsPerChapter; i++) {
    const z = i % zoneCount;
    const zone = zones[z]!;
    const recordNumber = 1 + Math.floor(i / zoneCount);
    if (recordNumber > zone.size || zone._deleted[recordNumber] === 1) {
      fill ??= chooseFillRecord(zones);
      out.set(fill, i * RECORD_SIZE);
      continue;
    }
    const from = zones32[z]!;
    const src = recordNumber * WORDS;
    const dst = i * WORDS;
    for (let w = 0; w < WORDS; w++) out32[dst + w] = from[src + w]!;
    onRecord?.(out, i * RECORD_SIZE, Math.floor(i / recordsPerPage));
  }
  return out;
}

/** A closed chapter, ready for storage. */
export interface ClosedChapter {
  /** The chapter's virtual number. */
  virtualChapterNumber: bigint;
  /** The index pages, `indexPagesPerChapter` of them. */
  indexPages: Uint8Array[];
  /** The record pages, `recordPagesPerChapter` of them, records in collated order. */
  recordPages: Uint8Array[];
  /** Per index page: first list, lists packed, last list (for an index page map). */
  packing: Omit<PackedChapterIndex, 'pages'>;
  /** Records that could not be put in the chapter index (delta list full). */
  overflowCount: number;
  /**
   * One byte per record of the chapter, in collated order: 1 for a live record, 0 for a copy of the
   * fill record standing in an unused or deleted place. Record `r` of record page `p` is entry
   * `p * recordsPerPage + r`; a volume that stores only live records reads them from here.
   */
  liveRecords: Uint8Array;
  /** The number of live records (the ones in {@link ClosedChapter.liveRecords}). */
  liveCount: number;
}

/**
 * Closes an open chapter (uds_close_open_chapter() with write_index_pages()): collates the records,
 * builds the chapter index, and packs it. The zones are not reset; call `reset()` on each to start
 * the next chapter. Record pages hold the records in collated order; ordering each page for binary
 * search is the volume's job (the seed's encode_record_page() in volume.c).
 *
 * @param zones - the open chapter zones
 * @param chapterIndex - an open chapter index for the same geometry (emptied here)
 * @param virtualChapterNumber - the chapter being closed (u64)
 * @returns the index pages, the record pages and which of their records are live (not fill copies)
 * @throws {@link ChapterIndexError} `ERR_EXISTS` if a name is in the chapter three times
 *   (two zones holding one name is a caller error), `ERR_OVERFLOW` if packing fails
 * Cost: O(recordsPerChapter * 64) for the index, O(volume of pages) for packing.
 */
export function closeOpenChapter(
  zones: readonly OpenChapterZone[],
  chapterIndex: OpenChapterIndex,
  virtualChapterNumber: bigint | number,
): ClosedChapter {
  const geometry = chapterIndex.geometry;
  chapterIndex.empty(virtualChapterNumber);
  let liveCount = 0;
  const liveRecords = new Uint8Array(geometry.recordsPerChapter);
  const offsets = new Uint32Array(geometry.recordsPerChapter);
  const records = collate(zones, geometry, (_bytes, offset) => {
    liveRecords[offset / RECORD_SIZE] = 1;
    offsets[liveCount++] = offset;
  });
  // The names go into the chapter index in chapter order (the seed's order), or an equivalent one.
  const overflowCount = chapterIndex._fill(records, offsets, liveCount);
  const { pages, ...packing } = chapterIndex.packPages();
  const pageBytes = geometry.bytesPerPage;
  const recordPages = Array.from({ length: geometry.recordPagesPerChapter }, (_, p) =>
    records.subarray(p * pageBytes, (p + 1) * pageBytes),
  );
  return {
    virtualChapterNumber: chapterIndex.virtualChapterNumber,
    indexPages: pages,
    recordPages,
    packing,
    overflowCount,
    liveRecords,
    liveCount,
  };
}

/**
 * Saves the live records of an open chapter (uds_save_open_chapter()): "ALBOC", "02.00", the u32 LE
 * count, then the records interleaved across zones (record 1 of each zone, record 2 of each, ...),
 * skipping deleted ones.
 *
 * @param zones - the open chapter zones
 * @returns the saved bytes (at most computeSavedOpenChapterSize(geometry) of @deja/volume-geometry)
 * Cost: O(records).
 */
export function saveOpenChapter(zones: readonly OpenChapterZone[]): Uint8Array {
  checkZones(zones);
  let count = 0;
  let longest = 0;
  for (const zone of zones) {
    count += zone.size - zone.deletions;
    longest = Math.max(longest, zone.size);
  }
  const out = new Uint8Array(HEADER_BYTES + count * RECORD_SIZE);
  for (let i = 0; i < 5; i++) {
    out[i] = OPEN_CHAPTER_MAGIC.charCodeAt(i);
    out[5 + i] = OPEN_CHAPTER_VERSION.charCodeAt(i);
  }
  new DataView(out.buffer).setUint32(10, count, true);
  let offset = HEADER_BYTES;
  for (let n = 1; n <= longest; n++) {
    for (const zone of zones) {
      if (n > zone.size || zone._deleted[n] === 1) continue;
      out.set(zone._records.subarray(n * RECORD_SIZE, (n + 1) * RECORD_SIZE), offset);
      offset += RECORD_SIZE;
    }
  }
  return out;
}

/** Options of {@link loadOpenChapter}. */
export interface LoadOpenChapterOptions {
  /** Chooses each record's zone; required with more than one zone (see {@link volumeIndexZoneOf}). */
  zoneOf?: ZoneOf;
}

/** What {@link loadOpenChapter} did. */
export interface LoadOpenChapterResult {
  /** Records in the save. */
  recordCount: number;
  /** Records put into a zone. */
  loaded: number;
  /** Records dropped because their zone was (nearly) full. */
  dropped: number;
  /** Bytes of the save consumed (header and records). */
  bytesRead: number;
}

/**
 * Loads a saved open chapter into zones (uds_load_open_chapter(), load_version20()). The zones are
 * reset first. Records go to `zoneOf(name)`; a zone stops taking records once a put leaves it one or
 * no free place, so no zone fills completely, and the rest of its records are dropped. Bytes after
 * the records are ignored (a save region is padded).
 *
 * @param bytes - the saved bytes
 * @param zones - the zones to fill (any zone count)
 * @param options - the zone chooser
 * @returns counts of records loaded and dropped
 * @throws TypeError / RangeError for bad arguments, or a missing or wrong `zoneOf`
 * @throws {@link ChapterIndexError} `ERR_CORRUPT_DATA` for a bad magic, version or record count, or
 *   bytes that end before the header or the records do (a cut save is damaged bytes, as everywhere in
 *   the family)
 * Cost: O(records).
 */
export function loadOpenChapter(
  bytes: Uint8Array,
  zones: readonly OpenChapterZone[],
  options: LoadOpenChapterOptions = {},
): LoadOpenChapterResult {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  checkZones(zones);
  const zoneOf = options.zoneOf;
  if (zones.length > 1 && typeof zoneOf !== 'function') {
    throw new TypeError('loading into more than one zone needs options.zoneOf');
  }
  if (bytes.length < HEADER_BYTES) {
    throw new ChapterIndexError(
      'ERR_CORRUPT_DATA',
      `saved open chapter is ${bytes.length} bytes, shorter than its header`,
    );
  }
  for (let i = 0; i < 5; i++) {
    if (bytes[i] !== OPEN_CHAPTER_MAGIC.charCodeAt(i)) {
      throw new ChapterIndexError('ERR_CORRUPT_DATA', `saved open chapter has a bad magic at byte ${i}`);
    }
  }
  for (let i = 0; i < 5; i++) {
    if (bytes[5 + i] !== OPEN_CHAPTER_VERSION.charCodeAt(i)) {
      const version = String.fromCharCode(...bytes.subarray(5, 10));
      throw new ChapterIndexError(
        'ERR_CORRUPT_DATA',
        `invalid open chapter version: ${JSON.stringify(version)}`,
      );
    }
  }
  const recordCount = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(10, true);
  // A save holds at most one chapter, and zones made for a chapter of R records have capacities
  // floor(R / zones), so R is below the sum of (capacity + 1).
  const limit = zones.reduce((sum, zone) => sum + zone.capacity + 1, 0) - 1;
  if (recordCount > limit) {
    throw new ChapterIndexError(
      'ERR_CORRUPT_DATA',
      `saved open chapter claims ${recordCount} records, more than a chapter of at most ${limit} holds`,
    );
  }
  const end = HEADER_BYTES + recordCount * RECORD_SIZE;
  if (bytes.length < end) {
    throw new ChapterIndexError(
      'ERR_CORRUPT_DATA',
      `saved open chapter announces ${recordCount} records (${end} bytes) but has ${bytes.length} bytes`,
    );
  }
  for (const zone of zones) zone.reset();
  const full = new Uint8Array(zones.length);
  let loaded = 0;
  for (let r = 0; r < recordCount; r++) {
    const base = HEADER_BYTES + r * RECORD_SIZE;
    const name = bytes.subarray(base, base + RECORD_NAME_SIZE);
    let z = 0;
    if (zones.length > 1) {
      z = zoneOf!(name);
      if (!Number.isInteger(z) || z < 0 || z >= zones.length) {
        throw new RangeError(`zoneOf returned ${z}, not a zone in [0, ${zones.length})`);
      }
    }
    if (full[z] === 1) continue;
    const remaining = zones[z]!.put(name, bytes.subarray(base + RECORD_NAME_SIZE, base + RECORD_SIZE));
    loaded++;
    // Do not allow any zone to fill completely.
    if (remaining <= 1) full[z] = 1;
  }
  return { recordCount, loaded, dropped: recordCount - loaded, bytesRead: end };
}
