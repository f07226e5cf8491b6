import { describe, expect, it } from 'vitest';
import { Harness } from './_harness';

describe('smoke', () => {
  it('origin write, snapshot read, delete', async () => {
    const h = new Harness({ pageSize: 512 }, { maskWidth: 32, fanout: 4 });
    await h.init();
    await h.step({ op: 'writeOrigin', chunk: 1 });
    await h.step({ op: 'create', name: 0 });
    await h.checkInvariants();
    for (let c = 0; c < 200; c++) {
      await h.step({ op: 'writeOrigin', chunk: c });
      await h.checkInvariants();
    }
    await h.step({ op: 'create', name: 1 });
    for (let c = 0; c < 200; c += 3) {
      await h.step({ op: 'writeOrigin', chunk: c });
      await h.step({ op: 'writeSnap', name: 0, chunk: c + 1 });
      await h.checkInvariants();
    }
    await h.checkAllReads(Array.from({ length: 210 }, (_, i) => i));
    expect(h.store.treeLevel).toBeGreaterThan(1);
    await h.step({ op: 'commit' });
    await h.step({ op: 'delete', name: 0 });
    await h.checkInvariants();
    await h.checkAllReads(Array.from({ length: 210 }, (_, i) => i));
    await h.step({ op: 'delete', name: 0 });
    await h.checkInvariants();
    await h.step({ op: 'reopen' });
    await h.checkInvariants();
    const r = await h.store.check();
    expect(r.exceptions).toBe(0);
    expect(h.store.treeLevel).toBe(1);
  });
});
