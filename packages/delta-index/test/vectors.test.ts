// Bit-exact checks against the reference C (delta_index_pages.json and the key_bits rows of
// coding_constants.json): per-insert results, statistics, list sizes, decoded lists, packed pages byte
// for byte, page validation (including the big-endian header) and page searches.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DeltaIndex, type DeltaIndexEntry, DeltaIndexPage } from '../src/index';
import { fromHex, hex, loadVectors } from './_vectors';

interface PageVector {
  first_list: number;
  lists_packed: number;
  offsets: number[];
  page_b64: string;
  page_sha256: string;
  used_bits: number;
  init_page_result: number;
  init_with_wrong_nonce_result: number;
  lowest_list_number: number;
  highest_list_number: number;
  big_endian_header_variant?: {
    page_b64: string;
    init_page_result: number;
    lowest_list_number: number;
    highest_list_number: number;
    virtual_chapter_number: string;
  };
}

interface PageCase {
  name: string;
  list_count: number;
  mean_delta: number;
  payload_bits: number;
  bytes_per_page: number;
  nonce: string;
  virtual_chapter_number: string;
  coding: { min_bits: number; min_keys: number; incr_keys: number };
  entries: [number, number, number, string | null, string][];
  record_count: number;
  collision_count: number;
  list_bits: number[];
  lists: [number, number, number, number, string | null][][];
  pages: PageVector[];
}

const { cases } = loadVectors<{ cases: PageCase[] }>('delta_index_pages.json');

/** The chapter index insert rule the generator used. */
function insert(
  index: DeltaIndex,
  list: number,
  key: number,
  value: number,
  name: Uint8Array | null,
): string {
  const entry = index.getEntry(list, key, name);
  const found = !entry.atEnd && entry.key === key;
  if (found && entry.isCollision) return 'duplicate_ignored';
  if (found) {
    entry.put(key, value, name ?? new Uint8Array(16));
    return 'collision';
  }
  entry.put(key, value);
  return 'inserted';
}

function decodeList(start: (list: number, key: number) => DeltaIndexEntry, list: number) {
  const out: [number, number, number, number, string | null][] = [];
  const entry = start(list, 0);
  for (entry.next(); !entry.atEnd; entry.next()) {
    out.push([
      entry.key,
      entry.value,
      entry.delta,
      entry.entryBits,
      entry.isCollision ? hex(entry.collisionName()) : null,
    ]);
  }
  return out;
}

function build(c: PageCase): { index: DeltaIndex; results: string[] } {
  const index = new DeltaIndex({
    listCount: c.list_count,
    meanDelta: c.mean_delta,
    payloadBits: c.payload_bits,
    memorySize: 1 << 20,
  });
  const results = c.entries.map(([list, key, value, name]) =>
    insert(index, list, key, value, name === null ? null : fromHex(name)),
  );
  return { index, results };
}

describe.each(cases.map((c) => [c.name, c] as const))('reference case %s', (_name, c) => {
  const { index, results } = build(c);

  it('uses the reference coding constants', () => {
    expect(index.coding).toEqual({
      minBits: c.coding.min_bits,
      minKeys: c.coding.min_keys,
      incrKeys: c.coding.incr_keys,
    });
  });

  it('gives every insert the reference result and the reference statistics', () => {
    expect(results).toEqual(c.entries.map((e) => e[4]));
    const stats = index.getStats();
    expect(stats.recordCount).toBe(c.record_count);
    expect(stats.collisionCount).toBe(c.collision_count);
  });

  it('lays out every list like the reference', () => {
    for (let list = 0; list < c.list_count; list++) {
      expect(index.listBits(list), `list ${list}`).toBe(c.list_bits[list]);
      expect(
        decodeList((l, k) => index.startSearch(l, k), list),
        `list ${list}`,
      ).toEqual(c.lists[list]);
    }
  });

  it('packs every page byte for byte', () => {
    for (const p of c.pages) {
      const page = new Uint8Array(c.bytes_per_page).fill(0xa5);
      const packed = index.packPage(BigInt(c.nonce), page, BigInt(c.virtual_chapter_number), p.first_list);
      expect(packed).toBe(p.lists_packed);
      expect(createHash('sha256').update(page).digest('hex')).toBe(p.page_sha256);
      expect(Buffer.from(page).toString('base64')).toBe(p.page_b64);
    }
  });

  it('opens every page, rejects a wrong nonce, and finds every entry on it', () => {
    for (const p of c.pages) {
      const memory = new Uint8Array(Buffer.from(p.page_b64, 'base64'));
      expect(p.init_page_result).toBe(0);
      const page = DeltaIndexPage.open(memory, BigInt(c.nonce), c.mean_delta, c.payload_bits);
      expect(page.lowestListNumber).toBe(p.lowest_list_number);
      expect(page.highestListNumber).toBe(p.highest_list_number);
      expect(page.virtualChapterNumber).toBe(BigInt(c.virtual_chapter_number));
      expect(page.bigEndianHeader).toBe(false);
      expect(p.init_with_wrong_nonce_result).toBe(1034);
      expect(() => DeltaIndexPage.open(memory, BigInt(c.nonce) + 1n, c.mean_delta, c.payload_bits)).toThrow(
        expect.objectContaining({ code: 'ERR_CORRUPT_DATA' }),
      );
      for (let i = 0; i < page.listCount; i++) {
        const list = p.first_list + i;
        expect(page.listBits(i)).toBe(c.list_bits[list]);
        expect(decodeList((l, k) => page.startSearch(l, k), i)).toEqual(c.lists[list]);
        for (const [key, value, , , name] of c.lists[list]!) {
          expect(page.get(i, key, name === null ? null : fromHex(name))).toBe(value);
        }
      }
      for (let i = 0; i <= p.lists_packed; i++) {
        expect(p.offsets[i]).toBe(
          i === 0 ? 160 + 19 * (p.lists_packed + 1) : p.offsets[i - 1]! + c.list_bits[p.first_list + i - 1]!,
        );
      }
      expect(p.used_bits).toBe(p.offsets[p.lists_packed]);
    }
  });

  it('answers lookups in the mutable index like the lists say', () => {
    for (let list = 0; list < c.list_count; list++) {
      for (const [key, value, , , name] of c.lists[list]!) {
        expect(index.get(list, key, name === null ? null : fromHex(name))).toBe(value);
      }
    }
  });
});

describe('big-endian page header', () => {
  it('is accepted with the same lists', () => {
    const c = cases.find((x) => x.name === 'tiny_edge_cases')!;
    const p = c.pages[0]!;
    const variant = p.big_endian_header_variant!;
    expect(variant.init_page_result).toBe(0);
    const memory = new Uint8Array(Buffer.from(variant.page_b64, 'base64'));
    const page = DeltaIndexPage.open(memory, BigInt(c.nonce), c.mean_delta, c.payload_bits);
    expect(page.bigEndianHeader).toBe(true);
    expect(page.lowestListNumber).toBe(variant.lowest_list_number);
    expect(page.highestListNumber).toBe(variant.highest_list_number);
    expect(page.virtualChapterNumber).toBe(BigInt(variant.virtual_chapter_number));
    for (let i = 0; i < page.listCount; i++) {
      expect(decodeList((l, k) => page.startSearch(l, k), i)).toEqual(c.lists[p.first_list + i]);
    }
  });
});

interface KeyBitsRow {
  mean_delta: number;
  delta: number;
  payload_bits: number;
  key_bits: number;
  entry_bits: number;
  true_key_bits: number;
  entry_bits_u16_wrapped?: boolean;
}

describe('key bits per delta (coding_constants.json key_bits)', () => {
  const rows = loadVectors<{ key_bits: KeyBitsRow[] }>('coding_constants.json').key_bits;
  it.each(rows.map((r) => [r.mean_delta, r.delta, r] as const))('mean %i delta %i', (_m, _d, row) => {
    const index = new DeltaIndex({
      listCount: 1,
      meanDelta: row.mean_delta,
      payloadBits: row.payload_bits,
      memorySize: 1,
    });
    const entry = index.getEntry(0, row.delta);
    const fits = row.payload_bits + row.true_key_bits <= 0xffff;
    if (!fits) {
      // The reference wrapped its u16 entry size; this port reports an overflow instead.
      expect(row.entry_bits_u16_wrapped).toBe(true);
      expect(() => entry.put(row.delta, 1)).toThrow(expect.objectContaining({ code: 'ERR_OVERFLOW' }));
      expect(index.getStats().overflowCount).toBe(1);
      return;
    }
    entry.put(row.delta, 1);
    expect(entry.entryBits).toBe(row.payload_bits + row.true_key_bits);
    if (!row.entry_bits_u16_wrapped) expect(entry.entryBits).toBe(row.entry_bits);
    const walk = index.startSearch(0, 0);
    walk.next();
    expect([walk.key, walk.value, walk.entryBits]).toEqual([
      row.delta,
      1,
      row.payload_bits + row.true_key_bits,
    ]);
    walk.next();
    expect(walk.atEnd).toBe(true);
  });
});
