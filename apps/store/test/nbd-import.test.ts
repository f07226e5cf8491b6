// The NBD client: against this package's server (reads, writes, block status, refusals, a
// protocol-breaking server), and `deja import STORE nbd://...` against qemu-nbd serving a qcow2
// image: a full import, then, after `qemu-img bitmap --add` and writes with qemu-io, an import of
// only the dirty bitmap's ranges (`qemu-nbd -B`): the store's newest version equals the image byte
// for byte, and only the changed ranges were read.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIVE, Store } from '../src/index';
import { importNbd, NbdClient, parseNbdUri, serve } from '../src/nbd/index';
import { type BuiltCli, buildCli, makeImage, runJson } from './_cli';
import { MemStore } from './_helpers';
import { describeWith, mustRun, tempDir } from './_nbd';

const CS = 4096;

describe('NBD client against the Deja server', () => {
  it('parses NBD URIs', () => {
    expect(parseNbdUri('nbd://example.org:1234/disk%201')).toEqual({
      host: 'example.org',
      port: 1234,
      exportName: 'disk 1',
      tls: false,
    });
    expect(parseNbdUri('nbds://[::1]/x')).toEqual({ host: '::1', port: 10809, exportName: 'x', tls: true });
    expect(parseNbdUri('nbd+unix:///@live?socket=/run/a.sock')).toEqual({
      socket: '/run/a.sock',
      exportName: '@live',
      tls: false,
    });
    expect(parseNbdUri('nbd+unix://?socket=/s')).toMatchObject({ exportName: '' });
    expect(() => parseNbdUri('http://x/y')).toThrow(TypeError);
    expect(() => parseNbdUri('nbd+unix:///x')).toThrow(TypeError);
  });

  it('reads, writes, zeroes, block status and extents; refusals and request errors carry codes', async () => {
    const dir = await tempDir();
    const mem = await MemStore.create({ size: 64 * CS, chunkSize: CS });
    const image = makeImage(5, 64, CS);
    await mem.store.write(0, image);
    await mem.store.createSnapshot('a');
    const socket = join(dir.path, 's.sock');
    const server = await serve(mem.store, {
      socket,
      exports: [
        { name: 'rw', writable: true },
        { name: 'a', version: 'a' },
      ],
    });
    try {
      const c = await NbdClient.connect(server.uri('rw'), {
        contexts: ['base:allocation', 'qemu:dirty-bitmap:a'],
      });
      expect(c.size).toBe(64 * CS);
      expect(c.blockSize.preferred).toBe(CS);
      expect(Buffer.compare(Buffer.from(await c.read(0, 64 * CS)), Buffer.from(image))).toBe(0);
      const parallel = await Promise.all([c.read(CS, 10), c.read(3 * CS, 10), c.read(5, 5)]);
      expect(parallel.map((b) => Buffer.from(b).toString('hex'))).toEqual(
        [image.subarray(CS, CS + 10), image.subarray(3 * CS, 3 * CS + 10), image.subarray(5, 10)].map((b) =>
          Buffer.from(b).toString('hex'),
        ),
      );
      await c.write(10 * CS, new Uint8Array(2 * CS).fill(7), { fua: true });
      await c.writeZeroes(20 * CS, CS);
      await c.trim(30 * CS, CS);
      await c.flush();
      const dirty = await c.extents('qemu:dirty-bitmap:a');
      expect(dirty.filter((e) => e.flags === 1).map(({ offset, length }) => ({ offset, length }))).toEqual(
        await mem.store.diff('a', LIVE),
      );
      const alloc = await c.extents('base:allocation', 5, 40 * CS);
      expect(alloc.reduce((n, e) => n + e.length, 0)).toBe(40 * CS);
      expect(alloc[0]?.offset).toBe(5);
      await expect(c.read(64 * CS - 1, 2)).rejects.toMatchObject({ code: 'ERR_NBD_REQUEST', nbdErrno: 22 });
      await c.close();
      const ro = await NbdClient.connect(server.uri('a'));
      await expect(ro.write(0, new Uint8Array(1))).rejects.toMatchObject({
        code: 'ERR_NBD_REQUEST',
        nbdErrno: 1,
      });
      await ro.close();
      await expect(NbdClient.connect(server.uri('nope'))).rejects.toMatchObject({ code: 'ERR_NBD_REFUSED' });
      // importNbd from one store into another: equal bytes, zero extents never read.
      const target = await MemStore.create({ size: 0, chunkSize: CS });
      const r = await importNbd(target.store, server.uri('a'));
      expect(Buffer.compare(Buffer.from(await target.store.read(0, 64 * CS)), Buffer.from(image))).toBe(0);
      expect(r.readBytes + r.zeroBytes).toBe(64 * CS);
      expect(r.zeroBytes).toBeGreaterThan(0);
      await target.store.close();
    } finally {
      await server.close();
      await mem.store.close();
      await dir.dispose();
    }
  });

  it('a server that breaks the protocol is a typed error, not a hang', async () => {
    const dir = await tempDir();
    const path = join(dir.path, 'bad.sock');
    const bad = createServer((s) => {
      s.on('error', () => {});
      s.end(Buffer.from('NBDMAGICXXXXXXXX\u0000\u0001'));
    });
    await new Promise<void>((r) => bad.listen(path, r));
    try {
      await expect(NbdClient.connect(`nbd+unix:///?socket=${path}`)).rejects.toMatchObject({
        code: 'ERR_NBD_PROTOCOL',
      });
    } finally {
      await new Promise((r) => bad.close(r));
      await dir.dispose();
    }
  });
});

describeWith(
  ['qemu-img', 'qemu-io', 'qemu-nbd'],
  'deja import nbd:// against qemu-nbd with a dirty bitmap',
  () => {
    let cli: BuiltCli;
    let dir: { path: string; dispose(): Promise<void> };
    let nbd: ChildProcess | undefined;
    beforeAll(async () => {
      [cli, dir] = await Promise.all([buildCli(), tempDir()]);
    }, 60_000);
    afterAll(async () => {
      nbd?.kill();
      await dir?.dispose();
      await cli?.dispose();
    });

    async function startQemuNbd(args: string[], socket: string): Promise<void> {
      nbd = spawn('qemu-nbd', [...args, '-k', socket], { stdio: 'ignore' });
      for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
      if (!existsSync(socket)) throw new Error('qemu-nbd did not start');
    }
    async function stopQemuNbd(): Promise<void> {
      const child = nbd;
      nbd = undefined;
      if (!child || child.exitCode !== null) return;
      await new Promise((r) => {
        child.once('exit', r);
        child.kill();
      });
    }

    it('a full import, then only the ranges of the dirty bitmap; the newest version equals the image', async () => {
      const S = join(dir.path, 'store');
      const img = join(dir.path, 'vm.qcow2');
      const sock = join(dir.path, 'q.sock');
      const uri = `nbd+unix:///?socket=${sock}`;
      const SIZE = 4 << 20;
      await (await Store.create(S, { size: 0 })).close();
      await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', img, String(SIZE)]);
      await mustRun('qemu-io', [
        '-f',
        'qcow2',
        '-c',
        'write -P 0x11 0 1M',
        '-c',
        'write -P 0x22 2M 512k',
        img,
      ]);

      await startQemuNbd(['-r', '-t', '-f', 'qcow2', img], sock);
      const full = await runJson<Record<string, unknown>>(cli, ['import', S, uri, '--snapshot', 'base']);
      await stopQemuNbd();
      expect(full.bytes).toBe(SIZE);
      expect(full.readBytes).toBe(1.5 * 1024 * 1024); // holes were not read
      await mustRun('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', img, join(dir.path, 'base.raw')]);

      // The VM writes after a bitmap is added: the bitmap records exactly those writes.
      await mustRun('qemu-img', ['bitmap', '--add', img, 'b1']);
      await mustRun('qemu-io', [
        '-f',
        'qcow2',
        '-c',
        'write -P 0x33 64k 8k',
        '-c',
        'write -P 0x44 3M 100k',
        '-c',
        'write -z 2M 64k',
        img,
      ]);
      await mustRun('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', img, join(dir.path, 'next.raw')]);

      await startQemuNbd(['-r', '-t', '-f', 'qcow2', '-B', 'b1', img], sock);
      const inc = await runJson<{
        ranges: { offset: number; length: number }[];
        readBytes: number;
        changedBytes: number;
      }>(cli, ['import', S, uri, '--dirty-bitmap', 'b1', '--snapshot', 'next']);
      await stopQemuNbd();
      // The bitmap's granularity is 64 KiB: the three writes dirty these ranges.
      expect(inc.ranges).toEqual([
        { offset: 64 * 1024, length: 64 * 1024 },
        { offset: 2 << 20, length: 64 * 1024 },
        { offset: 3 << 20, length: 128 * 1024 },
      ]);
      expect(inc.changedBytes).toBe(256 * 1024);
      expect(inc.readBytes).toBeLessThanOrEqual(inc.changedBytes);

      const store = await Store.open(S, { readOnly: true });
      try {
        const next = await readFile(join(dir.path, 'next.raw'));
        const base = await readFile(join(dir.path, 'base.raw'));
        expect(Buffer.compare(Buffer.from(await store.read(0, SIZE)), next)).toBe(0);
        expect(Buffer.compare(Buffer.from(await store.volume('next').read(0, SIZE)), next)).toBe(0);
        expect(Buffer.compare(Buffer.from(await store.volume('base').read(0, SIZE)), base)).toBe(0);
        expect((await store.diff('base', 'next')).reduce((n, r) => n + r.length, 0)).toBeLessThanOrEqual(
          256 * 1024,
        );
      } finally {
        await store.close();
      }
    });
  },
);
