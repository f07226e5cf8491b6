// The NBD server's benchmark: a VM-like image (bench/generator.ts) imported into a store, then the
// same bytes read through the library (Volume.read, what the server can do at best) and through
// the Deja NBD server and through qemu-nbd serving the raw image file (the goal: within 1.5x of
// qemu-nbd), with the same clients: nbdcopy to null: and to a file, and qemu-img convert to a
// file. The machines this runs on are shared and loaded, so each client runs once on each server
// to warm up, then `DEJA_NBD_BENCH_ROUNDS` times alternating between the two servers, and the
// best run of each counts; besides MB/s, the server's CPU time per GiB is reported (the serving
// process's user + system time during the copy: less sensitive to other jobs than wall time).
// Every copy to a file is checked against the image.
//
//   DEJA_BENCH_ONLY=nbd pnpm --filter @deja/store bench
//   tsx --conditions=@deja/source bench/nbd.ts     (DEJA_NBD_BENCH_MIB=1024, DEJA_NBD_BENCH_ROUNDS=3)

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

/** CPU seconds (user + system) a process has used so far: this one, or another by pid (Linux). */
async function cpuSeconds(pid?: number): Promise<number> {
  if (pid === undefined) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Client {
  readonly name: string;
  args(uri: string, out: string): [string, string[]];
  readonly toFile: boolean;
}

const CLIENTS: readonly Client[] = [
  { name: 'nbdcopy to null:', args: (u) => ['nbdcopy', [u, 'null:']], toFile: false },
  { name: 'nbdcopy to a file', args: (u, o) => ['nbdcopy', [u, o]], toFile: true },
  {
    name: 'qemu-img convert to a file',
    args: (u, o) => ['qemu-img', ['convert', '-f', 'raw', '-O', 'raw', u, o]],
    toFile: true,
  },
];

export async function nbdBench(): Promise<void> {
  const size = Number(process.env.DEJA_NBD_BENCH_MIB ?? 1024) * MiB;
  const rounds = Number(process.env.DEJA_NBD_BENCH_ROUNDS ?? 3);
  const dir = await mkdtemp(join(tmpdir(), 'deja-nbd-bench-'));
  let qemu: ChildProcess | undefined;
  try {
    console.log(
      `nbd benchmark: a ${size / MiB} MiB VM-like image; ${cpus()[0]?.model ?? ''}, ${cpus().length} cores, Node ${process.version}; best of ${rounds} alternating runs`,
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
    const qsock = join(dir, 'qemu.sock');
    qemu = spawn('qemu-nbd', ['-r', '-t', '-f', 'raw', '-k', qsock, raw], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(qsock); i++) await new Promise((r) => setTimeout(r, 50));
    const qemuUri = `nbd+unix:///?socket=${qsock}`;
    const out = join(dir, 'out.raw');
    const gib = size / 2 ** 30;
    const rows: [string, number, number, number][] = []; // name, MB/s, ratio to qemu-nbd, CPU s/GiB
    const baseline = new Map<string, { rate: number; cpu: number }>();
    for (const verifyReads of [true, false]) {
      const tag = verifyReads ? '' : ' (verifyReads off)';
      const store = await Store.open(storeDir, { readOnly: true, verifyReads });
      try {
        const vol = store.volume(LIVE);
        let lib = 0;
        for (let r = 0; r < 2; r++) {
          const t = performance.now();
          for (let at = 0; at < size; at += 4 * MiB) await vol.read(at, Math.min(4 * MiB, size - at));
          lib = Math.max(lib, size / 1e6 / ((performance.now() - t) / 1000));
        }
        rows.push([`library Volume.read, 4 MiB reads${tag}`, lib, Number.NaN, Number.NaN]);
        const server = await serve(store, { socket: join(dir, 'deja.sock') });
        try {
          for (const client of CLIENTS) {
            const once = async (uri: string, pid: number | undefined) => {
              const [cmd, args] = client.args(uri, out);
              const c0 = await cpuSeconds(pid);
              const t = performance.now();
              await run(cmd, args);
              const seconds = (performance.now() - t) / 1000;
              const cpu = (await cpuSeconds(pid)) - c0;
              if (client.toFile) {
                if (!(await sameFile(raw, out))) throw new Error(`${client.name}: the copy differs`);
                await rm(out);
              }
              return { rate: size / 1e6 / seconds, cpu: cpu / gib };
            };
            await once(server.uri(), undefined);
            await once(qemuUri, qemu.pid);
            let deja = { rate: 0, cpu: Number.POSITIVE_INFINITY };
            let q = baseline.get(client.name) ?? { rate: 0, cpu: Number.POSITIVE_INFINITY };
            for (let r = 0; r < rounds; r++) {
              const d = await once(server.uri(), undefined);
              const b = await once(qemuUri, qemu.pid);
              deja = { rate: Math.max(deja.rate, d.rate), cpu: Math.min(deja.cpu, d.cpu) };
              q = { rate: Math.max(q.rate, b.rate), cpu: Math.min(q.cpu, b.cpu) };
            }
            baseline.set(client.name, q);
            rows.push([`deja serve: ${client.name}${tag}`, deja.rate, deja.rate / q.rate, deja.cpu]);
          }
        } finally {
          await server.close();
        }
      } finally {
        await store.close();
      }
    }
    for (const client of CLIENTS) {
      const q = baseline.get(client.name) as { rate: number; cpu: number };
      rows.push([`qemu-nbd (raw file): ${client.name}`, q.rate, 1, q.cpu]);
    }
    const width = Math.max(...rows.map(([n]) => n.length));
    console.log(`  ${'reader'.padEnd(width)}  ${'MB/s'.padStart(6)}  of qemu-nbd  server CPU s/GiB`);
    for (const [name, mbs, ratio, cpu] of rows)
      console.log(
        `  ${name.padEnd(width)}  ${mbs.toFixed(0).padStart(6)}  ${Number.isNaN(ratio) ? '          ' : `${ratio.toFixed(2).padStart(9)}x`}  ${Number.isNaN(cpu) ? '' : cpu.toFixed(2).padStart(7)}`,
      );
  } finally {
    qemu?.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await nbdBench();
