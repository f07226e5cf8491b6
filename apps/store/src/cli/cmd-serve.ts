// `deja serve`: versions of a store as NBD exports (the library's `serve`), until Ctrl-C or
// SIGTERM. It prints where it listens as soon as it does (a JSON document with --json, so a
// script can read the address), serves, and on the signal lets connections finish what they
// have in flight, closes the store (which flushes) and exits 0: stopping is how a server ends.

import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { LIVE } from '../index';
import { isLoopback, type NbdExportOptions, type NbdTlsOptions, parsePskFile, serve } from '../nbd/index';
import { type Act, examples } from './command';
import { type Context, checkVersion, openStore, sizeArg } from './context';
import { CliFailure, EXIT, UsageError } from './errors';
import { formatSize } from './size';

interface ServeOptions {
  readonly snapshot?: string;
  readonly export?: string[];
  readonly writable?: boolean;
  readonly socket?: string;
  readonly port?: number;
  readonly bind?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsCa?: string;
  readonly tlsPsk?: string;
  readonly maxConnections?: number;
  readonly maxMemory?: number;
  readonly verbose?: boolean;
  readonly json?: boolean;
}

function portArg(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535)
    throw new InvalidArgumentError(`'${text}' is not a TCP port (0 to 65535)`);
  return n;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `NAME=VERSION` (or just `VERSION`, named after it). */
function parseExport(text: string): { name: string; version: string } {
  const eq = text.indexOf('=');
  const name = eq < 0 ? text : text.slice(0, eq);
  const version = eq < 0 ? text : text.slice(eq + 1);
  if (name === '') throw new UsageError(`--export '${text}': the export name is empty`);
  return { name, version: checkVersion(version) };
}

/** Registers `serve`. */
export function registerServe(program: Command, ctx: Context, act: Act): void {
  const { io } = ctx;
  program
    .command('serve')
    .summary('serve versions of the volume over NBD (qemu, qemu-img, nbdcopy, nbd-client)')
    .description(
      `Export the live volume or snapshots as network block devices (the NBD protocol) until Ctrl-C. Read-only unless --writable (one writer per export at a time, any number of readers). Listens on 127.0.0.1:10809 by default, or a Unix socket; any other address requires TLS. Each export offers base:allocation (holes) and qemu:dirty-bitmap:SNAPSHOT (what changed since that snapshot). The first export is also the default (empty) export name.`,
    )
    .argument('<store>', 'the store directory')
    .option('--snapshot <name>', `export this version ('${LIVE}' is the live volume), named after it`)
    .option('--export <name=version>', 'an export (repeatable): its name and version', collect)
    .option('--writable', 'accept writes (they go through the store: deduplicated, snapshots intact)')
    .option('--socket <path>', 'listen on a Unix socket')
    .option('--port <n>', 'listen on this TCP port (default 10809; 0 picks a free one)', portArg)
    .option('--bind <addr>', 'TCP address to listen on (default 127.0.0.1; others require TLS)')
    .option('--tls-cert <file>', 'TLS: the server certificate (PEM), with --tls-key')
    .option('--tls-key <file>', 'TLS: the server private key (PEM)')
    .option('--tls-ca <file>', 'TLS: CA certificates (PEM) client certificates must chain to')
    .option('--tls-psk <file>', "TLS: pre-shared keys, 'identity:hexkey' lines (qemu's keys.psk)")
    .option('--max-connections <n>', 'connections at once (default 1024)', (t) => {
      const n = Number(t);
      if (!/^\d+$/.test(t) || n < 1) throw new InvalidArgumentError(`'${t}' is not a positive whole number`);
      return n;
    })
    .option(
      '--max-memory <size>',
      'memory the server may hold for all its clients together (default 256M, at least 1M): past it, connections and requests wait',
      sizeArg,
    )
    .option('--verbose', 'log connections and dropped clients on stderr')
    .option('--json', 'print where it listens as JSON (at start, on stdout)')
    .addHelpText(
      'after',
      examples([
        ['deja serve /srv/deja/vm1 --snapshot monday', 'read-only, nbd://127.0.0.1:10809/monday'],
        ['deja serve /srv/deja/vm1 --writable --socket /run/vm1.sock', 'the live volume, writable'],
        ['deja serve /srv/deja/vm1 --export mon=monday --export tue=tuesday', 'two exports'],
        ['qemu-img convert -O qcow2 nbd://127.0.0.1:10809/monday monday.qcow2', 'a client'],
        ['nbdinfo --map=qemu:dirty-bitmap:monday nbd://127.0.0.1:10809/@live', 'changed since monday'],
      ]),
    )
    .action(
      act(async (path: string, opts: ServeOptions) => {
        if (opts.snapshot !== undefined && opts.export !== undefined)
          throw new UsageError('give --snapshot or --export, not both');
        if (opts.socket !== undefined && (opts.port !== undefined || opts.bind !== undefined))
          throw new UsageError('give --socket, or --port and --bind, not both');
        const wanted = opts.export
          ? opts.export.map(parseExport)
          : [{ name: opts.snapshot ?? LIVE, version: checkVersion(opts.snapshot ?? LIVE) }];
        const names = new Set<string>();
        for (const e of wanted) {
          if (names.has(e.name)) throw new UsageError(`two exports named '${e.name}'`);
          names.add(e.name);
        }
        const tls = await tlsOptions(opts);
        const host = opts.bind ?? '127.0.0.1';
        if (opts.socket === undefined && !tls && !isLoopback(host))
          throw new UsageError(
            `listening on ${host} requires TLS (--tls-cert and --tls-key, or --tls-psk): NBD sends the volume in the clear`,
          );
        if (opts.maxMemory !== undefined && opts.maxMemory < 1024 * 1024)
          throw new UsageError(`--max-memory ${opts.maxMemory}: at least 1M`);
        const writable = opts.writable === true;
        const store = await openStore(path, { readOnly: !writable });
        try {
          const snapshots = new Set(store.listSnapshots().map((s) => s.name));
          for (const e of wanted)
            if (e.version !== LIVE && !snapshots.has(e.version))
              throw new CliFailure(`no snapshot '${e.version}' in this store`, EXIT.FAILURE, 'ERR_NOT_FOUND');
          const exports: NbdExportOptions[] = wanted.map((e) => ({ ...e, writable }));
          const server = await serve(store, {
            exports,
            ...(opts.socket !== undefined ? { socket: opts.socket } : { host, port: opts.port ?? 10809 }),
            ...(tls ? { tls } : {}),
            ...(opts.maxConnections ? { maxConnections: opts.maxConnections } : {}),
            ...(opts.maxMemory !== undefined ? { maxMemory: opts.maxMemory } : {}),
            log: opts.verbose ? (m) => void io.stderr.write(`deja: ${m}\n`) : () => {},
          });
          const list = server.exports.map((e) => ({
            ...e,
            size: store.volume(e.version).size,
            uri: server.uri(e.name),
          }));
          const start = {
            store: path,
            address: server.address,
            tls: tls !== undefined,
            exports: list,
          };
          if (ctx.json) io.stdout.write(`${JSON.stringify(start)}\n`);
          else {
            for (const e of list)
              io.stdout.write(
                `serving ${e.version === LIVE ? 'the live volume' : `snapshot '${e.version}'`} (${formatSize(e.size)}, ${e.writable ? 'writable' : 'read-only'}) at ${e.uri}\n`,
              );
            io.stdout.write('press Ctrl-C to stop\n');
          }
          await new Promise<void>((resolve) => {
            if (io.signal.aborted) resolve();
            else io.signal.addEventListener('abort', () => resolve(), { once: true });
          });
          await server.close();
          await store.close();
          return {
            json: { stopped: true, signal: String(io.signal.reason ?? 'SIGINT') },
            text: `stopped serving ${path}; the store is flushed and closed`,
            toStderr: true,
          };
        } finally {
          await store.close().catch(() => {});
        }
      }),
    );
}

async function tlsOptions(opts: ServeOptions): Promise<NbdTlsOptions | undefined> {
  const x509 = opts.tlsCert !== undefined || opts.tlsKey !== undefined;
  if (x509 && (opts.tlsCert === undefined || opts.tlsKey === undefined))
    throw new UsageError('--tls-cert and --tls-key go together');
  if (opts.tlsCa !== undefined && !x509) throw new UsageError('--tls-ca needs --tls-cert and --tls-key');
  if (!x509 && opts.tlsPsk === undefined) return undefined;
  const out: { cert?: Buffer; key?: Buffer; ca?: Buffer; psk?: Map<string, Uint8Array> } = {};
  if (x509) {
    out.cert = await readFile(opts.tlsCert as string);
    out.key = await readFile(opts.tlsKey as string);
    if (opts.tlsCa !== undefined) out.ca = await readFile(opts.tlsCa);
  }
  if (opts.tlsPsk !== undefined) {
    try {
      out.psk = parsePskFile(await readFile(opts.tlsPsk, 'utf8'));
    } catch (e) {
      if (e instanceof TypeError) throw new UsageError(`${opts.tlsPsk}: ${e.message}`);
      throw e;
    }
  }
  return out;
}
