// crashSweep: a correct two-superblock commit protocol survives a crash at every operation in
// every mode; the same protocol without its flush barrier is caught (so the sweep can fail); a
// nondeterministic or failing workload is reported. (@deja/storage-file sweeps over real files.)
import { describe, expect, test } from 'vitest';
import { MemoryStorage, type Storage } from '../src/index';
import { crashSweep } from '../src/testing';

const PAGE = 1024;
const SUPER = 64; // superblock: [seq u32][page slot u32] ... [check u32 at byte 40]

function pageFor(version: number): Uint8Array {
  return new Uint8Array(PAGE).fill(version);
}

function check(seq: number, slot: number): number {
  return (Math.imul(seq, 2654435761) + slot + 1) >>> 0;
}

function superblock(seq: number, slot: number): Uint8Array {
  const sb = new Uint8Array(SUPER);
  const view = new DataView(sb.buffer);
  view.setUint32(0, seq, true);
  view.setUint32(4, slot, true);
  view.setUint32(40, check(seq, slot), true);
  return sb;
}

/**
 * A toy copy-on-write commit: version v's page goes to page slot (v % 2), then superblock slot
 * (v % 2) names it. `barrier` puts a flush between the page and the superblock (correct) or not
 * (broken: the superblock may reach the disk before its page).
 */
function commitWorkload(versions: number, barrier: boolean, acknowledged: { version: number }) {
  return async (store: Storage): Promise<void> => {
    acknowledged.version = 0;
    for (let v = 1; v <= versions; v++) {
      const slot = v % 2;
      await store.write(2 * SUPER + slot * PAGE, pageFor(v));
      if (barrier) await store.flush();
      await store.write(slot * SUPER, superblock(v, slot));
      await store.flush();
      acknowledged.version = v;
    }
  };
}

/** Opening: the newest superblock whose check holds; the page it names must hold its version. */
async function recoveredVersion(image: Storage): Promise<number> {
  const size = await image.size();
  let best = 0;
  let bestSlot = 0;
  for (const slot of [0, 1]) {
    if (size < (slot + 1) * SUPER) continue;
    const view = new DataView((await image.read(slot * SUPER, SUPER)).buffer);
    const seq = view.getUint32(0, true);
    const page = view.getUint32(4, true);
    if (seq > best && view.getUint32(40, true) === check(seq, page)) {
      best = seq;
      bestSlot = page;
    }
  }
  if (best === 0) return 0;
  const start = 2 * SUPER + bestSlot * PAGE;
  const content = size >= start + PAGE ? await image.read(start, PAGE) : new Uint8Array(PAGE);
  if (!content.every((b) => b === best))
    throw new Error(`superblock ${best} names a page that does not hold it`);
  return best;
}

const reopenMemory = (medium: Storage) => new MemoryStorage({ data: (medium as MemoryStorage).snapshot() });

describe('crashSweep', () => {
  test('a commit with a flush barrier survives every crash point and mode', async () => {
    const acknowledged = { version: 0 };
    const result = await crashSweep({
      create: () => new MemoryStorage(),
      workload: commitWorkload(3, true, acknowledged),
      reopen: reopenMemory,
      check: async (image, info) => {
        const version = await recoveredVersion(image);
        expect(version).toBeGreaterThanOrEqual(acknowledged.version);
        expect(info.flushes).toBeGreaterThanOrEqual(acknowledged.version * 2);
      },
      seed: 3,
    });
    expect(result.operations).toBe(12);
    expect(result.runs).toBe(13 * 4);
  });

  test('the same commit without the barrier is caught, and the failure names point, mode and seed', async () => {
    const acknowledged = { version: 0 };
    const sweep = crashSweep({
      create: () => new MemoryStorage(),
      workload: commitWorkload(3, false, acknowledged),
      reopen: reopenMemory,
      check: async (image) => {
        await recoveredVersion(image);
      },
      modes: ['random'],
      seed: 5,
    });
    await expect(sweep).rejects.toThrow(
      /crash at operation \d+ of 9, mode 'random', seed \d+: superblock \d names a page that does not hold it/,
    );
  });

  test('points and modes limit the runs; the check sees the crash point', async () => {
    const seen: string[] = [];
    const result = await crashSweep({
      create: () => new MemoryStorage(),
      workload: async (store) => {
        await store.write(0, new Uint8Array([1]));
        await store.flush();
      },
      reopen: reopenMemory,
      check: async (image, info) => {
        seen.push(`${info.crashAt}/${info.mode}/${info.operations}/${await image.size()}`);
      },
      points: [0, 2],
      modes: ['drop', 'keep'],
    });
    expect(result).toEqual({ operations: 2, runs: 4 });
    expect(seen).toEqual(['0/drop/2/0', '0/keep/2/1', '2/drop/2/1', '2/keep/2/1']);
  });

  test('a nondeterministic workload is reported', async () => {
    let calls = 0;
    const sweep = crashSweep({
      create: () => new MemoryStorage(),
      workload: async (store) => {
        const n = calls++ === 0 ? 4 : 1;
        for (let i = 0; i < n; i++) await store.write(i, new Uint8Array([i]));
      },
      reopen: reopenMemory,
      check: () => {},
    });
    await expect(sweep).rejects.toThrow(/without reaching the crash point/);
  });

  test('a workload failing in the clean run or before the crash is reported', async () => {
    const failing = crashSweep({
      create: () => new MemoryStorage(),
      workload: async () => {
        throw new Error('workload bug');
      },
      reopen: reopenMemory,
      check: () => {},
    });
    await expect(failing).rejects.toThrow(/failed in its crash-free run: workload bug/);
    let runs = 0;
    const flaky = crashSweep({
      create: () => new MemoryStorage(),
      workload: async (store) => {
        if (runs++ > 0) throw new Error('second run fails');
        await store.write(0, new Uint8Array([1]));
      },
      reopen: reopenMemory,
      check: () => {},
    });
    await expect(flaky).rejects.toThrow(/the workload failed before the crash/);
  });
});
