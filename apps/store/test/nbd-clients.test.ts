// The NBD server against the real clients: qemu-img (info, convert, compare), qemu-io (writes,
// reads, discards, zeroing on a writable export, then the store reopened and read through the
// library), nbdinfo (--list, --map for base:allocation and qemu:dirty-bitmap:NAME, against the
// store's own allocation and diff) and nbdcopy (an export to a file and a file to an export).
// Without the clients these tests skip locally and fail in CI.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LIVE, Store } from '../src/index';
import { type NbdServer, serve } from '../src/nbd/index';
import { changed, makeImage } from './_cli';
import { describeWith, mergeMap, mustRun, parseMap, runTool, tempDir } from './_nbd';

const CS = 4096;
const CHUNKS = 1024; // 4 MiB volumes
const SIZE = CHUNKS * CS;

/** A store with snapshots 'mon' and 'tue' and a live volume changed since 'tue'. */
async function makeStore(
  dir: string,
  compression: 'off' | 'zstd' = 'off',
): Promise<{ store: Store; images: Record<string, Uint8Array> }> {
  const store = await Store.create(dir, { size: SIZE, chunkSize: CS, compression });
  const mon = makeImage(7, CHUNKS, CS);
  await store.write(0, mon);
  await store.createSnapshot('mon');
  const tue = changed(mon, 5, 37, CS);
  await store.write(0, tue);
  await store.discard(100 * CS, 20 * CS);
  tue.fill(0, 100 * CS, 120 * CS);
  await store.createSnapshot('tue');
  const live = changed(tue, 11, 101, CS);
  live.fill(0x5a, 3000, 9000); // partial chunks
  await store.write(0, live);
  return { store, images: { mon, tue, [LIVE]: live } };
}

describeWith(['qemu-img', 'qemu-io', 'nbdinfo', 'nbdcopy'], 'NBD server with real clients', () => {
  let dir: { path: string; dispose(): Promise<void> };
  let store: Store;
  let images: Record<string, Uint8Array>;
  let server: NbdServer;
  let socket: string;
  const uri = (name: string) => `nbd+unix:///${name}?socket=${socket}`;

  beforeAll(async () => {
    dir = await tempDir();
    ({ store, images } = await makeStore(join(dir.path, 'store')));
    socket = join(dir.path, 'nbd.sock');
    server = await serve(store, {
      socket,
      exports: [
        { name: 'mon', version: 'mon' },
        { name: 'tue', version: 'tue', description: 'Tuesday' },
        { name: 'live', version: LIVE },
        { name: 'tue-copy', version: 'tue' },
      ],
      minHole: 0, // every unmapped chunk reported, to compare with the store's own map
    });
  });
  afterAll(async () => {
    await server?.close();
    await store?.close();
    await dir?.dispose();
  });

  it('qemu-img info sees a raw image of the export size', async () => {
    const info = JSON.parse(await mustRun('qemu-img', ['info', '--output=json', uri('mon')]));
    expect(info['virtual-size']).toBe(SIZE);
    expect(info.format).toBe('raw');
  });

  it('nbdinfo --list lists every export with its flags, contexts and block sizes', async () => {
    const list = JSON.parse(await mustRun('nbdinfo', ['--list', '--json', uri('')]));
    const byName = new Map<string, Record<string, unknown>>(
      list.exports.map((e: Record<string, unknown>) => [e['export-name'], e]),
    );
    expect([...byName.keys()].sort()).toEqual(['live', 'mon', 'tue', 'tue-copy']);
    const tue = byName.get('tue') as Record<string, unknown>;
    expect(tue.description).toBe('Tuesday');
    expect(tue.is_read_only).toBe(true);
    expect(tue.can_multi_conn).toBe(true);
    expect(tue.block_size_minimum).toBe(1);
    expect(tue.block_size_preferred).toBe(CS);
    expect(tue.contexts).toEqual(
      expect.arrayContaining(['base:allocation', 'qemu:dirty-bitmap:mon', 'qemu:dirty-bitmap:tue']),
    );
  });

  it('qemu-img convert of each version to a raw file gives its bytes', async () => {
    for (const [name, version] of [
      ['mon', 'mon'],
      ['tue', 'tue'],
      ['live', LIVE],
    ] as const) {
      const out = join(dir.path, `${name}.raw`);
      await mustRun('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri(name), out]);
      const bytes = await readFile(out);
      expect(Buffer.compare(bytes, Buffer.from(images[version] as Uint8Array)), name).toBe(0);
      expect(Buffer.compare(bytes, Buffer.from(await store.volume(version).read(0, SIZE)))).toBe(0);
    }
  });

  it('qemu-img compare: two exports of one version are identical, two versions are not', async () => {
    expect(
      (await runTool('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', uri('tue'), uri('tue-copy')])).code,
    ).toBe(0);
    const r = await runTool('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', uri('mon'), uri('tue')]);
    expect(r.code).toBe(1);
    // The first difference qemu-img reports is the first byte where the versions differ.
    const mon = images.mon as Uint8Array;
    const tue = images.tue as Uint8Array;
    let first = 0;
    while (mon[first] === tue[first]) first++;
    expect(r.stdout).toContain(`offset ${first}!`);
  });

  it('nbdinfo --map reports base:allocation as the store does: holes and zeros where chunks are unmapped', async () => {
    for (const [name, version] of [
      ['mon', 'mon'],
      ['live', LIVE],
    ] as const) {
      const map = mergeMap(parseMap(await mustRun('nbdinfo', ['--map', uri(name)])));
      const want = mergeMap(
        (await store.volume(version).allocation(0, SIZE)).map((e) => ({
          offset: e.offset,
          length: e.length,
          flags: e.zero ? 3 : 0,
        })),
      );
      expect(map).toEqual(want);
      expect(map.some((e) => e.flags === 3)).toBe(true);
    }
  });

  it('nbdinfo --map=qemu:dirty-bitmap:NAME reports store.diff(NAME, version)', async () => {
    for (const [name, version, base] of [
      ['tue', 'tue', 'mon'],
      ['live', LIVE, 'mon'],
      ['live', LIVE, 'tue'],
      ['mon', 'mon', 'mon'],
    ] as const) {
      const map = parseMap(await mustRun('nbdinfo', [`--map=qemu:dirty-bitmap:${base}`, uri(name)]));
      const dirty = map.filter((e) => e.flags === 1).map(({ offset, length }) => ({ offset, length }));
      expect(dirty, `${base} -> ${name}`).toEqual(await store.diff(base, version));
      expect(map.reduce((n, e) => n + e.length, 0)).toBe(SIZE);
    }
  });

  it('nbdcopy copies an export into a file, with several connections', async () => {
    const out = join(dir.path, 'copy.raw');
    await mustRun('nbdcopy', ['--connections=4', uri('tue'), out]);
    expect(Buffer.compare(await readFile(out), Buffer.from(images.tue as Uint8Array))).toBe(0);
  });

  it('many clients read one export at once', async () => {
    const outs = Array.from({ length: 6 }, (_, i) => join(dir.path, `many-${i}.raw`));
    await Promise.all(
      outs.map((o) => mustRun('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri('mon'), o])),
    );
    for (const o of outs)
      expect(Buffer.compare(await readFile(o), Buffer.from(images.mon as Uint8Array))).toBe(0);
  });

  it('a read-only export refuses writes with EPERM', async () => {
    const r = await runTool('qemu-io', ['-f', 'raw', '-c', 'write -P 0x11 0 4096', uri('mon')]);
    // qemu-io opens read-write and sees the read-only flag (EPERM from the server itself: nbd-protocol.test.ts).
    expect(`${r.stdout}${r.stderr}`).toMatch(/Permission denied|Operation not permitted/i);
    expect(
      Buffer.from(await store.volume('mon').read(0, CS)).equals(
        Buffer.from((images.mon as Uint8Array).subarray(0, CS)),
      ),
    ).toBe(true);
  });
});

describeWith(['qemu-io', 'nbdcopy', 'qemu-img'], 'NBD server: writes by real clients reach the store', () => {
  it('qemu-io writes, reads back, discards and zeroes; the reopened store holds exactly that', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, 'store');
      const { store, images } = await makeStore(path);
      const model = Buffer.from(images[LIVE] as Uint8Array);
      const tue = Buffer.from(images.tue as Uint8Array);
      const socket = join(dir.path, 'w.sock');
      const server = await serve(store, { socket, exports: [{ name: 'disk', writable: true }] });
      const uri = `nbd+unix:///disk?socket=${socket}`;
      const ops: [string, (m: Buffer) => void][] = [
        ['write -P 0xab 100 5000', (m) => m.fill(0xab, 100, 5100)],
        ['write -P 0xcd 65536 131072', (m) => m.fill(0xcd, 65536, 196608)],
        ['write -P 0xee 4194000 304', (m) => m.fill(0xee, 4194000, 4194304)],
        ['discard 131072 16384', (m) => m.fill(0, 131072, 147456)],
        ['write -z 200000 10000', (m) => m.fill(0, 200000, 210000)],
        ['write -z -u 1048576 65536', (m) => m.fill(0, 1048576, 1114112)],
        ['write -f -P 0x42 2097152 4096', (m) => m.fill(0x42, 2097152, 2101248)],
      ];
      const args = ['-f', 'raw'];
      for (const [cmd, apply] of ops) {
        args.push('-c', cmd);
        apply(model);
      }
      args.push('-c', 'read -P 0xab 100 5000', '-c', 'read -P 0 131072 16384', '-c', 'flush', uri);
      const out = await mustRun('qemu-io', args);
      expect(out).not.toMatch(/fail|error|Pattern verification/i);
      // Several connections' writes: nbdcopy of a file into the export (one writer at a time).
      const src = join(dir.path, 'src.raw');
      const patch = Buffer.alloc(SIZE);
      patch.set(model);
      patch.fill(0x77, 3 * 1024 * 1024, 3 * 1024 * 1024 + 12345);
      await writeFile(src, patch);
      await mustRun('nbdcopy', [src, uri]);
      patch.copy(model);
      await server.close();
      await store.close();
      const again = await Store.open(path, { readOnly: true });
      try {
        expect(Buffer.compare(Buffer.from(await again.read(0, SIZE)), model)).toBe(0);
        // The snapshots stayed as they were.
        expect(Buffer.compare(Buffer.from(await again.volume('tue').read(0, SIZE)), tue)).toBe(0);
      } finally {
        await again.close();
      }
      const check = await Store.open(path);
      try {
        expect((await check.check({ data: true })).ok).toBe(true);
      } finally {
        await check.close();
      }
    } finally {
      await dir.dispose();
    }
  });
});

describeWith(['qemu-img', 'qemu-io', 'nbdcopy'], 'NBD server on a compressed store', () => {
  it('qemu-img convert of every version, qemu-io and nbdcopy writes, the store reopened and checked', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, 'store');
      const { store, images } = await makeStore(path, 'zstd');
      expect((await store.stats()).packedPages).toBeGreaterThan(0);
      const socket = join(dir.path, 'z.sock');
      const server = await serve(store, {
        socket,
        exports: [
          { name: 'mon', version: 'mon' },
          { name: 'tue', version: 'tue' },
          { name: 'disk', writable: true },
        ],
      });
      const uri = (name: string) => `nbd+unix:///${name}?socket=${socket}`;
      for (const [name, version] of [
        ['mon', 'mon'],
        ['tue', 'tue'],
        ['disk', LIVE],
      ] as const) {
        const out = join(dir.path, `${name}.raw`);
        await mustRun('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri(name), out]);
        expect(Buffer.compare(await readFile(out), Buffer.from(images[version] as Uint8Array)), name).toBe(0);
      }
      const model = Buffer.from(images[LIVE] as Uint8Array);
      const out = await mustRun('qemu-io', [
        '-f',
        'raw',
        '-c',
        'write -P 0xab 100 5000',
        '-c',
        'write -P 0xcd 65536 131072',
        '-c',
        'discard 131072 16384',
        '-c',
        'flush',
        uri('disk'),
      ]);
      expect(out).not.toMatch(/fail|error|Pattern verification/i);
      model.fill(0xab, 100, 5100);
      model.fill(0xcd, 65536, 196608);
      model.fill(0, 131072, 147456);
      const src = join(dir.path, 'src.raw');
      const patch = Buffer.from(model);
      patch.set(changed(images.mon as Uint8Array, 3, 17, CS).subarray(0, 2 * 1024 * 1024), 2 * 1024 * 1024);
      await writeFile(src, patch);
      await mustRun('nbdcopy', [src, uri('disk')]);
      await server.close();
      await store.close();
      const again = await Store.open(path);
      try {
        expect(Buffer.compare(Buffer.from(await again.read(0, SIZE)), patch)).toBe(0);
        expect(
          Buffer.compare(
            Buffer.from(await again.volume('tue').read(0, SIZE)),
            Buffer.from(images.tue as Uint8Array),
          ),
        ).toBe(0);
        expect((await again.check({ data: true })).problems).toEqual([]);
      } finally {
        await again.close();
      }
    } finally {
      await dir.dispose();
    }
  }, 120_000);
});

describeWith(['qemu-img', 'nbdcopy', 'nbdinfo'], 'NBD server: READ replies with short holes as zeros', () => {
  it('nbdcopy, qemu-img convert and nbdinfo read scattered short holes and a long one right', async () => {
    // The default minHole (64 KiB): holes of 1-3 chunks between data go as zeros inside one data
    // chunk, the 80-chunk hole as a hole; read in qemu-img's 2 MiB, nbdcopy's 256 KiB and 8 KiB
    // requests (the raw client of nbd-protocol.test.ts reads the unaligned cases).
    const dir = await tempDir();
    const store = await Store.create(join(dir.path, 'store'), { size: SIZE, chunkSize: CS });
    const image = makeImage(11, CHUNKS, CS);
    let seed = 5;
    for (let c = 0; c < CHUNKS; ) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const data = 1 + (seed % 7);
      const hole = c >= 400 && c < 480 ? 80 : 1 + ((seed >>> 8) % 3);
      image.fill(0, (c + data) * CS, Math.min(CHUNKS, c + data + hole) * CS);
      c += data + hole;
    }
    await store.write(0, image);
    const socket = join(dir.path, 'zeros.sock');
    const server = await serve(store, { socket });
    const uri = `nbd+unix:///?socket=${socket}`;
    try {
      const runs = [
        ['nbdcopy', [uri, join(dir.path, 'a.raw')]],
        ['nbdcopy', ['--request-size=8192', '--connections=1', uri, join(dir.path, 'b.raw')]],
        ['qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri, join(dir.path, 'c.raw')]],
      ] as const;
      for (const [cmd, args] of runs) {
        await mustRun(cmd, args);
        const out = args[args.length - 1] as string;
        expect(Buffer.compare(await readFile(out), Buffer.from(image)), `${cmd} ${args.join(' ')}`).toBe(0);
      }
      // nbdcopy to null: reads every byte too (and checks every reply's shape).
      await mustRun('nbdcopy', [uri, 'null:']);
      // The long hole is a hole to the clients; the short ones are data (but at the very end).
      const map = mergeMap(parseMap(await mustRun('nbdinfo', ['--map', uri])));
      const holes = map.filter((e) => (e.flags & 1) !== 0 && e.offset + e.length < SIZE);
      expect(holes.map((e) => e.length)).toEqual([80 * CS]);
    } finally {
      await server.close();
      await store.close();
      await dir.dispose();
    }
  });
});
