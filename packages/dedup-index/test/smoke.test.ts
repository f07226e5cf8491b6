import { MemoryStorage } from '@deja/storage';
import { describe, expect, it } from 'vitest';
import { DedupIndex } from '../src/index';
import { hex, makeNames, meta, SMALL } from './_helpers';

describe('smoke', () => {
  it('posts, finds, rolls chapters, saves and loads', async () => {
    const storage = new MemoryStorage();
    const index = await DedupIndex.create(storage, { geometry: SMALL, nonce: 7 });
    const names = makeNames(600, 1);
    for (let i = 0; i < names.length; i++) expect(await index.post(names[i]!, meta(i))).toBeUndefined();
    // The last 7 chapters' worth (< 8 * 128) are all still there.
    for (let i = 0; i < names.length; i++) expect(hex(await index.query(names[i]!))).toBe(hex(meta(i)));
    expect(index.getStats().chaptersWritten).toBe(4);
    await index.close();
    const again = await DedupIndex.open(storage);
    for (let i = 0; i < names.length; i++) expect(hex(await again.query(names[i]!))).toBe(hex(meta(i)));
    expect(again.getStats().rebuilt).toBe(false);
    const crashed = await DedupIndex.open(storage);
    expect(crashed.getStats().rebuilt).toBe(true);
    let found = 0;
    for (let i = 0; i < names.length; i++) {
      const got = await crashed.query(names[i]!);
      if (got !== undefined) {
        found++;
        expect(hex(got)).toBe(hex(meta(i)));
      }
    }
    expect(found).toBe(512);
  });
});
