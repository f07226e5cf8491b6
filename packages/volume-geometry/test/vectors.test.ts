// Golden vectors from the reference C (test/vectors/geometry.json, copied from shared/vectors):
// every memory configuration, the chapter arithmetic cases and the custom geometries.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  chaptersToExpire,
  computeIndexSize,
  computeSavedOpenChapterSize,
  computeVolumeIndexLayout,
  computeVolumeIndexSaveBlocks,
  createConfiguration,
  createGeometry,
  decodeUdsMemorySize,
  encodeUdsMemorySize,
  hasSparseChapters,
  type IndexGeometry,
  isChapterSparse,
  mapToPhysicalChapter,
  type VolumeSubIndexLayout,
} from '../src/index';

interface VectorGeometry {
  bytes_per_page: number;
  record_pages_per_chapter: number;
  chapters_per_volume: number;
  sparse_chapters_per_volume: number;
  chapter_delta_list_bits: number;
  remapped_virtual: string;
  remapped_physical: string;
  pages_per_volume: number;
  bytes_per_volume: string;
  pages_per_chapter: number;
  index_pages_per_chapter: number;
  records_per_page: number;
  records_per_chapter: number;
  records_per_volume: string;
  delta_lists_per_chapter: number;
  chapter_mean_delta: number;
  chapter_payload_bits: number;
  chapter_address_bits: number;
  dense_chapters_per_volume: number;
}

interface VectorSubIndex {
  list_count: number;
  address_bits: number;
  chapter_bits: number;
  chapter_count: number;
  zone_count: number;
  min_bits: number;
  min_keys: number;
  incr_keys: number;
  zone0_memory_bytes: number;
  delta_index_memory_size: number;
  sub_index_memory_size: string;
  chapter_zone_bits: string;
  max_zone_bits: string;
}

interface VectorConfig {
  label: string;
  memory_size_param: number;
  sparse: boolean;
  geometry: VectorGeometry;
  config: {
    cache_chapters: number;
    volume_index_mean_delta: number;
    sparse_sample_rate: number;
    zone_count: number;
  };
  uds_compute_index_size: { result: number; bytes: string };
  volume_index_save_blocks_4k: { result: number; blocks: string };
  saved_open_chapter_bytes: string;
  volume_index: {
    memory_size: string;
    sparse_sample_rate: number;
    zone_count: number;
    non_hook: VectorSubIndex;
    hook?: VectorSubIndex;
  };
}

interface Vectors {
  configs: VectorConfig[];
  chapters_to_expire: {
    chapters_per_volume: number;
    remapped_virtual: string;
    remapped_physical: string;
    newest_chapter: string;
    expire: number;
  }[];
  map_to_physical_chapter: {
    chapters_per_volume: number;
    remapped_virtual: string;
    remapped_physical: string;
    is_reduced: boolean;
    virtual_to_physical: [string, number][];
  }[];
  is_chapter_sparse: {
    chapters_per_volume: number;
    sparse_chapters_per_volume: number;
    oldest: string;
    newest: string;
    virtual_chapter: string;
    has_sparse_chapters: boolean;
    is_chapter_sparse: boolean;
  }[];
  custom_geometries: VectorGeometry[];
}

const vectors = JSON.parse(
  readFileSync(new URL('./vectors/geometry.json', import.meta.url), 'utf8'),
) as Vectors;

function expectGeometry(actual: IndexGeometry, expected: VectorGeometry): void {
  expect({
    bytes_per_page: actual.bytesPerPage,
    record_pages_per_chapter: actual.recordPagesPerChapter,
    chapters_per_volume: actual.chaptersPerVolume,
    sparse_chapters_per_volume: actual.sparseChaptersPerVolume,
    chapter_delta_list_bits: actual.chapterDeltaListBits,
    remapped_virtual: String(actual.remappedVirtual),
    remapped_physical: String(actual.remappedPhysical),
    pages_per_volume: actual.pagesPerVolume,
    bytes_per_volume: String(actual.bytesPerVolume),
    pages_per_chapter: actual.pagesPerChapter,
    index_pages_per_chapter: actual.indexPagesPerChapter,
    records_per_page: actual.recordsPerPage,
    records_per_chapter: actual.recordsPerChapter,
    records_per_volume: String(actual.recordsPerVolume),
    delta_lists_per_chapter: actual.deltaListsPerChapter,
    chapter_mean_delta: actual.chapterMeanDelta,
    chapter_payload_bits: actual.chapterPayloadBits,
    chapter_address_bits: actual.chapterAddressBits,
    dense_chapters_per_volume: actual.denseChaptersPerVolume,
  }).toEqual(expected);
}

function expectSubIndex(actual: VolumeSubIndexLayout, expected: VectorSubIndex): void {
  expect({
    list_count: actual.listCount,
    address_bits: actual.addressBits,
    chapter_bits: actual.chapterBits,
    chapter_count: actual.chapterCount,
    zone_count: actual.zoneCount,
    min_bits: actual.minBits,
    min_keys: actual.minKeys,
    incr_keys: actual.incrKeys,
    zone0_memory_bytes: actual.zoneMemoryBytes,
    delta_index_memory_size: actual.deltaIndexMemorySize,
    sub_index_memory_size: String(actual.subIndexMemorySize),
    chapter_zone_bits: String(actual.chapterZoneBits),
    max_zone_bits: String(actual.maxZoneBits),
  }).toEqual(expected);
}

describe('geometry.json configs', () => {
  it('covers all 14 configurations', () => {
    expect(vectors.configs).toHaveLength(14);
  });

  for (const vc of vectors.configs) {
    describe(`${vc.label} ${vc.sparse ? 'sparse' : 'dense'}`, () => {
      const { memorySize, reduced } = decodeUdsMemorySize(vc.memory_size_param);
      const config = createConfiguration({ memorySize, reduced, sparse: vc.sparse });

      it('derives the geometry', () => {
        expectGeometry(config.geometry, vc.geometry);
        expect(encodeUdsMemorySize(memorySize, reduced)).toBe(vc.memory_size_param);
      });

      it('matches the configuration fields', () => {
        expect({
          cache_chapters: config.cacheChapters,
          volume_index_mean_delta: config.volumeIndexMeanDelta,
          sparse_sample_rate: config.sparseSampleRate,
          zone_count: config.zoneCount,
        }).toEqual({
          cache_chapters: vc.config.cache_chapters,
          volume_index_mean_delta: vc.config.volume_index_mean_delta,
          sparse_sample_rate: vc.config.sparse_sample_rate,
          zone_count: vc.config.zone_count,
        });
      });

      it('computes the index size, volume index save blocks and saved open chapter size', () => {
        expect(String(computeIndexSize(config))).toBe(vc.uds_compute_index_size.bytes);
        expect(String(computeVolumeIndexSaveBlocks(config))).toBe(vc.volume_index_save_blocks_4k.blocks);
        expect(String(computeSavedOpenChapterSize(config.geometry))).toBe(vc.saved_open_chapter_bytes);
      });

      it('computes the volume index layout', () => {
        const layout = computeVolumeIndexLayout(config);
        expect(String(layout.memorySize)).toBe(vc.volume_index.memory_size);
        expect(layout.sparseSampleRate).toBe(vc.volume_index.sparse_sample_rate);
        expect(layout.zoneCount).toBe(vc.volume_index.zone_count);
        expectSubIndex(layout.nonHook, vc.volume_index.non_hook);
        if (vc.volume_index.hook === undefined) {
          expect(layout.hook).toBeUndefined();
        } else {
          expect(layout.hook).toBeDefined();
          expectSubIndex(layout.hook!, vc.volume_index.hook);
        }
      });
    });
  }
});

describe('geometry.json custom geometries', () => {
  for (const [i, g] of vectors.custom_geometries.entries()) {
    it(`custom geometry ${i}: ${g.bytes_per_page} B pages, ${g.record_pages_per_chapter} record pages, ${g.chapters_per_volume} chapters`, () => {
      const geometry = createGeometry({
        bytesPerPage: g.bytes_per_page,
        recordPagesPerChapter: g.record_pages_per_chapter,
        chaptersPerVolume: g.chapters_per_volume,
        sparseChaptersPerVolume: g.sparse_chapters_per_volume,
        remappedVirtual: Number(g.remapped_virtual),
        remappedPhysical: Number(g.remapped_physical),
      });
      expectGeometry(geometry, g);
    });
  }
});

function geometryWith(
  chapters: number,
  remappedVirtual = 0,
  remappedPhysical = 0,
  sparse = 0,
): IndexGeometry {
  return createGeometry({
    bytesPerPage: 4096,
    recordPagesPerChapter: 8,
    chaptersPerVolume: chapters,
    sparseChaptersPerVolume: sparse,
    remappedVirtual,
    remappedPhysical,
  });
}

describe('geometry.json chapter arithmetic', () => {
  it('chaptersToExpire', () => {
    expect(vectors.chapters_to_expire.length).toBeGreaterThan(0);
    for (const c of vectors.chapters_to_expire) {
      const g = geometryWith(c.chapters_per_volume, Number(c.remapped_virtual), Number(c.remapped_physical));
      expect(chaptersToExpire(g, Number(c.newest_chapter)), `newest ${c.newest_chapter}`).toBe(c.expire);
    }
  });

  it('mapToPhysicalChapter', () => {
    expect(vectors.map_to_physical_chapter.length).toBeGreaterThan(0);
    for (const m of vectors.map_to_physical_chapter) {
      const g = geometryWith(m.chapters_per_volume, Number(m.remapped_virtual), Number(m.remapped_physical));
      for (const [virtual, physical] of m.virtual_to_physical) {
        expect(mapToPhysicalChapter(g, Number(virtual)), `virtual ${virtual}`).toBe(physical);
      }
    }
  });

  it('hasSparseChapters and isChapterSparse', () => {
    expect(vectors.is_chapter_sparse.length).toBeGreaterThan(0);
    for (const s of vectors.is_chapter_sparse) {
      const g = geometryWith(s.chapters_per_volume, 0, 0, s.sparse_chapters_per_volume);
      const oldest = Number(s.oldest);
      const newest = Number(s.newest);
      expect(hasSparseChapters(g, oldest, newest)).toBe(s.has_sparse_chapters);
      expect(isChapterSparse(g, oldest, newest, Number(s.virtual_chapter))).toBe(s.is_chapter_sparse);
    }
  });
});
