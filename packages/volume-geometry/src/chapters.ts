// Chapter arithmetic on a geometry: which physical chapter holds a virtual chapter, how many
// chapters to expire when a new one opens, and which chapters are sparse. Ports of dm-vdo
// geometry.c (uds_map_to_physical_chapter, uds_chapters_to_expire, uds_has_sparse_chapters,
// uds_is_chapter_sparse). Virtual chapter numbers are u64 in C; here they are safe integers
// (< 2^53), which a chapter counter never reaches.

import { checkChapter } from './_internal';
import { type IndexGeometry, isReducedGeometry, isSparseGeometry } from './geometry';

/**
 * Maps a virtual chapter number to the physical chapter that holds it. In a normal geometry this
 * is `virtual % chaptersPerVolume`; in a reduced (LVM-converted) geometry physical chapter 0 is
 * gone and `remappedVirtual` lives in `remappedPhysical`, which shifts the chapters around it.
 *
 * @param geometry - the index geometry
 * @param virtualChapter - a virtual chapter number (safe integer >= 0)
 * @returns the physical chapter, in [0, chaptersPerVolume)
 * @throws TypeError / RangeError if virtualChapter is not a non-negative safe integer
 * Cost: O(1).
 */
export function mapToPhysicalChapter(geometry: IndexGeometry, virtualChapter: number): number {
  checkChapter('virtualChapter', virtualChapter);
  const chapters = geometry.chaptersPerVolume;
  if (!isReducedGeometry(geometry)) return virtualChapter % chapters;

  const { remappedVirtual, remappedPhysical } = geometry;
  if (virtualChapter > remappedVirtual) {
    const delta = virtualChapter - remappedVirtual;
    return delta > remappedPhysical ? delta % chapters : delta - 1;
  }
  if (virtualChapter === remappedVirtual) return remappedPhysical;
  const delta = remappedVirtual - virtualChapter;
  // A chapter older than a whole volume before the remapped one: the answer does not matter.
  return delta < chapters ? chapters - delta : 0;
}

/**
 * How many chapters to expire after opening `newestChapter` (port of uds_chapters_to_expire()).
 * Nothing expires until the volume is full; then one chapter per new chapter, except around a
 * remapped chapter: expiring the moved chapter expires one more (2) to free physical space, and
 * the chapter that reuses the freed slot expires none (0).
 *
 * @param geometry - the index geometry
 * @param newestChapter - the virtual chapter just opened
 * @returns 0, 1 or 2
 * @throws TypeError / RangeError if newestChapter is not a non-negative safe integer
 * Cost: O(1).
 */
export function chaptersToExpire(geometry: IndexGeometry, newestChapter: number): number {
  checkChapter('newestChapter', newestChapter);
  // If the index is not full yet, expire nothing.
  if (newestChapter < geometry.chaptersPerVolume) return 0;
  // If a chapter is out of order...
  if (geometry.remappedPhysical > 0) {
    const oldestChapter = newestChapter - geometry.chaptersPerVolume;
    // ... expire an extra chapter when expiring the moved chapter, to free physical space ...
    if (oldestChapter === geometry.remappedVirtual) return 2;
    // ... and none when the new chapter uses the physical chapter that expiry freed.
    if (oldestChapter === geometry.remappedVirtual + geometry.remappedPhysical) return 0;
  }
  // Normally, expire the oldest chapter.
  return 1;
}

/**
 * Whether the chapters from `oldestChapter` to `newestChapter` include sparse ones: the geometry is
 * sparse and more chapters are in use than there are dense chapters (uds_has_sparse_chapters()).
 *
 * @param geometry - the index geometry
 * @param oldestChapter - the oldest virtual chapter in the index
 * @param newestChapter - the newest virtual chapter, >= oldestChapter
 * @returns true if some chapters in that range are sparse
 * @throws TypeError / RangeError on a bad chapter number or newest < oldest
 * Cost: O(1).
 */
export function hasSparseChapters(
  geometry: IndexGeometry,
  oldestChapter: number,
  newestChapter: number,
): boolean {
  checkChapter('oldestChapter', oldestChapter);
  checkChapter('newestChapter', newestChapter);
  if (newestChapter < oldestChapter) {
    throw new RangeError(`newestChapter (${newestChapter}) is older than oldestChapter (${oldestChapter})`);
  }
  return isSparseGeometry(geometry) && newestChapter - oldestChapter + 1 > geometry.denseChaptersPerVolume;
}

/**
 * Whether `virtualChapter` is sparse, given the chapters in use: it is older than the newest
 * denseChaptersPerVolume chapters and the index has sparse chapters (uds_is_chapter_sparse()).
 *
 * @param geometry - the index geometry
 * @param oldestChapter - the oldest virtual chapter in the index
 * @param newestChapter - the newest virtual chapter, >= oldestChapter
 * @param virtualChapter - the chapter asked about
 * @returns true if that chapter is sparse
 * @throws TypeError / RangeError on a bad chapter number or newest < oldest
 * Cost: O(1).
 */
export function isChapterSparse(
  geometry: IndexGeometry,
  oldestChapter: number,
  newestChapter: number,
  virtualChapter: number,
): boolean {
  checkChapter('virtualChapter', virtualChapter);
  return (
    hasSparseChapters(geometry, oldestChapter, newestChapter) &&
    virtualChapter + geometry.denseChaptersPerVolume <= newestChapter
  );
}
