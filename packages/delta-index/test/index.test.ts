// Unit tests on the themes of the reference's own tests: key-code sizes with memory prefilled with
// 0x00 and 0xFF, collision orders, a list overflowing 65535 bits and recovering, the saved search
// position across interleaved gets and removes, zone exhaustion, means whose BASE exceeds INCR,
// statistics, and the error codes of misuse.
import { getField, moveBits, setField } from '@deja/bitfield';
import { describe, expect, it } from 'vitest';
import { computeCodingConstants, DeltaIndex, DeltaIndexPage } from '../src/index';
import { checkInvariants, decodeIndexList, type Model } from './_model';
import { mulberry32 } from './_rng';

const code = (c: string) => expect.objectContaining({ code: c });

function name(byte: number): Uint8Array {
  return new Uint8Array(16).map((_, i) => (byte + 17 * i) & 0xff);
}

function keyBits(meanDelta: number, delta: number): number {
  const { minBits, minKeys, incrKeys } = computeCodingConstants(meanDelta);
  return delta < minKeys ? minBits : minBits + 1 + Math.floor((delta - minKeys) / incrKeys);
}

describe('key codes', () => {
  for (const fill of [0x00, 0xff]) {
    it(`have the expected size and decode back with memory prefilled with 0x${fill.toString(16)}`, () => {
      for (const mean of [3, 16, 256, 1024, 4080, 4096, 65536]) {
        const index = new DeltaIndex({ listCount: 2, meanDelta: mean, payloadBits: 5, memorySize: 1 << 16 });
        index._zones[0]!.memory.fill(fill);
        index.reset();
        const model: Model = [[], []];
        let key = 0;
        const deltas = [0, 1, 2, mean - 1, mean, mean + 1, 3 * mean, 10 * mean + 7, 1, 0x3f];
        for (let i = 0; i < deltas.length; i++) {
          key += deltas[i]!;
          if (i > 0 && deltas[i] === 0) continue;
          const entry = index.getEntry(1, key);
          entry.put(key, i);
          expect(entry.entryBits).toBe(5 + keyBits(mean, deltas[i]!));
          model[1]!.push({ key, value: i, name: null });
        }
        checkInvariants(index, model);
      }
    });
  }

  it('are correct for means whose BASE exceeds INCR (where the seed wraps)', () => {
    for (const mean of [1, 2, 4, 5, 10, 21, 22, 45, 91]) {
      const c = computeCodingConstants(mean);
      expect(c.minKeys).toBeGreaterThan(c.incrKeys);
      const index = new DeltaIndex({ listCount: 1, meanDelta: mean, payloadBits: 3, memorySize: 1 << 16 });
      const model: Model = [[]];
      const random = mulberry32(mean);
      for (let i = 0; i < 300; i++) {
        const key = random() % 2000;
        const entry = index.getEntry(0, key);
        if (!entry.atEnd && entry.key === key) continue;
        entry.put(key, i & 7);
        const at = model[0]!.findIndex((e) => e.key > key);
        model[0]!.splice(at < 0 ? model[0]!.length : at, 0, { key, value: i & 7, name: null });
      }
      checkInvariants(index, model);
    }
  });
});

describe('collisions', () => {
  it('keep collision entries after the plain entry, newest first, and find each by name', () => {
    const index = new DeltaIndex({ listCount: 1, meanDelta: 4096, payloadBits: 8, memorySize: 1 << 16 });
    index.getEntry(0, 100).put(100, 1);
    for (const n of [2, 3, 4]) {
      const entry = index.getEntry(0, 100, name(n));
      expect(entry.isCollision).toBe(false);
      entry.put(100, n, name(n));
      expect(entry.isCollision).toBe(true);
    }
    expect(decodeIndexList(index, 0).map((e) => e.value)).toEqual([1, 4, 3, 2]);
    for (const n of [2, 3, 4]) expect(index.get(0, 100, name(n))).toBe(n);
    expect(index.get(0, 100, name(9))).toBe(1);
    expect(index.get(0, 100)).toBe(1);
    expect(index.getStats()).toMatchObject({ recordCount: 4, collisionCount: 3 });
    const entry = index.getEntry(0, 100, name(3));
    expect(hex(entry.collisionName())).toBe(hex(name(3)));
    expect(() => entry.put(100, 5, name(5))).toThrow(code('ERR_EXISTS'));
  });

  it('promote the next collision entry when the plain entry is removed', () => {
    for (const order of [
      [0, 1, 2, 3],
      [3, 2, 1, 0],
      [1, 3, 0, 2],
      [2, 0, 3, 1],
    ]) {
      const index = new DeltaIndex({ listCount: 1, meanDelta: 256, payloadBits: 4, memorySize: 1 << 16 });
      index.getEntry(0, 7).put(7, 9);
      index.getEntry(0, 50).put(50, 1);
      const values = [1];
      for (const n of [2, 3, 4]) {
        index.getEntry(0, 50, name(n)).put(50, n, name(n));
        values.splice(1, 0, n);
      }
      index.getEntry(0, 60).put(60, 6);
      // Stream order now: 7, 50 (1), 50 (4), 50 (3), 50 (2), 60.
      const remaining = [
        { value: 1, name: null as number | null },
        { value: 4, name: 4 },
        { value: 3, name: 3 },
        { value: 2, name: 2 },
      ];
      for (const pick of order) {
        const target = [1, 4, 3, 2][pick]!;
        const at = remaining.findIndex((e) => e.value === target);
        if (at < 0) continue;
        const wanted = remaining[at]!;
        // A plain entry is found without a name; a collision entry by its name.
        const entry = index.getEntry(0, 50, wanted.name === null ? null : name(wanted.name));
        if (entry.value !== target) continue; // its name was dropped when it was promoted
        entry.remove();
        remaining.splice(at, 1);
        if (at === 0 && remaining.length > 0) remaining[0]!.name = null;
        const list = decodeIndexList(index, 0);
        expect(list.map((e) => e.value)).toEqual([9, ...remaining.map((e) => e.value), 6]);
        expect(list.filter((e) => e.name !== null).length).toBe(Math.max(remaining.length - 1, 0));
        expect(index.getStats().collisionCount).toBe(Math.max(remaining.length - 1, 0));
      }
    }
  });

  it('allows a collision on key 0 at the start of a list', () => {
    const index = new DeltaIndex({ listCount: 1, meanDelta: 16, payloadBits: 4, memorySize: 1 });
    index.getEntry(0, 0).put(0, 1);
    index.getEntry(0, 0, name(1)).put(0, 2, name(1));
    expect(decodeIndexList(index, 0)).toEqual([
      { key: 0, value: 1, name: null },
      { key: 0, value: 2, name: hex(name(1)) },
    ]);
  });
});

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

describe('list overflow', () => {
  it('fails a put past 65535 bits, changes nothing, and recovers after removes', () => {
    const index = new DeltaIndex({ listCount: 2, meanDelta: 256, payloadBits: 25, memorySize: 1 << 18 });
    const model: Model = [[], []];
    let key = 0;
    let failure: unknown;
    for (;;) {
      key += 100;
      const entry = index.getEntry(0, key);
      try {
        entry.put(key, key & 0xffff);
      } catch (error) {
        failure = error;
        expect(entry.listOverflow).toBe(true);
        expect(entry.atEnd).toBe(true);
        break;
      }
      model[0]!.push({ key, value: key & 0xffff, name: null });
    }
    expect(failure).toEqual(code('ERR_OVERFLOW'));
    expect(index.listBits(0)).toBeGreaterThan(0xffff - 40);
    expect(index.getStats().overflowCount).toBe(1);
    checkInvariants(index, model);
    // A collision entry is bigger still.
    expect(() => index.getEntry(0, 100, name(1)).put(100, 1, name(1))).toThrow(code('ERR_OVERFLOW'));
    expect(index.getStats().overflowCount).toBe(2);
    checkInvariants(index, model);
    for (const k of [200, 300, 400]) {
      index.getEntry(0, k).remove();
      model[0] = model[0]!.filter((e) => e.key !== k);
    }
    index.getEntry(0, key).put(key, 7);
    model[0]!.push({ key, value: 7, name: null });
    checkInvariants(index, model);
  });
});

describe('zone memory', () => {
  it('rebalances when a gap is full and reports ERR_OVERFLOW when the zone is, changing nothing', () => {
    const index = new DeltaIndex({
      listCount: 4,
      meanDelta: 64,
      payloadBits: 6,
      memorySize: 200,
      exactZoneMemory: true,
    });
    const model: Model = [[], [], [], []];
    const random = mulberry32(7);
    let failed = 0;
    for (let i = 0; i < 400; i++) {
      const list = random() % 4;
      const key = random() % 5000;
      const entry = index.getEntry(list, key);
      if (!entry.atEnd && entry.key === key) continue;
      try {
        entry.put(key, i & 63);
      } catch (error) {
        expect(error).toEqual(code('ERR_OVERFLOW'));
        expect(entry.listOverflow).toBe(false);
        failed++;
        checkInvariants(index, model);
        continue;
      }
      const at = model[list]!.findIndex((e) => e.key > key);
      model[list]!.splice(at < 0 ? model[list]!.length : at, 0, { key, value: i & 63, name: null });
    }
    expect(failed).toBeGreaterThan(0);
    expect(index.getStats().rebalanceCount).toBeGreaterThan(0);
    expect(index.getStats().overflowCount).toBe(0);
    checkInvariants(index, model);
  });
});

describe('saved search position', () => {
  it('speeds up a later search of a larger key and stays valid across removes and puts', () => {
    const index = new DeltaIndex({ listCount: 1, meanDelta: 100, payloadBits: 8, memorySize: 1 << 16 });
    const model: Model = [[]];
    for (let key = 10; key <= 500; key += 10) {
      index.getEntry(0, key).put(key, key / 10);
      model[0]!.push({ key, value: key / 10, name: null });
    }
    const zone = index._zones[0]!;
    const found = index.getEntry(0, 300);
    expect(zone.saveKey(1)).toBe(290);
    expect(zone.saveOffset(1)).toBe(found.offset);
    // A search for a larger key starts at the saved position.
    const later = index.startSearch(0, 400);
    expect(later.key).toBe(290);
    expect(later.offset).toBe(found.offset);
    checkInvariants(index, model);
    // A smaller key starts from the beginning.
    expect(index.startSearch(0, 100).offset).toBe(0);
    // Interleave: remove before the saved position resets it; remove at it keeps it valid.
    const random = mulberry32(3);
    for (let i = 0; i < 200; i++) {
      const key = 10 * (1 + (random() % 60));
      const op = random() % 3;
      const entry = index.getEntry(0, key);
      const hit = !entry.atEnd && entry.key === key;
      if (op === 0 && hit) {
        entry.remove();
        model[0] = model[0]!.filter((e) => e.key !== key);
      } else if (op === 1 && !hit) {
        entry.put(key, i & 255);
        const at = model[0]!.findIndex((e) => e.key > key);
        model[0]!.splice(at < 0 ? model[0]!.length : at, 0, { key, value: i & 255, name: null });
      } else {
        expect(index.get(0, key)).toBe(model[0]!.find((e) => e.key === key)?.value);
      }
      checkInvariants(index, model);
    }
  });
});

describe('statistics', () => {
  it('counts records, collisions, discards and memory as the seed does', () => {
    const index = new DeltaIndex({
      zoneCount: 2,
      listCount: 5,
      meanDelta: 256,
      payloadBits: 4,
      memorySize: 100_000,
    });
    expect(index.zoneMemorySize).toBe(65536);
    expect(index.memorySize).toBe(2 * (128 + 65536) + (3 + 2) * 24 + (2 + 2) * 24);
    index.getEntry(0, 5).put(5, 1);
    index.getEntry(4, 5).put(5, 1);
    index.getEntry(4, 5, name(1)).put(5, 2, name(1));
    expect(index.getStats()).toMatchObject({
      recordCount: 3,
      collisionCount: 1,
      discardCount: 0,
      listCount: 5,
    });
    index.getEntry(0, 5).remove();
    expect(index.getStats()).toMatchObject({ recordCount: 2, collisionCount: 1, discardCount: 1 });
    index.reset();
    expect(index.getStats()).toMatchObject({
      recordCount: 0,
      collisionCount: 0,
      discardCount: 3,
      usedBits: 0,
    });
  });
});

describe('misuse', () => {
  const index = new DeltaIndex({ listCount: 3, meanDelta: 256, payloadBits: 4, memorySize: 1 });
  index.getEntry(1, 10).put(10, 3);

  it('rejects bad options and arguments with RangeError/TypeError', () => {
    const base = { listCount: 3, meanDelta: 256, payloadBits: 4, memorySize: 1 };
    for (const bad of [
      { listCount: 0 },
      { meanDelta: 0 },
      { meanDelta: 48_408_811 },
      { payloadBits: 26 },
      { memorySize: 0 },
      { zoneCount: 17 },
      { zoneCount: 3, listCount: 4 },
      { tag: 'ab' },
      { memorySize: 7, exactZoneMemory: true },
    ]) {
      expect(() => new DeltaIndex({ ...base, ...bad }), JSON.stringify(bad)).toThrow(RangeError);
    }
    expect(() => index.startSearch(3, 0)).toThrow(code('ERR_INVALID_ARGUMENT'));
    expect(() => index.startSearch(0, -1)).toThrow(RangeError);
    expect(() => index.startSearch(0, 2 ** 32)).toThrow(RangeError);
    expect(() => index.getEntry(0, 1.5)).toThrow(RangeError);
    expect(() => index.getEntry(1, 20).put(20, 16)).toThrow(RangeError);
    expect(() => index.getEntry(1, 20).put(5, 1)).toThrow(RangeError);
    expect(() => index.getEntry(1, 5).put(10, 1)).toThrow(RangeError);
    expect(() => index.getEntry(1, 10).put(11, 1, name(1))).toThrow(RangeError);
    expect(() => index.getEntry(1, 10).put(10, 1, new Uint8Array(15))).toThrow(RangeError);
    expect(() => index.getEntry(1, 10).setValue(16)).toThrow(RangeError);
    expect(() => index.getEntry(1, 10).collisionName(new Uint8Array(4))).toThrow(code('ERR_INVALID_STATE'));
  });

  it("refuses a plain put of the previous entry's key, changing nothing (it would read as a collision)", () => {
    // The repro: a second plain entry with key 5 after the entry 5, at the end of the list.
    const small = new DeltaIndex({ listCount: 1, meanDelta: 4096, payloadBits: 8, memorySize: 65536 });
    small.getEntry(0, 5).put(5, 1);
    const listBits = small.listBits(0);
    const end = small.getEntry(0, 6);
    expect(end.atEnd).toBe(true);
    expect(() => end.put(5, 2)).toThrow(code('ERR_INVALID_ARGUMENT'));
    expect(() => end.put(5, 2)).toThrow(RangeError);
    expect(small.listBits(0)).toBe(listBits);
    checkInvariants(small, [[{ key: 5, value: 1, name: null }]]);
    // The same before a following entry: entries 5 and 9, cursor on 9, put(5) would split 9's delta
    // into 0 and 4.
    small.getEntry(0, 9).put(9, 3);
    const before = small.getEntry(0, 9);
    expect(before.key).toBe(9);
    expect(() => before.put(5, 2)).toThrow(code('ERR_INVALID_ARGUMENT'));
    const model: Model = [
      [
        { key: 5, value: 1, name: null },
        { key: 9, value: 3, name: null },
      ],
    ];
    checkInvariants(small, model);
    expect(decodeIndexList(small, 0)).toEqual(model[0]);
    // The cursor is unchanged and still usable: a key strictly between the neighbours goes in.
    before.put(6, 4);
    model[0]!.splice(1, 0, { key: 6, value: 4, name: null });
    checkInvariants(small, model);
    // Key 0 is allowed as the first entry of a list (its delta of 0 is a plain entry there) but not
    // after an entry with key 0.
    small.getEntry(0, 0).put(0, 7);
    model[0]!.unshift({ key: 0, value: 7, name: null });
    checkInvariants(small, model);
    const second = small.getEntry(0, 1);
    expect(second.key).toBe(5);
    expect(() => second.put(0, 1)).toThrow(code('ERR_INVALID_ARGUMENT'));
    const empty = new DeltaIndex({ listCount: 1, meanDelta: 4096, payloadBits: 8, memorySize: 65536 });
    empty.getEntry(0, 0).put(0, 1);
    expect(() => empty.getEntry(0, 1).put(0, 2)).toThrow(code('ERR_INVALID_ARGUMENT'));
    checkInvariants(empty, [[{ key: 0, value: 1, name: null }]]);
  });

  it('reports cursor misuse as ERR_INVALID_STATE', () => {
    const fresh = index.startSearch(1, 0);
    expect(() => fresh.value).toThrow(code('ERR_INVALID_STATE'));
    expect(() => fresh.put(1, 1)).toThrow(code('ERR_INVALID_STATE'));
    expect(() => fresh.remove()).toThrow(code('ERR_INVALID_STATE'));
    const end = index.getEntry(1, 99);
    expect(end.atEnd).toBe(true);
    expect(() => end.next()).toThrow(code('ERR_INVALID_STATE'));
    expect(() => end.value).toThrow(code('ERR_INVALID_STATE'));
    expect(() => end.setValue(1)).toThrow(code('ERR_INVALID_STATE'));
    expect(() => end.remove()).toThrow(code('ERR_INVALID_STATE'));
    expect(() => end.put(99, 1, name(1))).toThrow(code('ERR_INVALID_STATE'));
    const plain = index.getEntry(1, 10);
    expect(() => plain.collisionName()).toThrow(code('ERR_INVALID_STATE'));
    plain.put(10, 1, name(1));
    expect(() => plain.rememberOffset()).toThrow(code('ERR_INVALID_STATE'));
    expect(() => new (plain.constructor as new () => typeof plain)().next()).toThrow(
      code('ERR_INVALID_STATE'),
    );
  });

  it('refuses to change an immutable page', () => {
    const memory = new Uint8Array(256);
    expect(index.packPage(1n, memory, 2n, 0)).toBe(3);
    const page = DeltaIndexPage.open(memory, 1n, 256, 4);
    const entry = page.getEntry(1, 10);
    expect(entry.value).toBe(3);
    expect(() => entry.setValue(1)).toThrow(code('ERR_INVALID_STATE'));
    expect(() => entry.remove()).toThrow(code('ERR_INVALID_STATE'));
    expect(() => page.getEntry(1, 11).put(11, 1)).toThrow(code('ERR_INVALID_STATE'));
    expect(() => page.startSearch(3, 0)).toThrow(RangeError);
  });

  it('rejects pages that are too small or too large', () => {
    // 31 bytes leave 248 - 160 - 19 - 56 = 13 bits, less than one list offset.
    expect(() => index.packPage(0n, new Uint8Array(31), 0n, 0)).toThrow(code('ERR_OVERFLOW'));
    // 32 bytes leave 21 bits: the empty list 0 fits, list 1 does not.
    expect(index.packPage(0n, new Uint8Array(32), 0n, 0)).toBe(1);
    expect(index.packPage(0n, new Uint8Array(32), 0n, 1)).toBe(0);
    expect(() => index.packPage(0n, new Uint8Array(65537), 0n, 0)).toThrow(RangeError);
    expect(() => index.packPage(-1n, new Uint8Array(64), 0n, 0)).toThrow(RangeError);
    expect(() => index.packPage(0n, new Uint8Array(64), 2n ** 64n, 0)).toThrow(RangeError);
    expect(() => index.packPage(0n, new Uint8Array(64), 0n, 4)).toThrow(RangeError);
    expect(() => DeltaIndexPage.open(new Uint8Array(26), 0n, 256, 4)).toThrow(RangeError);
  });
});

describe('pages', () => {
  it('pack whole lists greedily across several pages of a multi-zone index and search them', () => {
    const index = new DeltaIndex({
      zoneCount: 3,
      listCount: 40,
      meanDelta: 1024,
      payloadBits: 7,
      memorySize: 1 << 18,
    });
    const random = mulberry32(11);
    const model: Model = Array.from({ length: 40 }, () => []);
    for (let i = 0; i < 2000; i++) {
      const list = random() % 40;
      const key = random() % (1 << 16);
      const entry = index.getEntry(list, key);
      if (!entry.atEnd && entry.key === key) continue;
      entry.put(key, i & 127);
      const at = model[list]!.findIndex((e) => e.key > key);
      model[list]!.splice(at < 0 ? model[list]!.length : at, 0, { key, value: i & 127, name: null });
    }
    checkInvariants(index, model);
    let first = 0;
    let pages = 0;
    while (first < 40) {
      const memory = new Uint8Array(1024);
      const count = index.packPage(99, memory, 5, first);
      expect(count).toBeGreaterThan(0);
      let bits = 160 + 19 * (count + 1) + 56;
      for (let i = 0; i < count; i++) bits += index.listBits(first + i);
      expect(bits).toBeLessThanOrEqual(1024 * 8);
      if (first + count < 40) expect(bits + 19 + index.listBits(first + count)).toBeGreaterThan(1024 * 8);
      const page = DeltaIndexPage.open(memory, 99, 1024, 7);
      expect(page.lowestListNumber).toBe(first);
      expect(page.highestListNumber).toBe(first + count - 1);
      for (let i = 0; i < count; i++) {
        for (const e of model[first + i]!) expect(page.get(i, e.key)).toBe(e.value);
        expect(page.get(i, 1 << 17)).toBeUndefined();
      }
      first += count;
      pages++;
    }
    expect(pages).toBeGreaterThan(3);
  });
});

describe('moveBits as the index uses it', () => {
  it('moves every length at every pair of bit offsets, overlapping or not', () => {
    const random = mulberry32(5);
    const source = new Uint8Array(40).map(() => random() & 0xff);
    for (let from = 0; from < 64; from++) {
      for (let to = 0; to < 64; to += 3) {
        for (const size of [0, 1, 7, 25, 31, 57, 58, 100, 200]) {
          const memory = source.slice();
          const expected = source.slice();
          const bits: number[] = [];
          for (let i = 0; i < size; i++) bits.push(getField(source, from + i, 1));
          bits.forEach((bit, i) => {
            setField(bit, expected, to + i, 1);
          });
          moveBits(memory, from, memory, to, size);
          expect(memory).toEqual(expected);
        }
      }
    }
  });
});

describe('list headers', () => {
  it('hold starts beyond 2^32 bits, sizes and saved positions independently', () => {
    const index = new DeltaIndex({ listCount: 3, meanDelta: 256, payloadBits: 4, memorySize: 1 });
    const zone = index._zones[0]!;
    for (const start of [0, 7, 2 ** 31 + 5, 2 ** 32 - 1, 2 ** 32, 2 ** 35 + 3, 2 ** 52 + 1]) {
      zone.setListStart(2, start);
      zone.setListSize(2, 65535);
      zone.setSave(2, 0xffff_ffff, 65535);
      expect(zone.listStart(2)).toBe(start);
      expect(zone.listSize(2)).toBe(65535);
      expect(zone.saveOffset(2)).toBe(65535);
      expect(zone.saveKey(2)).toBe(0xffff_ffff);
      zone.setListSize(2, 1);
      zone.setSave(2, 3, 2);
      expect([zone.listStart(2), zone.listSize(2), zone.saveOffset(2), zone.saveKey(2)]).toEqual([
        start,
        1,
        2,
        3,
      ]);
    }
  });
});

describe('pages inside larger buffers', () => {
  it('open and search a page at an odd byte offset of a shared buffer', () => {
    const index = new DeltaIndex({ listCount: 4, meanDelta: 1000, payloadBits: 9, memorySize: 1 });
    const random = mulberry32(9);
    const expected = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const list = random() % 4;
      const key = random() % 50_000;
      const entry = index.getEntry(list, key);
      if (!entry.atEnd && entry.key === key) continue;
      entry.put(key, i);
      expected.set(`${list}:${key}`, i);
    }
    const buffer = new Uint8Array(3 + 1024 + 5);
    const memory = buffer.subarray(3, 3 + 1024);
    expect(index.packPage(5n, memory, 6n, 0)).toBe(4);
    expect([...buffer.subarray(0, 3), ...buffer.subarray(1027)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    const page = DeltaIndexPage.open(memory, 5n, 1000, 9);
    for (const [where, value] of expected) {
      const [list, key] = where.split(':').map(Number) as [number, number];
      expect(page.get(list, key)).toBe(value);
    }
  });
});

describe('zones', () => {
  it('do not change the packed pages: one zone and three zones pack the same bytes', () => {
    const one = new DeltaIndex({ listCount: 12, meanDelta: 2048, payloadBits: 5, memorySize: 1 << 16 });
    const three = new DeltaIndex({
      zoneCount: 3,
      listCount: 12,
      meanDelta: 2048,
      payloadBits: 5,
      memorySize: 3 << 16,
    });
    const random = mulberry32(21);
    for (let i = 0; i < 1500; i++) {
      const list = random() % 12;
      const key = random() % 40_000;
      for (const index of [one, three]) {
        const entry = index.getEntry(list, key);
        if (entry.atEnd || entry.key !== key) entry.put(key, i & 31);
      }
    }
    expect(three.getZoneForList(11)).toBe(2);
    for (let first = 0; first < 12; ) {
      const a = new Uint8Array(2048);
      const b = new Uint8Array(2048);
      const count = one.packPage(1n, a, 2n, first);
      expect(three.packPage(1n, b, 2n, first)).toBe(count);
      expect(b).toEqual(a);
      expect(count).toBeGreaterThan(0);
      first += count;
    }
  });
});

describe('zone statistics', () => {
  it('split the index statistics by zone', () => {
    const index = new DeltaIndex({
      zoneCount: 3,
      listCount: 7,
      meanDelta: 256,
      payloadBits: 4,
      memorySize: 3 << 16,
    });
    index.getEntry(0, 5).put(5, 1);
    index.getEntry(6, 5).put(5, 1);
    index.getEntry(6, 5, name(2)).put(5, 2, name(2));
    const zones = [0, 1, 2].map((z) => index.getZoneStats(z));
    expect(zones.map((z) => [z.listCount, z.recordCount, z.collisionCount])).toEqual([
      [3, 1, 0],
      [3, 0, 0],
      [1, 2, 1],
    ]);
    expect(zones[2]!.usedBits).toBe(index.listBits(6));
    const total = index.getStats();
    expect(zones.reduce((n, z) => n + z.memoryAllocated, 0)).toBe(total.memoryAllocated);
    expect(zones.reduce((n, z) => n + z.usedBits, 0)).toBe(total.usedBits);
    expect(() => index.getZoneStats(3)).toThrow(RangeError);
  });
});

describe('prefetch', () => {
  it('reads every zone and changes nothing (contents, statistics, saved positions)', () => {
    const index = new DeltaIndex({
      zoneCount: 3,
      listCount: 30,
      meanDelta: 256,
      payloadBits: 6,
      memorySize: 3 << 16,
    });
    const random = mulberry32(3);
    for (let i = 0; i < 500; i++) {
      const list = random() % 30;
      const key = random() % 8192;
      const entry = index.getEntry(list, key);
      if (entry.atEnd || entry.key !== key) entry.put(key, i & 63);
    }
    const before = index.save();
    const stats = index.getStats();
    const lists = Uint32Array.from({ length: 30 }, (_, i) => 29 - i);
    expect(Number.isInteger(index.prefetch(lists, 30))).toBe(true);
    expect(index.prefetch(lists, 0)).toBe(0);
    expect(index.save()).toEqual(before);
    expect(index.getStats()).toEqual(stats);
  });
});
