// The `deja` command line, run as a user runs it: the CLI bundled once (test/_cli.ts), spawned
// with `node` on temporary directories. Every command, its --json document parsed and checked
// against what the images hold, its human output, and the exit codes 0, 1, 2 and 3.
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PageStore } from '@deja/page-store';
import { FileStorage } from '@deja/storage-file';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type BuiltCli,
  buildCli,
  type CliResult,
  changed,
  makeImage,
  runCli,
  runInProcess,
  runJson,
} from './_cli';

const CS = 4096;
let cli: BuiltCli;
let dir: string;
let img1: Uint8Array;
let img2: Uint8Array;

beforeAll(async () => {
  [cli, dir] = await Promise.all([buildCli(), mkdtemp(join(tmpdir(), 'deja-cli-'))]);
  img1 = makeImage(1, 1024); // 4 MiB
  img2 = changed(img1, 5, 97); // 11 chunks changed
  await writeFile(join(dir, 'v1.img'), img1);
  await writeFile(join(dir, 'v2.img'), img2);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await cli?.dispose();
});

const deja = (...args: string[]) => runCli(cli, args);
const p = (name: string) => join(dir, name);

/** Expects one `deja: error: ... (CODE)` line on stderr and the exit code. */
function expectError(r: CliResult, exit: number, code?: string): void {
  expect(r.code, r.stderr).toBe(exit);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^deja: error: /);
  if (code) expect(lines[0]).toContain(`(${code})`);
  // No stack trace without --debug.
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

/** The chunk indexes where two images differ. */
function changedChunks(a: Uint8Array, b: Uint8Array): number[] {
  const out: number[] = [];
  for (let c = 0; c * CS < Math.max(a.length, b.length); c++) {
    const x = Buffer.from(a.subarray(c * CS, (c + 1) * CS));
    const y = Buffer.from(b.subarray(c * CS, (c + 1) * CS));
    if (!x.equals(y)) out.push(c);
  }
  return out;
}

describe('help and usage', () => {
  test('--help on the program and every command, with examples; exit 0', async () => {
    const top = await deja('--help'); // once as a process, then in this process
    expect(top.code).toBe(0);
    for (const word of ['Exit status:', '130', 'Example session:', '--debug'])
      expect(top.stdout).toContain(word);
    const commands = [
      ['init'],
      ['import'],
      ['export'],
      ['export-diff'],
      ['apply-diff'],
      ['snapshot'],
      ['snapshot', 'create'],
      ['snapshot', 'list'],
      ['snapshot', 'delete'],
      ['snapshot', 'rollback'],
      ['diff'],
      ['stats'],
      ['du'],
      ['check'],
    ];
    const results: CliResult[] = [];
    for (const c of commands) results.push(await runInProcess([...c, '--help']));
    results.forEach((r, i) => {
      const name = (commands[i] as string[]).join(' ');
      expect(r.code, name).toBe(0);
      expect(r.stdout, name).toContain(`Usage: deja ${name}`);
      expect(r.stdout, name).toContain('Examples:');
      expect(r.stdout, name).toMatch(/\$ deja /);
    });
    // --json is offered wherever something is printed.
    results.forEach((r, i) => {
      if ((commands[i] as string[]).join(' ') !== 'snapshot') expect(r.stdout).toContain('--json');
    });
    const v = await deja('--version');
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  test('usage errors exit 2 with one line and a pointer to --help', async () => {
    const cases: string[][] = [
      ['frobnicate'],
      ['stats'],
      ['stats', p('x'), '--bogus'],
      ['init', p('u1'), '--size', '20X'],
      ['init', p('u2'), '--size', '1.1K'],
      ['init', p('u3'), '--size', '1G', '--chunk-size', '3K'],
      ['init', p('u4'), '--size', '1G', '--chunk-size', '128K'],
      ['init', p('u5'), '--size', '1G', '--index-memory', '1M', '--index-records', '100000'],
      ['init', p('u6')],
      ['snapshot', 'create', p('x'), '@mine'],
      ['snapshot', 'create', p('x'), 'n'.repeat(65)],
      ['diff', p('x'), '@bad', 'b'],
    ];
    // The first case as a process (the real exit code), the others in this process.
    const results = [await deja(...(cases[0] as string[]))];
    for (const c of cases.slice(1)) results.push(await runInProcess(c));
    results.forEach((r, i) => {
      const what = (cases[i] as string[]).join(' ');
      expect(r.code, what).toBe(2);
      expect(r.stderr, what).toMatch(/^deja: error: .+\ndeja: see 'deja [a-z -]*--help'\n$/);
    });
    expect(results[3]?.stderr).toContain("'20X' is not a size");
    // Nothing was created by a refused init.
    await expect(stat(p('u1'))).rejects.toThrow();
    const tty = await runInProcess(['export', p('x'), '-'], { stdoutIsTTY: true });
    expect(tty.code).toBe(2);
    expect(tty.stderr).toContain('refusing to write binary data to a terminal');
    const bare = await deja();
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('Usage: deja');
  });
});

describe('a store through its life', () => {
  const S = () => p('store');

  test('init --json: the options, exactly; the index sized from memory', async () => {
    const j = await runJson(cli, ['init', S(), '--size', '0', '--chunk-size', '4K', '--index-memory', '8M']);
    expect(j).toEqual({
      store: S(),
      size: 0,
      chunkSize: 4096,
      indexRecords: Math.floor((8 * 2 ** 20) / 3.25),
      sparse: false,
      maxSnapshots: 256,
      verify: true,
      compression: 'off',
      compressionLevel: null,
    });
    const again = await deja('init', S(), '--size', '1G');
    expectError(again, 1, 'ERR_EXISTS');
  });

  test('import a file, then stdin: snapshots named and by time; only changed chunks are new data', async () => {
    const a = await runJson<{
      bytes: number;
      changedChunks: number;
      dataBytesAdded: number;
      snapshot: { name: string; size: number; created: string };
    }>(cli, ['import', S(), p('v1.img'), '--snapshot', 'v1']);
    expect(a.bytes).toBe(img1.length);
    expect(a.snapshot).toMatchObject({ name: 'v1', size: img1.length });
    expect(Number.isNaN(Date.parse(a.snapshot.created))).toBe(false);
    expect(a.dataBytesAdded).toBeGreaterThan(0);
    expect(a.dataBytesAdded).toBeLessThan(img1.length);
    const before = Date.now();
    const b = await runJson<typeof a>(cli, ['import', S(), '-'], { input: img2 });
    expect(b.bytes).toBe(img2.length);
    expect(b.changedChunks).toBe(changedChunks(img1, img2).length);
    expect(b.dataBytesAdded).toBeLessThanOrEqual(b.changedChunks * CS);
    // The default name is the time, ISO 8601.
    expect(b.snapshot.name).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(b.snapshot.name)).toBeGreaterThanOrEqual(before - 1000);
    // A human summary without --json.
    await writeFile(p('v2b.img'), img2);
    const c = await deja('import', S(), p('v2b.img'), '--snapshot', 'v2');
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(
      /^imported 4 MiB in .+ \(.+ MB\/s\): 0 chunks changed, 0 B of new data; snapshot 'v2'\n$/,
    );
    expect(c.stderr).toBe(''); // no progress bar: stderr is not a terminal
  });

  test('snapshot list and du: creation time, sizes, exclusive and shared bytes', async () => {
    const list = await runJson<{
      snapshots: {
        name: string;
        created: string;
        size: number;
        exclusiveBytes: number;
        sharedBytes: number;
      }[];
    }>(cli, ['snapshot', 'list', S()]);
    expect(list.snapshots.map((s) => s.name)[0]).toBe('v1');
    expect(list.snapshots.map((s) => s.name)[2]).toBe('v2');
    expect(list.snapshots).toHaveLength(3);
    for (const s of list.snapshots) {
      expect(s.size).toBe(img1.length);
      expect(Number.isInteger(s.exclusiveBytes) && s.exclusiveBytes % CS === 0).toBe(true);
    }
    // v1 alone holds the chunks img2 changed (not zero in img1).
    const onlyV1 = changedChunks(img1, img2).filter((c) =>
      img1.subarray(c * CS, (c + 1) * CS).some((x) => x !== 0),
    );
    expect(list.snapshots[0]?.exclusiveBytes).toBeLessThanOrEqual(onlyV1.length * CS);
    expect(list.snapshots[0]?.exclusiveBytes).toBeGreaterThan(0);
    const du = await runJson<{
      snapshots: typeof list.snapshots;
      exclusiveBytes: number;
      sharedBytes: number;
      dataBytes: number;
    }>(cli, ['du', S()]);
    expect(du.snapshots).toEqual(list.snapshots);
    expect(du.exclusiveBytes).toBe(du.snapshots.reduce((n, s) => n + s.exclusiveBytes, 0));
    expect(du.sharedBytes).toBe(du.snapshots.reduce((n, s) => n + s.sharedBytes, 0));
    const human = await deja('snapshot', 'list', S());
    expect(human.stdout.split('\n')[0]).toMatch(/^NAME\s+CREATED\s+SIZE\s+EXCLUSIVE$/);
    expect(human.stdout).toMatch(/^v1 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +4 MiB +[\d.]+ (B|KiB)$/m);
    const humanDu = await deja('du', S());
    expect(humanDu.stdout).toMatch(/^total +[\d.]+ \w+ +[\d.]+ \w+$/m);
  });

  test('diff: the changed ranges, exactly', async () => {
    const j = await runJson<{
      a: string;
      b: string;
      ranges: { offset: number; length: number }[];
      changedBytes: number;
    }>(cli, ['diff', S(), 'v1', 'v2']);
    const expected = changedChunks(img1, img2).map((c) => ({ offset: c * CS, length: CS }));
    expect(j.ranges).toEqual(expected);
    expect(j.changedBytes).toBe(expected.length * CS);
    const none = await runJson<{ ranges: unknown[] }>(cli, ['diff', S(), 'v2']); // against @live
    expect(none.ranges).toEqual([]);
    const human = await deja('diff', S(), 'v1', 'v2');
    expect(human.stdout).toContain(
      `${expected.length} ranges, ${expected.length * 4} KiB changed between 'v1' and 'v2'`,
    );
    const first = expected[0] as { offset: number };
    expect(human.stdout).toMatch(new RegExp(`^ *${first.offset} +${first.offset + CS} +4 KiB$`, 'm'));
  });

  test('export: a sparse file and stdout, byte for byte; an unknown snapshot creates nothing', async () => {
    const j = await runJson<{ bytes: number; version: string }>(cli, [
      'export',
      S(),
      '--snapshot',
      'v1',
      p('out1.img'),
    ]);
    expect(j).toMatchObject({ bytes: img1.length, version: 'v1' });
    expect(Buffer.from(await readFile(p('out1.img'))).equals(Buffer.from(img1))).toBe(true);
    const st = await stat(p('out1.img'));
    // About a third of the chunks are zero: holes (when the file system supports them).
    if (st.blocks * 512 < st.size) expect(st.blocks * 512).toBeLessThan(img1.length * 0.8);
    const out = await deja('export', S(), '--snapshot', 'v2', '-');
    expect(out.code).toBe(0);
    expect(out.bytes.equals(Buffer.from(img2))).toBe(true);
    expect(out.stderr).toMatch(/^exported snapshot 'v2' \(4 MiB\) to stdout/);
    const live = await deja('export', S(), p('live.img'), '--json');
    expect(JSON.parse(live.stdout).version).toBe('@live');
    const missing = await deja('export', S(), '--snapshot', 'nope', p('nope.img'));
    expectError(missing, 1, 'ERR_NOT_FOUND');
    await expect(stat(p('nope.img'))).rejects.toThrow();
  });

  test('export-diff and apply-diff: onto an image file, and into another store from stdin', async () => {
    const d = await runJson<{ records: number; changedBytes: number; bytes: number }>(cli, [
      'export-diff',
      S(),
      'v1',
      'v2',
      p('v1-v2.djdiff'),
    ]);
    expect(d.changedBytes).toBe(changedChunks(img1, img2).length * CS);
    expect(d.bytes).toBe((await stat(p('v1-v2.djdiff'))).size);
    expect(d.records).toBeGreaterThan(0);
    // Onto a copy of v1's image.
    await copyFile(p('v1.img'), p('copy.img'));
    const a = await runJson<{ targetKind: string; stream: { base: string; target: string; size: number } }>(
      cli,
      ['apply-diff', p('copy.img'), p('v1-v2.djdiff')],
    );
    expect(a.targetKind).toBe('image');
    expect(a.stream).toMatchObject({ base: 'v1', target: 'v2', size: img2.length });
    expect(Buffer.from(await readFile(p('copy.img'))).equals(Buffer.from(img2))).toBe(true);
    // Into a second store holding v1, from stdin, with a snapshot named after the stream's target.
    const T = p('replica');
    await runJson(cli, ['init', T, '--size', '0']);
    await runJson(cli, ['import', T, p('v1.img'), '--snapshot', 'v1']);
    const stream = await deja('export-diff', S(), 'v1', 'v2', '-');
    expect(stream.code).toBe(0);
    expect(stream.bytes.length).toBe(d.bytes);
    const r = await runJson<{ targetKind: string; snapshot: { name: string } }>(
      cli,
      ['apply-diff', T, '-', '--snapshot'],
      {
        input: stream.bytes,
      },
    );
    expect(r.targetKind).toBe('store');
    expect(r.snapshot.name).toBe('v2');
    const back = await deja('export', T, '--snapshot', 'v2', '-');
    expect(back.bytes.equals(Buffer.from(img2))).toBe(true);
    // The same stream again: the changes apply (harmless), the snapshot name is taken.
    const again = await runCli(cli, ['apply-diff', T, '-', '--snapshot'], { input: stream.bytes });
    expectError(again, 1, 'ERR_EXISTS');
    expect(again.stderr).toContain('the changes were applied');
    // A cut stream is refused; a missing image is not created without --create.
    const cut = await runCli(cli, ['apply-diff', p('copy.img'), '-'], {
      input: stream.bytes.subarray(0, 1000),
    });
    expectError(cut, 1, 'ERR_BAD_STREAM');
    const nowhere = await deja('apply-diff', p('nowhere.img'), p('v1-v2.djdiff'));
    expectError(nowhere, 1);
    await expect(stat(p('nowhere.img'))).rejects.toThrow();
    // An image that holds neither v1 nor v2 where the stream changes things is refused, untouched.
    const other = Buffer.from(img1);
    for (let i = 0; i < other.length; i++) other[i] = (other[i] as number) ^ 0x5a;
    await writeFile(p('other.img'), other);
    const wrong = await deja('apply-diff', p('other.img'), p('v1-v2.djdiff'));
    expectError(wrong, 1, 'ERR_INVALID_STATE');
    expect(wrong.stderr).toContain("apply the stream to a copy of 'v1'");
    expect(Buffer.from(await readFile(p('other.img'))).equals(other)).toBe(true);
  });

  test('stats --json: exact figures', async () => {
    const s = await runJson<Record<string, number | boolean | string>>(cli, ['stats', S()]);
    expect(s).toMatchObject({
      store: S(),
      chunkSize: CS,
      logicalBytes: img2.length,
      snapshots: 3,
      maxSnapshots: 256,
    });
    expect(s.storedBytes).toBe((s.dataBytes as number) + (s.metadataBytes as number));
    expect(s.mappedChunks as number).toBe(
      Array.from({ length: img2.length / CS }, (_, c) => c).filter((c) =>
        img2.subarray(c * CS, (c + 1) * CS).some((x) => x !== 0),
      ).length,
    );
    const human = await deja('stats', S());
    expect(human.stdout).toMatch(/^live volume +4 MiB \(/m);
    expect(human.stdout).toMatch(/^dedup ratio +[\d.]+x/m);
  });

  test('snapshot create, rollback, delete', async () => {
    const c = await runJson<{ name: string; size: number }>(cli, ['snapshot', 'create', S(), 'keep']);
    expect(c).toMatchObject({ name: 'keep', size: img2.length });
    expectError(await deja('snapshot', 'create', S(), 'keep'), 1, 'ERR_EXISTS');
    const r = await runJson<{ name: string }>(cli, ['snapshot', 'rollback', S(), 'v1']);
    expect(r.name).toBe('v1');
    const live = await deja('export', S(), '-');
    expect(live.bytes.equals(Buffer.from(img1))).toBe(true);
    expectError(await deja('snapshot', 'rollback', S(), 'nope'), 1, 'ERR_NOT_FOUND');
    // A typo in one name deletes none.
    expectError(await deja('snapshot', 'delete', S(), 'keep', 'nope'), 1, 'ERR_NOT_FOUND');
    const names = (
      await runJson<{ snapshots: { name: string }[] }>(cli, ['snapshot', 'ls', S()])
    ).snapshots.map((s) => s.name);
    expect(names).toContain('keep');
    const del = await runJson<{ deleted: { name: string; freedBytes: number }[]; freedBytes: number }>(cli, [
      'snapshot',
      'delete',
      S(),
      'keep',
      names[1] as string,
    ]);
    expect(del.deleted.map((d) => d.name)).toEqual(['keep', names[1]]);
    expect(del.freedBytes).toBe(del.deleted.reduce((n, d) => n + d.freedBytes, 0));
    const after = await runJson<{ snapshots: { name: string }[] }>(cli, ['snapshot', 'list', S()]);
    expect(after.snapshots.map((s) => s.name)).toEqual(['v1', 'v2']);
    const human = await deja('snapshot', 'rm', S(), 'v2');
    expect(human.stdout).toMatch(/^deleted snapshot 'v2', freed [\d.]+ \w+\n$/);
  });

  test('check: exit 0 on a sound store, --data verifies every chunk, --repair has nothing to do', async () => {
    const j = await runJson<{ ok: boolean; problems: unknown[]; chunksVerified: number; repaired: number }>(
      cli,
      ['check', S(), '--data'],
    );
    expect(j.ok).toBe(true);
    expect(j.problems).toEqual([]);
    expect(j.chunksVerified).toBeGreaterThan(0);
    const r = await deja('check', S(), '--repair');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^no damage found in /);
  });
});

describe('images that end inside a chunk', () => {
  const odd = () => makeImage(3, 300).subarray(0, 300 * CS - 1000);

  test('import and export keep every byte (a store sized by the import)', async () => {
    const S = p('odd');
    await runJson(cli, ['init', S, '--size', '0']);
    const j = await runJson<{ bytes: number }>(cli, ['import', S, '-', '--snapshot', 'o'], { input: odd() });
    expect(j.bytes).toBe(odd().length);
    const back = await deja('export', S, '--snapshot', 'o', '-');
    expect(back.bytes.equals(Buffer.from(odd()))).toBe(true);
  });

  // Regression: an import grows the page layer inside its open transaction; chunks in the grown
  // part used to be taken for damage ("past the end of data.deja").
  test('import into a volume as large or larger keeps every byte', async () => {
    const S = p('odd-larger');
    const image = makeImage(4, 6104).subarray(0, 25_000_000);
    await runJson(cli, ['init', S, '--size', String(6104 * CS)]);
    await runJson(cli, ['import', S, '-', '--snapshot', 'o'], { input: image });
    const back = await deja('export', S, '--snapshot', 'o', '-');
    expect(back.bytes.equals(Buffer.from(image))).toBe(true);
  });
});

describe('failures', () => {
  test('a missing store: one line, exit 1; --debug adds the stack; --json adds an error document', async () => {
    const r = await deja('stats', p('missing'));
    expectError(r, 1, 'ERR_NOT_FOUND');
    expect(r.stderr).toBe(
      `deja: error: no store at ${p('missing')}; create one with 'deja init' (ERR_NOT_FOUND)\n`,
    );
    const d = await deja('stats', p('missing'), '--debug');
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/^\s+at /m);
    const j = await deja('snapshot', 'list', p('missing'), '--json');
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toEqual({
      error: { code: 'ERR_NOT_FOUND', message: expect.stringContaining('no store at'), exitCode: 1 },
    });
    const img = await deja('import', p('missing'), p('no-such.img'));
    expectError(img, 1, 'ENOENT');
  });

  test('a leaked page: check exits 3 and names it; --repair fixes it and exits 0', async () => {
    const L = p('leaky');
    await runJson(cli, ['init', L, '--size', '0']);
    await writeFile(p('leaky.img'), makeImage(8, 256));
    await runJson(cli, ['import', L, p('leaky.img'), '--snapshot', 'l']);
    // Leak a data page behind the store's back, through its page layer.
    const pages = await PageStore.open(await FileStorage.open(join(L, 'data.deja')));
    const tx = pages.begin();
    const leaked = await tx.allocate('data');
    await tx.writeData(leaked, new Uint8Array(CS).fill(1));
    await tx.commit();
    await pages.close();
    await pages.storage.close();
    const found = await deja('check', L);
    expect(found.code).toBe(3);
    expect(found.stdout).toContain(`leak: page ${leaked} has 1 references but nothing refers to it`);
    const fixed = await deja('check', L, '--repair', '--json');
    expect(fixed.code).toBe(0);
    const doc = JSON.parse(fixed.stdout);
    expect(doc).toMatchObject({ ok: true, problemsAfterRepair: [] });
    expect(doc.problems.map((q: { kind: string; page?: number }) => `${q.kind}@${q.page}`)).toContain(
      `leak@${leaked}`,
    );
    expect(doc.repaired).toBeGreaterThan(0);
    expect((await deja('check', L, '--data')).code).toBe(0);
  });

  test('damage: check exits 3 (also after --repair when the damage is in the data); a store that cannot open is damage', async () => {
    const D = p('damaged');
    await runJson(cli, ['init', D, '--size', '0']);
    // A chunk whose bytes are easy to find in the data file.
    const marker = Buffer.alloc(CS, 'DEJA-CHECK-MARKER-');
    const image = Buffer.concat([Buffer.from(makeImage(7, 64)), marker]);
    await writeFile(p('marked.img'), image);
    await runJson(cli, ['import', D, p('marked.img'), '--snapshot', 'm']);
    const file = join(D, 'data.deja');
    const bytes = await readFile(file);
    const at = bytes.indexOf(marker);
    expect(at).toBeGreaterThan(0);
    bytes.writeUInt8(bytes.readUInt8(at + 100) ^ 0xff, at + 100);
    await writeFile(file, bytes);
    expect((await deja('check', D)).code).toBe(0); // metadata is sound
    const r = await deja('check', D, '--data');
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^data: chunk at page \d+: its bytes do not match its name$/m);
    expect(r.stdout).toMatch(/^damage found: 1 problem/m);
    const j = await deja('check', D, '--data', '--repair', '--json');
    expect(j.code).toBe(3);
    const doc = JSON.parse(j.stdout);
    expect(doc.ok).toBe(false);
    expect(doc.problems.map((q: { kind: string }) => q.kind)).toEqual(['data']);
    expect(doc.problemsAfterRepair.map((q: { kind: string }) => q.kind)).toEqual(['data']);
    // Reading the damaged chunk is an error, never wrong bytes.
    expectError(await deja('export', D, '--snapshot', 'm', p('damaged.img')), 1, 'ERR_CORRUPT_DATA');
    // A store whose file is cut short cannot open: check says damage (3), other commands fail (1).
    await writeFile(file, bytes.subarray(0, 100));
    const c = await deja('check', D, '--json');
    expect(c.code).toBe(3);
    expect(JSON.parse(c.stdout)).toMatchObject({ ok: false, opened: false });
    expect((await deja('stats', D)).code).toBe(1);
  });
});
