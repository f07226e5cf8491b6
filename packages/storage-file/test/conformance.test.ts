// Runs @deja/storage's conformance suite against FileStorage in both I/O modes, and against
// FaultyStorage (no faults scheduled) over a file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Storage } from '@deja/storage';
import { storageConformance } from '@deja/storage/conformance';
import { FaultyStorage } from '@deja/storage/testing';
import { afterAll, test } from 'vitest';
import { FileStorage } from '../src/index';

const dir = mkdtempSync(join(tmpdir(), 'deja-storage-file-conformance-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

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
  prefix: 'FaultyStorage over a file',
  create: async () =>
    FaultyStorage.wrap(await FileStorage.open(join(dir, `faulty-${files++}`), { create: true })),
  reopen: async (closed) => FaultyStorage.wrap(await FileStorage.open((innerOf(closed) as FileStorage).path)),
  reopenReadOnly: async (closed) =>
    FaultyStorage.wrap(await FileStorage.open((innerOf(closed) as FileStorage).path, { readOnly: true })),
  seed: 15,
});
