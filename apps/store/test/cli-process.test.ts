// The `deja` command line against the process around it: a store another process holds open
// (ERR_LOCKED), an import killed mid-way (SIGKILL: the store opens and checks clean at its last
// flush), an import stopped by Ctrl-C (SIGINT: exit 130, flushed and closed, says so), and the
// progress bar, shown on a terminal (through `script`, which gives the command a pty) and never in
// a pipe.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Store } from '../src/index';
import { type BuiltCli, buildCli, finished, makeImage, runCli, runJson, startCli } from './_cli';

let cli: BuiltCli;
let dir: string;

beforeAll(async () => {
  [cli, dir] = await Promise.all([buildCli(), mkdtemp(join(tmpdir(), 'deja-cli-proc-'))]);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await cli?.dispose();
});

const p = (name: string) => join(dir, name);

/** Writes `image` to a child's stdin in 1 MiB pieces until `stopAfter` bytes were accepted. */
async function feed(stdin: NodeJS.WritableStream, image: Uint8Array, stopAfter: number): Promise<void> {
  for (let at = 0; at < stopAfter; at += 1 << 20) {
    const piece = image.subarray(at, Math.min(at + (1 << 20), stopAfter));
    await new Promise<void>((resolve, reject) => stdin.write(piece, (e) => (e ? reject(e) : resolve())));
  }
}

test('a store held open by another process: ERR_LOCKED, one line, exit 1; readers side by side', async () => {
  const S = p('locked');
  await runJson(cli, ['init', S, '--size', '1M']);
  const held = await Store.open(S);
  try {
    for (const args of [
      ['stats', S],
      ['snapshot', 'create', S, 'x'],
      ['import', S, '-'],
    ]) {
      const r = await runCli(cli, args, { input: new Uint8Array(4096) });
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toBe(`deja: error: store ${S} is in use by another process (ERR_LOCKED)\n`);
    }
  } finally {
    await held.close();
  }
  expect((await runCli(cli, ['stats', S])).code).toBe(0);
  // Commands that only read open the store read-only: they run beside another reader, never
  // beside a writer.
  const reader = await Store.open(S, { readOnly: true });
  try {
    const list = await runCli(cli, ['snapshot', 'list', S, '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual({ snapshots: [] });
    expect((await runCli(cli, ['du', S])).code).toBe(0);
    const write = await runCli(cli, ['snapshot', 'create', S, 'y']);
    expect(write.stderr).toBe(`deja: error: store ${S} is in use by another process (ERR_LOCKED)\n`);
  } finally {
    await reader.close();
  }
});

test('SIGKILL in the middle of an import: the store opens at its last flush and checks clean', async () => {
  const S = p('killed');
  await runJson(cli, ['init', S, '--size', '0']);
  const v1 = makeImage(11, 1024); // 4 MiB
  await writeFile(p('k1.img'), v1);
  await runJson(cli, ['import', S, p('k1.img'), '--snapshot', 'v1']);
  // The second version arrives through a pipe; the import is killed after 16 of its 32 MiB, while
  // it is writing chunks past its last flush.
  const v2 = makeImage(12, 8192);
  const child = startCli(cli, ['import', S, '-', '--snapshot', 'v2']);
  const done = finished(child);
  child.stdin?.on('error', () => {});
  await feed(child.stdin as NodeJS.WritableStream, v2, 16 << 20);
  child.kill('SIGKILL');
  const r = await done;
  expect(r.signal).toBe('SIGKILL');
  // The store opens (the lock died with the process) and is sound, data included, at its last
  // flush: v1 is whole, v2 was never taken.
  const check = await runJson<{ ok: boolean; problems: unknown[] }>(cli, ['check', S, '--data']);
  expect(check.problems).toEqual([]);
  const back = await runCli(cli, ['export', S, '--snapshot', 'v1', '-']);
  expect(back.bytes.equals(Buffer.from(v1))).toBe(true);
  // The library opens it too, and the store takes the next import.
  const store = await Store.open(S);
  expect(store.listSnapshots().map((s) => s.name)).toEqual(['v1']);
  await store.close();
  const again = await runJson<{ bytes: number }>(cli, ['import', S, p('k1.img'), '--snapshot', 'v3']);
  expect(again.bytes).toBe(v1.length);
});

test('Ctrl-C (SIGINT) during an import: exit 130, the store closed at its last flush, and the message says so', async () => {
  const S = p('interrupted');
  await runJson(cli, ['init', S, '--size', '0']);
  const v1 = makeImage(21, 1024);
  await writeFile(p('i1.img'), v1);
  await runJson(cli, ['import', S, p('i1.img'), '--snapshot', 'v1']);
  const v2 = makeImage(22, 4096); // 16 MiB, of which 8 arrive; then the pipe stays open and idle
  const child = startCli(cli, ['import', S, '-', '--snapshot', 'v2']);
  const done = finished(child);
  child.stdin?.on('error', () => {});
  await feed(child.stdin as NodeJS.WritableStream, v2, 8 << 20);
  child.kill('SIGINT');
  const r = await done;
  expect(r.code, r.stderr).toBe(130);
  expect(r.stderr).toMatch(
    /^deja: interrupted: the import stopped after [\d.]+ \w+\. The store is closed at its last flush/,
  );
  expect(r.stderr).toContain('no snapshot was taken');
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  const check = await runCli(cli, ['check', S, '--data']);
  expect(check.code).toBe(0);
  const list = await runJson<{ snapshots: { name: string }[] }>(cli, ['snapshot', 'list', S]);
  expect(list.snapshots.map((s) => s.name)).toEqual(['v1']);
  const back = await runCli(cli, ['export', S, '--snapshot', 'v1', '-']);
  expect(back.bytes.equals(Buffer.from(v1))).toBe(true);
});

const hasScript = spawnSync('script', ['--version']).status === 0;

test.skipIf(!hasScript)(
  'a progress bar with MB/s and ETA on a terminal; none with --json or in a pipe',
  async () => {
    const S = p('progress');
    await runJson(cli, ['init', S, '--size', '0']);
    await writeFile(p('p1.img'), makeImage(31, 4096));
    const onTty = (args: string) =>
      spawnSync(
        'script',
        ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(cli.path)} ${args}`, '/dev/null'],
        {
          encoding: 'utf8',
          env: { ...process.env, TERM: 'xterm' },
        },
      );
    const r = onTty(`import ${S} ${p('p1.img')} --snapshot v1`);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/import \|.*\| 100% \| 16 MiB \/ 16 MiB \| [\d.]+ MB\/s \| ETA /);
    expect(r.stdout).toContain("snapshot 'v1'");
    const c = onTty(`check ${S} --data`);
    expect(c.status).toBe(0);
    expect(c.stdout).toMatch(/check \|.*\| \d+% \|/);
    // --json on a terminal: the document alone.
    const j = onTty(`export ${S} --snapshot v1 ${p('p-out.img')} --json`);
    expect(j.status).toBe(0);
    expect(j.stdout).not.toContain('MB/s');
    expect(JSON.parse(j.stdout.replaceAll('\r', '')).bytes).toBe(16 << 20);
    // In a pipe: nothing on stderr.
    const piped = await runCli(cli, ['export', S, '--snapshot', 'v1', p('p-out2.img')]);
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe('');
  },
);

test('the executable runs by its first line, with its small young generation, slow heap growth and later optimization', async () => {
  const { chmod, readFile } = await import('node:fs/promises');
  const first = (await readFile(cli.path, 'utf8')).split('\n', 1)[0];
  expect(first).toBe(
    '#!/usr/bin/env -S node --max-semi-space-size=1 --heap-growing-percent=20 --interrupt-budget=1000000',
  );
  await chmod(cli.path, 0o755);
  const r = spawnSync(cli.path, ['--version'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
});
