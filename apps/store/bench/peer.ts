// The peer benchmark (`pnpm --filter @deja/store bench`, or `tsx bench/peer.ts`): 5 versions of
// a VM-like image (bench/generator.ts, seeded; DEJA_BENCH_MIB sets the size, default 1024) go into
// a Deja store through the `deja` command line and, when `borg` is installed, into a borg 1.2
// repository with fixed 4 KiB chunks and lz4 (the closest peer: content-addressed, fixed-size
// chunks). Each command of both is a process of its own, timed with its peak RSS, on the same
// files; each figure is printed beside borg's with the ratio.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCli } from '../test/_cli';
import { ImageHistory } from './generator';

const MiB = 1 << 20;

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

function timed(cmd: string, args: string[], cwd?: string): { s: number; rss: number; stdout: string } {
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
  return { s, rss: Number(lines[lines.length - 1]) * 1024, stdout: r.stdout };
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
    // Deja: the `deja` command line (bundled from the sources), one process per command, as a
    // user runs it and as borg runs.
    const cli = await buildCli();
    const deja = (...args: string[]) => timed(process.execPath, [cli.path, ...args]);
    const store = join(dir, 'deja');
    const out = join(dir, 'restore-deja.img');
    let dejaFig: Figures;
    let dejaIn: { importS: number[]; exportS: number; deleteS: number };
    try {
      deja('init', store, '--size', String(size));
      const times: number[] = [];
      const inside: number[] = [];
      let rss = 0;
      for (let v = 0; v < versions; v++) {
        const t = deja('import', store, images[v] as string, '--snapshot', `v${v + 1}`, '--json');
        times.push(t.s);
        inside.push(JSON.parse(t.stdout).seconds);
        rss = Math.max(rss, t.rss);
      }
      const stored = du(store);
      const ex = deja('export', store, '--snapshot', `v${versions}`, out, '--json');
      rss = Math.max(rss, ex.rss);
      execFileSync('cmp', [out, images[versions - 1] as string]);
      const del = deja('snapshot', 'delete', store, 'v1', '--json');
      rss = Math.max(rss, del.rss);
      dejaIn = { importS: inside, exportS: JSON.parse(ex.stdout).seconds, deleteS: del.s };
      dejaFig = {
        firstMBs: size / MiB / (times[0] as number),
        laterMBs: ((versions - 1) * size) / MiB / times.slice(1).reduce((a, b) => a + b, 0),
        perVersionS: times.slice(1).reduce((a, b) => a + b, 0) / (versions - 1),
        peakRssMiB: rss / MiB,
        dedup: logical / stored,
        restoreMBs: size / MiB / ex.s,
        deleteS: del.s,
        freedMiB: (stored - du(store)) / MiB,
      };
    } finally {
      await cli.dispose();
    }
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
    const inside = dejaIn.importS;
    console.log(
      `\nInside deja (its own clock, without starting the process): first import ${(size / MiB / (inside[0] as number)).toFixed(0)} MB/s, ` +
        `later versions ${(inside.slice(1).reduce((a, b) => a + b, 0) / (versions - 1)).toFixed(2)} s each, export ${(size / MiB / dejaIn.exportS).toFixed(0)} MB/s.`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
