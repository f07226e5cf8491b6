// The model-based test, shared by the default and the slow suite: random sequences of writes and
// discards at random offsets and lengths (live volume and snapshots), flushes, snapshot
// create/delete/rollback, resizes, diffs, exports and imports, close and reopen, against a naive
// model (per version, an array of bytes). Every version is read back and compared after every
// step; check() runs along the way and at the end. Small chunks (512 B), a small metadata cache, a
// small snapshot limit and a small dedup index (256-record chapters that close and expire) reach
// eviction, splits, the limit and expiry.

import { PassThrough, Readable } from 'node:stream';
import { expect } from 'vitest';
import { exportVersion, importImage, isStoreError, LIVE, type Range } from '../src/index';
import { expectBytes, MemStore, mixedContent, content as plainContent, prng, resized } from './_helpers';

const CS = 512;

function chunkDiffers(a: Uint8Array, b: Uint8Array, chunk: number): boolean {
  const start = chunk * CS;
  const end = Math.max(a.length, b.length, start);
  for (let i = start; i < Math.min(end, start + CS); i++) if ((a[i] ?? -1) !== (b[i] ?? -1)) return true;
  return false;
}

function covered(ranges: Range[], offset: number): boolean {
  return ranges.some((r) => offset >= r.offset && offset < r.offset + r.length);
}

/** Options of a run: the store's compression (its content then includes compressible chunks). */
export interface RunOptions {
  readonly compression?: 'zstd' | 'deflate';
}

export async function run(seed: number, steps: number, options: RunOptions = {}): Promise<void> {
  const rand = prng(seed);
  const content = options.compression ? mixedContent : plainContent;
  const int = (n: number) => Math.floor(rand() * n);
  let size = (20 + int(30)) * CS + int(CS);
  const m = await MemStore.create({
    size,
    chunkSize: CS,
    cachePages: 8,
    maxSnapshots: 32,
    index: { records: 1024 },
    ...(options.compression ? { compression: options.compression } : {}),
  });
  const model = new Map<string, Uint8Array>([[LIVE, new Uint8Array(size)]]);
  let counter = 0;
  let baseline: Uint8Array | undefined;
  const log: string[] = [];
  /** The most packed pages seen (a compressed run must pack). */
  let packedSeen = 0;
  const snaps = () => [...model.keys()].filter((k) => k !== LIVE);
  const pick = () => {
    const s = snaps();
    return s.length === 0 ? undefined : s[int(s.length)];
  };
  try {
    for (let step = 0; step < steps; step++) {
      const s = m.store;
      const r = rand();
      if (r < 0.3 || (r < 0.42 && snaps().length === 0)) {
        const cur = model.get(LIVE) as Uint8Array;
        if (cur.length === 0) continue;
        const offset = int(cur.length);
        const length = Math.min(cur.length - offset, 1 + int(3 * CS));
        const data =
          rand() < 0.5
            ? content(rand, length)
            : (() => {
                // chunk-aligned content from the pool, so whole chunks repeat
                const d = new Uint8Array(length);
                for (let i = 0; i < length; i += CS)
                  d.set(content(rand, CS).subarray(0, Math.min(CS, length - i)), i);
                return d;
              })();
        log.push(`write live ${offset}+${length}`);
        await s.write(offset, data);
        cur.set(data, offset);
      } else if (r < 0.38) {
        const cur = model.get(LIVE) as Uint8Array;
        if (cur.length === 0) continue;
        const offset = int(cur.length);
        const length = Math.min(cur.length - offset, int(4 * CS));
        log.push(`discard live ${offset}+${length}`);
        await s.discard(offset, length);
        cur.fill(0, offset, offset + length);
      } else if (r < 0.48) {
        const name = pick();
        if (name === undefined) continue;
        const cur = model.get(name) as Uint8Array;
        if (cur.length === 0) continue;
        const offset = int(cur.length);
        const length = Math.min(cur.length - offset, 1 + int(2 * CS));
        const v = s.volume(name);
        if (rand() < 0.25) {
          log.push(`discard ${name} ${offset}+${length}`);
          await v.discard(offset, length);
          cur.fill(0, offset, offset + length);
        } else {
          const data = content(rand, length);
          log.push(`write ${name} ${offset}+${length}`);
          await v.write(offset, data);
          cur.set(data, offset);
        }
      } else if (r < 0.53) {
        log.push('flush');
        await s.flush();
      } else if (r < 0.6) {
        const name = `s${counter++}`;
        if (snaps().length >= 32) {
          const err = await s.createSnapshot(name).catch((e) => e);
          expect(isStoreError(err, 'ERR_TOO_MANY_SNAPSHOTS')).toBe(true);
          continue;
        }
        log.push(`snapshot ${name}`);
        await s.createSnapshot(name);
        baseline = (model.get(LIVE) as Uint8Array).slice();
        model.set(name, (model.get(LIVE) as Uint8Array).slice());
      } else if (r < 0.65) {
        const name = pick();
        if (name === undefined) continue;
        log.push(`delete ${name}`);
        await s.deleteSnapshot(name);
        model.delete(name);
      } else if (r < 0.68) {
        const name = pick();
        if (name === undefined) continue;
        log.push(`rollback ${name}`);
        await s.rollback(name);
        model.set(LIVE, (model.get(name) as Uint8Array).slice());
        size = (model.get(LIVE) as Uint8Array).length;
      } else if (r < 0.71) {
        size = Math.max(0, size + (int(16) - 6) * CS + int(CS) - CS / 2);
        log.push(`resize ${size}`);
        await s.resize(size);
        model.set(LIVE, resized(model.get(LIVE) as Uint8Array, size));
      } else if (r < 0.78) {
        const versions = [LIVE, ...snaps()];
        const a = versions[int(versions.length)] as string;
        const b = versions[int(versions.length)] as string;
        const ranges = await s.diff(a, b);
        const ma = model.get(a) as Uint8Array;
        const mb = model.get(b) as Uint8Array;
        const chunks = Math.ceil(Math.max(ma.length, mb.length) / CS);
        for (let c = 0; c < chunks; c++) {
          if (chunkDiffers(ma, mb, c))
            expect(covered(ranges, c * CS), `diff ${a} ${b} chunk ${c}`).toBe(true);
        }
        if (a === b) expect(ranges).toEqual([]);
      } else if (r < 0.79) {
        // Export a version as a stream and compare; or import a new image over the live volume.
        const versions = [LIVE, ...snaps()];
        if (rand() < 0.5) {
          const v = versions[int(versions.length)] as string;
          log.push(`export ${v}`);
          const sink = new PassThrough();
          const parts: Buffer[] = [];
          sink.on('data', (b: Buffer) => parts.push(b));
          await exportVersion(s, v, sink);
          expectBytes(new Uint8Array(Buffer.concat(parts)), model.get(v) as Uint8Array, `export ${v}`);
        } else {
          // The new image: the live volume with a few chunk-aligned changes, maybe resized.
          const old = model.get(LIVE) as Uint8Array;
          const img = resized(old, Math.max(0, old.length + (int(5) - 2) * CS));
          for (let k = 0; k < 3 && img.length > 0; k++) {
            const c = int(Math.ceil(img.length / CS));
            img.set(content(rand, Math.min(CS, img.length - c * CS)), c * CS);
          }
          log.push(`import ${img.length}`);
          await importImage(s, Readable.from([img]), { workers: int(2) });
          model.set(LIVE, img);
          size = img.length;
        }
      } else if (r < 0.81) {
        log.push('reopen');
        await m.reopen();
      } else if (r < 0.84) {
        if (options.compression && rand() < 0.5) {
          log.push('compact');
          await m.store.compact({ minDead: 0.01 });
        }
        log.push('check');
        const report = await m.store.check({ data: true });
        expect(report.problems).toEqual([]);
      } else {
        // changedSinceSnapshot covers every live chunk that differs from the live volume as it
        // was when the last snapshot was taken (deleting that snapshot does not reset it).
        if (baseline === undefined) continue;
        const ranges = await s.changedSinceSnapshot();
        const live = model.get(LIVE) as Uint8Array;
        const base = resized(baseline, live.length);
        for (let c = 0; c < Math.ceil(Math.min(live.length, baseline.length) / CS); c++) {
          if (chunkDiffers(live, base, c))
            expect(covered(ranges, c * CS), `dirty map misses chunk ${c}`).toBe(true);
        }
        expect(ranges.every((x) => x.offset + x.length <= live.length)).toBe(true);
      }
      if (options.compression) packedSeen = Math.max(packedSeen, (await m.store.stats()).packedPages);
      for (const [version, bytes] of model) {
        const v = m.store.volume(version);
        expect(v.size).toBe(bytes.length);
        expectBytes(await v.read(0, bytes.length), bytes, `seed ${seed} step ${step} ${version}`);
      }
    }
    const report = await m.store.check({ data: true });
    expect(report.problems).toEqual([]);
    if (options.compression) expect(packedSeen, 'packed pages').toBeGreaterThan(0);
    await m.reopen();
    for (const [version, bytes] of model)
      expectBytes(await m.store.volume(version).read(0, bytes.length), bytes, `final ${version}`);
    expect((await m.store.check()).problems).toEqual([]);
    await m.store.close();
  } catch (e) {
    throw new Error(`seed ${seed}: ${(e as Error).message}\nlast ops: ${log.slice(-12).join('; ')}`, {
      cause: e,
    });
  }
}
