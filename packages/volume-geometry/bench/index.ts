// Benchmark of @deja/volume-geometry. Nothing here is on a hot path except the chapter mapping,
// which an index runs on every lookup of a closed chapter; this measures it against a plain
// modulo (the baseline, in the same process), and createGeometry() for completeness.

import os from 'node:os';
import { Bench } from 'tinybench';
import { createConfiguration, createGeometry, mapToPhysicalChapter } from '../src/index';

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`@deja/volume-geometry bench on ${cpu}, Node ${process.version}`);

const normal = createConfiguration({ memorySize: 1 }).geometry;
const reduced = createConfiguration({
  memorySize: 1,
  reduced: true,
  remappedVirtual: 5000,
  remappedPhysical: 300,
}).geometry;
const N = 4096;
let sink = 0;

const bench = new Bench({ time: 500, warmup: true, warmupTime: 200 });
bench
  .add('baseline: v % chaptersPerVolume (4096 chapters)', () => {
    for (let v = 0; v < N; v++) sink += (v * 7919) % normal.chaptersPerVolume;
  })
  .add('mapToPhysicalChapter, normal geometry (4096 chapters)', () => {
    for (let v = 0; v < N; v++) sink += mapToPhysicalChapter(normal, v * 7919);
  })
  .add('mapToPhysicalChapter, reduced + remapped (4096 chapters)', () => {
    for (let v = 0; v < N; v++) sink += mapToPhysicalChapter(reduced, v * 7919);
  })
  .add('createGeometry (1 GB shape)', () => {
    sink += createGeometry({
      bytesPerPage: 32768,
      recordPagesPerChapter: 256,
      chaptersPerVolume: 1024,
    }).indexPagesPerChapter;
  });

await bench.run();

// tinybench 6 reports latency in milliseconds per call.
const hzOf = (task: (typeof bench.tasks)[number] | undefined): number => {
  const r = task?.result as { latency?: { mean?: number } } | undefined;
  return r?.latency?.mean ? 1000 / r.latency.mean : Number.NaN;
};
const baseHz = hzOf(bench.tasks[0]);
for (const task of bench.tasks) {
  const hz = hzOf(task);
  // The loop tasks compare with the baseline loop; createGeometry is a single call, no ratio.
  const loop = task.name.includes('4096');
  const perOp = loop ? (hz * N) / 1e6 : hz / 1e6;
  const ratio = loop ? `${(hz / baseHz).toFixed(2)}x baseline` : '';
  console.log(`${task.name.padEnd(58)} ${perOp.toFixed(2).padStart(8)} M ops/s   ${ratio}`);
}
if (sink === 0.5) console.log('');
