// Runs the exported conformance suite against the adapters of the package: MemoryStorage and
// FaultyStorage (no faults scheduled) over memory. @deja/storage-file runs it over files.
import { test } from 'vitest';
import { storageConformance } from '../src/conformance';
import { MemoryStorage, type Storage } from '../src/index';
import { FaultyStorage } from '../src/testing';

storageConformance(test, {
  prefix: 'MemoryStorage',
  create: async () => new MemoryStorage(),
  reopen: async (closed) => new MemoryStorage({ data: (closed as MemoryStorage).snapshot() }),
  reopenReadOnly: async (closed) =>
    new MemoryStorage({ data: (closed as MemoryStorage).snapshot(), readOnly: true }),
  seed: 11,
});

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
