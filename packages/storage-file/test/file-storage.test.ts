// FileStorage beyond the conformance suite: opening (missing files, directories, creation), the
// lock within one process and across processes (a spawned child node), errno mapping, and failures
// a real disk cannot be made to produce on demand (ENOSPC, EIO, short transfers) through an
// injected fs layer — ENOSPC is tested that way and by the mapping table, not on a full disk.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { type FsLayer, fromFsError } from '../src/_internal-fs';
import { FileStorage } from '../src/index';

const dir = fs.mkdtempSync(join(tmpdir(), 'deja-file-storage-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const fresh = (): string => join(dir, `store-${counter++}`);

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected`), { code });
}

describe('FileStorage.open', () => {
  test('a missing file is ERR_NOT_FOUND unless create is set', async () => {
    const path = fresh();
    await expect(FileStorage.open(path)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(FileStorage.open(path, { create: true, readOnly: true })).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
    });
    expect(fs.existsSync(path)).toBe(false);
    const store = await FileStorage.open(path, { create: true });
    expect(fs.existsSync(path)).toBe(true);
    expect(store.path).toBe(path);
    expect(store.io).toBe('sync');
    await store.close();
  });

  test('an existing file opens at its size with its contents', async () => {
    const path = fresh();
    fs.writeFileSync(path, new Uint8Array([1, 2, 3, 4, 5]));
    const store = await FileStorage.open(path, { create: true, io: 'async' });
    expect(await store.size()).toBe(5);
    expect(await store.read(1, 3)).toEqual(new Uint8Array([2, 3, 4]));
    await store.close();
  });

  test('a directory is not a store: ERR_IO', async () => {
    await expect(FileStorage.open(dir)).rejects.toMatchObject({ code: 'ERR_IO' });
    await expect(FileStorage.open(dir, { readOnly: true })).rejects.toMatchObject({ code: 'ERR_IO' });
  });

  test('bad arguments are TypeErrors', async () => {
    await expect(FileStorage.open('')).rejects.toBeInstanceOf(TypeError);
    await expect(FileStorage.open(42 as unknown as string)).rejects.toBeInstanceOf(TypeError);
    await expect(FileStorage.open(fresh(), { io: 'fast' as 'sync' })).rejects.toBeInstanceOf(TypeError);
  });

  test('EACCES on open is ERR_PERMISSION', async () => {
    const layer: FsLayer = {
      ...fs,
      openSync: () => {
        throw errno('EACCES');
      },
    };
    await expect(FileStorage.open(fresh(), { fs: layer })).rejects.toMatchObject({ code: 'ERR_PERMISSION' });
  });
});

describe('FileStorage lock', () => {
  test('within one process: one writer; readers share; closing releases', async () => {
    const path = fresh();
    const writer = await FileStorage.open(path, { create: true });
    await expect(FileStorage.open(path)).rejects.toMatchObject({ code: 'ERR_LOCKED' });
    await expect(FileStorage.open(path, { readOnly: true })).rejects.toMatchObject({ code: 'ERR_LOCKED' });
    await writer.close();
    const reader1 = await FileStorage.open(path, { readOnly: true });
    const reader2 = await FileStorage.open(path, { readOnly: true });
    await expect(FileStorage.open(path)).rejects.toMatchObject({ code: 'ERR_LOCKED' });
    await reader1.close();
    await reader2.close();
    const again = await FileStorage.open(path);
    await again.close();
  });

  test('lock: false skips locking', async () => {
    const path = fresh();
    const a = await FileStorage.open(path, { create: true });
    const b = await FileStorage.open(path, { lock: false, readOnly: true });
    await b.close();
    await a.close();
  });

  const nativePath = createRequire(import.meta.url).resolve('fs-native-extensions');
  // A child process that opens `path` read-write, tries the same exclusive lock FileStorage takes,
  // prints "locked" (then holds it until killed) or "busy" (then exits).
  const childSource = `
    const fs = require('node:fs');
    const { tryLock } = require(${JSON.stringify(nativePath)});
    const fd = fs.openSync(process.argv[1], 'r+');
    if (tryLock(fd)) { process.stdout.write('locked\\n'); setInterval(() => {}, 1000); }
    else { process.stdout.write('busy\\n'); }
  `;

  function child(path: string): { proc: ChildProcess; line: Promise<string> } {
    const proc = spawn(process.execPath, ['-e', childSource, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = new Promise<string>((resolve, reject) => {
      let out = '';
      proc.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      proc.on('error', reject);
      proc.on('exit', (code) => reject(new Error(`child exited (${code}) before answering`)));
    });
    return { proc, line };
  }

  test('across processes: a child holding the lock keeps us out until it dies', async () => {
    const path = fresh();
    fs.writeFileSync(path, new Uint8Array(10));
    const { proc, line } = child(path);
    try {
      expect(await line).toBe('locked');
      await expect(FileStorage.open(path)).rejects.toMatchObject({ code: 'ERR_LOCKED' });
    } finally {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGKILL');
      await exited;
    }
    const store = await FileStorage.open(path); // the OS released the dead child's lock
    await store.close();
  });

  test('across processes: while we hold the store, a child cannot lock it', async () => {
    const path = fresh();
    const store = await FileStorage.open(path, { create: true });
    try {
      const { line } = child(path);
      expect(await line).toBe('busy');
    } finally {
      await store.close();
    }
  });
});

describe('FileStorage errors', () => {
  test('fromFsError maps errno codes and keeps the cause', () => {
    const table: [string | undefined, string][] = [
      ['ENOENT', 'ERR_NOT_FOUND'],
      ['ENOSPC', 'ERR_NO_SPACE'],
      ['EDQUOT', 'ERR_NO_SPACE'],
      ['EACCES', 'ERR_PERMISSION'],
      ['EPERM', 'ERR_PERMISSION'],
      ['EROFS', 'ERR_PERMISSION'],
      ['EIO', 'ERR_IO'],
      ['EISDIR', 'ERR_IO'],
      ['EBADF', 'ERR_IO'],
      [undefined, 'ERR_IO'],
    ];
    for (const [code, expected] of table) {
      const cause = code === undefined ? new Error('no errno') : errno(code);
      const error = fromFsError(cause, '/x: write of 1 bytes at offset 2');
      expect(error.code, String(code)).toBe(expected);
      expect(error.cause).toBe(cause);
      expect(error.message).toContain('/x: write of 1 bytes at offset 2');
    }
  });

  for (const io of ['sync', 'async'] as const) {
    test(`ENOSPC from the fs layer is ERR_NO_SPACE and gives the size back (io: ${io})`, async () => {
      const layer: FsLayer = {
        ...fs,
        writeSync: () => {
          throw errno('ENOSPC');
        },
        write: ((...args: unknown[]) => {
          const callback = args.at(-1) as (error: Error) => void;
          queueMicrotask(() => callback(errno('ENOSPC')));
        }) as unknown as FsLayer['write'],
      };
      const store = await FileStorage.open(fresh(), { create: true, io, fs: layer });
      await expect(store.write(100, new Uint8Array(10))).rejects.toMatchObject({
        code: 'ERR_NO_SPACE',
        cause: { code: 'ENOSPC' },
      });
      expect(await store.size()).toBe(0);
      await store.close();
    });

    test(`EIO on read is ERR_IO naming the path and offset (io: ${io})`, async () => {
      const path = fresh();
      fs.writeFileSync(path, new Uint8Array(100));
      const layer: FsLayer = {
        ...fs,
        readSync: () => {
          throw errno('EIO');
        },
        read: ((...args: unknown[]) => {
          const callback = args.at(-1) as (error: Error) => void;
          queueMicrotask(() => callback(errno('EIO')));
        }) as unknown as FsLayer['read'],
      };
      const store = await FileStorage.open(path, { io, fs: layer });
      const failure = store.read(40, 8);
      await expect(failure).rejects.toMatchObject({ code: 'ERR_IO' });
      await expect(failure).rejects.toThrow(`${path}: read of 8 bytes at offset 40`);
      await store.close();
    });

    test(`short reads and writes are completed (io: ${io})`, async () => {
      const limit = <A extends unknown[]>(args: A, at: number): A => {
        const copy = [...args] as A;
        copy[at] = Math.min(copy[at] as number, 7);
        return copy;
      };
      const layer: FsLayer = {
        ...fs,
        readSync: ((...a: Parameters<typeof fs.readSync>) =>
          (fs.readSync as (...x: unknown[]) => number)(...limit(a, 3))) as FsLayer['readSync'],
        writeSync: ((...a: Parameters<typeof fs.writeSync>) =>
          (fs.writeSync as (...x: unknown[]) => number)(...limit(a, 3))) as FsLayer['writeSync'],
        read: ((...a: unknown[]) =>
          (fs.read as (...x: unknown[]) => void)(...limit(a, 3))) as FsLayer['read'],
        write: ((...a: unknown[]) =>
          (fs.write as (...x: unknown[]) => void)(...limit(a, 3))) as FsLayer['write'],
        // pwritev that writes only its first 5 bytes: the rest must be finished by single writes
        writevSync: ((fd: number, buffers: Uint8Array[], position: number) =>
          fs.writeSync(
            fd,
            buffers[0]!,
            0,
            Math.min(5, buffers[0]!.length),
            position,
          )) as FsLayer['writevSync'],
        writev: ((fd: number, buffers: Uint8Array[], position: number, cb: (e: null, n: number) => void) =>
          cb(
            null,
            fs.writeSync(fd, buffers[0]!, 0, Math.min(5, buffers[0]!.length), position),
          )) as FsLayer['writev'],
      };
      const store = await FileStorage.open(fresh(), { create: true, io, fs: layer });
      const data = Uint8Array.from({ length: 100 }, (_, i) => i);
      await store.write(3, data);
      await store.writev([
        { offset: 200, data: data.subarray(0, 3) },
        { offset: 203, data: data.subarray(3, 50) },
        { offset: 250, data: data.subarray(50) },
      ]);
      expect(await store.read(3, 100)).toEqual(data);
      expect(await store.read(200, 100)).toEqual(data);
      await store.close();
    });

    test(`a failed fdatasync is ERR_IO and later writes are refused (io: ${io})`, async () => {
      const layer: FsLayer = {
        ...fs,
        fdatasync: ((_fd: number, callback: (error: Error) => void) =>
          queueMicrotask(() => callback(errno('EIO')))) as FsLayer['fdatasync'],
      };
      const store = await FileStorage.open(fresh(), { create: true, io, fs: layer });
      await store.write(0, new Uint8Array([1]));
      await expect(store.flush()).rejects.toMatchObject({ code: 'ERR_IO', cause: { code: 'EIO' } });
      await expect(store.write(0, new Uint8Array([2]))).rejects.toMatchObject({ code: 'ERR_IO' });
      await expect(store.flush()).rejects.toMatchObject({ code: 'ERR_IO' });
      expect(await store.read(0, 1)).toEqual(new Uint8Array([1]));
      await store.close();
    });
  }
});

describe('FileStorage semantics', () => {
  test('the first flush after creating a file also fsyncs its directory, once', async () => {
    const synced: string[] = [];
    const fdPaths = new Map<number, string>();
    const layer: FsLayer = {
      ...fs,
      openSync: ((path: string, flags: string) => {
        const fd = fs.openSync(path, flags);
        fdPaths.set(fd, path);
        return fd;
      }) as FsLayer['openSync'],
      fsync: ((fd: number, callback: (error: Error | null) => void) => {
        synced.push(fdPaths.get(fd) ?? '?');
        fs.fsync(fd, callback);
      }) as FsLayer['fsync'],
    };
    const path = fresh();
    const store = await FileStorage.open(path, { create: true, fs: layer });
    await store.write(0, new Uint8Array([1]));
    await store.flush();
    await store.flush();
    expect(synced).toEqual([dir]);
    await store.close();
    const again = await FileStorage.open(path, { fs: layer });
    await again.flush();
    expect(synced).toEqual([dir]);
    await again.close();
  });

  test('bytes past the end of a file shortened behind our back read as zeros', async () => {
    const path = fresh();
    const store = await FileStorage.open(path, { create: true });
    await store.write(0, new Uint8Array(100).fill(9));
    fs.truncateSync(path, 50);
    const bytes = await store.read(0, 100);
    expect(bytes.subarray(0, 50).every((b) => b === 9)).toBe(true);
    expect(bytes.subarray(50).every((b) => b === 0)).toBe(true);
    await store.close();
  });

  test('allocatedBytes counts the blocks the file holds, not its holes', async () => {
    const path = fresh();
    const store = await FileStorage.open(path, { create: true });
    await store.write(8 << 20, new Uint8Array(1 << 16).fill(5));
    await store.flush();
    expect(await store.size()).toBe((8 << 20) + (1 << 16));
    const allocated = store.allocatedBytes();
    expect(allocated).toBe(fs.statSync(path).blocks * 512);
    expect(allocated).toBeGreaterThanOrEqual(1 << 16);
    // A file system without holes would allocate the whole length; every Linux one here has them.
    expect(allocated).toBeLessThan(8 << 20);
    await store.close();
    expect(() => store.allocatedBytes()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
  });

  test('writes land in the file at their offsets (checked with plain fs)', async () => {
    for (const io of ['sync', 'async'] as const) {
      const path = fresh();
      const store = await FileStorage.open(path, { create: true, io });
      await store.writev([
        { offset: 4096, data: new Uint8Array([1, 2]) },
        { offset: 4098, data: new Uint8Array([3]) },
        { offset: 10, data: new Uint8Array([4]) },
      ]);
      await store.flush();
      await store.close();
      const bytes = fs.readFileSync(path);
      expect(bytes.length).toBe(4099);
      expect([...bytes.subarray(4096)]).toEqual([1, 2, 3]);
      expect(bytes[10]).toBe(4);
    }
  });
});
