// open_chapter.json from the reference C: zone sizes for several geometries and zone counts, and an
// operation trace on a 32-record zone checked step by step and byte for byte at the end.

import { readFileSync } from 'node:fs';
import { computeSavedOpenChapterSize, createGeometry } from '@deja/volume-geometry';
import { describe, expect, it } from 'vitest';
import { makeOpenChapterZones, type OpenChapterZone } from '../src/index';
import { fromHex, toHex } from './_helpers';

interface Step {
  op: 'put' | 'search' | 'remove';
  name: number;
  data0?: number;
  remaining?: number;
  size?: number;
  hash_slot?: number;
  found?: boolean;
  deletions?: number;
}

const vectors = JSON.parse(readFileSync(new URL('./vectors/open_chapter.json', import.meta.url), 'utf8')) as {
  sizes: {
    bytes_per_page: number;
    record_pages_per_chapter: number;
    records_per_chapter: number;
    zone_count: number;
    capacity: number;
    slot_count: number;
    saved_open_chapter_bytes: string;
  }[];
  ops: {
    geometry: { bytes_per_page: number; record_pages_per_chapter: number };
    zone_count: number;
    capacity: number;
    slot_count: number;
    names_hex: string[];
    steps: Step[];
    final: {
      size: number;
      deletions: number;
      records: { record_number: number; name_hex: string; data_hex: string; deleted: boolean }[];
      slot_record_numbers: number[];
      slot_deleted_flags: number[];
    };
  };
};

/** The trace's metadata: data0 in byte 0, the name's index in byte 15. */
function dataFor(data0: number, nameIndex: number): Uint8Array {
  const data = new Uint8Array(16);
  data[0] = data0;
  data[15] = nameIndex;
  return data;
}

describe('open_chapter.json sizes', () => {
  it('has cases', () => expect(vectors.sizes.length).toBe(20));
  for (const s of vectors.sizes) {
    it(`${s.bytes_per_page} B pages, ${s.record_pages_per_chapter} record pages, ${s.zone_count} zones`, () => {
      const geometry = createGeometry({
        bytesPerPage: s.bytes_per_page,
        recordPagesPerChapter: s.record_pages_per_chapter,
        chaptersPerVolume: 16,
      });
      expect(geometry.recordsPerChapter).toBe(s.records_per_chapter);
      const zones = makeOpenChapterZones(geometry, s.zone_count);
      expect(zones).toHaveLength(s.zone_count);
      for (const zone of zones) {
        expect(zone.capacity).toBe(s.capacity);
        expect(zone.slotCount).toBe(s.slot_count);
      }
      expect(String(computeSavedOpenChapterSize(geometry))).toBe(s.saved_open_chapter_bytes);
    });
  }
});

describe('open_chapter.json operation trace', () => {
  const { ops } = vectors;
  const names = ops.names_hex.map(fromHex);

  it('replays every step and ends byte for byte as the reference', () => {
    const geometry = createGeometry({
      bytesPerPage: ops.geometry.bytes_per_page,
      recordPagesPerChapter: ops.geometry.record_pages_per_chapter,
      chaptersPerVolume: 16,
    });
    const [zone] = makeOpenChapterZones(geometry, ops.zone_count) as [OpenChapterZone];
    expect(zone.capacity).toBe(ops.capacity);
    expect(zone.slotCount).toBe(ops.slot_count);
    expect(ops.steps.length).toBeGreaterThan(50);

    for (const [i, step] of ops.steps.entries()) {
      const name = names[step.name]!;
      const where = `step ${i} (${step.op} name ${step.name})`;
      if (step.op === 'put') {
        expect(zone.hashSlotOf(name), where).toBe(step.hash_slot);
        expect(zone.put(name, dataFor(step.data0!, step.name)), where).toBe(step.remaining);
        expect(zone.size, where).toBe(step.size);
        expect(zone.remaining, where).toBe(step.remaining);
      } else if (step.op === 'search') {
        const found = zone.search(name);
        expect(found !== undefined, where).toBe(step.found);
        expect(found === undefined ? -1 : found[0], where).toBe(step.data0);
      } else {
        zone.remove(name);
        expect(zone.deletions, where).toBe(step.deletions);
      }
    }

    const { final } = ops;
    expect(zone.size).toBe(final.size);
    expect(zone.deletions).toBe(final.deletions);
    expect(final.records).toHaveLength(final.size);
    for (const r of final.records) {
      const record = zone.record(r.record_number);
      expect(toHex(record.name), `record ${r.record_number}`).toBe(r.name_hex);
      expect(toHex(record.data), `record ${r.record_number}`).toBe(r.data_hex);
      expect(record.deleted, `record ${r.record_number}`).toBe(r.deleted);
    }
    const slots = Array.from({ length: zone.slotCount }, (_, s) => zone.recordNumberAt(s));
    expect(slots).toEqual(final.slot_record_numbers);
    // The reference stores deleted flags in slots[record number]: index by record number.
    const flags = Array.from({ length: zone.slotCount }, (_, n) =>
      n >= 1 && n <= zone.size && zone.isDeleted(n) ? 1 : 0,
    );
    expect(flags).toEqual(final.slot_deleted_flags);
  });
});
