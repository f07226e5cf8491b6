// The `deja` program: commander wiring, output and exit codes. `run` parses argv, runs one
// command against the given streams and resolves to the exit code, so tests can drive it in
// process and `main.ts` only binds it to the real process (signals, streams, exit).

import { Command, CommanderError } from 'commander';
import { registerInit } from './cmd-init';
import { registerInspect } from './cmd-inspect';
import { registerServe } from './cmd-serve';
import { registerSnapshots } from './cmd-snapshot';
import { registerTransfer } from './cmd-transfer';
import type { Act } from './command';
import { Context, type Io, type Output, sizeArg } from './context';
import { debugText, describe, EXIT } from './errors';
import { configureLocations, type LocationOptions } from './location';

/** The version printed by `deja --version` (the package's, inlined by the build). */
declare const __DEJA_VERSION__: string | undefined;
const VERSION = typeof __DEJA_VERSION__ === 'string' ? __DEJA_VERSION__ : '0.0.0-dev';

const EPILOGUE = `
Sizes: 4096, 4K, 20G, 1.5GiB (K, M, G, T, P, E are powers of 1024; KB and KiB mean the same).
Versions: a snapshot name, or '@live' for the live volume.
Stores: a directory, or s3://BUCKET/PREFIX in an S3-compatible bucket; credentials, region and
  endpoint from the AWS environment and config (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
  AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL) or the --s3-* options.
Output: people get human sizes (1.3 GiB); --json prints one JSON document with exact byte counts.
Progress bars (import, export, export-diff, apply-diff, check) appear only when stderr is a terminal.

Exit status:
  0    success
  1    failure (no store there, the store is in use, unknown snapshot, I/O error, ...)
  2    usage error (unknown command or option, bad size or name); nothing was changed
  3    deja check found damage (with --repair: damage that remains)
  130  interrupted by Ctrl-C (the store is flushed and closed; the message says what is left)

Errors are one line on stderr, 'deja: error: <message> (<CODE>)'; --debug adds the stack.

Example session:
  $ deja init /srv/deja/vm1 --size 20G
  $ deja import /srv/deja/vm1 vm1-monday.img --snapshot monday
  $ deja import /srv/deja/vm1 vm1-tuesday.img --snapshot tuesday
  $ deja snapshot list /srv/deja/vm1
  $ deja diff /srv/deja/vm1 monday tuesday
  $ deja export-diff /srv/deja/vm1 monday tuesday mon-tue.djdiff
  $ deja export /srv/deja/vm1 --snapshot monday monday.img
  $ deja snapshot delete /srv/deja/vm1 monday
  $ deja check /srv/deja/vm1 --data
  $ deja serve /srv/deja/vm1 --snapshot monday     # nbd://127.0.0.1:10809/monday
`;

/** Builds the commander program for one run. */
export function buildProgram(ctx: Context): Command {
  const { io } = ctx;
  configureLocations({});
  const program = new Command('deja');
  program
    .description('Deja: a deduplicating snapshot store for block volumes (disk images, VM disks).')
    .version(VERSION, '-V, --version', 'print the version')
    .option('--debug', 'on errors, print the stack trace')
    .option(
      '--s3-endpoint <url>',
      's3:// stores: an S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)',
    )
    .option(
      '--s3-region <region>',
      's3:// stores: the region (default: AWS_REGION, the profile, or us-east-1 with an endpoint)',
    )
    .option(
      '--s3-path-style',
      's3:// stores: path-style addressing, host/bucket/key (the default with an endpoint)',
    )
    .option(
      '--no-s3-path-style',
      's3:// stores: virtual-host addressing, bucket.host/key (the default without)',
    )
    .option(
      '--s3-object-size <size>',
      's3:// stores, init: bytes per object, a power of two from 1K to 64M (default 1M)',
      sizeArg,
    )
    .option(
      '--s3-force-unlock',
      "s3:// stores: take the store's lock in the bucket even if a lease looks live (its writer is known to be dead)",
    )
    .option(
      '--cache-dir <dir>',
      's3:// stores: keep the objects read and written in this local directory; later reads come from it (checked against the bucket, never stale)',
    )
    .option('--cache-size <size>', 's3:// stores: the most bytes --cache-dir holds (default 1G)', sizeArg)
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand('help [command]', 'show help for a command')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: (s, write) => write(`deja: ${s.trimEnd()}\n`),
    })
    .showSuggestionAfterError(true)
    .exitOverride()
    .addHelpText('after', EPILOGUE);

  const act: Act =
    (fn) =>
    async (...args) => {
      // commander passes the arguments, the options object, then the command.
      const cmd = args[args.length - 1] as Command;
      const opts = cmd.opts() as { json?: boolean };
      ctx.json = opts.json === true;
      const out = await fn(...args);
      emit(ctx, out);
      ctx.exitCode = out.exitCode ?? EXIT.OK;
    };

  // The global options that say where and how to reach a store, for the command about to run.
  program.hook('preAction', (_program, command) => {
    configureLocations(command.optsWithGlobals() as LocationOptions);
  });

  registerInit(program, ctx, act);
  registerTransfer(program, ctx, act);
  registerSnapshots(program, ctx, act);
  registerInspect(program, ctx, act);
  registerServe(program, ctx, act);

  // Every command reports its errors the same way and exits 2 on usage errors; the settings are
  // copied to commands when they are created, so apply them again to the nested ones.
  const apply = (cmd: Command) => {
    cmd
      .exitOverride()
      .configureOutput(program.configureOutput())
      .showSuggestionAfterError(true)
      .configureHelp({ showGlobalOptions: true });
    cmd.commands.forEach(apply);
  };
  program.commands.forEach(apply);
  return program;
}

/** Prints a command's output: JSON or text on stdout (stderr when stdout carries data). */
function emit(ctx: Context, out: Output): void {
  const stream = out.toStderr || ctx.stdoutIsData ? ctx.io.stderr : ctx.io.stdout;
  if (ctx.json) {
    const doc =
      out.warnings && out.warnings.length > 0
        ? { ...(out.json as object), warnings: out.warnings }
        : out.json;
    stream.write(`${JSON.stringify(doc, null, 2)}\n`);
  } else {
    for (const w of out.warnings ?? []) ctx.io.stderr.write(`deja: warning: ${w}\n`);
    if (out.text !== '') stream.write(`${out.text}\n`);
  }
}

/**
 * Runs `deja` with `argv` (the arguments after the program name) on `io`.
 *
 * @returns the exit code: 0 ok, 1 failure, 2 usage, 3 damage found, 130 interrupted.
 */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const ctx = new Context(io);
  const program = buildProgram(ctx);
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; a parse error was printed by outputError.
      if (e.exitCode === 0) return EXIT.OK;
      if (e.code === 'commander.help' || e.code === 'commander.executeSubCommandAsync') return EXIT.USAGE;
      io.stderr.write(`deja: see 'deja ${commandPath(argv)}--help'\n`);
      return EXIT.USAGE;
    }
    const d = describe(e);
    if (d.code === 'ERR_INTERRUPTED') io.stderr.write(`deja: interrupted: ${d.message}\n`);
    else {
      const code = d.code && d.code !== 'ERR_USAGE' ? ` (${d.code})` : '';
      io.stderr.write(`deja: error: ${d.message}${code}\n`);
    }
    if (debug) io.stderr.write(`${debugText(e)}\n`);
    else if (!d.expected) io.stderr.write('deja: run with --debug for the stack trace\n');
    if (d.exitCode === EXIT.USAGE) io.stderr.write(`deja: see 'deja ${commandPath(argv)}--help'\n`);
    if (ctx.json && !ctx.stdoutIsData)
      io.stdout.write(
        `${JSON.stringify({ error: { code: d.code ?? null, message: d.message, exitCode: d.exitCode } }, null, 2)}\n`,
      );
    return d.exitCode;
  }
}

const COMMANDS = new Set([
  'init',
  'import',
  'export',
  'export-diff',
  'apply-diff',
  'snapshot',
  'diff',
  'stats',
  'du',
  'check',
  'serve',
]);
const SNAPSHOT_COMMANDS = new Set(['create', 'list', 'ls', 'delete', 'rm', 'rollback']);

/** The command words of argv (`snapshot list `), for the help hint. */
function commandPath(argv: readonly string[]): string {
  const [first, second] = argv.filter((a) => !a.startsWith('-'));
  if (first === undefined || !COMMANDS.has(first)) return '';
  if (first === 'snapshot' && second !== undefined && SNAPSHOT_COMMANDS.has(second))
    return `snapshot ${second} `;
  return `${first} `;
}
