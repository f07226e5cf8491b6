// `deja` on a store in a bucket (`s3://BUCKET/PREFIX`), as a user runs it: the bundled CLI in child
// processes against s3rver on 127.0.0.1, credentials and endpoint from the AWS environment
// variables (and once from --s3-endpoint): init, import, snapshot list, export byte for byte, diff,
// stats, du, check --data, serve over NBD, a second writer refused, the usual mistakes.

import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Storage } from '@deja/storage-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Store } from '../src/index';
import { type BuiltCli, buildCli, changed, finished, makeImage, runCli, runJson, startCli } from './_cli';
import { RawClient } from './_nbd';
import { BUCKET, CREDENTIALS, freshPrefix, startServer, type TestServer } from './_s3-server';

let cli: BuiltCli;
let dir: string;
let server: TestServer;
const CS = 4096;
const monday = makeImage(5, 300, CS);
const tuesday = changed(monday, 1, 7, CS);

beforeAll(async () => {
  [cli, dir, server] = await Promise.all([
    buildCli(),
    mkdtemp(join(tmpdir(), 'deja-s3-cli-')),
    startServer(),
  ]);
  // The children inherit these: the standard AWS variables, as a user would set them.
  process.env.AWS_ACCESS_KEY_ID = CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = CREDENTIALS.secretAccessKey;
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_ENDPOINT_URL = server.endpoint;
  await writeFile(join(dir, 'mon.img'), monday);
  await writeFile(join(dir, 'tue.img'), tuesday);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await cli?.dispose();
  await server?.close();
});

const url = (prefix: string) => `s3://${BUCKET}/${prefix}`;

/** The two adapters of a CLI store, opened in this process. */
async function adapters(prefix: string, readOnly = false): Promise<{ data: S3Storage; index: S3Storage }> {
  const open = (part: string) =>
    S3Storage.open({
      bucket: BUCKET,
      prefix: `${prefix}/${part}`,
      endpoint: server.endpoint,
      credentials: CREDENTIALS,
      readOnly,
    });
  return { data: await open('data'), index: await open('index') };
}

describe('deja on s3://BUCKET/PREFIX', () => {
  const prefix = freshPrefix('cli');
  const S = url(prefix);

  test('init, import two versions, snapshot list, export byte for byte, diff, stats, du, check --data', async () => {
    const init = await runJson(cli, ['init', S, '--size', '0', '--s3-object-size', '64K']);
    expect(init).toMatchObject({ store: S, size: 0, chunkSize: CS });
    // The layout: the page layer under PREFIX/data, the dedup index under PREFIX/index.
    const probe = await adapters(prefix, true);
    expect(probe.data.objectSize).toBe(65536);
    await probe.data.close();
    await probe.index.close();

    const mon = await runJson(cli, ['import', S, join(dir, 'mon.img'), '--snapshot', 'mon']);
    expect(mon).toMatchObject({ store: S, bytes: monday.length, snapshot: { name: 'mon' } });
    const tue = await runJson(cli, ['import', S, join(dir, 'tue.img'), '--snapshot', 'tue']);
    expect(tue).toMatchObject({ bytes: tuesday.length, snapshot: { name: 'tue' } });
    expect(tue.dataBytesAdded).toBeLessThan(mon.dataBytesAdded as number);

    const list = await runJson<{ snapshots: { name: string; size: number }[] }>(cli, ['snapshot', 'list', S]);
    expect(list.snapshots.map((s) => [s.name, s.size])).toEqual([
      ['mon', monday.length],
      ['tue', tuesday.length],
    ]);

    const out = join(dir, 'mon-copy.img');
    await runJson(cli, ['export', S, '--snapshot', 'mon', out]);
    expect(Buffer.compare(await readFile(out), Buffer.from(monday))).toBe(0);
    // The endpoint from the option instead of the environment; the image to stdout.
    process.env.AWS_ENDPOINT_URL = ''; // read when the child is spawned, at the call
    const exporting = runCli(cli, ['export', S, '-', '--s3-endpoint', server.endpoint]);
    process.env.AWS_ENDPOINT_URL = server.endpoint;
    const piped = await exporting;
    expect(piped.code, piped.stderr).toBe(0);
    expect(Buffer.compare(piped.bytes, Buffer.from(tuesday))).toBe(0);

    const diff = await runJson<{ changedBytes: number }>(cli, ['diff', S, 'mon', 'tue']);
    expect(diff.changedBytes).toBeGreaterThan(0);
    const stats = await runJson(cli, ['stats', S]);
    expect(stats).toMatchObject({ store: S, chunkSize: CS });
    const du = await runJson<{ snapshots: unknown[] }>(cli, ['du', S]);
    expect(du.snapshots).toHaveLength(2);
    const check = await runJson(cli, ['check', S, '--data']);
    expect(check).toMatchObject({ ok: true, problems: [] });
    expect(check.chunksVerified).toBeGreaterThan(0);

    // No warning of the AWS SDK on stderr: a plain run prints its one line and nothing else.
    const plain = await runCli(cli, ['snapshot', 'list', S]);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toBe('');
  }, 240_000);

  test('a second writer is refused (ERR_LOCKED, exit 1), and so is a reader; both work once it closes', async () => {
    const held = await Store.open({ ...(await adapters(prefix)), owned: true });
    try {
      for (const args of [
        ['snapshot', 'create', S, 'x'],
        ['import', S, join(dir, 'mon.img')],
        ['snapshot', 'list', S],
      ]) {
        const r = await runCli(cli, args);
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr, args.join(' ')).toMatch(
          new RegExp(
            `^deja: error: store ${S} is in use by another process .*--s3-force-unlock \\(ERR_LOCKED\\)\\n$`,
          ),
        );
      }
    } finally {
      await held.close();
    }
    const created = await runJson(cli, ['snapshot', 'create', S, 'x']);
    expect(created).toMatchObject({ name: 'x' });
  }, 120_000);

  test('serve: an s3:// store over NBD', async () => {
    const sock = join(dir, 's3.sock');
    const child = startCli(cli, ['serve', S, '--snapshot', 'mon', '--socket', sock, '--json']);
    const done = finished(child);
    await firstLine(child);
    const c = await RawClient.connect(sock);
    await c.go('mon', { structured: true });
    expect(Buffer.compare(await c.readStructured(0, monday.length), Buffer.from(monday))).toBe(0);
    c.destroy();
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);

  test('--cache-dir: objects kept on local disk, bounded by --cache-size, never stale after another writer', async () => {
    const cache = join(dir, 'cache');
    const cached = ['--cache-dir', cache, '--cache-size', '64M'];
    const first = join(dir, 'mon-cached-1.img');
    await runJson(cli, ['export', S, '--snapshot', 'mon', first, ...cached]);
    expect(Buffer.compare(await readFile(first), Buffer.from(monday))).toBe(0);
    const entries = (await readdir(cache)).filter((n) => n.endsWith('.obj'));
    expect(entries.length).toBeGreaterThan(0);
    // Another writer without the cache changes the live volume; reads through the cache see it.
    await runJson(cli, ['import', S, join(dir, 'mon.img'), '--snapshot', 'mon2']);
    const live = join(dir, 'live-cached.img');
    await runJson(cli, ['export', S, live, ...cached]);
    expect(Buffer.compare(await readFile(live), Buffer.from(monday))).toBe(0);
    const check = await runJson(cli, ['check', S, '--data', ...cached]);
    expect(check).toMatchObject({ ok: true });
    // The bound: a tiny cache keeps at most that much.
    const tiny = join(dir, 'tiny-cache');
    await runJson(cli, [
      'export',
      S,
      '--snapshot',
      'tue',
      join(dir, 'tue-tiny.img'),
      '--cache-dir',
      tiny,
      '--cache-size',
      '200K',
    ]);
    let total = 0;
    for (const name of await readdir(tiny)) total += (await stat(join(tiny, name))).size;
    expect(total).toBeLessThanOrEqual(200 * 1024);
  }, 240_000);

  test('the usual mistakes: no store there, a store already there, a whole bucket, a bad bucket name', async () => {
    const none = await runCli(cli, ['stats', url(freshPrefix('none'))]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(
      /^deja: error: no store at s3:\/\/.*; create one with 'deja init' \(ERR_NOT_FOUND\)\n$/,
    );
    const again = await runCli(cli, ['init', S, '--size', '1M']);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`deja: error: ${S} already holds a store (ERR_EXISTS)\n`);
    const bucket = await runCli(cli, ['stats', `s3://${BUCKET}`]);
    expect(bucket.code).toBe(2);
    const bad = await runCli(cli, ['stats', 's3://No_Such/x']);
    expect(bad.code).toBe(2);
    const missing = await runCli(cli, ['init', 's3://no-such-bucket/x', '--size', '1M']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no-such-bucket.*\(ERR_NOT_FOUND\)\n$/);
  }, 120_000);
});

/** The first line the child prints on stdout. */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (b: Buffer) => {
      text += b.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0) {
        child.stdout?.off('data', onData);
        resolve(text.slice(0, nl));
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`deja serve exited ${code} before listening`)));
  });
}
