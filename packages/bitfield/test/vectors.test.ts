// Golden vectors: immutable delta-index pages produced by the reference C implementation (a subset
// of ../shared/vectors/delta_index_pages.json, copied to test/vectors/). Every header field, 19-bit
// list offset, entry value, Huffman-coded delta and collision name is read back with getField /
// getBigField, and each page is rebuilt bit for bit with setField, setBigField, setZero and
// moveBits into a zero-filled buffer, so the bit order and field layout are pinned to the C output.

import { readFileSync } from 'node:fs';
import {
  GUARD_BITS,
  getBigField,
  getField,
  MAX_SAFE_FIELD_BITS,
  moveBits,
  POST_FIELD_GUARD_BYTES,
  setBigField,
  setField,
  setZero,
} from '@deja/bitfield';
import { describe, expect, test } from 'vitest';

interface Coding {
  min_bits: number;
  min_keys: number;
  incr_keys: number;
}
type Entry = [key: number, value: number, delta: number, entryBits: number, name: string | null];
interface Page {
  first_list: number;
  lists_packed: number;
  used_bits: number;
  offsets: number[];
  page_b64: string;
}
interface Case {
  name: string;
  payload_bits: number;
  bytes_per_page: number;
  nonce_hex: string;
  virtual_chapter_number: number;
  coding: Coding;
  lists: Entry[][];
  pages: Page[];
}

const vectors = JSON.parse(
  readFileSync(new URL('./vectors/delta-index-pages.json', import.meta.url), 'utf8'),
) as { cases: Case[] };

const HEADER_BITS = 160; // nonce (u64), virtual chapter (u64), first list (u16), list count (u16)
const OFFSET_BITS = 19; // IMMUTABLE_HEADER_SIZE in the seed
const COLLISION_BYTES = 16;

/** Reads a u64 from two 32-bit big fields (no 64-bit number in the package API). */
function getU64(memory: Uint8Array, offset: number): bigint {
  return BigInt(getBigField(memory, offset, 32)) + (BigInt(getBigField(memory, offset + 32, 32)) << 32n);
}

function setU64(value: bigint, memory: Uint8Array, offset: number): void {
  setBigField(Number(value & 0xffffffffn), memory, offset, 32);
  setBigField(Number(value >> 32n), memory, offset + 32, 32);
}

/** Decodes one delta list stream [start, end) the way the seed's decoder does. */
function decodeList(
  page: Uint8Array,
  start: number,
  end: number,
  payloadBits: number,
  coding: Coding,
): Entry[] {
  const entries: Entry[] = [];
  let offset = start;
  let key = 0;
  while (offset < end) {
    const entryStart = offset;
    const value = getField(page, offset, payloadBits);
    offset += payloadBits;
    const code = getField(page, offset, coding.min_bits);
    offset += coding.min_bits;
    let delta = code;
    if (code >= coding.min_keys) {
      // Count the zero bits before the terminating 1, 25 bits at a time.
      let zeros = 0;
      for (;;) {
        const window = getField(page, offset, 25);
        if (window !== 0) {
          const run = 31 - Math.clz32(window & -window);
          zeros += run;
          offset += run + 1;
          break;
        }
        zeros += 25;
        offset += 25;
      }
      delta = code + zeros * coding.incr_keys; // min_keys + (code - min_keys) + zeros * incr_keys
    }
    key += delta;
    let name: string | null = null;
    if (delta === 0 && entries.length > 0) {
      const bytes: string[] = [];
      for (let i = 0; i < COLLISION_BYTES; i++)
        bytes.push(
          getField(page, offset + 8 * i, 8)
            .toString(16)
            .padStart(2, '0'),
        );
      name = bytes.join('');
      offset += 8 * COLLISION_BYTES;
    }
    entries.push([key, value, delta, offset - entryStart, name]);
  }
  expect(offset).toBe(end);
  return entries;
}

/** Encodes entries into `stream` at bit `offset` with setField/setZero; returns the end offset. */
function encodeList(
  stream: Uint8Array,
  offset: number,
  entries: Entry[],
  payloadBits: number,
  coding: Coding,
) {
  for (const [, value, delta, , name] of entries) {
    setField(value, stream, offset, payloadBits);
    offset += payloadBits;
    if (delta < coding.min_keys) {
      setField(delta, stream, offset, coding.min_bits);
      offset += coding.min_bits;
    } else {
      const t = delta - coding.min_keys;
      setField((t % coding.incr_keys) + coding.min_keys, stream, offset, coding.min_bits);
      offset += coding.min_bits;
      const zeros = Math.floor(t / coding.incr_keys);
      setZero(stream, offset, zeros);
      setField(1, stream, offset + zeros, 1);
      offset += zeros + 1;
    }
    if (name !== null) {
      for (let i = 0; i < COLLISION_BYTES; i++) {
        setField(Number.parseInt(name.slice(2 * i, 2 * i + 2), 16), stream, offset, 8);
        offset += 8;
      }
    }
  }
  return offset;
}

describe('delta index pages from the reference C implementation', () => {
  for (const vector of vectors.cases) {
    vector.pages.forEach((page, pageNumber) => {
      const bytes = new Uint8Array(Buffer.from(page.page_b64, 'base64'));

      test(`${vector.name} page ${pageNumber}: every field reads back`, () => {
        expect(bytes.length).toBe(vector.bytes_per_page);
        expect(getU64(bytes, 0)).toBe(BigInt(vector.nonce_hex));
        expect(getU64(bytes, 64)).toBe(BigInt(vector.virtual_chapter_number));
        expect(getField(bytes, 128, 16)).toBe(page.first_list);
        expect(getField(bytes, 144, 16)).toBe(page.lists_packed);
        const offsets = page.offsets.map((_, i) =>
          getField(bytes, HEADER_BITS + OFFSET_BITS * i, OFFSET_BITS),
        );
        expect(offsets).toEqual(page.offsets);
        expect(offsets.at(-1)).toBe(page.used_bits);
        // The tail guard: POST_FIELD_GUARD_BYTES of 0xFF (GUARD_BITS set bits).
        const guard = (bytes.length - POST_FIELD_GUARD_BYTES) * 8;
        expect(getBigField(bytes, guard, MAX_SAFE_FIELD_BITS)).toBe(2 ** MAX_SAFE_FIELD_BITS - 1);
        expect(getField(bytes, guard + MAX_SAFE_FIELD_BITS, GUARD_BITS - MAX_SAFE_FIELD_BITS)).toBe(7);
        for (let i = 0; i < page.lists_packed; i++) {
          const list = vector.lists[page.first_list + i]!;
          expect(decodeList(bytes, offsets[i]!, offsets[i + 1]!, vector.payload_bits, vector.coding)).toEqual(
            list,
          );
        }
      });

      test(`${vector.name} page ${pageNumber}: rebuilt bit for bit with setField, setZero and moveBits`, () => {
        const rebuilt = new Uint8Array(vector.bytes_per_page);
        setU64(BigInt(vector.nonce_hex), rebuilt, 0);
        setU64(BigInt(vector.virtual_chapter_number), rebuilt, 64);
        setField(page.first_list, rebuilt, 128, 16);
        setField(page.lists_packed, rebuilt, 144, 16);
        for (const [i, offset] of page.offsets.entries()) {
          setField(offset, rebuilt, HEADER_BITS + OFFSET_BITS * i, OFFSET_BITS);
        }
        for (let i = 0; i < page.lists_packed; i++) {
          // Encode each list at a different bit phase in a scratch stream, then move it in place.
          const phase = (i * 5 + pageNumber) % 64;
          const start = page.offsets[i]!;
          const size = page.offsets[i + 1]! - start;
          const scratch = new Uint8Array(Math.ceil((phase + size) / 8) + POST_FIELD_GUARD_BYTES);
          const end = encodeList(
            scratch,
            phase,
            vector.lists[page.first_list + i]!,
            vector.payload_bits,
            vector.coding,
          );
          expect(end - phase).toBe(size);
          moveBits(scratch, phase, rebuilt, start, size);
        }
        const guard = (rebuilt.length - POST_FIELD_GUARD_BYTES) * 8;
        setBigField(2 ** MAX_SAFE_FIELD_BITS - 1, rebuilt, guard, MAX_SAFE_FIELD_BITS);
        setField(7, rebuilt, guard + MAX_SAFE_FIELD_BITS, GUARD_BITS - MAX_SAFE_FIELD_BITS);
        expect(Buffer.from(rebuilt).equals(Buffer.from(bytes))).toBe(true);
      });
    });
  }
});
