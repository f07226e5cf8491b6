// readDataMany: several data pages in one storage readv, the same as readData of each: any order,
// repeats, destinations given per page, pages spread over space-map groups, before and after
// commit; argument errors.
import { crc32 } from 'node:zlib';
import { MemoryStorage } from '@deja/storage';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PageStore } from '../src/index';

// 512-byte pages: a space-map page covers few enough pages that 300 of them span several groups,
// so neighbouring page numbers are not always neighbours on the medium.
const OPTS = { pageSize: 512, pageCount: 16, journalPages: 32, cachePages: 4 };

function pageBytes(seed: number): Uint8Array {
  const out = new Uint8Array(512);
  for (let i = 0; i < out.length; i++) out[i] = (seed * 131 + i * 7 + (i >> 5)) & 0xff;
  return out;
}

async function filled(count: number) {
  const disk = new MemoryStorage();
  const store = await PageStore.create(disk, OPTS);
  const tx = store.begin();
  const pages: number[] = [];
  for (let i = 0; i < count; i++) pages.push(await tx.allocate('data'));
  const data = new Uint8Array(count * 512);
  for (let i = 0; i < count; i++) data.set(pageBytes(pages[i] as number), i * 512);
  await tx.writeDataMany(pages, data);
  return { disk, store, tx, pages };
}

describe('readDataMany', () => {
  test('equals readData of each page, in any order, with repeats and given destinations', async () => {
    const { store, tx, pages } = await filled(300);
    const pick = fc.array(fc.constantFrom(...pages), { maxLength: 80 });
    const check = async (
      from: { readDataMany: PageStore['readDataMany'] },
      list: number[],
      spread: boolean,
    ) => {
      const at = spread ? list.map((_, i) => (list.length - 1 - i) * 512 + 3) : undefined;
      const into = spread ? new Uint8Array(list.length * 512 + 3) : undefined;
      const got = await from.readDataMany(list, into, at);
      list.forEach((p, i) => {
        const off = at ? (at[i] as number) : i * 512;
        expect(got.subarray(off, off + 512)).toEqual(pageBytes(p));
      });
    };
    await fc.assert(
      fc.asyncProperty(pick, fc.boolean(), async (list, spread) => {
        await check(tx, list, spread);
      }),
      { numRuns: 60 },
    );
    await tx.commit();
    await fc.assert(
      fc.asyncProperty(pick, fc.boolean(), async (list, spread) => {
        await check(store, list, spread);
      }),
      { numRuns: 60 },
    );
    // A shared buffer works as a destination (a hashing worker reads it without a copy).
    const shared = new Uint8Array(new SharedArrayBuffer(2 * 512));
    await store.readDataMany([pages[7] as number, pages[250] as number], shared);
    expect(shared.subarray(512)).toEqual(pageBytes(pages[250] as number));
    await store.close();
  });

  test('reads neighbours on the medium together', async () => {
    const { disk, store, tx, pages } = await filled(40);
    await tx.commit();
    let calls = 0;
    let ranges = 0;
    const original = disk.readv.bind(disk);
    disk.readv = (requests) => {
      calls++;
      ranges += requests.length;
      return original(requests);
    };
    await store.readDataMany([...pages].reverse());
    expect(calls).toBe(1);
    expect(ranges).toBeLessThan(5);
    await store.close();
  });

  test('wrong use is refused', async () => {
    const { store, tx, pages } = await filled(4);
    const m = await tx.allocate('meta');
    const free = tx.pageCount - 1;
    await expect(tx.readDataMany([pages[0] as number, free])).rejects.toBeInstanceOf(RangeError);
    await expect(tx.readDataMany([pages[0] as number], new Uint8Array(511))).rejects.toBeInstanceOf(
      RangeError,
    );
    await expect(tx.readDataMany([pages[0] as number], new Uint8Array(1024), [513])).rejects.toBeInstanceOf(
      RangeError,
    );
    await expect(tx.readDataMany([pages[0] as number], undefined, [0, 512])).rejects.toBeInstanceOf(
      RangeError,
    );
    expect(await tx.readDataMany([])).toEqual(new Uint8Array(0));
    tx.decRef(m);
    await tx.commit();
    await expect(store.readDataMany([free])).rejects.toBeInstanceOf(RangeError);
    await store.close();
  });
});

describe("writeDataMany with the caller's CRC-32s", () => {
  /** A store whose last transaction wrote three data pages (crcs as given), not checkpointed. */
  async function written(crcs: (pages: Uint8Array) => number[] | undefined) {
    const disk = new MemoryStorage();
    const store = await PageStore.create(disk, OPTS);
    const tx = store.begin();
    const pages = await tx.allocateMany('data', 3);
    const data = new Uint8Array(3 * 512);
    for (let i = 0; i < 3; i++) data.set(pageBytes(i + 40), i * 512);
    await tx.writeDataMany(pages, data, undefined, crcs(data));
    await tx.commit();
    // A crash now: the next open checks the last transaction's data pages against its data lists.
    return { reopened: await PageStore.open(new MemoryStorage({ data: disk.snapshot() })), pages };
  }
  const right = (data: Uint8Array) => [0, 1, 2].map((i) => crc32(data.subarray(i * 512, (i + 1) * 512)));

  test("right ones recover the same as the layer's own; a wrong one drops the transaction", async () => {
    for (const crcs of [() => undefined, right]) {
      const { reopened, pages } = await written(crcs);
      expect(reopened.recovery.dropped).toBeUndefined();
      expect(await reopened.readData(pages[1] as number)).toEqual(pageBytes(41));
    }
    const { reopened, pages } = await written((data) => {
      const crcs = right(data);
      crcs[2] = ((crcs[2] as number) ^ 1) >>> 0;
      return crcs;
    });
    expect(reopened.recovery.dropped).toMatchObject({ reason: 'data-mismatch', pages: [pages[2]] });
  });

  test('one CRC-32 per page, each a u32', async () => {
    const { store, tx, pages } = await filled(2);
    const data = new Uint8Array(2 * 512);
    await expect(tx.writeDataMany(pages, data, undefined, [0])).rejects.toBeInstanceOf(RangeError);
    await expect(tx.writeDataMany(pages, data, undefined, [0, 2 ** 32])).rejects.toBeInstanceOf(RangeError);
    await expect(tx.writeDataMany(pages, data, undefined, [0, -1])).rejects.toBeInstanceOf(RangeError);
    await tx.writeDataMany(pages, data, undefined, new Uint32Array([crc32(data.subarray(0, 512)), 0]));
    await store.close();
  });
});
