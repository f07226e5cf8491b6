// Slow suite (pnpm --filter @deja/volume-geometry test:slow): every memory configuration UDS
// defines (0.25, 0.5, 0.75 and 1..1024 GB; dense and sparse; full and reduced) checked for the
// identities between geometry, window, volume index and storage size, and a long run of the
// expiry/remapping model.

import { describe, expect, it } from 'vitest';
import {
  chaptersToExpire,
  computeDedupWindow,
  computeIndexStorageLayout,
  computeVolumeIndexLayout,
  createConfiguration,
  createGeometry,
  mapToPhysicalChapter,
} from '../src/index';

const sizes = [0.25, 0.5, 0.75, ...Array.from({ length: 1024 }, (_, i) => i + 1)];

describe('every memory configuration', () => {
  it('keeps the identities between geometry, window, volume index and storage', () => {
    let previous = 0;
    for (const memorySize of sizes) {
      const dense = createConfiguration({ memorySize });
      const sparse = createConfiguration({ memorySize, sparse: true });
      const reduced = createConfiguration({ memorySize, reduced: true });
      expect(computeDedupWindow(sparse.geometry)).toBe(10 * computeDedupWindow(dense.geometry));
      expect(reduced.geometry.chaptersPerVolume).toBe(dense.geometry.chaptersPerVolume - 1);
      const layout = computeIndexStorageLayout(dense);
      expect(layout.totalBytes).toBe(layout.totalBlocks * 4096);
      expect(layout.totalBytes).toBeGreaterThan(dense.geometry.bytesPerVolume);
      expect(layout.totalBytes).toBeGreaterThan(previous);
      previous = layout.totalBytes;
      expect(computeIndexStorageLayout(reduced).totalBytes).toBeLessThan(layout.totalBytes);
      expect(computeIndexStorageLayout(sparse).totalBytes).toBeGreaterThan(layout.totalBytes);
      const vi = computeVolumeIndexLayout(dense);
      expect(computeVolumeIndexLayout(reduced).nonHook.listCount).toBe(vi.nonHook.listCount);
      // The volume index's mean delta stays near 4096 * 256 / 257 (about 4080).
      expect(vi.nonHook.meanDelta).toBeGreaterThan(4000);
      expect(vi.nonHook.meanDelta).toBeLessThanOrEqual(4096);
      const svi = computeVolumeIndexLayout(sparse);
      expect(svi.hook).toBeDefined();
      expect(svi.memorySize).toBe(svi.nonHook.subIndexMemorySize + svi.hook!.subIndexMemorySize);
    }
  });
});

describe('expiry and remapping, long run', () => {
  it('never maps two live chapters to one physical chapter', () => {
    for (const chapters of [3, 5, 7, 1023, 2047]) {
      for (
        let remappedPhysical = 0;
        remappedPhysical < chapters;
        remappedPhysical += Math.ceil(chapters / 40)
      ) {
        for (const remappedVirtual of [0, 1, chapters - 1, chapters, 5 * chapters + 3]) {
          const g = createGeometry({
            bytesPerPage: 4096,
            recordPagesPerChapter: 1,
            chaptersPerVolume: chapters,
            remappedVirtual,
            remappedPhysical,
          });
          let oldest = remappedVirtual;
          let newest = remappedVirtual + chapters - 1;
          const owner = new Map<number, number>();
          for (let v = oldest; v <= newest; v++) owner.set(mapToPhysicalChapter(g, v), v);
          expect(owner.size).toBe(chapters);
          for (let step = 0; step < 3 * chapters; step++) {
            newest += 1;
            const expire = chaptersToExpire(g, newest);
            for (let e = 0; e < expire; e++) {
              const p = mapToPhysicalChapter(g, oldest);
              if (owner.get(p) !== oldest) throw new Error(`chapter ${oldest} not in physical ${p}`);
              owner.delete(p);
              oldest++;
            }
            const p = mapToPhysicalChapter(g, newest);
            if (owner.has(p))
              throw new Error(`chapter ${newest} lands on live chapter ${owner.get(p)} (physical ${p})`);
            owner.set(p, newest);
            if (owner.size > chapters) throw new Error('more live chapters than physical ones');
          }
        }
      }
    }
  });
});
