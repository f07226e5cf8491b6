// The NBD server's benchmark: a VM-like image (bench/generator.ts) imported into a store, then the
// same bytes read four ways in one run: through the library (Volume.read, the baseline of what the
// server can do), through the Deja NBD server with nbdcopy (to /dev/null and to a file) and
// qemu-img convert, and through qemu-nbd serving the raw image file with the same clients (the
// goal: within 1.5x of qemu-nbd). Every copy is checked against the image.
//
//   tsx --conditions=@deja/source bench/nbd.ts            (DEJA_NBD_BENCH_MIB=1024 by default)

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { importImage, LIVE, Store } from '../src/index';
import { serve } from '../src/nbd/index';
import { ImageHistory } from './generator';

const MiB = 1 << 20;

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 1 << 20 }, (e, _o, stderr) =>
      e ? reject(new Error(`${cmd}: ${stderr}`)) : resolve(),
    );
  });
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

async function sameFile(a: string, b: string): Promise<boolean> {
  const ra = createReadStream(a, { highWaterMark: 4 * MiB })[Symbol.asyncIterator]();
  const rb = createReadStream(b, { highWaterMark: 4 * MiB });
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of rb) {
    let c = chunk as Buffer;
    while (c.length > 0) {
      if (pending.length === 0) {
        const n = await ra.next();
        if (n.done) return false;
        pending = n.value as Buffer;
      }
      const k = Math.min(pending.length, c.length);
      if (!pending.subarray(0, k).equals(c.subarray(0, k))) return false;
      pending = pending.subarray(k);
      c = c.subarray(k);
    }
  }
  return pending.length === 0 && (await ra.next()).done === true;
}

export async function nbdBench(): Promise<void> {
  const size = Number(process.env.DEJA_NBD_BENCH_MIB ?? 1024) * MiB;
  const dir = await mkdtemp(join(tmpdir(), 'deja-nbd-bench-'));
  let qemu: ChildProcess | undefined;
  try {
    console.log(
      `nbd benchmark: a ${size / MiB} MiB VM-like image; ${cpus()[0]?.model ?? ''}, ${cpus().length} cores, Node ${process.version}`,
    );
    const raw = join(dir, 'image.raw');
    await writeFile(raw, new ImageHistory({ size, seed: 2026 }).version(0));
    const storeDir = join(dir, 'store');
    await (await Store.create(storeDir, { size: 0 })).close();
    {
      const s = await Store.open(storeDir);
      await importImage(s, raw);
      await s.close();
    }
    const rows: [string, number][] = [];
    const rate = (seconds: number) => size / 1e6 / seconds;
    for (const verifyReads of [true, false]) {
      const store = await Store.open(storeDir, { readOnly: true, verifyReads });
      const tag = verifyReads ? '' : ', verifyReads off';
      try {
        const vol = store.volume(LIVE);
        rows.push([
          `library Volume.read, 4 MiB reads${tag}`,
          rate(
            await timed(async () => {
              for (let at = 0; at < size; at += 4 * MiB) await vol.read(at, Math.min(4 * MiB, size - at));
            }),
          ),
        ]);
        const server = await serve(store, { socket: join(dir, 'deja.sock') });
        const uri = server.uri();
        try {
          rows.push([
            `deja serve: nbdcopy to /dev/null${tag}`,
            rate(await timed(() => run('nbdcopy', [uri, 'null:']))),
          ]);
          const out = join(dir, 'out.raw');
          rows.push([
            `deja serve: nbdcopy to a file${tag}`,
            rate(await timed(() => run('nbdcopy', [uri, out]))),
          ]);
          if (!(await sameFile(raw, out))) throw new Error('nbdcopy from deja: the copy differs');
          await rm(out);
          rows.push([
            `deja serve: qemu-img convert to a file${tag}`,
            rate(await timed(() => run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri, out]))),
          ]);
          if (!(await sameFile(raw, out))) throw new Error('qemu-img convert from deja: the copy differs');
          await rm(out);
        } finally {
          await server.close();
        }
      } finally {
        await store.close();
      }
    }
    const sock = join(dir, 'qemu.sock');
    qemu = spawn('qemu-nbd', ['-r', '-t', '-f', 'raw', '-k', sock, raw], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    const q = `nbd+unix:///?socket=${sock}`;
    const base: Record<string, number> = {};
    base.null = rate(await timed(() => run('nbdcopy', [q, 'null:'])));
    const out = join(dir, 'out.raw');
    base.file = rate(await timed(() => run('nbdcopy', [q, out])));
    await rm(out);
    base.convert = rate(await timed(() => run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', q, out])));
    await rm(out);
    rows.push(['qemu-nbd (raw file): nbdcopy to /dev/null', base.null]);
    rows.push(['qemu-nbd (raw file): nbdcopy to a file', base.file]);
    rows.push(['qemu-nbd (raw file): qemu-img convert to a file', base.convert]);
    const width = Math.max(...rows.map(([n]) => n.length));
    for (const [name, mbs] of rows) {
      const ref = name.includes('/dev/null')
        ? base.null
        : name.includes('nbdcopy')
          ? base.file
          : name.includes('convert')
            ? base.convert
            : base.null;
      console.log(
        `  ${name.padEnd(width)}  ${mbs.toFixed(0).padStart(6)} MB/s  ${((ref ?? mbs) / mbs).toFixed(2)}x slower than qemu-nbd`,
      );
    }
  } finally {
    qemu?.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await nbdBench();
