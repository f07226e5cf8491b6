// What every `deja` command shares: the process's streams and interruption signal (passed in, so
// the program runs the same under tests), the result a command hands back for printing (a text for
// people, an object for `--json`), opening a store with user-facing messages for the usual
// mistakes, argument checks that are usage errors, and the progress bar switch.

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { InvalidArgumentError } from 'commander';
import { DATA_FILE, isStoreError, LIVE, Store } from '../index';
import { CliFailure, EXIT, UsageError } from './errors';
import { isS3Url, s3StoreExists, storeLocation } from './location';
import { type ProgressReporter, progressBar } from './progress';
import { parseSize } from './size';

/** The process around the program: streams, and a signal aborted by Ctrl-C (SIGINT) or SIGTERM. */
export interface Io {
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean };
  readonly stdin: Readable & { isTTY?: boolean };
  /** Aborted on the first SIGINT/SIGTERM; its `reason` is the signal's name. */
  readonly signal: AbortSignal;
}

/** What a command prints. */
export interface Output {
  /** The `--json` document. */
  readonly json: unknown;
  /** The text for people (lines, no trailing newline needed). */
  readonly text: string;
  /** Print to stderr: stdout carries data (`export ... -`). */
  readonly toStderr?: boolean;
  /** Warnings for people, on stderr (also with --json, as `warnings` in the document). */
  readonly warnings?: readonly string[];
  /** Exit code (default 0). */
  readonly exitCode?: number;
}

/** Options every printing command takes. */
export interface CommonOptions {
  readonly json?: boolean;
  readonly progress?: boolean;
}

/** State of one run of the program. */
export class Context {
  readonly io: Io;
  /** Whether the running command was given --json. */
  json = false;
  /** Whether stdout carries the command's data (then messages go to stderr). */
  stdoutIsData = false;
  /** The exit code the command finished with, for the runner. */
  exitCode: number = EXIT.OK;

  constructor(io: Io) {
    this.io = io;
  }

  /** A progress bar when stderr is a terminal, the output is not JSON and --no-progress is absent. */
  progress(label: string, options: CommonOptions): ProgressReporter {
    const enabled = options.json !== true && options.progress !== false && this.io.stderr.isTTY === true;
    return progressBar(this.io.stderr, label, enabled);
  }

  /**
   * When the signal fired: the interruption as a failure to throw (exit 130, 143 for SIGTERM),
   * with `what` saying what state things are left in. Otherwise undefined.
   */
  interrupted(what: string): CliFailure | undefined {
    if (!this.io.signal.aborted) return undefined;
    const reason = String(this.io.signal.reason ?? 'SIGINT');
    const code = reason === 'SIGTERM' ? 143 : EXIT.INTERRUPTED;
    return new CliFailure(what, code, 'ERR_INTERRUPTED');
  }
}

/**
 * Opens the store at `path` (a directory or `s3://BUCKET/PREFIX`), turning the usual mistakes into
 * one clear line: no store there (`ERR_NOT_FOUND`), the store in use by another process
 * (`ERR_LOCKED`).
 */
export async function openStore(path: string, options: { readOnly?: boolean } = {}): Promise<Store> {
  try {
    const location = await storeLocation(path, options.readOnly ? 'read' : 'write');
    return await Store.open(location, options.readOnly ? { readOnly: true } : {});
  } catch (e) {
    if (isStoreError(e, 'ERR_NOT_FOUND')) {
      const what = (await isDirectory(path))
        ? `${path} holds no store (${DATA_FILE} is missing)`
        : `no store at ${path}`;
      throw new CliFailure(`${what}; create one with 'deja init'`, EXIT.FAILURE, 'ERR_NOT_FOUND', {
        cause: e,
      });
    }
    if (isStoreError(e, 'ERR_LOCKED'))
      throw new CliFailure(`store ${path} is in use by another process`, EXIT.FAILURE, 'ERR_LOCKED', {
        cause: e,
      });
    throw e;
  }
}

/**
 * Opens the store, runs `fn`, closes the store (which flushes). When `fn` fails the store is
 * still closed, and a failure to close does not hide the first error. `readOnly` opens with a
 * shared lock, so commands that only read run side by side (never beside a writer).
 */
export async function withStore<T>(
  path: string,
  fn: (store: Store) => Promise<T>,
  options: { readOnly?: boolean } = {},
): Promise<T> {
  const store = await openStore(path, options);
  let result: T;
  try {
    result = await fn(store);
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
  await store.close();
  return result;
}

/** Whether `path` is an existing directory. */
export async function isDirectory(path: string): Promise<boolean> {
  if (isS3Url(path)) return false;
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** Whether `path` is a directory holding a store, or an s3:// location holding one. */
export async function isStore(path: string): Promise<boolean> {
  if (isS3Url(path)) return s3StoreExists(path);
  return stat(join(path, DATA_FILE)).then(
    (s) => s.isFile(),
    () => false,
  );
}

const MAX_NAME_BYTES = 64;

/** Checks a snapshot name as the library will (1..64 UTF-8 bytes, not starting with `@`). */
export function checkSnapshotName(name: string): string {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0 || bytes > MAX_NAME_BYTES)
    throw new UsageError(`snapshot name '${name}' must be 1 to ${MAX_NAME_BYTES} bytes long`);
  if (name.startsWith('@'))
    throw new UsageError(
      `snapshot name '${name}' may not start with '@' (reserved: '${LIVE}' is the live volume)`,
    );
  return name;
}

/** Checks a version argument: `@live` or a snapshot name. */
export function checkVersion(version: string): string {
  return version === LIVE ? version : checkSnapshotName(version);
}

/** A commander argument parser for sizes (`20G`, `4K`, `1.5GiB`). */
export function sizeArg(text: string): number {
  try {
    return parseSize(text);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** A commander argument parser for positive whole numbers. */
export function countArg(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n <= 0)
    throw new InvalidArgumentError(`'${text}' is not a positive whole number`);
  return n;
}

/** Seconds since `start` (a `performance.now()` reading). */
export function since(start: number): number {
  return (performance.now() - start) / 1000;
}

/** A snapshot's creation time for people: local `YYYY-MM-DD HH:MM:SS`. */
export function localTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A plain-text table: columns two spaces apart, the `rightAligned` ones padded on the left. */
export function table(rows: readonly (readonly string[])[], rightAligned: readonly number[] = []): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => {
          const w = widths[i] as number;
          if (i === row.length - 1 && !rightAligned.includes(i)) return cell;
          return rightAligned.includes(i) ? cell.padStart(w) : cell.padEnd(w);
        })
        .join('  '),
    )
    .join('\n');
}

/** {@link withStore} with a read-only open: for commands that only read (list, du, diff, export). */
export function readStore<T>(path: string, fn: (store: Store) => Promise<T>): Promise<T> {
  return withStore(path, fn, { readOnly: true });
}
