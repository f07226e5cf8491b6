// The kill-and-reopen crash test, shared by s3-crash.test.ts and the slow suite. A child process runs
// a store workload over S3Storage (data and index in the bucket) and is killed with SIGKILL at a
// random instant: during open and recovery, between writes, in the middle of a flush's PUTs. Then,
// from the bucket alone: a plain open is refused (the dead child's lease is still live: a second
// writer gets ERR_LOCKED, across processes), a forced open succeeds, the store is at the last
// commit the child completed or the one in flight (every version compared with a model), and
// check({ data: true }) finds nothing. The next round starts from there.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { LIVE, Store } from '../src/index';
import { CS, crashOps, openAdapters, prng } from './_s3-common';

type State = Map<string, Uint8Array>;

const child = fileURLToPath(new URL('./_s3-crash-child.ts', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));

function copy(state: State): State {
  return new Map([...state].map(([k, v]) => [k, v.slice()]));
}

/** Runs the child until it prints `done` or the kill timer fires; returns the commits it reported. */
function runChild(
  args: string[],
  killAfterMs: number,
): Promise<{ commits: number; killed: boolean; opened: boolean }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--conditions=@deja/source', '--import', 'tsx', child, ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (timer === undefined && out.includes('ready\n')) {
        timer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
      }
    });
    proc.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      const commits = [...out.matchAll(/^F (\d+)$/gm)].map((m) => Number(m[1])).pop() ?? 0;
      if (signal !== 'SIGKILL' && code !== 0) reject(new Error(`child exited ${code}: ${err.slice(-2000)}`));
      else resolve({ commits, killed: signal === 'SIGKILL', opened: out.includes('opened\n') });
    });
  });
}

async function matches(store: Store, state: State): Promise<string | undefined> {
  const names = store
    .listSnapshots()
    .map((s) => s.name)
    .sort();
  const want = [...state.keys()].filter((k) => k !== LIVE).sort();
  if (names.join() !== want.join()) return `snapshots [${names.join()}] instead of [${want.join()}]`;
  for (const [version, bytes] of state) {
    const got = await store.volume(version).read(0, bytes.length);
    for (let i = 0; i < bytes.length; i++) if (got[i] !== bytes[i]) return `${version}: byte ${i} differs`;
  }
  return undefined;
}

/**
 * Creates a store under `prefix` and runs `rounds` kill-and-reopen rounds.
 * @returns how many rounds were killed (the others ran to the end).
 */
export async function crashRounds(
  endpoint: string,
  prefix: string,
  seed: number,
  rounds: number,
): Promise<number> {
  const size = 48 * CS;
  const count = 60;
  const rand = prng(seed);
  await (
    await Store.create(await openAdapters(endpoint, prefix, { create: true }), {
      size,
      chunkSize: CS,
      cachePages: 8,
      maxSnapshots: 32,
      initialPages: 64,
      index: { records: 1024 },
    })
  ).close();
  let state: State = new Map([[LIVE, new Uint8Array(size)]]);
  let killed = 0;
  for (let round = 0; round < rounds; round++) {
    // The states the store may be in after this round: after the k-th commit point.
    const states: State[] = [copy(state)];
    const model = copy(state);
    for (const op of crashOps(seed, round, size, count)) {
      if (op.kind === 'write') model.get(LIVE)!.set(op.data, op.offset);
      else if (op.kind === 'discard') model.get(LIVE)!.fill(0, op.offset, op.offset + op.length);
      else {
        if (op.kind === 'snapshot') model.set(op.name, model.get(LIVE)!.slice());
        states.push(copy(model));
      }
    }
    states.push(copy(model)); // the child's close() commits what follows the last commit point
    const delay = Math.floor(rand() * 2500);
    const run = await runChild(
      [endpoint, prefix, String(seed), String(round), String(size), String(count)],
      delay,
    );
    const where = `seed ${seed} round ${round} (killed after ${delay} ms, ${run.commits} commits reported)`;
    let store: Store;
    if (run.killed) {
      killed++;
      const forced = { lock: { force: true, leaseMs: 5000 } };
      if (run.opened) {
        // The dead child's lease is still live: a second writer is refused, across processes.
        await expect(openAdapters(endpoint, prefix), where).rejects.toMatchObject({ code: 'ERR_LOCKED' });
        store = await Store.open(await openAdapters(endpoint, prefix, forced));
      } else {
        // Killed while opening: it may or may not have taken the locks yet.
        const adapters = await openAdapters(endpoint, prefix).catch((e: unknown) => {
          if ((e as { code?: string }).code !== 'ERR_LOCKED') throw e;
          return openAdapters(endpoint, prefix, forced);
        });
        store = await Store.open(adapters);
      }
    } else {
      store = await Store.open(await openAdapters(endpoint, prefix));
    }
    try {
      const candidates = run.killed
        ? [states[run.commits], states[run.commits + 1]]
        : [states[states.length - 1]];
      const reasons: string[] = [];
      let found: State | undefined;
      for (const candidate of candidates) {
        if (candidate === undefined) continue;
        const why = await matches(store, candidate);
        if (why === undefined) {
          found = candidate;
          break;
        }
        reasons.push(why);
      }
      if (found === undefined)
        throw new Error(`${where}: matches no completed commit: ${reasons.join(' / ')}`);
      const report = await store.check({ data: true });
      expect(report.problems, where).toEqual([]);
      state = found;
    } finally {
      await store.close();
    }
  }
  return killed;
}
