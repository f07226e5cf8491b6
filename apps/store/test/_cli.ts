// Test helpers for the `deja` command line: the CLI is bundled once per test file with esbuild
// (the @deja/* workspace packages from their TypeScript sources, through the `@deja/source`
// export condition; every other package stays external, imported from where it is installed),
// into a temporary directory, and run as a user runs it: `node <dir>/cli.js ...` in a child
// process, on temporary directories.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire, isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..');

// The part of esbuild's API used here (esbuild is tsup's dependency, not this package's, so its
// types are not in reach).
interface ResolveArgs {
  readonly path: string;
  readonly kind: string;
  readonly resolveDir: string;
  readonly pluginData?: unknown;
}
interface PluginBuild {
  onResolve(
    options: { filter: RegExp },
    callback: (args: ResolveArgs) => Promise<object | undefined> | object | undefined,
  ): void;
  onLoad(options: { filter: RegExp }, callback: (args: { path: string }) => Promise<object>): void;
  resolve(
    path: string,
    options: { kind: string; resolveDir: string; pluginData: unknown },
  ): Promise<{ path: string; errors: readonly object[] }>;
}
interface Esbuild {
  build(
    options: Record<string, unknown> & { plugins: { name: string; setup(b: PluginBuild): void }[] },
  ): Promise<unknown>;
}

/** esbuild, from where tsup (a root dev dependency) has it. */
function loadEsbuild(): Esbuild {
  const require = createRequire(import.meta.url);
  const fromTsup = createRequire(require.resolve('tsup'));
  return fromTsup('esbuild') as Esbuild;
}

/** A bundled CLI in a temporary directory. */
export interface BuiltCli {
  /** The bundle: run it with `node`. */
  readonly path: string;
  /** Removes the temporary directory. */
  dispose(): Promise<void>;
}

/**
 * Bundles src/cli/main.ts into a temporary directory. Inside workspace sources `import.meta.url`
 * stays each source file's own URL, so code that resolves relative to itself (the storage
 * package loads its native lock with `createRequire(import.meta.url)`) finds what it finds when
 * run from source.
 */
export async function buildCli(): Promise<BuiltCli> {
  const esbuild = loadEsbuild();
  const dir = await mkdtemp(join(tmpdir(), 'deja-cli-build-'));
  const outfile = join(dir, 'cli.js');
  const { version } = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  await esbuild.build({
    entryPoints: [join(packageDir, 'src/cli/main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@deja/source'],
    define: { __DEJA_VERSION__: JSON.stringify(version) },
    logLevel: 'silent',
    plugins: [
      {
        name: 'deja-test-bundle',
        setup(build) {
          // Bare imports other than @deja/*: external, by absolute file URL (the bundle lives in
          // a temporary directory with no node_modules of its own).
          build.onResolve({ filter: /^[^./]/ }, async (args) => {
            if (args.path.startsWith('@deja/') || args.pluginData === 'inner') return undefined;
            if (isBuiltin(args.path)) return { path: args.path, external: true };
            const r = await build.resolve(args.path, {
              kind: args.kind,
              resolveDir: args.resolveDir,
              pluginData: 'inner',
            });
            if (r.errors.length > 0) return { errors: r.errors };
            return { path: pathToFileURL(r.path).href, external: true };
          });
          build.onLoad({ filter: /\.ts$/ }, async (args) => {
            const source = await readFile(args.path, 'utf8');
            const url = JSON.stringify(pathToFileURL(args.path).href);
            return { contents: source.replaceAll('import.meta.url', url), loader: 'ts' };
          });
        },
      },
    ],
  });
  return { path: outfile, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/** The outcome of one `deja` run. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout as bytes (export to stdout). */
  readonly bytes: Buffer;
}

/** Options of {@link runCli}. */
export interface RunOptions {
  /** Bytes for stdin (closed after); default: stdin closed at once. */
  readonly input?: Uint8Array;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Starts `deja args...` and returns the child (for tests that signal it). */
export function startCli(
  cli: BuiltCli,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): ChildProcess {
  return spawn(process.execPath, [cli.path, ...args], {
    cwd: options.cwd,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Collects a started child's output and exit. */
export function finished(child: ChildProcess): Promise<CliResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (b: Buffer) => out.push(b));
  child.stderr?.on('data', (b: Buffer) => err.push(b));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const bytes = Buffer.concat(out);
      resolve({
        code,
        signal,
        stdout: bytes.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        bytes,
      });
    });
  });
}

/** Runs `deja args...` to the end. */
export async function runCli(
  cli: BuiltCli,
  args: readonly string[],
  options: RunOptions = {},
): Promise<CliResult> {
  const child = startCli(cli, args, options);
  const done = finished(child);
  child.stdin?.on('error', () => {});
  child.stdin?.end(options.input ? Buffer.from(options.input) : undefined);
  return done;
}

/** Runs `deja args... --json`, expects exit 0 and returns the parsed document. */
export async function runJson<T = Record<string, unknown>>(
  cli: BuiltCli,
  args: readonly string[],
  options: RunOptions = {},
): Promise<T> {
  const r = await runCli(cli, [...args, '--json'], options);
  if (r.code !== 0) throw new Error(`deja ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/**
 * A seeded image of `chunks` chunks of `chunkSize` bytes, VM-like: about a third zero chunks, a
 * quarter copies of a few recurring chunks, the rest random. Fast (a xorshift over 32-bit words).
 */
export function makeImage(seed: number, chunks: number, chunkSize = 4096): Uint8Array {
  const out = new Uint8Array(chunks * chunkSize);
  const words = new Uint32Array(out.buffer);
  let x = (seed * 0x9e3779b1) >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const per = chunkSize / 4;
  for (let c = 0; c < chunks; c++) {
    const kind = next() % 100;
    if (kind < 35) continue;
    if (kind < 60) {
      const k = next() % 5;
      words.fill(0x01010101 * (k + 1), c * per, (c + 1) * per);
      continue;
    }
    for (let i = c * per; i < (c + 1) * per; i++) words[i] = next();
  }
  return out;
}

/** A copy of `image` with every `every`-th chunk from `first` overwritten (and the chunks changed). */
export function changed(image: Uint8Array, first: number, every: number, chunkSize = 4096): Uint8Array {
  const out = image.slice();
  for (let c = first; c * chunkSize < out.length; c += every)
    out.fill((c % 250) + 3, c * chunkSize, (c + 1) * chunkSize);
  return out;
}

/**
 * Runs the program in this process on in-memory streams (for the help and usage matrix, where a
 * process per case would only cost time; the behaviour that needs a process is tested spawned).
 */
export async function runInProcess(
  args: readonly string[],
  options: { stdoutIsTTY?: boolean } = {},
): Promise<CliResult> {
  const { run } = await import('../src/cli/program');
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (parts: Buffer[], isTTY: boolean) =>
    Object.assign(
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          parts.push(Buffer.from(chunk));
          cb();
        },
      }),
      { isTTY },
    );
  const stdin = Object.assign(Readable.from([]), { isTTY: false });
  const code = await run(args, {
    stdout: sink(out, options.stdoutIsTTY === true),
    stderr: sink(err, false),
    stdin,
    signal: new AbortController().signal,
  });
  const bytes = Buffer.concat(out);
  return {
    code,
    signal: null,
    stdout: bytes.toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    bytes,
  };
}
