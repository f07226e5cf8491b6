// Benchmarks of @deja/page-store over a FileStorage (bench/page-store.ts): commit latency, page
// writes/s and flushes per commit for transactions of 1, 16 and 256 dirty pages, against plain
// pwrite + fdatasync of the same pages; free-page search on a nearly full store; the cost of growing
// a store and of opening it; freeing 3,000 data pages in one commit (bench/free.ts); where metadata
// pages lie among data pages, and the spans a commit rewriting some of them writes (bench/locality.ts);
// an import's transactions of 20,000 data pages on a MemoryStorage (bench/import.ts).
//
// Run: pnpm --filter @deja/page-store bench   (DEJA_BENCH_DIR picks the directory; default os.tmpdir())

import * as fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { freeBench } from './free';
import { importBench } from './import';
import { localityBench } from './locality';
import { allocationBench, growthBench, pageStoreBench } from './page-store';

const ROUND_MS = 300;
const ROUNDS = 3;

async function pageLayer(): Promise<void> {
  const dir = fs.mkdtempSync(join(process.env.DEJA_BENCH_DIR ?? os.tmpdir(), 'deja-pagestore-bench-'));
  console.log(
    `\nPageStore commits on FileStorage (4 KiB pages, journal of 2048 pages) vs plain fs in ${dir}`,
  );
  try {
    const results = await pageStoreBench(dir, ROUND_MS * 2, ROUNDS);
    const header = [
      'transaction',
      'fs.writeSync x N + fdatasync',
      'PageStore commit',
      'commit latency',
      'flushes/commit',
      'ratio',
    ];
    const widths = header.map((h, c) => Math.max(h.length, ...results.map((r) => r[c]!.length)));
    const line = (cells: string[]) => `| ${cells.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
    console.log(`\n${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}`);
    for (const row of results) console.log(line(row));
    console.log(
      '\nratio = PageStore commits/s / plain writes+fdatasync per second (best of 3 alternating rounds each);' +
        '\nflushes/commit averages the checkpoints (2 flushes each) over the commits measured',
    );
    console.log('\nfree-page search on a nearly full store ...');
    for (const [what, result] of await allocationBench(dir, ROUND_MS, ROUNDS))
      console.log(`${what}: ${result}`);
    console.log('\ngrowth and open cost ...');
    for (const [what, result] of await growthBench(dir, ROUNDS)) console.log(`${what}: ${result}`);
    console.log('\nfreeing 3,000 data pages in one commit (best of 3) ...');
    console.log('| case | commit latency | until given back | pages given back | MiB freed on disk |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const row of await freeBench(dir, ROUNDS)) console.log(`| ${row.join(' | ')} |`);
    console.log('\nimport-shaped transactions on a MemoryStorage (best of 3) ...');
    for (const [what, result] of await importBench(ROUNDS)) console.log(`${what}: ${result}`);
    console.log('\nlocality of metadata among data (4 KiB pages, spans of the medium) ...');
    for (const [what, result] of await localityBench()) console.log(`${what}: ${result}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log('@deja/page-store benchmark');
console.log(
  `machine: ${cpu} x ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`,
);
console.log(`node ${process.version}`);
await pageLayer();
