// `deja serve` as a user runs it: the bundled CLI in a child process, its start document read from
// stdout, clients (the raw test client, and the real ones when installed) against it, and Ctrl-C
// or SIGTERM to stop it (exit 0, the store flushed and closed).

import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LIVE, Store } from '../src/index';
import { CMD } from '../src/nbd/protocol';
import { type BuiltCli, buildCli, finished, makeImage, runCli, startCli } from './_cli';
import { RawClient } from './_nbd';

let cli: BuiltCli;
let dir: string;
const CS = 4096;
const image = makeImage(3, 256, CS);

beforeAll(async () => {
  [cli, dir] = await Promise.all([buildCli(), mkdtemp(join(tmpdir(), 'deja-nbd-cli-'))]);
  const store = await Store.create(join(dir, 's'), { size: image.length });
  await store.write(0, image);
  await store.createSnapshot('mon');
  await store.close();
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await cli?.dispose();
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

describe('deja serve', () => {
  test('serves a snapshot read-only on a Unix socket; Ctrl-C stops it with exit 0', async () => {
    const sock = join(dir, 'a.sock');
    const child = startCli(cli, ['serve', join(dir, 's'), '--snapshot', 'mon', '--socket', sock, '--json']);
    const done = finished(child);
    const start = JSON.parse(await firstLine(child));
    expect(start.address).toEqual({ socket: sock });
    expect(start.exports).toEqual([
      {
        name: 'mon',
        version: 'mon',
        writable: false,
        size: image.length,
        uri: `nbd+unix:///mon?socket=${sock}`,
      },
    ]);
    const c = await RawClient.connect(sock);
    const { flags } = await c.go('mon', { structured: true });
    expect(flags & 2).toBe(2); // read-only
    expect(Buffer.compare(await c.readStructured(0, image.length), Buffer.from(image))).toBe(0);
    c.destroy();
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stderr)).toMatchObject({ stopped: true, signal: 'SIGINT' });
  });

  test('--writable with several exports on TCP: writes reach the store; SIGTERM flushes and closes', async () => {
    const child = startCli(cli, [
      'serve',
      join(dir, 's'),
      '--export',
      `disk=${LIVE}`,
      '--export',
      'old=mon',
      '--writable',
      '--port',
      '0',
    ]);
    const done = finished(child);
    const line = await firstLine(child);
    const m = /at nbd:\/\/127\.0\.0\.1:(\d+)\/disk$/.exec(line);
    expect(m, line).not.toBeNull();
    const port = Number(m?.[1]);
    const c = await RawClient.connect({ port });
    await c.go('disk');
    c.request(CMD.WRITE, 100, 5, { data: Buffer.from('hello') });
    expect((await c.reply()).error).toBe(0);
    c.destroy();
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('stopped serving');
    const store = await Store.open(join(dir, 's'), { readOnly: true });
    try {
      expect(Buffer.from(await store.read(100, 5)).toString()).toBe('hello');
      expect(
        Buffer.compare(Buffer.from(await store.volume('mon').read(0, image.length)), Buffer.from(image)),
      ).toBe(0);
    } finally {
      await store.close();
    }
  });

  test('usage and failures: a non-loopback address without TLS, an unknown snapshot, both --socket and --port', async () => {
    const bind = await runCli(cli, ['serve', join(dir, 's'), '--bind', '0.0.0.0']);
    expect(bind.code).toBe(2);
    expect(bind.stderr).toContain('requires TLS');
    const unknown = await runCli(cli, ['serve', join(dir, 's'), '--snapshot', 'nope', '--port', '0']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('(ERR_NOT_FOUND)');
    const both = await runCli(cli, ['serve', join(dir, 's'), '--socket', join(dir, 'x'), '--port', '1']);
    expect(both.code).toBe(2);
  });
});
