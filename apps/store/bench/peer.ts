// The peer benchmark (`pnpm --filter @deja/store bench`, or `tsx bench/peer.ts`): 5 versions of
// a VM-like image (bench/generator.ts, seeded; DEJA_BENCH_MIB sets the size, default 1024) go into
// a Deja store and, when `borg` is installed, into a borg 1.2 repository with fixed 4 KiB chunks
// and lz4 (the closest peer: content-addressed, fixed-size chunks). Both run as child processes on
// the same files; each figure is printed beside borg's with the ratio.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageHistory } from './generator';

const MiB = 1 << 20;
const here = dirname(fileURLToPath(import.meta.url));

interface Figures {
  firstMBs: number;
  laterMBs: number;
  perVersionS: number;
  peakRssMiB: number;
  dedup: number;
  restoreMBs: number;
  deleteS: number;
  freedMiB: number;
}

function du(path: string): number {
  return Number(execFileSync('du', ['-sB1', path], { encoding: 'utf8' }).split('\t')[0]);
}

function timed(cmd: string, args: string[], cwd?: string): { s: number; rss: number } {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
      BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
    },
  });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  return { s, rss: Number(lines[lines.length - 1]) * 1024 };
}

export async function peerBench(): Promise<void> {
  const size = Number(process.env.DEJA_BENCH_MIB ?? 1024) * MiB;
  const versions = 5;
  const dir = await mkdtemp(join(tmpdir(), 'deja-peer-'));
  try {
    console.log(
      `peer benchmark: ${versions} versions of a ${size / MiB} MiB VM-like image; ${cpus()[0]?.model ?? ''}, ${cpus().length} cores, Node ${process.version}`,
    );
    const history = new ImageHistory({ size, seed: 2026 });
    const images: string[] = [];
    for (let v = 0; v < versions; v++) {
      const path = join(dir, `image-v${v + 1}.img`);
      await writeFile(path, history.version(v));
      images.push(path);
    }
    const logical = versions * size;
    // Deja.
    const out = join(dir, 'restore-deja.img');
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=@deja/source',
        join(here, 'peer-deja.ts'),
        join(dir, 'deja'),
        out,
        ...images,
      ],
      {
        encoding: 'utf8',
        cwd: join(here, '..'),
      },
    );
    if (r.status !== 0) throw new Error(`deja run failed: ${r.stderr}`);
    const d = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    const dejaFig: Figures = {
      firstMBs: size / MiB / d.imports[0],
      laterMBs: ((versions - 1) * size) / MiB / d.imports.slice(1).reduce((a: number, b: number) => a + b, 0),
      perVersionS: d.imports.slice(1).reduce((a: number, b: number) => a + b, 0) / (versions - 1),
      peakRssMiB: d.peakRss / MiB,
      dedup: logical / d.stored,
      restoreMBs: size / MiB / d.exportS,
      deleteS: d.deleteS,
      freedMiB: d.freedOnDisk / MiB,
    };
    // borg, when installed.
    let borgFig: Figures | undefined;
    if (spawnSync('borg', ['--version']).status === 0) {
      const repo = join(dir, 'borg');
      timed('borg', ['init', '--encryption=none', repo]);
      const times: number[] = [];
      let rss = 0;
      for (let v = 0; v < versions; v++) {
        const t = timed(
          'borg',
          [
            'create',
            '--chunker-params',
            'fixed,4096',
            '--compression',
            'lz4',
            `${repo}::v${v + 1}`,
            `image-v${v + 1}.img`,
          ],
          dir,
        );
        times.push(t.s);
        rss = Math.max(rss, t.rss);
      }
      const stored = du(repo);
      const restoreDir = join(dir, 'borg-restore');
      execFileSync('mkdir', ['-p', restoreDir]);
      const ex = timed('borg', ['extract', `${repo}::v${versions}`], restoreDir);
      const restored = await stat(join(restoreDir, `image-v${versions}.img`));
      if (restored.size !== size) throw new Error('borg restore has the wrong size');
      const del = timed('borg', ['delete', `${repo}::v1`]);
      const compact = timed('borg', ['compact', repo]);
      borgFig = {
        firstMBs: size / MiB / (times[0] as number),
        laterMBs: ((versions - 1) * size) / MiB / times.slice(1).reduce((a, b) => a + b, 0),
        perVersionS: times.slice(1).reduce((a, b) => a + b, 0) / (versions - 1),
        peakRssMiB: Math.max(rss, ex.rss) / MiB,
        dedup: logical / stored,
        restoreMBs: size / MiB / ex.s,
        deleteS: del.s + compact.s,
        freedMiB: (stored - du(repo)) / MiB,
      };
    }
    const rows: [string, keyof Figures, number][] = [
      ['ingest, first version (MB/s)', 'firstMBs', 0],
      ['ingest, later versions (MB/s)', 'laterMBs', 0],
      ['seconds per new version', 'perVersionS', 2],
      ['peak RSS (MiB)', 'peakRssMiB', 0],
      ['dedup (logical / on disk)', 'dedup', 2],
      ['restore (MB/s)', 'restoreMBs', 0],
      ['delete oldest (s)', 'deleteS', 2],
      ['space freed by it (MiB)', 'freedMiB', 1],
    ];
    console.log(`\n| figure | deja | borg 1.2 (fixed 4 KiB, lz4) | deja / borg |\n| --- | --- | --- | --- |`);
    for (const [label, key, digits] of rows) {
      const a = dejaFig[key];
      const b = borgFig?.[key];
      const ratio = b === undefined || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}`;
      console.log(
        `| ${label} | ${a.toFixed(digits)} | ${b === undefined ? 'not installed' : b.toFixed(digits)} | ${ratio} |`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
