// Save and restore: the DI-00003 layout (the seed's DI-00002 plus the coding parameters), reading
// the seed's DI-00002, multi-zone round trips into other zone counts and memory sizes, a restore into
// an index with other coding parameters, and every validation the seed performs plus this port's.
import { describe, expect, it } from 'vitest';
import {
  computeDeltaIndexSaveBytes,
  DELTA_INDEX_MAGIC,
  DELTA_INDEX_SEED_MAGIC,
  DeltaIndex,
  writeGuardDeltaList,
} from '../src/index';
import { checkInvariants, decodeIndexList, type Model } from './_model';
import { mulberry32 } from './_rng';

const code = (c: string) => expect.objectContaining({ code: c });
const LISTS = 10;

function populated(zoneCount: number, seed = 1): { index: DeltaIndex; model: Model } {
  const index = new DeltaIndex({
    zoneCount,
    listCount: LISTS,
    meanDelta: 512,
    payloadBits: 6,
    memorySize: 1 << 17,
  });
  const model: Model = Array.from({ length: LISTS }, () => []);
  const random = mulberry32(seed);
  for (let i = 0; i < 600; i++) {
    const list = random() % (LISTS - 1); // the last list stays empty
    const key = random() % 3000;
    const name = new Uint8Array(16).fill(i & 0xff);
    const entry = index.getEntry(list, key, name);
    const found = !entry.atEnd && entry.key === key;
    if (found && entry.isCollision) continue;
    entry.put(key, i & 63, found ? name : null);
    const entries = model[list]!;
    if (found) {
      entries.splice(entries.findIndex((e) => e.key === key && e.name === null) + 1, 0, {
        key,
        value: i & 63,
        name: Buffer.from(name).toString('hex'),
      });
    } else {
      const at = entries.findIndex((e) => e.key > key);
      entries.splice(at < 0 ? entries.length : at, 0, { key, value: i & 63, name: null });
    }
  }
  return { index, model };
}

function fresh(zoneCount: number, memorySize = 1 << 17, exact = false): DeltaIndex {
  return new DeltaIndex({
    zoneCount,
    listCount: LISTS,
    meanDelta: 512,
    payloadBits: 6,
    memorySize,
    exactZoneMemory: exact,
  });
}

describe('save format', () => {
  it('writes the DI-00003 header (with the coding parameters), the list sizes and one record per non-empty list', () => {
    const { index } = populated(2);
    const stream = index.saveZone(1);
    const view = new DataView(stream.buffer);
    expect(DELTA_INDEX_MAGIC).toBe('DI-00003');
    expect(DELTA_INDEX_SEED_MAGIC).toBe('DI-00002');
    expect(Buffer.from(stream.subarray(0, 8)).toString('latin1')).toBe(DELTA_INDEX_MAGIC);
    const zone = index._zones[1]!;
    expect([
      view.getUint32(8, true),
      view.getUint32(12, true),
      view.getUint32(16, true),
      view.getUint32(20, true),
    ]).toEqual([1, 2, 5, 5]);
    expect(view.getBigUint64(24, true)).toBe(BigInt(zone.recordCount));
    expect(view.getBigUint64(32, true)).toBe(BigInt(zone.collisionCount));
    expect(view.getUint32(40, true)).toBe(512); // mean delta
    expect([...stream.subarray(44, 48)]).toEqual([6, 0, 0, 0]); // payload bits, 3 reserved zero bytes
    let at = 48;
    for (let i = 0; i < 5; i++, at += 2) expect(view.getUint16(at, true)).toBe(index.listBits(5 + i));
    for (let i = 0; i < 4; i++) {
      const list = 5 + i;
      expect(stream[at]).toBe(0x6d); // tag 'm'
      expect(stream[at + 1]).toBe(zone.listStart(i + 1) % 8);
      const bytes = view.getUint16(at + 2, true);
      expect(bytes).toBe(Math.ceil(((zone.listStart(i + 1) % 8) + index.listBits(list)) / 8));
      expect(view.getUint32(at + 4, true)).toBe(list);
      at += 8 + bytes;
    }
    expect(at).toBe(stream.length); // list 9 is empty: no record
    expect([...writeGuardDeltaList()]).toEqual([0x7a, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('fits in computeDeltaIndexSaveBytes', () => {
    const { index } = populated(1);
    const total = index.save().reduce((n, s) => n + s.length, 0);
    expect(total).toBeLessThanOrEqual(computeDeltaIndexSaveBytes(LISTS, 1 << 17));
  });
});

describe('restore', () => {
  for (const saved of [1, 2, 3]) {
    for (const [zones, memory, exact] of [
      [1, 1 << 17, false],
      [2, 1 << 16, false],
      [3, 3 * 4096, true],
      [5, 5 * 2000, true],
    ] as const) {
      it(`restores ${saved} saved zone(s) into ${zones} zone(s) of ${memory} bytes`, () => {
        const { index, model } = populated(saved);
        const streams = index.save();
        const target = fresh(zones, memory, exact);
        const consumed = target.restore(streams);
        expect(consumed).toEqual(streams.map((s) => s.length));
        checkInvariants(target, model);
        const before = index.getStats();
        const after = target.getStats();
        expect(after.recordCount).toBe(before.recordCount);
        expect(after.collisionCount).toBe(before.collisionCount);
        expect(after.usedBits).toBe(before.usedBits);
        // The restored index keeps working.
        target.getEntry(9, 77).put(77, 5);
        model[9]!.push({ key: 77, value: 5, name: null });
        checkInvariants(target, model);
      });
    }
  }

  it('refuses streams of an index with another mean delta or payload width (ERR_PARAMETER_MISMATCH), leaving the index empty', () => {
    const { index, model } = populated(2);
    const streams = index.save();
    for (const [meanDelta, payloadBits] of [
      [511, 6],
      [1024, 6],
      [512, 5],
      [512, 7],
      [256, 12],
    ] as const) {
      const target = new DeltaIndex({
        zoneCount: 2,
        listCount: LISTS,
        meanDelta,
        payloadBits,
        memorySize: 1 << 17,
      });
      target.getEntry(0, 1).put(1, 1);
      expect(() => target.restore(streams), `${meanDelta}/${payloadBits}`).toThrow(
        code('ERR_PARAMETER_MISMATCH'),
      );
      expect(target.getStats().recordCount).toBe(0);
      checkInvariants(
        target,
        Array.from({ length: LISTS }, () => []),
      );
    }
    // The same parameters restore (the control).
    const target = fresh(2);
    target.restore(streams);
    checkInvariants(target, model);
  });

  it("reads the seed's DI-00002 streams (no coding parameters: a mismatch there is caught only by decoding)", () => {
    const { index, model } = populated(2);
    const legacy = index.save().map((stream) => {
      const out = new Uint8Array(stream.length - 8);
      out.set(stream.subarray(0, 40));
      out.set(stream.subarray(48), 40);
      for (let i = 0; i < 8; i++) out[i] = DELTA_INDEX_SEED_MAGIC.charCodeAt(i);
      return out;
    });
    const target = fresh(3);
    expect(target.restore(legacy)).toEqual(legacy.map((s) => s.length));
    checkInvariants(target, model);
  });

  it('restores streams without guard records when asked', () => {
    const { index, model } = populated(2);
    const target = fresh(1);
    const streams = [index.saveZone(0), index.saveZone(1)];
    expect(target.restore(streams, { guard: false })).toEqual(streams.map((s) => s.length));
    checkInvariants(target, model);
    expect(() => fresh(1).restore(streams)).toThrow(code('ERR_CORRUPT_DATA'));
  });

  it('reports ERR_OVERFLOW when the lists do not fit, leaving the index empty', () => {
    const { index } = populated(1);
    const target = fresh(1, 600, true);
    target.getEntry(0, 1).put(1, 1);
    expect(() => target.restore(index.save())).toThrow(code('ERR_OVERFLOW'));
    expect(target.getStats().recordCount).toBe(0);
    expect(decodeIndexList(target, 0)).toEqual([]);
  });

  describe('rejects damaged streams with ERR_CORRUPT_DATA', () => {
    const { index } = populated(2);
    const streams = index.save();
    const header = (z: number) => new DataView(streams[z]!.buffer);
    const firstRecord = 48 + 2 * 5;
    const poke = (z: number, at: number, value: number) => (s: Uint8Array[]) => {
      s[z]![at] = value;
      return s;
    };
    const cases: [string, (s: Uint8Array[]) => Uint8Array[]][] = [
      ['bad magic', poke(0, 3, 0x41)],
      ['unknown format version', poke(0, 7, 0x34)],
      ['reserved byte set', poke(1, 46, 1)],
      ['wrong zone count', (s) => s.slice(0, 1)],
      ['zones swapped', (s) => [s[1]!, s[0]!]],
      [
        'first list mismatch',
        (s) => {
          new DataView(s[1]!.buffer).setUint32(16, 4, true);
          return s;
        },
      ],
      [
        'list count mismatch',
        (s) => {
          new DataView(s[1]!.buffer).setUint32(20, 4, true);
          return s;
        },
      ],
      [
        'more collisions than records',
        (s) => {
          new DataView(s[0]!.buffer).setBigUint64(32, 10_000n, true);
          return s;
        },
      ],
      [
        'record count does not match the lists',
        (s) => {
          const view = new DataView(s[0]!.buffer);
          view.setBigUint64(24, view.getBigUint64(24, true) + 1n, true);
          return s;
        },
      ],
      ['wrong tag', poke(0, firstRecord, 0x74)],
      ['bit offset of 8', poke(0, firstRecord + 1, 8)],
      [
        'list number out of range',
        (s) => {
          new DataView(s[0]!.buffer).setUint32(firstRecord + 4, 10, true);
          return s;
        },
      ],
      [
        'byte count mismatch',
        (s) => {
          const view = new DataView(s[0]!.buffer);
          view.setUint16(firstRecord + 2, view.getUint16(firstRecord + 2, true) + 1, true);
          return s;
        },
      ],
      [
        'list restored twice',
        (s) => {
          // Relabel zone 1's first record as list 0 (already in zone 0's stream).
          new DataView(s[1]!.buffer).setUint32(firstRecord + 4, 0, true);
          return s;
        },
      ],
      [
        'record for an empty list',
        (s) => {
          new DataView(s[1]!.buffer).setUint32(firstRecord + 4, 9, true);
          return s;
        },
      ],
      ['truncated header', (s) => [s[0]!.subarray(0, 30), s[1]!]],
      ['truncated parameters', (s) => [s[0]!.subarray(0, 45), s[1]!]],
      ['truncated sizes', (s) => [s[0]!.subarray(0, 53), s[1]!]],
      ['truncated list', (s) => [s[0]!, s[1]!.subarray(0, s[1]!.length - 20)]],
      ['missing guard', (s) => [s[0]!, s[1]!.subarray(0, s[1]!.length - 8)]],
      [
        'bad guard',
        (s) => {
          s[1]![s[1]!.length - 8] = 0x79;
          return s;
        },
      ],
      [
        'garbled list data',
        (s) => {
          // Zero a list's bytes: its key codes no longer decode to its recorded size.
          const bytes = new DataView(s[0]!.buffer).getUint16(firstRecord + 2, true);
          s[0]!.fill(0, firstRecord + 8, firstRecord + 8 + bytes);
          return s;
        },
      ],
    ];
    it.each(cases)('%s', (_label, damage) => {
      expect(header(0).getUint32(8, true)).toBe(0);
      const copies = damage(streams.map((s) => s.slice()));
      const target = fresh(2);
      target.getEntry(0, 1).put(1, 1);
      expect(() => target.restore(copies)).toThrow(code('ERR_CORRUPT_DATA'));
      expect(target.getStats().recordCount).toBe(0);
      checkInvariants(
        target,
        Array.from({ length: LISTS }, () => []),
      );
    });
  });
});
