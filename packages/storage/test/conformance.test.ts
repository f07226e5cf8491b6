// Runs the exported conformance suite against all three adapters of the package: MemoryStorage,
// FileStorage in both I/O modes, and FaultyStorage (no faults scheduled) over memory and over a file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, test } from 'vitest';
import { storageConformance } from '../src/conformance';
import { FaultyStorage, FileStorage, MemoryStorage, type Storage } from '../src/index';

const dir = mkdtempSync(join(tmpdir(), 'deja-storage-conformance-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

storageConformance(test, {
  prefix: 'MemoryStorage',
  create: async () => new MemoryStorage(),
  reopen: async (closed) => new MemoryStorage({ data: (closed as MemoryStorage).snapshot() }),
  reopenReadOnly: async (closed) =>
    new MemoryStorage({ data: (closed as MemoryStorage).snapshot(), readOnly: true }),
  seed: 11,
});

for (const io of ['sync', 'async'] as const) {
  storageConformance(test, {
    prefix: `FileStorage (io: ${io})`,
    create: () => FileStorage.open(join(dir, `file-${io}-${files++}`), { create: true, io }),
    reopen: (closed) => FileStorage.open((closed as FileStorage).path, { io }),
    reopenReadOnly: (closed) => FileStorage.open((closed as FileStorage).path, { io, readOnly: true }),
    seed: io === 'sync' ? 12 : 13,
  });
}

const innerOf = (closed: Storage): Storage => (closed as FaultyStorage).inner;

storageConformance(test, {
  prefix: 'FaultyStorage over memory',
  create: () => FaultyStorage.wrap(new MemoryStorage(), { seed: 5 }),
  reopen: (closed) =>
    FaultyStorage.wrap(new MemoryStorage({ data: (innerOf(closed) as MemoryStorage).snapshot() }), {
      seed: 5,
    }),
  seed: 14,
});

storageConformance(test, {
  prefix: 'FaultyStorage over a file',
  create: async () =>
    FaultyStorage.wrap(await FileStorage.open(join(dir, `faulty-${files++}`), { create: true })),
  reopen: async (closed) => FaultyStorage.wrap(await FileStorage.open((innerOf(closed) as FileStorage).path)),
  reopenReadOnly: async (closed) =>
    FaultyStorage.wrap(await FileStorage.open((innerOf(closed) as FileStorage).path, { readOnly: true })),
  seed: 15,
});
