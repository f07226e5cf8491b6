// The server-wide memory cap (`maxMemory`, `deja serve --max-memory`), with raw clients written
// here: connections and requests wait for room instead of the server growing, every request that
// waited is answered with the right bytes once room comes back, the budget is never exceeded, and
// a thousand connections asking for 8 MiB each do not move the serving process's peak memory by
// much more than the cap.

import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { type NbdServer, serve } from '../src/nbd/index';
import { CMD, INFO, OPT, REP } from '../src/nbd/protocol';
import { type BuiltCli, buildCli, finished, makeImage, startCli } from './_cli';
import { goData, RawClient, tempDir } from './_nbd';

const CS = 4096;
const MiB = 1024 * 1024;

/** Whether `p` settles within `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return r;
}

/**
 * Connects, waiting while the listener's backlog is full: a Unix socket refuses with EAGAIN
 * instead of queueing when its server has not accepted the connections before (a loaded machine).
 */
async function connectPatiently(sock: string): Promise<RawClient> {
  for (let i = 0; ; i++) {
    try {
      return await RawClient.connect(sock);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EAGAIN' || i >= 200) throw e;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** Reads the structured replies to READs (cookie to offset), in any order, as the bytes read. */
async function readReplies(c: RawClient, offsets: ReadonlyMap<bigint, number>, length: number) {
  const out = new Map<bigint, Buffer>();
  const done = new Set<bigint>();
  while (done.size < offsets.size) {
    const r = await c.reply();
    if (r.error) throw new Error(`error ${r.error}`);
    const offset = offsets.get(r.cookie);
    if (offset === undefined) throw new Error(`a reply to no request (${r.cookie})`);
    let buf = out.get(r.cookie);
    if (!buf) {
      buf = Buffer.alloc(length);
      out.set(r.cookie, buf);
    }
    if (r.type === 1) r.payload.copy(buf, Number(r.payload.readBigUInt64BE(0)) - offset, 8);
    if ((r.flags & 1) !== 0) done.add(r.cookie);
  }
  return out;
}

describe('NBD server: the server-wide memory cap', () => {
  let dir: { path: string; dispose(): Promise<void> };
  let store: Store;
  let server: NbdServer;
  let socket: string;
  const image = makeImage(11, 1024, CS); // 4 MiB, a third zeros
  const clients: RawClient[] = [];

  beforeAll(async () => {
    dir = await tempDir();
    store = await Store.create(join(dir.path, 's'), { size: image.length });
    await store.write(0, image);
    await store.flush();
    socket = join(dir.path, 'nbd.sock');
    server = await serve(store, { socket, maxMemory: MiB, workers: 0 });
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await server?.close();
    await store?.close();
    await dir?.dispose();
  });

  it('requests and connections wait for room, never past the cap, and are all answered', async () => {
    let highest = 0;
    let sawWaiting = false;
    const sampler = setInterval(() => {
      const m = server.memory;
      highest = Math.max(highest, m.used);
      if (m.waiting > 0) sawWaiting = true;
    }, 1);
    try {
      expect(server.memory.limit).toBe(MiB);
      // Connections hold at most half the budget (128 KiB each): the fifth is not even greeted.
      for (let i = 0; i < 6; i++) clients.push(await RawClient.connect(socket));
      const hellos = clients.map((c) => c.read(18));
      const greeted = await Promise.all(hellos.map((h) => within(h, 500)));
      expect(greeted).toEqual([true, true, true, true, false, false]);
      expect(server.memory.waiting).toBe(2);
      const [a, b, c, d] = clients as [RawClient, RawClient, RawClient, RawClient];
      const active = [a, b, c, d];
      for (const x of active) {
        const f = Buffer.alloc(4);
        f.writeUInt32BE(3, 0);
        x.send(f);
        expect((await x.option(OPT.STRUCTURED_REPLY))[0]?.type).toBe(REP.ACK);
        const go = await x.option(OPT.GO, goData('@live', [INFO.BLOCK_SIZE]));
        expect(go[go.length - 1]?.type).toBe(REP.ACK);
        // The largest request advertised fits in the requests' half of the budget.
        const block = go.find((r) => r.type === REP.INFO && r.data.readUInt16BE(0) === INFO.BLOCK_SIZE);
        expect(block?.data.readUInt32BE(10)).toBe(MiB / 2 - 2 * CS);
      }
      // Sixteen reads of 256 KiB per connection, 16 MiB asked of a 512 KiB half: most wait.
      const want = new Map<RawClient, Map<bigint, number>>();
      for (const x of active) {
        const cookies = new Map<bigint, number>();
        for (let i = 0; i < 16; i++) {
          const offset = ((i * 5 + active.indexOf(x)) % 16) * 256 * 1024;
          cookies.set(x.request(CMD.READ, offset, 256 * 1024), offset);
        }
        want.set(x, cookies);
      }
      await new Promise((r) => setTimeout(r, 300));
      expect(sawWaiting).toBe(true);
      // Now the clients read: every request is answered, with the right bytes.
      await Promise.all(
        active.map(async (x) => {
          const offsets = want.get(x) as Map<bigint, number>;
          const got = await readReplies(x, offsets, 256 * 1024);
          for (const [cookie, offset] of offsets)
            expect(
              Buffer.compare(got.get(cookie) as Buffer, image.subarray(offset, offset + 256 * 1024)),
            ).toBe(0);
        }),
      );
      // The connections that waited are greeted once others leave.
      a.destroy();
      b.destroy();
      expect(await Promise.all(hellos.slice(4).map((h) => within(h, 2000)))).toEqual([true, true]);
      expect(highest).toBeLessThanOrEqual(MiB);
      expect(server.memory.peak).toBeLessThanOrEqual(MiB);
    } finally {
      clearInterval(sampler);
      for (const c of clients.splice(0)) c.destroy();
    }
  });

  it('a request over the largest size is refused without holding memory; the server serves on', async () => {
    const x = await RawClient.connect(socket);
    clients.push(x);
    await x.go('@live', { structured: true });
    x.request(CMD.READ, 0, MiB);
    expect((await x.reply()).error).toBe(22); // EINVAL
    const bytes = await x.readStructured(4096, 8192);
    expect(Buffer.compare(bytes, image.subarray(4096, 4096 + 8192))).toBe(0);
  });

  it('serve() refuses a cap under 1 MiB', async () => {
    await expect(serve(store, { socket: join(dir.path, 'x.sock'), maxMemory: 1000 })).rejects.toThrow(
      RangeError,
    );
  });
});

describe('deja serve --max-memory: a thousand greedy connections', () => {
  let cli: BuiltCli;
  let dir: { path: string; dispose(): Promise<void> };
  let child: ChildProcess | undefined;
  const image = makeImage(12, 2048, CS); // 8 MiB

  beforeAll(async () => {
    [cli, dir] = await Promise.all([buildCli(), tempDir()]);
    const store = await Store.create(join(dir.path, 's'), { size: image.length });
    await store.write(0, image);
    await store.close();
  }, 60_000);
  afterAll(async () => {
    child?.kill('SIGKILL');
    await dir?.dispose();
    await cli?.dispose();
  });

  /** The child's resident memory now and at its peak, in bytes (Linux). */
  async function rss(pid: number): Promise<{ now: number; peak: number }> {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1]) * 1024;
    return { now: kb('VmRSS'), peak: kb('VmHWM') };
  }

  it('1,000 connections each asking for 8 MiB (8 GiB in all) move the peak by about the cap', async () => {
    const sock = join(dir.path, 'nbd.sock');
    child = startCli(cli, [
      'serve',
      join(dir.path, 's'),
      '--socket',
      sock,
      '--max-memory',
      '64M',
      '--max-connections',
      '2000',
      '--json',
    ]);
    const done = finished(child);
    await new Promise<void>((resolve, reject) => {
      child?.stdout?.once('data', () => resolve());
      child?.once('exit', (code) => reject(new Error(`deja serve exited ${code}`)));
    });
    const pid = child.pid as number;
    // Warm up the read path once, then take the baseline.
    const warm = await RawClient.connect(sock);
    await warm.go('@live', { structured: true });
    expect(Buffer.compare(await warm.readStructured(0, image.length), image)).toBe(0);
    warm.destroy();
    const base = await rss(pid);
    const conns: RawClient[] = [];
    try {
      for (let i = 0; i < 1000; i++) conns.push(await connectPatiently(sock));
      // 256 of them are greeted (32 MiB of connection buffers); each asks for the whole 8 MiB
      // volume and never reads: 2 GiB of replies without a cap, 32 MiB in flight with it.
      const greeted = new Set<RawClient>();
      for (const c of conns)
        c.read(18).then(
          () => greeted.add(c),
          () => {},
        );
      for (let t = 0; t < 100 && greeted.size < 256; t++) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 300));
      const ready = [...greeted];
      expect(ready.length).toBe(256);
      await Promise.all(
        ready.map(async (c) => {
          const f = Buffer.alloc(4);
          f.writeUInt32BE(3, 0);
          c.send(f);
          await c.option(OPT.STRUCTURED_REPLY);
          await c.option(OPT.GO, goData('@live'));
          c.request(CMD.READ, 0, image.length);
        }),
      );
      await new Promise((r) => setTimeout(r, 2000));
      const after = await rss(pid);
      if (process.env.DEJA_NBD_MEMORY_REPORT)
        console.log(
          `rss at start ${base.now / MiB} MiB, peak ${after.peak / MiB} MiB, now ${after.now / MiB} MiB`,
        );
      // The cap (64 MiB) plus room for a thousand sockets and the heap's own growth.
      expect(after.peak - base.now).toBeLessThan(64 * MiB + 96 * MiB);
    } finally {
      for (const c of conns) c.destroy();
    }
    // Room comes back: a new client is served.
    const c = await RawClient.connect(sock);
    await c.go('@live', { structured: true });
    expect(
      Buffer.compare(await c.readStructured(4096 * 100, 65536), image.subarray(4096 * 100, 4096 * 116)),
    ).toBe(0);
    c.destroy();
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    child = undefined;
  }, 60_000);
});
