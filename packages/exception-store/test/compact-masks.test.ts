// The compact share-mask format (leaf version 2, header version 3): the encoding of one exception
// (id list or bitmap, whichever is shorter), the worst-case bound the width limit rests on, the
// limit per page size, the worst case itself (a chunk with one copy per snapshot, for every
// snapshot id) built by origin writes and by snapshot writes, wide shared masks shrinking across
// the list/bitmap threshold, byte flips in leaves with both forms, and the refusal of format 2.

import { crc32 } from 'node:zlib';
import { PageStore } from '@deja/page-store';
import { MemoryStorage } from '@deja/storage';
import { randomBelow, xorshift32 } from '@deja/test-helpers';
import { describe, expect, it } from 'vitest';
import {
  EXC_HEAD,
  idBytesFor,
  LEAF_HEADER,
  MAP_ENTRY,
  MAX_MASK_WIDTH,
  makeGeometry,
  maskEncodedBytes,
  worstListBytes,
} from '../src/_internal-layout';
import { exceptionChunk, excHas, excSize, readMask, writeException } from '../src/_internal-leaf';
import { ExceptionStore, isExceptionStoreError, maxMaskWidth } from '../src/index';
import { Harness, type Op } from './_harness';
import { FakePageStore } from './fake-page-store';

/** Integers in [0, n) from xorshift32 by remainder (the sequence earlier runs recorded seeds with). */
function xorshift(seed: number): (n: number) => number {
  const next = xorshift32(seed);
  return (n) => randomBelow(next, n);
}

/** A mask of `width` bits with `n` distinct random bits set. */
function randomMask(width: number, n: number, rnd: (n: number) => number): Uint32Array {
  const m = new Uint32Array(width / 32);
  let set = 0;
  while (set < n) {
    const b = rnd(width);
    const w = m[b >>> 5] as number;
    if ((w & (1 << (b & 31))) === 0) {
      m[b >>> 5] = (w | (1 << (b & 31))) >>> 0;
      set++;
    }
  }
  return m;
}

describe('exception encoding', () => {
  it('round-trips masks of every size in the shorter form', () => {
    const rnd = xorshift(0x5eed);
    for (const width of [32, 64, 96, 256, 288, 352, 4096, MAX_MASK_WIDTH]) {
      const g = makeGeometry(64, width, 3);
      const buf = new Uint8Array(EXC_HEAD + width / 8 + 8);
      const dv = new DataView(buf.buffer);
      const sizes = [1, 2, 3, 4, 5, 31, 32, 33, 127, 128, 254, 255, 256, 257, width - 1, width];
      for (const n of sizes.filter((k) => k >= 1 && k <= width)) {
        const mask = randomMask(width, n, rnd);
        buf.fill(0xee);
        const chunk = 2 ** 52 + n;
        const size = writeException(dv, g, 3, mask, chunk);
        expect(size).toBe(EXC_HEAD + maskEncodedBytes(width, n));
        expect(excSize(dv, g, 3)).toBe(size);
        expect(exceptionChunk(dv, 3)).toBe(chunk);
        const back = new Uint32Array(width / 32);
        readMask(dv, g, 3, back);
        expect(back).toEqual(mask);
        for (let id = 0; id < width; id++) {
          const want = (((mask[id >>> 5] as number) >>> (id & 31)) & 1) === 1;
          if (excHas(dv, g, 3, id) !== want) throw new Error(`width ${width}, n ${n}: bit ${id}`);
        }
        expect(buf[3 + size]).toBe(0xee); // nothing written past the exception
      }
    }
  });

  it('picks the list while it is shorter than the bitmap and fits the tag byte', () => {
    // 1-byte ids up to 256 bits, 2-byte ids above
    expect(idBytesFor(256)).toBe(1);
    expect(idBytesFor(288)).toBe(2);
    expect(maskEncodedBytes(32, 1)).toBe(1);
    expect(maskEncodedBytes(32, 3)).toBe(3);
    expect(maskEncodedBytes(32, 4)).toBe(4); // tie: the bitmap
    expect(maskEncodedBytes(256, 31)).toBe(31);
    expect(maskEncodedBytes(256, 32)).toBe(32);
    expect(maskEncodedBytes(256, 200)).toBe(32);
    expect(maskEncodedBytes(288, 17)).toBe(34);
    expect(maskEncodedBytes(288, 18)).toBe(36); // bitmap, 36 bytes
    expect(maskEncodedBytes(4096, 255)).toBe(510);
    expect(maskEncodedBytes(4096, 256)).toBe(512);
    expect(maskEncodedBytes(MAX_MASK_WIDTH, 255)).toBe(510);
    expect(maskEncodedBytes(MAX_MASK_WIDTH, 256)).toBe(MAX_MASK_WIDTH / 8); // the tag counts 255 ids at most
  });

  it('a chunk list is never longer than the worst case: one single-snapshot copy per snapshot', () => {
    // The masks of one chunk are disjoint, so their sizes n_i sum to at most the width; the bound
    // holds if every exception costs at most n_i x (EXC_HEAD + idBytes).
    for (let width = 32; width <= MAX_MASK_WIDTH; width += 32) {
      const per = EXC_HEAD + idBytesFor(width);
      for (let n = 1; n <= width; n++) {
        if (EXC_HEAD + maskEncodedBytes(width, n) > n * per) throw new Error(`width ${width}, n ${n}`);
      }
      expect(worstListBytes(width)).toBe(width * per);
    }
  });
});

describe('width limit per page size', () => {
  const LIMITS: [number, number][] = [
    [512, 32],
    [1024, 96],
    [2048, 192],
    [4096, 352],
    [8192, 736],
    [16384, 1472],
    [32768, 2944],
    [65536, 5952],
  ];

  it('PageStore leaves 32 bytes of each page to its header', async () => {
    const pages = await PageStore.create(new MemoryStorage(), { pageSize: 4096, pageCount: 64 });
    expect(pages.metaPayloadSize).toBe(4096 - 32);
    await pages.close();
  });

  for (const [pageSize, limit] of LIMITS) {
    it(`${pageSize}-byte pages: ${limit} snapshots`, async () => {
      const payload = pageSize - 32;
      expect(maxMaskWidth(payload)).toBe(limit);
      // the limit is exact: the worst case fits, 32 more do not
      expect(LEAF_HEADER + 2 * MAP_ENTRY + worstListBytes(limit)).toBeLessThanOrEqual(payload);
      expect(LEAF_HEADER + 2 * MAP_ENTRY + worstListBytes(limit + 32)).toBeGreaterThan(payload);
      const pages = new FakePageStore({ pageSize, pageCount: 16 });
      await expect(ExceptionStore.create(pages, { maskWidth: limit + 32 })).rejects.toThrow(RangeError);
      const store = await ExceptionStore.create(pages, { maskWidth: limit });
      expect(store.maxSnapshots).toBe(limit);
    });
  }

  it('maxMaskWidth rejects a bad payload size and is 0 when nothing fits', () => {
    expect(() => maxMaskWidth(-1)).toThrow(RangeError);
    expect(() => maxMaskWidth(1.5)).toThrow(RangeError);
    expect(maxMaskWidth(100)).toBe(0);
  });
});

interface Shape {
  pageSize: number;
  maskWidth: number;
  real?: boolean;
  fanout?: number;
}

const SHAPES: Shape[] = [
  { pageSize: 512, maskWidth: 32, fanout: 3 },
  { pageSize: 1024, maskWidth: 96, fanout: 3 },
  { pageSize: 2048, maskWidth: 192, fanout: 3 },
  { pageSize: 4096, maskWidth: 256, real: true },
  { pageSize: 4096, maskWidth: 352, fanout: 3 },
];

async function harness(s: Shape): Promise<Harness> {
  const h = new Harness(
    { pageSize: s.pageSize, pageCount: 4096, real: s.real ?? false },
    { maskWidth: s.maskWidth, fanout: s.fanout, deleteBatchLeaves: 2 },
  );
  await h.init();
  return h;
}

describe('the worst case: a chunk with one copy per snapshot, for every snapshot id', () => {
  for (const s of SHAPES) {
    it(`by origin writes: ${s.pageSize}-byte pages, ${s.maskWidth} snapshots`, async () => {
      const h = await harness(s);
      const W = s.maskWidth;
      const hot = [5, 6, 7];
      const touched = [3, 4, 5, 6, 7, 8, 9];
      // snapshot k is created, then the hot chunks change: each gets an exception for k alone
      for (let k = 0; k < W; k++) {
        await h.step({ op: 'create', name: k });
        for (const c of hot) await h.step({ op: 'writeOrigin', chunk: c });
        if (k % 32 === 31) await h.checkInvariants();
      }
      await h.step({ op: 'writeOrigin', chunk: 4 }); // one exception with a full mask
      let report = await h.store.check();
      expect(report.exceptions).toBe(hot.length * W + 1);
      // two worst-case lists do not fit one leaf: every hot chunk has a leaf of its own
      expect(report.leaves).toBeGreaterThanOrEqual(hot.length);
      await expect(h.store.createSnapshot('one too many')).rejects.toMatchObject({
        code: 'ERR_TOO_MANY_SNAPSHOTS',
      });
      // snapshot writes on full lists: in place (own chunk of this transaction) or a new copy
      for (let k = 0; k < W; k += 7) await h.step({ op: 'writeSnap', name: k, chunk: 5 + (k % 3) });
      await h.step({ op: 'writeSnap', name: 3, chunk: 4 });
      await h.checkInvariants();
      await h.step({ op: 'reopen' });
      await h.checkInvariants();
      await h.checkAllReads(touched);
      await h.step({ op: 'diff', a: 1, b: 2 });
      await h.step({ op: 'exclusive', name: 9 });
      // delete every other snapshot, then the rest: lists shrink, leaves merge, all is released
      for (let k = 0; k < W / 2; k++) await h.step({ op: 'delete', name: k });
      await h.checkInvariants();
      await h.checkAllReads(touched);
      while (h.model.snaps.size > 0) await h.step({ op: 'delete', name: 0 });
      await h.checkInvariants();
      report = await h.store.check();
      expect(report.exceptions).toBe(0);
      expect(report.leaves).toBe(1);
    });
  }

  for (const s of SHAPES.filter((x) => x.maskWidth >= 96)) {
    it(`by snapshot writes from one shared copy: ${s.pageSize}-byte pages, ${s.maskWidth} snapshots`, async () => {
      const h = await harness(s);
      const W = s.maskWidth;
      const rnd = xorshift(W);
      for (let k = 0; k < W; k++) await h.step({ op: 'create', name: k });
      // one exception per chunk shared by all W snapshots (a bitmap)
      await h.step({ op: 'writeOriginRange', chunk: 0, n: 40 });
      await h.checkInvariants();
      // every snapshot moves its bit out of chunk 3's shared copy, in random order: the shared
      // mask shrinks across the list/bitmap threshold, and the last bit's copy is rewritten in place
      const order = Array.from({ length: W }, (_, i) => i);
      for (let i = W - 1; i > 0; i--) {
        const j = rnd(i + 1);
        [order[i], order[j]] = [order[j] as number, order[i] as number];
      }
      for (const [i, k] of order.entries()) {
        // writeSnap picks the snapshot by its position among the active names (creation order)
        await h.step({ op: 'writeSnap', name: k, chunk: 3 });
        if (i % 3 === 0) await h.step({ op: 'writeSnap', name: rnd(W), chunk: rnd(40) });
        if (i % 40 === 0) await h.checkInvariants();
      }
      await h.step({ op: 'commit' });
      const report = await h.store.check();
      expect(report.exceptions).toBeGreaterThanOrEqual(W + 39);
      await h.checkAllReads([2, 3, 4, 17]);
      // deletions shrink the wide masks of the other chunks into lists
      for (let d = 0; d < W - 3; d++) {
        await h.step({ op: 'delete', name: rnd(h.model.snaps.size) });
        if (d % 40 === 0) await h.checkInvariants();
      }
      await h.checkInvariants();
      await h.checkAllReads(Array.from({ length: 40 }, (_, c) => c));
      await h.step({ op: 'reopen' });
      await h.checkInvariants();
      await h.checkAllReads(Array.from({ length: 40 }, (_, c) => c));
    });
  }

  it('a workload of random operations on wide masks keeps agreeing with the model', async () => {
    const h = await harness({ pageSize: 2048, maskWidth: 192, fanout: 3 });
    const rnd = xorshift(77);
    const ops: Op[] = [];
    for (let k = 0; k < 150; k++) ops.push({ op: 'create', name: k });
    for (let i = 0; i < 900; i++) {
      const r = rnd(100);
      if (r < 8) ops.push({ op: 'create', name: rnd(250) });
      else if (r < 14) ops.push({ op: 'delete', name: rnd(250) });
      else if (r < 45) ops.push({ op: 'writeOrigin', chunk: rnd(30) });
      else if (r < 85) ops.push({ op: 'writeSnap', name: rnd(250), chunk: rnd(30) });
      else if (r < 97) ops.push({ op: 'read', name: rnd(250), chunk: rnd(30) });
      else ops.push({ op: 'commit' });
    }
    for (const [i, o] of ops.entries()) {
      await h.step(o);
      if (i % 25 === 0) await h.checkInvariants();
    }
    await h.checkInvariants();
    await h.checkAllReads(Array.from({ length: 30 }, (_, c) => c));
  });
});

describe('damage and old formats', () => {
  for (const W of [256, 352]) {
    it(`every byte of a leaf with lists and bitmaps (${W}-bit masks), flipped, is caught or harmless`, async () => {
      const pages = new FakePageStore({ pageSize: 4096, pageCount: 512 });
      const store = await ExceptionStore.create(pages, { maskWidth: W });
      // 40 snapshots share chunks 0..9 (bitmaps with 1-byte ids, a list of 40 with 2-byte ids),
      // then 6 more get single-id and short-list exceptions
      for (let k = 0; k < 40; k++) await store.createSnapshot(`s${k}`);
      for (let c = 0; c < 10; c++) await store.prepareOriginWrite(c);
      for (let k = 40; k < 46; k++) {
        await store.createSnapshot(`s${k}`);
        await store.prepareOriginWrite(k % 10);
      }
      for (let k = 0; k < 10; k++) await store.prepareSnapshotWrite(`s${k * 3}`, k);
      await store.commit();
      const report = await store.check();
      expect(report.leaves).toBe(1);
      const leaf = report.metaPages[report.metaPages.length - 1] as number;
      const expected: (number | undefined)[] = [];
      for (let c = 0; c < 12; c++) expected.push(await store.lookup('s3', c));
      let caught = 0;
      let harmless = 0;
      for (let i = 0; i < 4064; i += 5) {
        const p = pages.reopen();
        p.corruptMeta(leaf, (b) => {
          b[i] = (b[i] as number) ^ 0x24;
        });
        try {
          const s = await ExceptionStore.open(p);
          await s.check();
          for (let c = 0; c < 12; c++) await s.lookup('s3', c);
          await s.diff('s1', null);
          harmless++;
        } catch (e) {
          if (!isExceptionStoreError(e, 'ERR_CORRUPT_DATA')) throw e;
          caught++;
        }
      }
      expect(caught).toBeGreaterThan(20);
      expect(harmless).toBeGreaterThan(0); // the free space between the map and the lists
    });
  }

  async function withVersion(version: number, fixCrc: boolean): Promise<unknown> {
    const pages = new FakePageStore({ pageSize: 4096, pageCount: 64 });
    const store = await ExceptionStore.create(pages, { maskWidth: 64 });
    await store.createSnapshot('a');
    await store.commit();
    const reopened = pages.reopen();
    reopened.corruptMeta(pages.getRoot('exception-store') as number, (b) => {
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      dv.setUint32(4, version, true);
      const crcAt = 48 + 64 / 4;
      if (fixCrc) dv.setUint32(crcAt, crc32(b.subarray(0, crcAt)), true);
    });
    try {
      await ExceptionStore.open(reopened);
    } catch (e) {
      return e;
    }
    return undefined;
  }

  it('a format-2 store (full-width masks in leaves) is refused with ERR_UNSUPPORTED_VERSION', async () => {
    expect(isExceptionStoreError(await withVersion(2, true), 'ERR_UNSUPPORTED_VERSION')).toBe(true);
    // a damaged header claiming version 2 is corrupt, not old
    expect(isExceptionStoreError(await withVersion(2, false), 'ERR_CORRUPT_DATA')).toBe(true);
    expect(isExceptionStoreError(await withVersion(7, true), 'ERR_CORRUPT_DATA')).toBe(true);
    expect(await withVersion(3, true)).toBeUndefined();
  });
});
