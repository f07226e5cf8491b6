// The commands that move bytes: `import` (an image becomes the live volume, then a snapshot),
// `export` (a version to a sparse file or stdout), `export-diff` and `apply-diff` (the changes
// between two versions, shipped to another store or onto an image file). Each shows a progress
// bar on a terminal and stops cleanly at Ctrl-C: the store is flushed and closed, and the
// message says what state things are in.

import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { applyDiff, type DiffInfo, exportDiff, exportVersion, importImage, LIVE, type Store } from '../index';
import { importNbd } from '../nbd/index';
import { checkAgainstImage, importChanged, parseChangedExtents, readExtentsText } from './changed';
import { type Act, examples } from './command';
import {
  type CommonOptions,
  type Context,
  checkSnapshotName,
  checkVersion,
  isDirectory,
  isStore,
  openStore,
  readStore,
  since,
  withStore,
} from './context';
import { CliFailure, EXIT, UsageError } from './errors';
import { formatCount, formatDuration, formatRate, formatSize } from './size';
import { counting, exists, fileChunks, guarded, removeCreated } from './streams';

/** A snapshot's name for when none is given: the time, ISO 8601 in UTC. */
export function timeName(): string {
  return new Date().toISOString();
}

/** Fails early (before any work) when a snapshot cannot be taken afterwards. */
function canSnapshot(store: Store, name: string | undefined): void {
  const snaps = store.listSnapshots();
  if (name !== undefined && snaps.some((s) => s.name === name))
    throw new CliFailure(`snapshot '${name}' already exists`, EXIT.FAILURE, 'ERR_EXISTS');
  if (snaps.length >= store.maxSnapshots)
    throw new CliFailure(
      `the store holds ${snaps.length} snapshots, its most; delete one first (or pass --no-snapshot)`,
      EXIT.FAILURE,
      'ERR_TOO_MANY_SNAPSHOTS',
    );
}

/** Takes the snapshot after an import or apply-diff; a default name gets a suffix if taken. */
async function snapshotAfter(store: Store, name: string | undefined) {
  let chosen = name ?? timeName();
  if (name === undefined) {
    const taken = new Set(store.listSnapshots().map((s) => s.name));
    for (let k = 2; taken.has(chosen); k++) chosen = `${timeName()}-${k}`;
  }
  const info = await store.createSnapshot(chosen);
  return { name: info.name, created: new Date(info.created).toISOString(), size: info.size };
}

/**
 * The frame every import shares: the snapshot is checked possible first, a progress bar runs, a
 * Ctrl-C becomes one message (`stopped(bytes done, total)`) after the store is closed (`discard`:
 * back to its last flush; otherwise flushed), then the snapshot is taken and the new data counted.
 */
async function importFrame<R>(
  ctx: Context,
  store: Store,
  name: string | undefined,
  opts: ImportOptions,
  stop: { discard: boolean; stopped: (done: number, total: number | undefined) => string },
  run: (progress: (bytes: number, total: number | undefined) => void) => Promise<R>,
) {
  if (opts.snapshot !== false) canSnapshot(store, name);
  const before = (await store.stats()).dataBytes;
  const start = performance.now();
  const bar = ctx.progress('import', opts);
  let done = 0;
  let total: number | undefined;
  let result: R;
  try {
    result = await run((bytes, all) => {
      done = bytes;
      total = all;
      bar.update(bytes, all);
    });
  } catch (e) {
    bar.stop();
    const interrupted = ctx.interrupted(stop.stopped(done, total));
    if (interrupted) {
      await store.close(stop.discard ? { discard: true } : {});
      throw interrupted;
    }
    throw e;
  }
  bar.stop();
  const seconds = since(start);
  const snapshot = opts.snapshot === false ? null : await snapshotAfter(store, name);
  const dataBytesAdded = (await store.stats()).dataBytes - before;
  return { result, seconds, snapshot, dataBytesAdded };
}

/** Fails unless `version` names the live volume or a snapshot of `store`. */
function requireVersion(store: Store, version: string): void {
  if (version === LIVE || store.listSnapshots().some((s) => s.name === version)) return;
  throw new CliFailure(`no snapshot '${version}' in this store`, EXIT.FAILURE, 'ERR_NOT_FOUND');
}

/** Refuses to write binary data to a terminal. */
function dataToStdout(ctx: Context): void {
  if (ctx.io.stdout.isTTY)
    throw new UsageError(
      "refusing to write binary data to a terminal: redirect stdout or name a file instead of '-'",
    );
  ctx.stdoutIsData = true;
}

interface ImportOptions extends CommonOptions {
  readonly snapshot?: string | false;
  readonly dirtyBitmap?: string;
  readonly tlsCa?: string;
  readonly changed?: string;
}

/** Whether an import source names an NBD export. */
function isNbdUri(source: string): boolean {
  return /^nbds?(\+unix)?:\/\//.test(source);
}
interface ExportOptions extends CommonOptions {
  readonly snapshot?: string;
}
interface ApplyOptions extends CommonOptions {
  readonly snapshot?: string | true;
  readonly create?: boolean;
}

/** Registers `import`, `export`, `export-diff`, `apply-diff`. */
export function registerTransfer(program: Command, ctx: Context, act: Act): void {
  const { io } = ctx;

  program
    .command('import')
    .summary('make an image the live volume, then snapshot it')
    .description(
      'Write a disk image over the live volume (only changed chunks cost a write; zero chunks cost nothing) and set the volume size to the image size, then take a snapshot (default name: the time, ISO 8601 UTC).\nCtrl-C stops the import: the store is flushed and closed with part of the image in the live volume and no new snapshot; run the import again to finish it (chunks already in cost no write).',
    )
    .argument('<store>', 'the store directory')
    .argument(
      '<image>',
      "image file or block device, '-' for stdin, or an NBD export (nbd://host/export, nbd+unix:///export?socket=PATH)",
    )
    .option('--snapshot <name>', 'name of the snapshot taken after the import')
    .option(
      '--dirty-bitmap <name>',
      'NBD only: read just the ranges the qemu:dirty-bitmap:NAME context marks (the live volume must hold the version the bitmap started from)',
    )
    .option(
      '--tls-ca <file>',
      'NBD only: connect with TLS, verifying the server against these CA certificates (PEM)',
    )
    .option(
      '--changed <extents>',
      "image file only: read just these byte ranges (a JSON list of { offset, length }, CSI changed-block metadata, or thin_delta's XML; '-' for stdin); the live volume must hold the version the list starts from",
    )
    .option('--no-snapshot', 'take no snapshot: only the live volume changes')
    .option('--no-progress', 'no progress bar (there is none with --json or when stderr is not a terminal)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      examples([
        ['deja import /srv/deja/vm1 vm1.img', 'snapshot named after the time'],
        ['deja import /srv/deja/vm1 /dev/vg/thin1 --changed delta.xml', 'only the ranges thin_delta lists'],
        ['deja import /srv/deja/vm1 vm1.img --snapshot monday', 'a named snapshot'],
        ['zstdcat vm1.img.zst | deja import /srv/deja/vm1 -', 'from stdin'],
        ['deja import /srv/deja/vm1 nbd+unix:///?socket=/run/vm1.sock', 'from an NBD export (holes skipped)'],
        [
          'deja import /srv/deja/vm1 nbd://10.0.0.5/drive0 --dirty-bitmap b1',
          'only what changed (qemu-nbd -B b1)',
        ],
      ]),
    )
    .action(
      act(async (path: string, image: string, opts: ImportOptions) => {
        const name = typeof opts.snapshot === 'string' ? checkSnapshotName(opts.snapshot) : undefined;
        if (opts.changed !== undefined) {
          if (image === '-' || isNbdUri(image))
            throw new UsageError('--changed reads ranges of an image file or block device, not stdin or NBD');
          return importChangedRanges(ctx, path, image, opts.changed, name, opts);
        }
        if (isNbdUri(image)) return importFromNbd(ctx, path, image, name, opts);
        if (opts.dirtyBitmap !== undefined || opts.tlsCa !== undefined)
          throw new UsageError('--dirty-bitmap and --tls-ca apply to an NBD source (nbd://...)');
        if (image === '-') {
          if (io.stdin.isTTY) throw new UsageError("'-' reads the image from stdin, but stdin is a terminal");
        } else {
          const s = await stat(image);
          if (s.isDirectory())
            throw new CliFailure(`${image} is a directory, not an image`, EXIT.FAILURE, 'EISDIR');
        }
        return withStore(path, async (store) => {
          const { result, seconds, snapshot, dataBytesAdded } = await importFrame(
            ctx,
            store,
            name,
            opts,
            {
              discard: true,
              stopped: (done, total) =>
                `the import stopped after ${formatSize(done)}${total ? ` of ${formatSize(total)}` : ''}. The store is closed at its last flush: the live volume holds the part of the image committed so far (a long import commits along the way), no snapshot was taken, existing snapshots are intact. Run the import again to finish it.`,
            },
            (progress) =>
              importImage(store, image === '-' ? guarded(io.stdin, io.signal) : image, {
                signal: io.signal,
                onProgress: (p) => progress(p.bytes, p.total),
              }),
          );
          const json = {
            store: path,
            image,
            bytes: result.bytes,
            changedChunks: result.changedChunks,
            chunkSize: store.chunkSize,
            dataBytesAdded,
            seconds,
            snapshot,
          };
          const text =
            `imported ${formatSize(result.bytes)} in ${formatDuration(seconds)} (${formatRate(result.bytes, seconds)}): ` +
            `${formatCount(result.changedChunks)} chunks changed, ${formatSize(Math.max(0, dataBytesAdded))} of new data` +
            (snapshot ? `; snapshot '${snapshot.name}'` : '; no snapshot taken');
          return { json, text };
        });
      }),
    );

  program
    .command('export')
    .summary('write a version to a sparse file or stdout')
    .description(
      "Write a snapshot (or the live volume) to a file, sparse: unmapped chunks become holes. An existing file is replaced. With '-' every byte goes to stdout and the summary to stderr.",
    )
    .argument('<store>', 'the store directory')
    .argument('<out>', "output file, or '-' for stdout")
    .option('--snapshot <name>', `the version to export ('${LIVE}' is the live volume)`, LIVE)
    .option('--no-progress', 'no progress bar (there is none with --json or when stderr is not a terminal)')
    .option('--json', 'print the result as JSON (on stderr when the data goes to stdout)')
    .addHelpText(
      'after',
      examples([
        ['deja export /srv/deja/vm1 --snapshot monday monday.img', 'a snapshot to a sparse file'],
        ['deja export /srv/deja/vm1 live.img', 'the live volume'],
        ['deja export /srv/deja/vm1 --snapshot monday - | zstd > monday.img.zst', 'to stdout'],
      ]),
    )
    .action(
      act(async (path: string, out: string, opts: ExportOptions) => {
        const version = checkVersion(opts.snapshot ?? LIVE);
        if (out === '-') dataToStdout(ctx);
        return readStore(path, async (store) => {
          requireVersion(store, version);
          const existed = out === '-' || (await exists(out));
          const start = performance.now();
          const bar = ctx.progress('export', opts);
          let done = 0;
          let bytes: number;
          try {
            bytes = await exportVersion(store, version, out === '-' ? io.stdout : out, {
              signal: io.signal,
              onProgress: (p) => {
                done = p.bytes;
                bar.update(p.bytes, p.total);
              },
            });
          } catch (e) {
            bar.stop();
            if (out !== '-') await removeCreated(out, existed);
            const stop = ctx.interrupted(
              `the export stopped after ${formatSize(done)}; ${out === '-' ? 'the output is incomplete' : existed ? `${out} is incomplete` : `${out} was removed`}. The store is unchanged.`,
            );
            throw stop ?? e;
          }
          bar.stop();
          const seconds = since(start);
          const what = version === LIVE ? 'the live volume' : `snapshot '${version}'`;
          return {
            json: { store: path, version, output: out, bytes, seconds },
            text: `exported ${what} (${formatSize(bytes)}) to ${out === '-' ? 'stdout' : out} in ${formatDuration(seconds)} (${formatRate(bytes, seconds)})`,
            toStderr: out === '-',
          };
        });
      }),
    );

  program
    .command('export-diff')
    .summary('write the changes between two versions as a diff stream')
    .description(
      `Write the changes from version A to version B as a diff stream: applying it (deja apply-diff) to a copy of A gives B. '${LIVE}' is the live volume. With '-' the stream goes to stdout and the summary to stderr.`,
    )
    .argument('<store>', 'the store directory')
    .argument('<a>', 'the base version')
    .argument('<b>', 'the target version')
    .argument('<out>', "output file, or '-' for stdout")
    .option('--no-progress', 'no progress bar (there is none with --json or when stderr is not a terminal)')
    .option('--json', 'print the result as JSON (on stderr when the stream goes to stdout)')
    .addHelpText(
      'after',
      examples([
        ['deja export-diff /srv/deja/vm1 monday tuesday mon-tue.djdiff', 'to a file'],
        [
          'deja export-diff /srv/deja/vm1 monday tuesday - | ssh backup deja apply-diff /srv/deja/vm1 - --snapshot',
          'to another store',
        ],
      ]),
    )
    .action(
      act(async (path: string, a: string, b: string, out: string, opts: CommonOptions) => {
        checkVersion(a);
        checkVersion(b);
        if (out === '-') dataToStdout(ctx);
        return readStore(path, async (store) => {
          requireVersion(store, a);
          requireVersion(store, b);
          const existed = out === '-' || (await exists(out));
          const start = performance.now();
          const bar = ctx.progress('export-diff', opts);
          const counter = out === '-' ? counting(io.stdout) : undefined;
          let done = 0;
          let changedBytes = 0;
          let records: number;
          try {
            records = await exportDiff(store, a, b, counter ? counter.sink : out, {
              signal: io.signal,
              onProgress: (p) => {
                done = p.bytes;
                changedBytes = p.total ?? changedBytes;
                bar.update(p.bytes, p.total);
              },
            });
          } catch (e) {
            bar.stop();
            if (out !== '-') await removeCreated(out, existed);
            const stop = ctx.interrupted(
              `the diff stream stopped after ${formatSize(done)} of changes; ${out === '-' ? 'the stream is incomplete (applying it fails at its end)' : `${out} ${existed ? 'is incomplete' : 'was removed'}`}. The store is unchanged.`,
            );
            throw stop ?? e;
          }
          bar.stop();
          if (counter) await new Promise<void>((resolve) => counter.sink.end(resolve));
          const seconds = since(start);
          const bytes = counter ? counter.bytes() : (await stat(out)).size;
          return {
            json: { store: path, base: a, target: b, output: out, records, changedBytes, bytes, seconds },
            text: `wrote the changes from '${a}' to '${b}' (${formatSize(changedBytes)} changed, ${formatCount(records)} records, ${formatSize(bytes)} stream) to ${out === '-' ? 'stdout' : out} in ${formatDuration(seconds)}`,
            toStderr: out === '-',
          };
        });
      }),
    );

  program
    .command('apply-diff')
    .summary('apply a diff stream to a store or an image file')
    .description(
      "Replay a diff stream (from deja export-diff) onto the live volume of a store, or onto an image file, which must hold the stream's base version; the target takes the stream's size. Each record is checked (CRC-32) before it is written, and so is the target: a record is written only over the base's bytes (its digest is in the stream), so a stream applied to another image or store, or out of order, stops before it mixes two histories. A damaged or cut stream fails, and applying the same stream again is harmless (what is already there is skipped).\nCtrl-C stops it: a store is flushed and closed, an image keeps what was written; apply the same stream again to finish.",
    )
    .argument('<target>', 'a store directory, or an image file')
    .argument('<in>', "the diff stream file, or '-' for stdin")
    .option(
      '--snapshot [name]',
      "store only: take a snapshot afterwards (default name: the stream's target version)",
    )
    .option('--create', 'create the image file if it does not exist')
    .option('--no-progress', 'no progress bar (there is none with --json or when stderr is not a terminal)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      examples([
        [
          'deja apply-diff /srv/backup/vm1 mon-tue.djdiff --snapshot',
          "a store holding monday: snapshot 'tuesday'",
        ],
        ['deja apply-diff monday.img mon-tue.djdiff', 'an image of monday becomes tuesday'],
        [
          'ssh prod deja export-diff /srv/deja/vm1 mon tue - | deja apply-diff /srv/backup/vm1 -',
          'from stdin',
        ],
      ]),
    )
    .action(
      act(async (target: string, input: string, opts: ApplyOptions) => {
        const explicit = typeof opts.snapshot === 'string' ? checkSnapshotName(opts.snapshot) : undefined;
        const toStore = await isStore(target);
        if (!toStore) {
          if (await isDirectory(target))
            throw new CliFailure(
              `${target} is a directory that holds no store`,
              EXIT.FAILURE,
              'ERR_NOT_FOUND',
            );
          if (opts.snapshot !== undefined)
            throw new UsageError('--snapshot applies to a store; the target is an image file');
          if (!opts.create && !(await exists(target)))
            throw new CliFailure(
              `${target} does not exist: name a store or an image file of the base version (or pass --create)`,
              EXIT.FAILURE,
              'ENOENT',
            );
        }
        let total: number | undefined;
        if (input === '-') {
          if (io.stdin.isTTY)
            throw new UsageError("'-' reads the diff stream from stdin, but stdin is a terminal");
        } else {
          const s = await stat(input);
          if (s.isDirectory())
            throw new CliFailure(`${input} is a directory, not a diff stream`, EXIT.FAILURE, 'EISDIR');
          total = s.size;
        }
        const start = performance.now();
        let done = 0;
        const bar = ctx.progress('apply-diff', opts);
        const source = guarded(input === '-' ? io.stdin : fileChunks(input), io.signal, (bytes) => {
          done = bytes;
          bar.update(bytes, total);
        });
        const interrupted = (where: string) =>
          ctx.interrupted(
            `applying stopped after ${formatSize(done)} of the stream; ${where}. Apply the same stream again to finish.`,
          );
        const result = (info: DiffInfo, snapshot: unknown) => {
          const seconds = since(start);
          const json = {
            target,
            targetKind: toStore ? 'store' : 'image',
            input,
            stream: info,
            bytes: done,
            seconds,
            snapshot,
          };
          const snap = snapshot ? `; snapshot '${(snapshot as { name: string }).name}'` : '';
          return {
            json,
            text: `applied the changes from '${info.base}' to '${info.target}' (${formatCount(info.records)} records, ${formatSize(done)} stream) to ${toStore ? 'store' : 'image'} ${target} in ${formatDuration(seconds)}; its size is now ${formatSize(info.size)}${snap}`,
          };
        };
        if (!toStore) {
          let info: DiffInfo;
          try {
            info = await applyDiff(source, target, { signal: io.signal });
          } catch (e) {
            bar.stop();
            throw interrupted(`${target} holds part of the changes`) ?? e;
          }
          bar.stop();
          return result(info, null);
        }
        const store = await openStore(target);
        try {
          if (opts.snapshot !== undefined) canSnapshot(store, explicit);
          let info: DiffInfo;
          try {
            info = await applyDiff(source, store.volume(LIVE), { signal: io.signal });
          } catch (e) {
            bar.stop();
            const stop = interrupted(
              'the store is flushed and closed with part of the changes in its live volume and no new snapshot',
            );
            if (stop) await store.close();
            throw stop ?? e;
          }
          bar.stop();
          let snapshot = null;
          if (opts.snapshot !== undefined) {
            const name = explicit ?? (info.target === LIVE ? undefined : info.target);
            if (name !== undefined && store.listSnapshots().some((s) => s.name === name))
              throw new CliFailure(
                `the changes were applied to the live volume, but snapshot '${name}' already exists: take one with 'deja snapshot create'`,
                EXIT.FAILURE,
                'ERR_EXISTS',
              );
            snapshot = await snapshotAfter(store, name);
          }
          await store.close();
          return result(info, snapshot);
        } finally {
          await store.close().catch(() => {});
        }
      }),
    );
}

/** `deja import STORE nbd://...`: the export becomes the live volume (or its dirty ranges go in). */
async function importFromNbd(
  ctx: Context,
  path: string,
  uri: string,
  name: string | undefined,
  opts: ImportOptions,
) {
  const { io } = ctx;
  const tls = opts.tlsCa !== undefined ? { ca: await readFile(opts.tlsCa) } : undefined;
  return withStore(path, async (store) => {
    const { result, seconds, snapshot, dataBytesAdded } = await importFrame(
      ctx,
      store,
      name,
      opts,
      {
        discard: false,
        stopped: (done) =>
          `the import stopped after ${formatSize(done)}. The store is flushed and closed: the live volume holds part of the export, no snapshot was taken. Run the import again to finish it.`,
      },
      (progress) =>
        importNbd(store, uri, {
          signal: io.signal,
          ...(opts.dirtyBitmap !== undefined ? { dirtyBitmap: opts.dirtyBitmap } : {}),
          ...(tls ? { tls } : {}),
          onProgress: (p) => progress(p.bytes, p.total),
        }),
    );
    const changedBytes = result.ranges.reduce((n, r) => n + r.length, 0);
    const json = {
      store: path,
      image: uri,
      bytes: result.bytes,
      chunkSize: store.chunkSize,
      dirtyBitmap: opts.dirtyBitmap ?? null,
      ranges: result.ranges,
      changedBytes,
      readBytes: result.readBytes,
      zeroBytes: result.zeroBytes,
      dataBytesAdded,
      seconds,
      snapshot,
    };
    const what = opts.dirtyBitmap
      ? `${formatCount(result.ranges.length)} changed ranges (${formatSize(changedBytes)}) of ${formatSize(result.bytes)} from dirty bitmap '${opts.dirtyBitmap}'`
      : formatSize(result.bytes);
    const text =
      `imported ${what} from ${uri} in ${formatDuration(seconds)}: read ${formatSize(result.readBytes)}, ${formatSize(result.zeroBytes)} zeros skipped, ` +
      `${formatSize(Math.max(0, dataBytesAdded))} of new data` +
      (snapshot ? `; snapshot '${snapshot.name}'` : '; no snapshot taken');
    return { json, text };
  });
}

/** `deja import STORE IMAGE --changed EXTENTS`: only the listed ranges of the image are read. */
async function importChangedRanges(
  ctx: Context,
  path: string,
  image: string,
  extentsFile: string,
  name: string | undefined,
  opts: ImportOptions,
) {
  const { io } = ctx;
  const s = await stat(image);
  if (s.isDirectory()) throw new CliFailure(`${image} is a directory, not an image`, EXIT.FAILURE, 'EISDIR');
  // Everything about the list is checked before the store is opened.
  const extents = parseChangedExtents(await readExtentsText(extentsFile, io.stdin), extentsFile);
  return withStore(path, async (store) => {
    // A block device's size is not in stat: it keeps the volume's size.
    const size = s.isFile() ? s.size : store.size;
    checkAgainstImage(extents, size, extentsFile);
    const { result, seconds, snapshot, dataBytesAdded } = await importFrame(
      ctx,
      store,
      name,
      opts,
      {
        discard: true,
        stopped: (done) =>
          `the import stopped after ${formatSize(done)} of changed ranges. The store is closed at its last flush: the live volume holds part of the changes, no snapshot was taken. Run the import again to finish it.`,
      },
      (progress) =>
        importChanged(store, image, size, extents.ranges, {
          signal: io.signal,
          onProgress: progress,
        }),
    );
    const json = {
      store: path,
      image,
      changed: extentsFile,
      format: extents.format,
      bytes: result.bytes,
      chunkSize: store.chunkSize,
      ranges: extents.ranges,
      changedBytes: result.readBytes,
      readBytes: result.readBytes,
      dataBytesAdded,
      seconds,
      snapshot,
    };
    const text =
      `imported ${formatCount(extents.ranges.length)} changed ranges (${formatSize(result.readBytes)}) of ${formatSize(result.bytes)} from ${image} in ${formatDuration(seconds)}: ` +
      `${formatSize(Math.max(0, dataBytesAdded))} of new data` +
      (snapshot ? `; snapshot '${snapshot.name}'` : '; no snapshot taken');
    return { json, text };
  });
}
