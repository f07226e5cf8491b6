// One side of the benchmark, in a child process so its peak RSS is its own:
// `tsx bench/run.ts file DIR OUT IMAGE...` or `tsx bench/run.ts s3 ENDPOINT/PREFIX/OBJECT_SIZE OUT IMAGE...`.
// Imports each image as a version (snapshot v1, v2, ...), then closes, reopens and exports the
// newest (a cold restore), and prints one JSON line of figures.
import { exportVersion, importImage, Store } from '@deja/store';
import { S3Storage } from '../src/index';

const [mode, where, out, ...images] = process.argv.slice(2);
if (!mode || !where || !out || images.length === 0)
  throw new Error('usage: run.ts file|s3 WHERE OUT IMAGE...');

const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
let adapters: S3Storage[] = [];
async function location(
  create: boolean,
): Promise<string | { data: S3Storage; index: S3Storage; owned: true }> {
  if (mode === 'file') return where!;
  const [endpoint, prefix, objectSize] = where!.split('|');
  const open = (part: string) =>
    S3Storage.open({
      bucket: 'deja-bench',
      prefix: `${prefix}/${part}`,
      endpoint: endpoint!,
      credentials: CREDENTIALS,
      create,
      objectSize: Number(objectSize),
    });
  const [data, index] = await Promise.all([open('data'), open('index')]);
  adapters = [data, index];
  return { data, index, owned: true };
}
const totals = () =>
  adapters.reduce(
    (sum, a) => {
      const s = a.stats;
      return { puts: sum.puts + s.puts, gets: sum.gets + s.gets, bytes: sum.bytes + s.bytesUploaded };
    },
    { puts: 0, gets: 0, bytes: 0 },
  );

const versions: { seconds: number; puts: number; bytesUploaded: number }[] = [];
let store = await Store.create(await location(true), { size: 0 });
for (let v = 0; v < images.length; v++) {
  const before = totals();
  const t0 = performance.now();
  await importImage(store, images[v]!);
  await store.createSnapshot(`v${v + 1}`);
  const after = totals();
  versions.push({
    seconds: (performance.now() - t0) / 1000,
    puts: after.puts - before.puts,
    bytesUploaded: after.bytes - before.bytes,
  });
}
await store.close();
store = await Store.open(await location(false), { readOnly: true });
const before = totals();
const t1 = performance.now();
await exportVersion(store, `v${images.length}`, out!);
const restoreSeconds = (performance.now() - t1) / 1000;
const restoreGets = totals().gets - before.gets;
await store.close();
console.log(
  JSON.stringify({ versions, restoreSeconds, restoreGets, peakRss: process.resourceUsage().maxRSS * 1024 }),
);
