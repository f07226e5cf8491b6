// The storage-s3 benchmark: the store's peer workload (a seeded VM-like image, 5 versions of
// 256 MiB by default; DEJA_BENCH_MIB and DEJA_BENCH_VERSIONS change it) into a Deja store on
// FileStorage and on S3Storage over a local s3rver, in the same run, each side in a child process:
// ingest and cold restore MB/s, PUTs and bytes uploaded per version, GETs of the restore, peak RSS,
// and the ratio S3 / file. Then the object-size sweep behind the default (DEJA_BENCH_SIZES, KiB).
//
// Run: pnpm --filter @deja/storage-s3 bench
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ImageHistory } from '../../../apps/store/bench/generator';
import { startProxy, startServer } from '../test/_server';

const MIB = 1024 * 1024;
const mib = Number(process.env.DEJA_BENCH_MIB ?? 256);
const count = Number(process.env.DEJA_BENCH_VERSIONS ?? 5);
// DEJA_BENCH_SIZES: object sizes of the sweep in KiB ('' skips it).
const sizes = (process.env.DEJA_BENCH_SIZES ?? '256,1024,4096').split(',').filter(Boolean).map(Number);
const dir = mkdtempSync(join(os.tmpdir(), 'deja-s3-bench-'));
const runner = fileURLToPath(new URL('./run.ts', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));

interface Result {
  versions: { seconds: number; puts: number; bytesUploaded: number }[];
  restoreSeconds: number;
  restoreGets: number;
  peakRss: number;
}

/** Runs one side in a child (asynchronously: the s3rver it talks to lives in this process). */
async function run(args: string[]): Promise<Result> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--conditions=@deja/source', '--import', 'tsx', runner, ...args],
    { cwd: root, encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!) as Result;
}

const history = new ImageHistory({ size: mib * MIB, seed: 1 });
const images: string[] = [];
for (let v = 0; v < count; v++) {
  const path = join(dir, `v${v}.img`);
  writeFileSync(path, history.version(v));
  images.push(path);
}
const server = await startServer('deja-bench');
// DEJA_BENCH_LATENCY_MS: the S3 side talks to the server through the tests' proxy, which holds each
// request that long first, as a bucket across a network would (s3rver on 127.0.0.1 answers at once).
const latency = Number(process.env.DEJA_BENCH_LATENCY_MS ?? 0);
const proxy = latency > 0 ? await startProxy(server.endpoint) : undefined;
if (proxy) proxy.fault = () => ({ delayMs: latency });
const endpoint = proxy?.endpoint ?? server.endpoint;
const mbps = (bytes: number, s: number) => bytes / 1e6 / s;
const f = (x: number, d = 0) =>
  x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
try {
  console.log(
    `${os.cpus()[0]?.model}, ${os.cpus().length} vCPUs, Node ${process.version}; ${count} versions of ${mib} MiB; ${latency} ms added per S3 request; load average ${os.loadavg()[0]?.toFixed(1)}`,
  );
  const file = await run(['file', join(dir, 'file-store'), join(dir, 'restore-file.img'), ...images]);
  const s3 = await run(['s3', `${endpoint}|peer|${MIB}`, join(dir, 'restore-s3.img'), ...images]);
  const ingest = (r: Result, from: number) => {
    const vs = r.versions.slice(from);
    return mbps(
      vs.length * mib * MIB,
      vs.reduce((s, v) => s + v.seconds, 0),
    );
  };
  const rows: [string, number, number, number][] = [
    [
      'ingest, first version (MB/s)',
      mbps(mib * MIB, file.versions[0]!.seconds),
      mbps(mib * MIB, s3.versions[0]!.seconds),
      1,
    ],
    ['ingest, later versions (MB/s)', ingest(file, 1), ingest(s3, 1), 1],
    [
      'cold restore of the newest (MB/s)',
      mbps(mib * MIB, file.restoreSeconds),
      mbps(mib * MIB, s3.restoreSeconds),
      1,
    ],
    ['peak RSS (MiB)', file.peakRss / MIB, s3.peakRss / MIB, 0],
  ];
  console.log('| figure | FileStorage | S3Storage (s3rver, 1 MiB objects) | S3 / file |');
  console.log('| --- | --- | --- | --- |');
  for (const [name, a, b, d] of rows) console.log(`| ${name} | ${f(a, d)} | ${f(b, d)} | ${f(b / a, 2)} |`);
  console.log('\nPer version on S3 (PUTs and bytes uploaded, data and index together):');
  console.log('| version | seconds | PUTs | MiB uploaded |');
  console.log('| --- | --- | --- | --- |');
  s3.versions.forEach((v, i) => {
    console.log(`| ${i + 1} | ${f(v.seconds, 2)} | ${f(v.puts)} | ${f(v.bytesUploaded / MIB, 1)} |`);
  });
  console.log(`restore: ${f(s3.restoreGets)} GETs`);

  if (sizes.length > 0) {
    console.log('\nObject size sweep (2 versions):');
    console.log(
      '| object size | ingest v1 (MB/s) | ingest v2 (MB/s) | PUTs v2 | MiB uploaded v2 | cold restore (MB/s) | peak RSS (MiB) |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const kib of sizes) {
      const r = await run([
        's3',
        `${endpoint}|sweep-${kib}|${kib * 1024}`,
        join(dir, `restore-${kib}.img`),
        ...images.slice(0, 2),
      ]);
      const [a, b] = r.versions;
      console.log(
        `| ${kib} KiB | ${f(mbps(mib * MIB, a!.seconds))} | ${f(mbps(mib * MIB, b!.seconds))} | ${f(b!.puts)} | ${f(b!.bytesUploaded / MIB, 1)} | ${f(mbps(mib * MIB, r.restoreSeconds))} | ${f(r.peakRss / MIB)} |`,
      );
    }
  }
} finally {
  await proxy?.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
