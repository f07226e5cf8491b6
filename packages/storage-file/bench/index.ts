// Benchmarks of FileStorage against plain `node:fs` calls on the same file, in the same process:
// 4 KiB random reads and writes per second, sequential MB/s (1 MiB blocks), durable 4 KiB writes
// (write + flush vs pwrite + fdatasync), and a 16-page writev against 16 writes. Each case runs the
// baseline and the adapter in alternating rounds after a warm-up; the best round of each is kept
// and their ratio printed, since the machine is shared and absolute figures drift.
//
// Run: pnpm --filter @deja/storage-file bench   (DEJA_BENCH_DIR picks the directory; default
// os.tmpdir()). The page layer's benchmark over files is in @deja/page-store.

import * as fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { splitmix32 } from '@deja/test-helpers';
import { FileStorage } from '../src/index';

const FILE_SIZE = 64 * 1024 * 1024;
const PAGE = 4096;
const BLOCK = 1024 * 1024;
const ROUND_MS = 300;
const ROUNDS = 3;

type Op = (i: number) => unknown;

/** Operations per second of `op` over about `ms` milliseconds (awaiting it when it returns a promise). */
async function rate(op: Op, ms: number): Promise<number> {
  const start = performance.now();
  let n = 0;
  let now = start;
  while (now - start < ms) {
    for (let k = 0; k < 32; k++) {
      const result = op(n++);
      if (result instanceof Promise) await result;
    }
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

/** Best-of-rounds rates of several variants, run alternately after a warm-up of each. */
async function compare(variants: Record<string, Op>, ms = ROUND_MS): Promise<Record<string, number>> {
  const best: Record<string, number> = {};
  for (const [name, op] of Object.entries(variants)) {
    await rate(op, ms / 3);
    best[name] = 0;
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, op] of Object.entries(variants)) best[name] = Math.max(best[name]!, await rate(op, ms));
  }
  return best;
}

const rows: string[][] = [];
function report(
  what: string,
  unit: string,
  scale: number,
  results: Record<string, number>,
  pairs: [string, string][],
) {
  for (const [baseline, ours] of pairs) {
    const b = results[baseline]! * scale;
    const o = results[ours]! * scale;
    rows.push([what, baseline, fmt(b, unit), ours, fmt(o, unit), `${(o / b).toFixed(2)}x`]);
  }
}
function fmt(value: number, unit: string): string {
  return `${value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1)} ${unit}`;
}

async function main(): Promise<void> {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log('@deja/storage-file benchmark: FileStorage vs plain node:fs on the same file');
  console.log(
    `machine: ${cpu} x ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`,
  );
  console.log(`node ${process.version}`);
  await adapters();
}

async function adapters(): Promise<void> {
  const dir = fs.mkdtempSync(join(process.env.DEJA_BENCH_DIR ?? os.tmpdir(), 'deja-storage-bench-'));
  console.log(`file: ${FILE_SIZE / 2 ** 20} MiB in ${dir} (page cache warm; random offsets 4 KiB aligned)\n`);
  const path = join(dir, 'bench.img');
  const random = splitmix32(42);
  const offsets = Uint32Array.from({ length: 1 << 16 }, () => (random() % (FILE_SIZE / PAGE)) * PAGE);
  const at = (i: number): number => offsets[i & 0xffff]!;

  try {
    // Fill the file once so reads hit real data.
    const fd = fs.openSync(path, 'w+');
    const block = new Uint8Array(BLOCK).map((_, i) => i * 31);
    for (let off = 0; off < FILE_SIZE; off += BLOCK) fs.writeSync(fd, block, 0, BLOCK, off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);

    const plainFd = fs.openSync(path, 'r+');
    const sync = await FileStorage.open(path, { io: 'sync', lock: false });
    const async_ = await FileStorage.open(path, { io: 'async', lock: false });
    const page = new Uint8Array(PAGE).fill(7);
    const buf = new Uint8Array(BLOCK);
    const fsRead = (fd: number, target: Uint8Array, length: number, position: number) =>
      new Promise<number>((resolve, reject) =>
        fs.read(fd, target, 0, length, position, (e, n) => (e ? reject(e) : resolve(n))),
      );
    const fsWrite = (fd: number, data: Uint8Array, position: number) =>
      new Promise<number>((resolve, reject) =>
        fs.write(fd, data, 0, data.length, position, (e, n) => (e ? reject(e) : resolve(n))),
      );

    console.log('4 KiB random reads ...');
    const reads = await compare({
      'fs.readSync': (i) => fs.readSync(plainFd, new Uint8Array(PAGE), 0, PAGE, at(i)),
      'FileStorage sync': (i) => sync.read(at(i), PAGE),
      'fs.read (callback)': (i) => fsRead(plainFd, new Uint8Array(PAGE), PAGE, at(i)),
      'FileStorage async': (i) => async_.read(at(i), PAGE),
    });
    report('4 KiB random read', 'ops/s', 1, reads, [
      ['fs.readSync', 'FileStorage sync'],
      ['fs.read (callback)', 'FileStorage async'],
    ]);

    console.log('4 KiB random writes ...');
    const writes = await compare({
      'fs.writeSync': (i) => fs.writeSync(plainFd, page, 0, PAGE, at(i)),
      'FileStorage sync': (i) => sync.write(at(i), page),
      'fs.write (callback)': (i) => fsWrite(plainFd, page, at(i)),
      'FileStorage async': (i) => async_.write(at(i), page),
    });
    report('4 KiB random write', 'ops/s', 1, writes, [
      ['fs.writeSync', 'FileStorage sync'],
      ['fs.write (callback)', 'FileStorage async'],
    ]);

    const blocks = FILE_SIZE / BLOCK;
    const seq = (i: number): number => (i % blocks) * BLOCK;
    console.log('sequential 1 MiB writes ...');
    const seqWrites = await compare({
      'fs.writeSync': (i) => fs.writeSync(plainFd, block, 0, BLOCK, seq(i)),
      'FileStorage sync': (i) => sync.write(seq(i), block),
      'fs.write (callback)': (i) => fsWrite(plainFd, block, seq(i)),
      'FileStorage async': (i) => async_.write(seq(i), block),
    });
    report('sequential write (1 MiB blocks)', 'MB/s', BLOCK / 1e6, seqWrites, [
      ['fs.writeSync', 'FileStorage sync'],
      ['fs.write (callback)', 'FileStorage async'],
    ]);

    console.log('sequential 1 MiB reads ...');
    const seqReads = await compare({
      'fs.readSync': (i) => fs.readSync(plainFd, buf, 0, BLOCK, seq(i)),
      'FileStorage sync': (i) => sync.read(seq(i), BLOCK),
      'fs.read (callback)': (i) => fsRead(plainFd, buf, BLOCK, seq(i)),
      'FileStorage async': (i) => async_.read(seq(i), BLOCK),
    });
    report('sequential read (1 MiB blocks)', 'MB/s', BLOCK / 1e6, seqReads, [
      ['fs.readSync', 'FileStorage sync'],
      ['fs.read (callback)', 'FileStorage async'],
    ]);

    console.log('durable 4 KiB writes (write + flush) ...');
    const fdatasync = (fd: number) =>
      new Promise<void>((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve())));
    const durable = await compare(
      {
        'fs.writeSync + fs.fdatasync': async (i) => {
          fs.writeSync(plainFd, page, 0, PAGE, at(i));
          await fdatasync(plainFd);
        },
        'FileStorage sync write + flush': async (i) => {
          await sync.write(at(i), page);
          await sync.flush();
        },
      },
      ROUND_MS * 2,
    );
    report('durable 4 KiB write', 'ops/s', 1, durable, [
      ['fs.writeSync + fs.fdatasync', 'FileStorage sync write + flush'],
    ]);

    console.log('16 contiguous pages: one writev vs 16 writes (async) ...');
    const pages = Array.from({ length: 16 }, () => page);
    const batched = await compare({
      '16 x FileStorage.write': (i) => {
        const base = (at(i) % (FILE_SIZE - 16 * PAGE)) & ~(PAGE - 1);
        return Promise.all(pages.map((p, k) => async_.write(base + k * PAGE, p)));
      },
      'FileStorage.writev(16)': (i) => {
        const base = (at(i) % (FILE_SIZE - 16 * PAGE)) & ~(PAGE - 1);
        return async_.writev(pages.map((data, k) => ({ offset: base + k * PAGE, data })));
      },
    });
    report('16 x 4 KiB contiguous (async)', 'batches/s', 1, batched, [
      ['16 x FileStorage.write', 'FileStorage.writev(16)'],
    ]);

    await sync.close();
    await async_.close();
    fs.closeSync(plainFd);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const header = ['case', 'baseline', 'baseline rate', 'FileStorage', 'rate', 'ratio'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  console.log(`\n${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}`);
  for (const row of rows) console.log(line(row));
  console.log(
    '\nratio = FileStorage rate / baseline rate (best of 3 alternating rounds each, after warm-up)',
  );
}

await main();
