// `deja import STORE IMAGE --changed EXTENTS` as a user runs it (the bundled CLI in child
// processes): only the listed ranges of the image are read. Each image here differs from the
// store's version everywhere outside the listed ranges, so the store can only equal "the old
// version plus the listed ranges of the image" if nothing else was read. The three accepted forms
// (Deja's JSON, CSI changed-block metadata, thin_delta's XML), stdin, and hostile lists: each is
// refused with ERR_BAD_EXTENTS before the store changes.

import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Store } from '../src/index';
import { type BuiltCli, buildCli, makeImage, runCli, runJson } from './_cli';

const CS = 4096;
const CHUNKS = 64;
let cli: BuiltCli;
let dir: string;

beforeAll(async () => {
  [cli, dir] = await Promise.all([buildCli(), mkdtemp(join(tmpdir(), 'deja-cli-changed-'))]);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await cli?.dispose();
});

let count = 0;
/** A store whose live volume (and snapshot 'v1') holds `base`. */
async function storeWith(base: Uint8Array): Promise<string> {
  const path = join(dir, `s${++count}`);
  const store = await Store.create(path, { size: base.length });
  await store.write(0, base);
  await store.createSnapshot('v1');
  await store.close();
  return path;
}

/** `base` with `ranges` taken from `next`: what the store must hold after the import. */
function expected(base: Uint8Array, next: Uint8Array, ranges: readonly [number, number][]): Uint8Array {
  const out = base.slice(0, next.length);
  if (out.length < next.length) {
    const grown = new Uint8Array(next.length);
    grown.set(out);
    return expected(grown, next, ranges);
  }
  for (const [o, l] of ranges) out.set(next.subarray(o, o + l), o);
  return out;
}

/** An image that differs from `base` in every chunk: only the listed ranges may reach the store. */
function hostileNext(seed: number, size = CHUNKS * CS): Uint8Array {
  const next = makeImage(seed, Math.ceil(size / CS), CS).subarray(0, size);
  for (let i = 0; i < next.length; i += 512) next[i] = (next[i] as number) ^ 0xa5;
  return next;
}

async function live(path: string): Promise<{ bytes: Uint8Array; snapshots: string[] }> {
  const store = await Store.open(path, { readOnly: true });
  try {
    return {
      bytes: await store.read(0, store.size),
      snapshots: store.listSnapshots().map((s) => s.name),
    };
  } finally {
    await store.close();
  }
}

describe('deja import --changed', () => {
  test('Deja JSON: only the listed ranges (unaligned, adjacent ones merged) are read; a snapshot follows', async () => {
    const base = makeImage(1, CHUNKS, CS);
    const path = await storeWith(base);
    const next = hostileNext(2);
    const ranges: [number, number][] = [
      [0, 100],
      [100, 4000], // adjacent: merged with the first
      [3 * CS + 17, 2 * CS],
      [40 * CS, 8 * CS],
      [CHUNKS * CS - 1, 1],
    ];
    await writeFile(join(dir, 'img-a'), next);
    await writeFile(
      join(dir, 'a.json'),
      JSON.stringify(ranges.map(([offset, length]) => ({ offset, length }))),
    );
    const doc = await runJson<Record<string, unknown>>(cli, [
      'import',
      path,
      join(dir, 'img-a'),
      '--changed',
      join(dir, 'a.json'),
      '--snapshot',
      'v2',
    ]);
    const want = expected(base, next, ranges);
    const readBytes = ranges.reduce((n, [, l]) => n + l, 0);
    expect(doc).toMatchObject({
      format: 'deja',
      bytes: next.length,
      readBytes,
      changedBytes: readBytes,
      ranges: [
        { offset: 0, length: 4100 },
        { offset: 3 * CS + 17, length: 2 * CS },
        { offset: 40 * CS, length: 8 * CS },
        { offset: CHUNKS * CS - 1, length: 1 },
      ],
      snapshot: { name: 'v2', size: next.length },
    });
    const after = await live(path);
    expect(Buffer.compare(after.bytes, want)).toBe(0);
    expect(after.snapshots).toEqual(['v1', 'v2']);
    // The old version is intact.
    const store = await Store.open(path, { readOnly: true });
    try {
      expect(Buffer.compare(await store.volume('v1').read(0, base.length), base)).toBe(0);
      expect(Buffer.compare(await store.volume('v2').read(0, want.length), want)).toBe(0);
    } finally {
      await store.close();
    }
  });

  test('CSI changed-block metadata (the lister’s JSON and protobuf JSON), read from stdin; the volume grows to the image', async () => {
    const base = makeImage(3, CHUNKS, CS);
    const path = await storeWith(base);
    const size = (CHUNKS + 8) * CS;
    const next = hostileNext(4, size);
    await writeFile(join(dir, 'img-b'), next);
    // external-snapshot-metadata's lister: an array of responses, a zero byte_offset omitted.
    const lister = [
      {
        block_metadata_type: 1,
        volume_capacity_bytes: size,
        block_metadata: [{ size_bytes: CS }, { byte_offset: 5 * CS, size_bytes: CS }],
      },
      {
        block_metadata_type: 1,
        volume_capacity_bytes: size,
        block_metadata: [
          { byte_offset: 6 * CS, size_bytes: CS },
          { byte_offset: CHUNKS * CS, size_bytes: 8 * CS },
        ],
      },
    ];
    const ranges: [number, number][] = [
      [0, CS],
      [5 * CS, 2 * CS],
      [CHUNKS * CS, 8 * CS],
    ];
    const doc = await runJson<Record<string, unknown>>(
      cli,
      ['import', path, join(dir, 'img-b'), '--changed', '-', '--no-snapshot'],
      { input: Buffer.from(JSON.stringify(lister)) },
    );
    expect(doc).toMatchObject({ format: 'csi', bytes: size, readBytes: 11 * CS, snapshot: null });
    const after = await live(path);
    expect(Buffer.compare(after.bytes, expected(base, next, ranges))).toBe(0);
    expect(after.snapshots).toEqual(['v1']);

    // protobuf JSON of one response: camelCase, 64-bit integers as strings.
    const path2 = await storeWith(base);
    await writeFile(
      join(dir, 'b.json'),
      JSON.stringify({
        blockMetadataType: 'FIXED_LENGTH',
        volumeCapacityBytes: String(size),
        blockMetadata: ranges.map(([o, l]) => ({ byteOffset: String(o), sizeBytes: String(l) })),
      }),
    );
    await runJson(cli, ['import', path2, join(dir, 'img-b'), '--changed', join(dir, 'b.json')]);
    expect(Buffer.compare((await live(path2)).bytes, expected(base, next, ranges))).toBe(0);
  });

  test("thin_delta's XML: every element but <same> is read, in data blocks of data_block_size sectors", async () => {
    const base = makeImage(5, CHUNKS, CS);
    const path = await storeWith(base);
    const next = hostileNext(6);
    await writeFile(join(dir, 'img-c'), next);
    // 16 sectors = 8 KiB blocks.
    const xml = `<superblock uuid="" time="2" transaction="3" data_block_size="16" nr_data_blocks="0">
  <diff left="1" right="2">
    <same begin="0" length="2"/>
    <different begin="2" length="1"/>
    <left_only begin="3" length="2"/>
    <same begin="5" length="10"/>
    <right_only begin="20" length="3"/>
  </diff>
</superblock>
`;
    await writeFile(join(dir, 'c.xml'), xml);
    const doc = await runJson<Record<string, unknown>>(cli, [
      'import',
      path,
      join(dir, 'img-c'),
      '--changed',
      join(dir, 'c.xml'),
    ]);
    const B = 16 * 512;
    const ranges: [number, number][] = [
      [2 * B, 3 * B],
      [20 * B, 3 * B],
    ];
    expect(doc).toMatchObject({ format: 'thin_delta', readBytes: 6 * B });
    expect(doc.ranges).toEqual(ranges.map(([offset, length]) => ({ offset, length })));
    expect(Buffer.compare((await live(path)).bytes, expected(base, next, ranges))).toBe(0);
  });

  test('hostile lists are refused with ERR_BAD_EXTENTS naming the entry; the store is unchanged', async () => {
    const base = makeImage(7, CHUNKS, CS);
    const path = await storeWith(base);
    const next = hostileNext(8);
    const img = join(dir, 'img-d');
    await writeFile(img, next);
    const json = (v: unknown) => JSON.stringify(v);
    const cases: [string, string, RegExp][] = [
      [
        'overlap',
        json([
          { offset: 0, length: 8192 },
          { offset: 4096, length: 10 },
        ]),
        /range 2 .*overlaps range 1/,
      ],
      [
        'unsorted',
        json([
          { offset: 8192, length: 1 },
          { offset: 0, length: 1 },
        ]),
        /range 2 .*out of order/,
      ],
      ['past the end', json([{ offset: CHUNKS * CS - 10, length: 11 }]), /past the end of the image/],
      ['a fraction', json([{ offset: 1.5, length: 1 }]), /range 1: offset is 1\.5/],
      ['a negative', json([{ offset: 0, length: -4096 }]), /range 1: length is -4096/],
      ['past 2^53', json([{ offset: 2 ** 53, length: 1 }]), /range 1: offset/],
      ['a string', json([{ offset: '12a', length: 1 }]), /range 1: offset is "12a"/],
      ['missing', json([{ offset: 0 }]), /range 1: length is missing/],
      ['empty', json([{ offset: 0, length: 0 }]), /range 1 is empty/],
      ['not a list', json({ offsets: [1] }), /expected an array/],
      ['not JSON', '{"offset": 0, ', /not JSON/],
      [
        'CSI size mismatch',
        json({ volume_capacity_bytes: 1, block_metadata: [{ byte_offset: 0, size_bytes: 1 }] }),
        /describes a volume of 1 bytes/,
      ],
      ['CSI mixed', json([{ block_metadata: [] }, { offset: 0, length: 1 }]), /record 2 is not/],
      [
        'thin_delta --verbose',
        '<superblock data_block_size="8"><diff left="1" right="2"><range begin="0" data_begin="4" length="1"/></diff></superblock>',
        /unexpected element <range>/,
      ],
      ['thin_delta text', '<superblock data_block_size="8">junk</superblock>', /unexpected content/],
      [
        'thin_delta no block size',
        '<superblock><diff><different begin="0" length="1"/></diff></superblock>',
        /data_block_size is missing/,
      ],
    ];
    for (const [what, text, message] of cases) {
      const file = join(dir, `bad-${what.replace(/\W+/g, '-')}`);
      await writeFile(file, text);
      const r = await runCli(cli, ['import', path, img, '--changed', file, '--json']);
      expect(r.code, `${what}: ${r.stderr}`).toBe(1);
      expect(r.stderr, what).toContain('(ERR_BAD_EXTENTS)');
      expect(r.stderr, what).toMatch(message);
      expect(JSON.parse(r.stdout).error.code, what).toBe('ERR_BAD_EXTENTS');
    }
    // A file over the 64 MiB limit is refused from its size, without reading it.
    const huge = join(dir, 'huge.json');
    await writeFile(huge, '[]');
    await truncate(huge, (64 << 20) + 1);
    const r = await runCli(cli, ['import', path, img, '--changed', huge]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/over the 67108864-byte limit \(ERR_BAD_EXTENTS\)/);
    // So is stdin past the limit.
    const big = await runCli(cli, ['import', path, img, '--changed', '-'], {
      input: Buffer.alloc((64 << 20) + 10, 0x20),
    });
    expect(big.code).toBe(1);
    expect(big.stderr).toContain('(ERR_BAD_EXTENTS)');
    // Nothing reached the store.
    const after = await live(path);
    expect(Buffer.compare(after.bytes, base)).toBe(0);
    expect(after.snapshots).toEqual(['v1']);
  }, 60_000);

  test('usage: --changed needs an image file, not stdin or an NBD export', async () => {
    const path = await storeWith(makeImage(9, 4, CS));
    await writeFile(join(dir, 'e.json'), '[]');
    for (const image of ['-', 'nbd://127.0.0.1/x']) {
      const r = await runCli(cli, ['import', path, image, '--changed', join(dir, 'e.json')]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('--changed');
    }
    // An empty list reads nothing: the volume only takes the image's size (zeros beyond the old end).
    const r = await runJson<Record<string, unknown>>(cli, [
      'import',
      path,
      join(dir, 'img-a'),
      '--changed',
      join(dir, 'e.json'),
      '--no-snapshot',
    ]);
    expect(r).toMatchObject({ readBytes: 0, ranges: [] });
    const after = (await live(path)).bytes;
    expect(after.length).toBe(CHUNKS * CS);
    expect(Buffer.compare(after.subarray(0, 4 * CS), makeImage(9, 4, CS))).toBe(0);
    expect(after.subarray(4 * CS).every((b) => b === 0)).toBe(true);
  });
});
