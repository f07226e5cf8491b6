// Compressed against uncompressed stores, in process and alternating (DEJA_BENCH_ONLY=compression-ab;
// DEJA_BENCH_MIB sets the image, default 256; DEJA_BENCH_ROUNDS the rounds, default 2): 3
// versions of the VM-like image (bench/generator.ts, seed 2026) imported with `importImage`, a
// snapshot each, then the newest exported with `exportVersion`. Alternating the two stores round
// by round puts both under the same load on a shared machine, so their ratio means something
// where a single run's absolute figures do not.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportVersion, importImage, Store } from '../src/index';
import { ImageHistory } from './generator';

const MiB = 1 << 20;

interface Run {
  first: number;
  later: number;
  exported: number;
  ratio: number;
}

async function once(dir: string, images: string[], size: number, compression: 'off' | 'zstd'): Promise<Run> {
  const path = join(dir, `store-${compression}`);
  await rm(path, { recursive: true, force: true });
  const store = await Store.create(path, { size, compression });
  const times: number[] = [];
  try {
    for (const [i, image] of images.entries()) {
      const t0 = performance.now();
      await importImage(store, image);
      times.push((performance.now() - t0) / 1000);
      await store.createSnapshot(`v${i + 1}`);
    }
    const out = join(dir, `out-${compression}.img`);
    const t0 = performance.now();
    await exportVersion(store, `v${images.length}`, out);
    const exported = (performance.now() - t0) / 1000;
    await rm(out, { force: true });
    const s = await store.stats();
    return {
      first: times[0] as number,
      later: times.slice(1).reduce((a, b) => a + b, 0) / (times.length - 1),
      exported,
      ratio: (images.length * size) / (s.dataBytes + s.metadataBytes),
    };
  } finally {
    await store.close();
    await rm(path, { recursive: true, force: true });
  }
}

export async function compressionAbBench(): Promise<void> {
  const size = Number(process.env.DEJA_BENCH_MIB ?? 256) * MiB;
  const rounds = Number(process.env.DEJA_BENCH_ROUNDS ?? 2);
  const dir = await mkdtemp(join(tmpdir(), 'deja-zab-'));
  try {
    const history = new ImageHistory({ size, seed: 2026 });
    const images: string[] = [];
    for (let v = 0; v < 3; v++) {
      images.push(join(dir, `v${v + 1}.img`));
      await writeFile(images[v] as string, history.version(v));
    }
    console.log(
      `compressed against uncompressed, in process, alternating: 3 versions of ${size / MiB} MiB, ${rounds} rounds`,
    );
    console.log(
      '| round | store | first version (s) | later version (s) | export (s) | stored (x) |\n| --- | --- | --- | --- | --- | --- |',
    );
    const ratios: { first: number; later: number; exported: number }[] = [];
    for (let r = 1; r <= rounds; r++) {
      const off = await once(dir, images, size, 'off');
      const zstd = await once(dir, images, size, 'zstd');
      for (const [name, x] of [
        ['off', off],
        ['zstd', zstd],
      ] as const)
        console.log(
          `| ${r} | ${name} | ${x.first.toFixed(2)} | ${x.later.toFixed(2)} | ${x.exported.toFixed(2)} | ${x.ratio.toFixed(2)} |`,
        );
      ratios.push({
        first: off.first / zstd.first,
        later: off.later / zstd.later,
        exported: off.exported / zstd.exported,
      });
    }
    const span = (k: 'first' | 'later' | 'exported') =>
      `${Math.min(...ratios.map((x) => x[k])).toFixed(2)}-${Math.max(...ratios.map((x) => x[k])).toFixed(2)}x`;
    console.log(
      `\nzstd speed / uncompressed speed: first version ${span('first')}, later versions ${span('later')}, export ${span('exported')}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
