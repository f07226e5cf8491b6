// The Deja side of the peer benchmark, run in a child process so its peak RSS is its own:
// `tsx bench/peer-deja.ts STORE_DIR OUT_FILE IMAGE...` imports each image as a version (snapshot
// v1, v2, ...), exports the newest, deletes the oldest, and prints one JSON line of figures.
import { execFileSync } from 'node:child_process';
import { exportVersion, importImage, Store } from '../src/index';

const [dir, out, ...images] = process.argv.slice(2);
if (!dir || !out || images.length === 0) throw new Error('usage: peer-deja.ts STORE_DIR OUT_FILE IMAGE...');

/** Bytes the directory holds on disk (allocated blocks, as `du` counts them). */
function du(path: string): number {
  return Number(execFileSync('du', ['-sB1', path], { encoding: 'utf8' }).split('\t')[0]);
}

const imports: number[] = [];
const store = await Store.create(dir, { size: 0 });
for (let v = 0; v < images.length; v++) {
  const t0 = performance.now();
  await importImage(store, images[v] as string);
  await store.createSnapshot(`v${v + 1}`);
  imports.push((performance.now() - t0) / 1000);
}
const stored = du(dir);
const t1 = performance.now();
await exportVersion(store, `v${images.length}`, out);
const exportS = (performance.now() - t1) / 1000;
const t2 = performance.now();
const freed = await store.deleteSnapshot('v1');
const deleteS = (performance.now() - t2) / 1000;
await store.close();
const after = du(dir);
console.log(
  JSON.stringify({
    imports,
    stored,
    exportS,
    deleteS,
    freedReported: freed,
    freedOnDisk: stored - after,
    peakRss: process.resourceUsage().maxRSS * 1024,
  }),
);
