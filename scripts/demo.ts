// `pnpm demo`: the store at work. It generates a seeded history of a VM-like disk image (5 versions
// of 256 MiB: about 35% zero chunks, 25% duplicates, 3% rewritten per version), imports each
// version into a store in a temporary directory and snapshots it, then shows what it cost, a diff,
// what deleting the oldest snapshot frees, and an export of the newest checked byte for byte.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportVersion, importImage, Store } from '@deja/store';
import { ImageHistory } from '../apps/store/bench/generator.ts';

const MiB = 1 << 20;
const VERSIONS = 5;
const SIZE = Number(process.env.DEJA_DEMO_MIB ?? 256) * MiB;

const fmt = (n: number) =>
  n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GiB` : `${(n / MiB).toFixed(1)} MiB`;

function progress(label: string) {
  const tty = process.stderr.isTTY;
  const t0 = performance.now();
  return {
    update(bytes: number, total: number | undefined) {
      if (!tty) return;
      const s = (performance.now() - t0) / 1000;
      const pct = total ? ` ${((bytes / total) * 100).toFixed(0).padStart(3)}%` : '';
      process.stderr.write(
        `\r  ${label}${pct} ${fmt(bytes)} ${(bytes / MiB / Math.max(s, 1e-3)).toFixed(0)} MB/s `,
      );
    },
    done() {
      if (tty) process.stderr.write('\r\x1b[K');
    },
  };
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const f of ['data.deja', 'index.deja']) n += (await stat(join(dir, f))).blocks * 512;
  return n;
}

const dir = await mkdtemp(join(tmpdir(), 'deja-demo-'));
try {
  const history = new ImageHistory({ size: SIZE, seed: 2026 });
  console.log(
    `Deja demo: ${VERSIONS} versions of a ${fmt(SIZE)} VM-like disk image into a store at ${dir}\n`,
  );
  const store = await Store.create(join(dir, 'store'), { size: SIZE });
  const storeDir = join(dir, 'store');
  let before = 0;
  console.log('version  import      MB/s   new bytes on disk   chunks changed');
  for (let v = 0; v < VERSIONS; v++) {
    const bar = progress(`importing v${v + 1}`);
    const t0 = performance.now();
    const r = await importImage(store, history.stream(v), { onProgress: (p) => bar.update(p.bytes, SIZE) });
    await store.createSnapshot(`v${v + 1}`);
    const s = (performance.now() - t0) / 1000;
    bar.done();
    const onDisk = await dirBytes(storeDir);
    console.log(
      `v${v + 1}       ${s.toFixed(2).padStart(6)} s ${(SIZE / MiB / s).toFixed(0).padStart(6)}   ${fmt(onDisk - before).padStart(17)}   ${String(r.changedChunks).padStart(14)}`,
    );
    before = onDisk;
  }
  const stats = await store.stats();
  const logical = VERSIONS * SIZE;
  const onDisk = await dirBytes(storeDir);
  console.log(
    `\n${fmt(logical)} of logical data (${VERSIONS} versions) in ${fmt(onDisk)} on disk: ${(logical / onDisk).toFixed(1)}x`,
  );
  console.log(
    `  ${stats.distinctChunks} distinct chunks (${fmt(stats.dataBytes)}), ${stats.zeroChunks} zero chunks in the live volume (stored as nothing), metadata ${fmt(stats.metadataBytes)}, ` +
      `the open store's journal and free pages ${fmt(Math.max(0, onDisk - stats.storedBytes))}`,
  );
  const diff = await store.diff('v4', 'v5');
  const changed = diff.reduce((n, r) => n + r.length, 0);
  console.log(
    `\ndiff v4 -> v5: ${diff.length} ranges, ${fmt(changed)} changed; the first: ${diff
      .slice(0, 3)
      .map((r) => `${r.offset}+${r.length}`)
      .join(', ')}`,
  );
  const usage = await store.snapshotUsage('v1');
  const t1 = performance.now();
  const freed = await store.deleteSnapshot('v1');
  console.log(
    `delete v1: ${fmt(freed)} freed in ${((performance.now() - t1) / 1000).toFixed(2)} s (snapshotUsage said ${fmt(usage.exclusiveBytes)})`,
  );
  const out = join(dir, 'v5.img');
  const bar = progress('exporting v5');
  const t2 = performance.now();
  await exportVersion(store, 'v5', out, { onProgress: (p) => bar.update(p.bytes, p.total) });
  bar.done();
  const exportS = (performance.now() - t2) / 1000;
  const exported = new Uint8Array(await readFile(out));
  const expected = history.version(VERSIONS - 1);
  const same = Buffer.from(exported).equals(Buffer.from(expected));
  console.log(
    `export v5: ${(SIZE / MiB / exportS).toFixed(0)} MB/s, sparse file of ${fmt((await stat(out)).blocks * 512)}, byte for byte ${same ? 'identical' : 'DIFFERENT'} to the generated image`,
  );
  const report = await store.check();
  console.log(`check: ${report.ok ? 'ok' : report.problems.map((p) => p.message).join('; ')}`);
  await store.close();
  if (!same || !report.ok) process.exitCode = 1;
} finally {
  await rm(dir, { recursive: true, force: true });
}
