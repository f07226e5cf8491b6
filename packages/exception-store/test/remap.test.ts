// remapChunks: every exception's chunk rewritten through a map (a compaction moved the data), in
// a tree of several levels with shared and unshared exceptions; keys, sharing and everything the
// map leaves alone stay as they were, across a commit and a reopen.
import { describe, expect, it } from 'vitest';
import { ExceptionStore } from '../src/index';
import { FakePageStore } from './fake-page-store';

describe('remapChunks', () => {
  it('rewrites the chunks the map names and nothing else, durably', async () => {
    const pages = new FakePageStore({ pageSize: 512 });
    const store = await ExceptionStore.create(pages, { maskWidth: 32, fanout: 4 });
    await store.createSnapshot('a');
    for (let c = 0; c < 300; c++) await store.prepareOriginWrite(c); // shared by 'a' alone
    await store.createSnapshot('b');
    for (let c = 0; c < 300; c += 2) await store.prepareOriginWrite(c); // 'b' only (a has its own)
    for (let c = 1; c < 300; c += 7) await store.prepareSnapshotWrite('a', c);
    await store.commit();
    expect(store.treeLevel).toBeGreaterThan(1);
    const before = new Map<string, number | undefined>();
    for (const n of ['a', 'b'])
      for (let c = 0; c < 300; c++) before.set(`${n}/${c}`, await store.lookup(n, c));
    // Every leaf was just visited, so the no-wait lookup answers each one, the same way.
    for (const n of ['a', 'b'])
      for (let c = 0; c < 300; c++)
        expect(store.lookupCached(n, c), `${n}/${c}`).toBe(before.get(`${n}/${c}`));
    expect(store.lookupCached('nope', 0)).toBeNull();
    // Move every chunk whose number is odd far away; leave the even ones.
    const moved = (x: number) => (x % 2 === 1 ? x + 1_000_000 : undefined);
    const expected = [...before.values()].filter((x) => x !== undefined && x % 2 === 1);
    const changed = await store.remapChunks(moved);
    expect(changed).toBe(new Set(expected).size);
    expect(store.dirty).toBe(changed > 0);
    await store.commit();
    const again = await ExceptionStore.open(pages, {});
    for (const n of ['a', 'b'])
      for (let c = 0; c < 300; c++) {
        const was = before.get(`${n}/${c}`);
        const want = was === undefined ? undefined : (moved(was) ?? was);
        expect(await again.lookup(n, c), `${n}/${c}`).toBe(want);
      }
    // A map that names nothing changes nothing and leaves no transaction behind.
    expect(await again.remapChunks(() => undefined)).toBe(0);
    expect(again.dirty).toBe(false);
  });
});
