// The peer benchmark (`pnpm --filter @deja/store bench`, or `tsx bench/peer.ts`): 5 versions of
// a VM-like image (bench/generator.ts, seeded; DEJA_BENCH_MIB sets the size, default 1024) go into
// a Deja store through the `deja` command line and, when `borg` is installed, into a borg 1.2
// repository with fixed 4 KiB chunks and lz4 (the closest peer: content-addressed, fixed-size
// chunks). Each command of both is a process of its own, timed with its peak RSS, on the same
// files, after a `sync`; each figure is printed beside borg's with the ratio (the restore runs
// twice for both, the faster counted). Deja runs twice: without
// compression and with `--compression zstd` (issue 15); DEJA_BENCH_MIB=0 skips this history. A
// second, smaller history of a text file system (DEJA_BENCH_TEXT_MIB per version, default 64; 0
// skips it) compares both Deja stores with borg.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCli } from '../test/_cli';
import { TextHistory, textFiles } from './compression';
import { ImageHistory } from './generator';

const MiB = 1 << 20;

interface Figures {
  firstMBs: number;
  laterMBs: number;
  perVersionS: number;
  peakRssMiB: number;
  dedup: number;
  restoreMBs: number;
  /** Both restores' seconds (restoreMBs counts the faster). */
  restoreRunsS: number[];
  deleteS: number;
  freedMiB: number;
}

function du(path: string): number {
  return Number(execFileSync('du', ['-sB1', path], { encoding: 'utf8' }).split('\t')[0]);
}

function timed(cmd: string, args: string[], cwd?: string): { s: number; rss: number; stdout: string } {
  // Each command starts with nothing left to write back from the one before (the images, an
  // import's data, a restored file): otherwise a command pays for its predecessor's writes, and
  // which one pays depends on the kernel's timing. Deja's and borg's commands alike.
  execFileSync('sync');
  // The command's time as /usr/bin/time measures it (%e: from its fork of the command to the
  // command's exit, 10 ms resolution), not around spawnSync: forking this process, which held
  // the generated images (gigabytes), took 0.3-0.55 s per command on this machine's page tables,
  // and that was counted to whichever command came first after the images.
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
      BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
    },
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  const [elapsed, maxRss] = (lines[lines.length - 1] ?? '').split(' ').map(Number);
  return { s: elapsed as number, rss: (maxRss as number) * 1024, stdout: r.stdout };
}

type Timed = (cmd: string, args: string[], cwd?: string) => { s: number; rss: number; stdout: string };

/** Deja through its CLI on `images` (one process per command): the figures and its own clocks. */
function runDeja(
  cliPath: string,
  dir: string,
  label: string,
  images: string[],
  sizes: number[],
  initArgs: string[],
): { fig: Figures; inside: { importS: number[]; exportS: number } } {
  // By its first line (`#!/usr/bin/env -S ... node ...`: its environment and node options), as
  // `deja` runs when installed.
  chmodSync(cliPath, 0o755);
  const deja = (...args: string[]) => timed(cliPath, args);
  const store = join(dir, `deja-${label}`);
  const out = join(dir, `restore-${label}.img`);
  const versions = images.length;
  deja('init', store, '--size', '0', ...initArgs);
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
  // Restored twice (each time to a new file), the faster one counted, as for borg.
  const exports = [0, 1].map(() => {
    const ex = deja('export', store, '--snapshot', `v${versions}`, out, '--json');
    execFileSync('cmp', [out, images[versions - 1] as string]);
    execFileSync('rm', ['-f', out]);
    return ex;
  });
  const ex = exports.reduce((a, b) => (b.s < a.s ? b : a));
  for (const e of exports) rss = Math.max(rss, e.rss);
  const del = deja('snapshot', 'delete', store, 'v1', '--json');
  rss = Math.max(rss, del.rss);
  const logical = sizes.reduce((a, b) => a + b, 0);
  const last = sizes[versions - 1] as number;
  const fig: Figures = {
    firstMBs: (sizes[0] as number) / MiB / (times[0] as number),
    laterMBs: (logical - (sizes[0] as number)) / MiB / times.slice(1).reduce((a, b) => a + b, 0),
    perVersionS: times.slice(1).reduce((a, b) => a + b, 0) / (versions - 1),
    peakRssMiB: rss / MiB,
    dedup: logical / stored,
    restoreMBs: last / MiB / ex.s,
    restoreRunsS: exports.map((e) => e.s),
    deleteS: del.s,
    freedMiB: (stored - du(store)) / MiB,
  };
  execFileSync('rm', ['-rf', store]);
  return { fig, inside: { importS: inside, exportS: JSON.parse(ex.stdout).seconds } };
}

/** borg 1.2 with fixed 4 KiB chunks and lz4 on the same files (named relative to `dir`). */
function runBorg(run: Timed, dir: string, label: string, names: string[], sizes: number[]): Figures {
  const repo = join(dir, `borg-${label}`);
  const versions = names.length;
  run('borg', ['init', '--encryption=none', repo]);
  const times: number[] = [];
  let rss = 0;
  for (let v = 0; v < versions; v++) {
    const t = run(
      'borg',
      [
        'create',
        '--chunker-params',
        'fixed,4096',
        '--compression',
        'lz4',
        `${repo}::v${v + 1}`,
        names[v] as string,
      ],
      dir,
    );
    times.push(t.s);
    rss = Math.max(rss, t.rss);
  }
  const stored = du(repo);
  const restoreDir = join(dir, `borg-restore-${label}`);
  // Restored twice (each time into a new directory), the faster one counted, as for Deja.
  const extracts = [0, 1].map(() => {
    execFileSync('mkdir', ['-p', restoreDir]);
    const ex = run('borg', ['extract', `${repo}::v${versions}`], restoreDir);
    execFileSync('cmp', [
      join(restoreDir, names[versions - 1] as string),
      join(dir, names[versions - 1] as string),
    ]);
    execFileSync('rm', ['-rf', restoreDir]);
    return ex;
  });
  const ex = extracts.reduce((a, b) => (b.s < a.s ? b : a));
  const del = run('borg', ['delete', `${repo}::v1`]);
  const compact = run('borg', ['compact', repo]);
  const logical = sizes.reduce((a, b) => a + b, 0);
  const fig: Figures = {
    firstMBs: (sizes[0] as number) / MiB / (times[0] as number),
    laterMBs: (logical - (sizes[0] as number)) / MiB / times.slice(1).reduce((a, b) => a + b, 0),
    perVersionS: times.slice(1).reduce((a, b) => a + b, 0) / (versions - 1),
    peakRssMiB: Math.max(rss, ...extracts.map((e) => e.rss)) / MiB,
    dedup: logical / stored,
    restoreMBs: (sizes[versions - 1] as number) / MiB / ex.s,
    restoreRunsS: extracts.map((e) => e.s),
    deleteS: del.s + compact.s,
    freedMiB: (stored - du(repo)) / MiB,
  };
  execFileSync('rm', ['-rf', repo]);
  return fig;
}

const ROWS: [string, Exclude<keyof Figures, 'restoreRunsS'>, number][] = [
  ['ingest, first version (MB/s)', 'firstMBs', 0],
  ['ingest, later versions (MB/s)', 'laterMBs', 0],
  ['seconds per new version', 'perVersionS', 2],
  ['peak RSS (MiB)', 'peakRssMiB', 0],
  ['dedup (logical / on disk)', 'dedup', 2],
  ['restore (MB/s)', 'restoreMBs', 0],
  ['delete oldest (s)', 'deleteS', 2],
  ['space freed by it (MiB)', 'freedMiB', 1],
];

function ratio(a: number, b: number | undefined): string {
  return b === undefined || b === 0 ? 'n/a' : (a / b).toFixed(2);
}

/** Prints the three columns and their ratios. */
function printTable(plain: Figures, zstd: Figures, borg: Figures | undefined): void {
  console.log(
    '\n| figure | deja | deja, zstd | borg 1.2 (fixed 4 KiB, lz4) | deja / borg | deja zstd / borg | zstd / no compression |\n| --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const [label, key, digits] of ROWS) {
    const a = plain[key];
    const z = zstd[key];
    const b = borg?.[key];
    console.log(
      `| ${label} | ${a.toFixed(digits)} | ${z.toFixed(digits)} | ${b === undefined ? 'not installed' : b.toFixed(digits)} | ${ratio(a, b)} | ${ratio(z, b)} | ${ratio(z, a)} |`,
    );
  }
  const runs = (f: Figures | undefined) => f?.restoreRunsS.map((x) => x.toFixed(2)).join(' / ') ?? '-';
  console.log(
    `
Restore, both runs (s; the faster counted): deja ${runs(plain)}, deja zstd ${runs(zstd)}, borg ${runs(borg)}.`,
  );
}

export async function peerBench(): Promise<void> {
  const size = Number(process.env.DEJA_BENCH_MIB ?? 1024) * MiB;
  const textMiB = Number(process.env.DEJA_BENCH_TEXT_MIB ?? 64);
  const versions = 5;
  const dir = await mkdtemp(join(tmpdir(), 'deja-peer-'));
  const haveBorg = spawnSync('borg', ['--version']).status === 0;
  const cli = await buildCli();
  try {
    console.log(
      `peer benchmark: ${versions} versions of a ${size / MiB} MiB VM-like image; ${cpus()[0]?.model ?? ''}, ${cpus().length} cores, Node ${process.version}`,
    );
    if (size > 0) {
      const history = new ImageHistory({ size, seed: 2026 });
      const names: string[] = [];
      for (let v = 0; v < versions; v++) {
        names.push(`image-v${v + 1}.img`);
        await writeFile(join(dir, names[v] as string), history.version(v));
      }
      const images = names.map((n) => join(dir, n));
      const sizes = names.map(() => size);
      // Deja: the `deja` command line (bundled from the sources), one process per command, as a
      // user runs it and as borg runs; without compression, then with zstd.
      const plain = runDeja(cli.path, dir, 'plain', images, sizes, []);
      const zstd = runDeja(cli.path, dir, 'zstd', images, sizes, ['--compression', 'zstd']);
      const borg = haveBorg ? runBorg(timed, dir, 'vm', names, sizes) : undefined;
      printTable(plain.fig, zstd.fig, borg);
      for (const [label, r] of [
        ['deja', plain],
        ['deja, zstd', zstd],
      ] as const) {
        const inside = r.inside.importS;
        console.log(
          `\nInside ${label} (its own clock, without starting the process): first import ${(size / MiB / (inside[0] as number)).toFixed(0)} MB/s, ` +
            `later versions ${(inside.slice(1).reduce((a, b) => a + b, 0) / (versions - 1)).toFixed(2)} s each, export ${(size / MiB / r.inside.exportS).toFixed(0)} MB/s.`,
        );
      }
      for (const n of names) await rm(join(dir, n));
    }
    if (textMiB > 0) {
      // A text file system's history: where compression matters most.
      const th = new TextHistory(textFiles(), textMiB * MiB);
      const tnames: string[] = [];
      const tsizes: number[] = [];
      for (let v = 0; v < versions; v++) {
        const img = th.version(v);
        tnames.push(`text-v${v + 1}.img`);
        tsizes.push(img.length);
        await writeFile(join(dir, tnames[v] as string), img);
      }
      const timages = tnames.map((n) => join(dir, n));
      console.log(
        `\ntext history: ${versions} versions of a ${(tsizes[0] as number) / MiB} MiB text file-system image (node_modules sources and docs, each file from a 4 KiB boundary; 3% of the files edited per version, 1% replaced)`,
      );
      const tp = runDeja(cli.path, dir, 'text-plain', timages, tsizes, []);
      const tz = runDeja(cli.path, dir, 'text-zstd', timages, tsizes, ['--compression', 'zstd']);
      const tb = haveBorg ? runBorg(timed, dir, 'text', tnames, tsizes) : undefined;
      printTable(tp.fig, tz.fig, tb);
    }
  } finally {
    await cli.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}
