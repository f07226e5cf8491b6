// Benchmarks of @deja/chapter-index: open chapter puts, closing (index build + pack) a full chapter
// of the 0.25 GB and 1 GB geometries, and chapter index page searches. Each is reported with a
// baseline measured in the same process (a JS Map doing the same job, or the plain record copy),
// because the machines are shared and absolute figures drift.

import os from 'node:os';
import { createConfiguration, type IndexGeometry } from '@deja/volume-geometry';
import { Bench } from 'tinybench';
import {
  ChapterIndexPage,
  chapterDeltaListOf,
  closeOpenChapter,
  collateOpenChapter,
  makeOpenChapterZones,
  OpenChapterIndex,
  type OpenChapterZone,
} from '../src/index';

/** The reference C's time to pack the index pages of a 1 GB chapter (issue 19). */
const C_PACK_1GB_MS = 0.22;

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`@deja/chapter-index bench on ${cpu} (${os.cpus().length} cores), Node ${process.version}`);

/** splitmix64-ish names from a 32-bit PRNG: cheap and well spread. */
function makeNames(count: number, seed: number): Uint8Array[] {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return Array.from({ length: count }, () => {
    const name = new Uint8Array(16);
    const view = new DataView(name.buffer);
    for (let i = 0; i < 4; i++) view.setUint32(i * 4, next());
    return name;
  });
}

const latin1 = new TextDecoder('latin1');
const data = new Uint8Array(16);

function fullChapter(
  geometry: IndexGeometry,
  seed: number,
): { zones: OpenChapterZone[]; names: Uint8Array[] } {
  const zones = makeOpenChapterZones(geometry, 1);
  const names = makeNames(geometry.recordsPerChapter, seed);
  for (const name of names) zones[0]!.put(name, data);
  return { zones, names };
}

interface Row {
  name: string;
  value: string;
  ratio: string;
}
const rows: Row[] = [];

const msOf = (bench: Bench, i: number) =>
  (bench.tasks[i]?.result as { latency?: { mean?: number } } | undefined)?.latency?.mean ?? Number.NaN;

// --- Open chapter puts (0.25 GB chapter: one zone of 65536 records, 262144 slots) ---
{
  const geometry = createConfiguration({ memorySize: 0.25 }).geometry;
  const names = makeNames(geometry.recordsPerChapter, 1);
  const keys = names.map((n) => latin1.decode(n));
  const [zone] = makeOpenChapterZones(geometry, 1) as [OpenChapterZone];
  const map = new Map<string, Uint8Array>();
  const bench = new Bench({ time: 1500, warmup: true, warmupTime: 300 });
  bench
    .add('baseline: Map.set of 65536 names (string keys, keys prebuilt)', () => {
      map.clear();
      for (const key of keys) map.set(key, data);
    })
    .add('OpenChapterZone: reset + 65536 puts', () => {
      zone.reset();
      for (const name of names) zone.put(name, data);
    });
  await bench.run();
  const base = msOf(bench, 0);
  const ours = msOf(bench, 1);
  rows.push({
    name: 'baseline Map.set',
    value: `${((65536 / base) * 1e-3).toFixed(2)} M puts/s`,
    ratio: '1.00x',
  });
  rows.push({
    name: 'open chapter put (0.25 GB chapter, incl. reset)',
    value: `${((65536 / ours) * 1e-3).toFixed(2)} M puts/s`,
    ratio: `${(base / ours).toFixed(2)}x`,
  });
}

// --- Closing a full chapter: index build and pack, 0.25 GB and 1 GB ---
for (const memorySize of [0.25, 1]) {
  const geometry = createConfiguration({ memorySize }).geometry;
  const { zones } = fullChapter(geometry, 2);
  const index = new OpenChapterIndex(geometry, 1234n, { warn: () => {} });
  closeOpenChapter(zones, index, 1);
  // The seed's way, as a same-run baseline: every name put in chapter order, the lists where the
  // puts left them (spread through the memory, so packing shifts each list on its own).
  const seedIndex = new OpenChapterIndex(geometry, 1234n, { warn: () => {} });
  const seedClose = () => {
    seedIndex.empty(1);
    collateOpenChapter(zones, geometry, (name, page) => seedIndex.put(name, page));
    return seedIndex.packPages();
  };
  seedClose();
  const bench = new Bench({ time: 2000, warmup: true, warmupTime: 300, iterations: 5 });
  bench
    .add('baseline: collate records only', () => {
      collateOpenChapter(zones, geometry);
    })
    .add('close: collate + chapter index + pack', () => {
      closeOpenChapter(zones, index, 1);
    })
    .add('pack the chapter index pages only', () => {
      index.packPages();
    })
    .add("seed's order: collate + put each name + pack", seedClose)
    .add("seed's order: pack the pages only", () => {
      seedIndex.packPages();
    });
  await bench.run();
  const base = msOf(bench, 0);
  rows.push({
    name: `collate only (${memorySize} GB: ${geometry.recordsPerChapter} records)`,
    value: `${base.toFixed(2)} ms`,
    ratio: '1.00x',
  });
  rows.push({
    name: `close chapter (${memorySize} GB, ${geometry.indexPagesPerChapter} index pages)`,
    value: `${msOf(bench, 1).toFixed(2)} ms`,
    ratio: `${(msOf(bench, 1) / base).toFixed(2)}x the time`,
  });
  rows.push({
    name: `  same, seed's order (puts in chapter order)`,
    value: `${msOf(bench, 3).toFixed(2)} ms`,
    ratio: `${(msOf(bench, 3) / base).toFixed(2)}x the time; close is ${(msOf(bench, 3) / msOf(bench, 1)).toFixed(2)}x faster`,
  });
  rows.push({
    name: `pack index pages only (${memorySize} GB)`,
    value: `${msOf(bench, 2).toFixed(3)} ms`,
    ratio:
      `${(msOf(bench, 2) / base).toFixed(2)}x the time` +
      (memorySize === 1
        ? `; ${(msOf(bench, 2) / C_PACK_1GB_MS).toFixed(2)}x the C's ${C_PACK_1GB_MS} ms`
        : ''),
  });
  rows.push({
    name: `  same, lists where the seed's puts leave them`,
    value: `${msOf(bench, 4).toFixed(3)} ms`,
    ratio: `packing is ${(msOf(bench, 4) / msOf(bench, 2)).toFixed(2)}x faster laid out by fillDeltaIndex`,
  });
}

// --- Chapter index page searches (0.25 GB chapter) ---
{
  const geometry = createConfiguration({ memorySize: 0.25 }).geometry;
  const { zones, names } = fullChapter(geometry, 3);
  const index = new OpenChapterIndex(geometry, 99n, { warn: () => {} });
  const closed = closeOpenChapter(zones, index, 7);
  const pages = closed.indexPages.map((b) => ChapterIndexPage.open(b, geometry, 99n));
  const pageOf = names.map((n) => {
    const list = chapterDeltaListOf(n, geometry);
    return pages.find((p) => list >= p.lowestListNumber && list <= p.highestListNumber)!;
  });
  const sample = names.slice(0, 8192);
  const map = new Map<string, number>(names.map((n, i) => [latin1.decode(n), i >> 10]));
  const sampleKeys = sample.map((n) => latin1.decode(n));
  let sink = 0;
  const bench = new Bench({ time: 1500, warmup: true, warmupTime: 300 });
  bench
    .add('baseline: Map.get of 8192 names (string keys)', () => {
      for (const key of sampleKeys) sink += map.get(key) ?? 0;
    })
    .add('ChapterIndexPage.search of 8192 names', () => {
      for (let i = 0; i < sample.length; i++) sink += pageOf[i]!.search(sample[i]!) ?? 0;
    });
  await bench.run();
  const base = msOf(bench, 0);
  const ours = msOf(bench, 1);
  rows.push({
    name: 'baseline Map.get',
    value: `${((8192 / base) * 1e-3).toFixed(2)} M lookups/s`,
    ratio: '1.00x',
  });
  rows.push({
    name: 'chapter index page search (0.25 GB chapter)',
    value: `${((8192 / ours) * 1e-3).toFixed(2)} M searches/s`,
    ratio: `${(base / ours).toFixed(2)}x`,
  });
  if (sink === -1) console.log(sink);
}

for (const row of rows) console.log(`${row.name.padEnd(58)} ${row.value.padStart(20)}   ${row.ratio}`);
