// The NBD server over a store: any version (the live volume or a snapshot) as a network block
// device, read-only or writable, several exports by name from one listener, on a Unix socket or
// TCP. `serve` checks the exports, listens, and hands back a handle that closes cleanly; each
// connection is a Session (_session.ts) that speaks the protocol.
//
// The server is a thin layer: reads, writes, discards and flushes go to the export's `Volume`,
// so deduplication, snapshots and durability are the store's (a FLUSH or FUA is `flush()`: after
// its reply, everything acknowledged before it survives a crash). Every connection shares the
// caller's one `Store` handle (the store runs operations one at a time), so a store opened
// read-only serves any number of readers, and one opened for writing serves readers and, per
// writable export, one writer at a time.
//
// Security: the protocol has no authentication of its own and sends the volume's bytes in the
// clear, so a listener on anything but a Unix socket or a loopback address requires TLS
// (STARTTLS with an x509 certificate or a PSK); with TLS configured, every option but STARTTLS is
// refused until TLS is up (the protocol's FORCEDTLS mode).
//
// Memory: each connection bounds what it holds (its requests in flight and unsent replies), and
// the whole server draws every such byte from one budget, `maxMemory` (_budget.ts): connections
// and requests wait for room instead of the process growing, however many clients there are.

import { lstat, unlink } from 'node:fs/promises';
import { createConnection, createServer, isIP, type Server, type Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { createSecureContext } from 'node:tls';
import { HashPool } from '../_hash-pool';
import { StoreError } from '../errors';
import type { Store } from '../store';
import { LIVE, type Range } from '../types';
import { MemoryBudget } from './_budget';
import { type ServedExport, Session, type SessionHost, type SessionTls } from './_session';
import { DEFAULT_PORT, MAX_PAYLOAD, MAX_STRING } from './protocol';

/** One export: a version of the store under a name. */
export interface NbdExportOptions {
  /** The name clients ask for (default: the version's name, `@live` for the live volume). */
  readonly name?: string;
  /** `LIVE` (default) or a snapshot's name. */
  readonly version?: string;
  /** Accept writes, trims and zeroing (default false: writes fail with EPERM). */
  readonly writable?: boolean;
  /** Shown by NBD_OPT_LIST and NBD_INFO_DESCRIPTION. */
  readonly description?: string;
}

/** TLS credentials: an x509 certificate and key, or pre-shared keys (as qemu-nbd takes them). */
export interface NbdTlsOptions {
  /** PEM certificate chain of the server. */
  readonly cert?: string | Uint8Array;
  /** PEM private key of the server. */
  readonly key?: string | Uint8Array;
  /** PEM CA certificates: when given, clients must present a certificate that chains to them. */
  readonly ca?: string | Uint8Array;
  /** Pre-shared keys by identity (see {@link parsePskFile} for qemu's `keys.psk`). */
  readonly psk?: ReadonlyMap<string, Uint8Array>;
}

/** Options of {@link serve}. */
export interface ServeOptions {
  /** The exports (default: the live volume, read-only, named `@live`). The first is also the default export (the empty name). */
  readonly exports?: readonly NbdExportOptions[];
  /** Listen on this Unix socket path (a stale socket file there is replaced). */
  readonly socket?: string;
  /** Listen on this TCP port (0: any free port; default 10809 when no socket is given). */
  readonly port?: number;
  /** TCP address to listen on (default `127.0.0.1`). Anything but loopback requires `tls`. */
  readonly host?: string;
  /** Require TLS (STARTTLS) on every connection. */
  readonly tls?: NbdTlsOptions;
  /** Connections at once; more are closed as they arrive (default 1024). */
  readonly maxConnections?: number;
  /** Milliseconds a connection has to choose an export before it is dropped (default 10,000). */
  readonly handshakeTimeout?: number;
  /**
   * READ/WRITE payload bytes a connection may have in flight (and unsent reply bytes it may hold)
   * before the server stops reading its requests (default 32 MiB). With the 32 MiB request
   * limit this bounds a connection's memory at about twice this.
   */
  readonly connectionBudget?: number;
  /**
   * Bytes the whole server may hold for its clients (default 256 MiB, at least 1 MiB): read
   * buffers of connections (128 KiB each, reserved before a connection is read), READ reply
   * buffers until the reply is sent, WRITE payloads, BLOCK_STATUS replies, and recycled buffers.
   * When it is spent, new connections and requests wait (their clients stall on flow control).
   */
  readonly maxMemory?: number;
  /**
   * base:allocation reports holes shorter than this (bytes) between data as data (default
   * 64 KiB; 0 reports every unmapped chunk). Clients then read fragmented regions in a few large
   * READs instead of one per extent. READ replies follow the same rule: holes of at least this
   * many bytes (or the whole range read) are sent as OFFSET_HOLE chunks, shorter ones as zeros
   * inside the data (one chunk with its own header costs the server and the client more than a
   * few KiB of zeros).
   */
  readonly minHole?: number;
  /**
   * Worker threads that check chunks read against their names, when the store verifies reads
   * (default: half the cores less one, at most 2; 0, the default on 2 cores, checks on the main
   * thread).
   */
  readonly workers?: number;
  /** Receives a line per notable event (a connection, a refusal, a dropped client). */
  readonly log?: (message: string) => void;
}

/** Where a server listens. */
export type NbdAddress = { readonly socket: string } | { readonly host: string; readonly port: number };

/** A running server. */
export interface NbdServer {
  /** Where it listens. */
  readonly address: NbdAddress;
  /** The exports, as resolved (names, versions, whether writable). */
  readonly exports: readonly { name: string; version: string; writable: boolean }[];
  /** Connections open now. */
  readonly connections: number;
  /** The memory budget: its limit, bytes held now, the most held, reservations waiting. */
  readonly memory: {
    readonly limit: number;
    readonly used: number;
    readonly peak: number;
    readonly waiting: number;
  };
  /** An NBD URI for an export (`nbd://127.0.0.1:10809/name`, `nbd+unix:///name?socket=...`; `nbds` with TLS). */
  uri(exportName?: string): string;
  /**
   * Stops listening, lets connections finish the requests they have in flight, and closes them.
   * The store stays open (it is the caller's). Idempotent.
   */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Serves versions of `store` over NBD.
 *
 * @param store - an open store; it stays the caller's (close it after the server).
 * @param options - exports and where to listen; see {@link ServeOptions}.
 * @returns the running server.
 * @throws StoreError `ERR_NOT_FOUND` for an export of an unknown snapshot, `ERR_READ_ONLY` for a
 *   writable export of a store opened read-only.
 * @throws StoreError `ERR_NBD_TLS_REQUIRED` for a TCP listener beyond loopback without `tls`.
 * @throws TypeError / RangeError for bad options; the system's error (`EADDRINUSE`, ...) when it cannot listen.
 */
export async function serve(store: Store, options: ServeOptions = {}): Promise<NbdServer> {
  const exports = resolveExports(store, options.exports ?? [{ version: LIVE }]);
  const maxConnections = positive(options.maxConnections ?? 1024, 'maxConnections');
  const handshakeTimeout = positive(options.handshakeTimeout ?? 10_000, 'handshakeTimeout');
  const budget = positive(options.connectionBudget ?? 32 * 1024 * 1024, 'connectionBudget');
  const maxMemory = positive(options.maxMemory ?? 256 * 1024 * 1024, 'maxMemory');
  const minHole = options.minHole ?? 64 * 1024;
  if (!Number.isSafeInteger(minHole) || minHole < 0)
    throw new RangeError('minHole must be a whole number of bytes');
  if (maxMemory < 1024 * 1024) throw new RangeError('maxMemory must be at least 1 MiB');
  // Half the cores are left to the clients (on 2 cores, hashing on the main thread measured
  // faster than handing each READ to a worker).
  const workers = options.workers ?? Math.max(0, Math.min(2, Math.floor(availableParallelism() / 2) - 1));
  if (!Number.isSafeInteger(workers) || workers < 0) throw new RangeError('workers must be a whole number');
  if (options.socket !== undefined && (options.port !== undefined || options.host !== undefined))
    throw new TypeError('give either socket, or port and host');
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_PORT;
  if (options.socket === undefined) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`bad port ${port}`);
    if (!options.tls && !isLoopback(host))
      throw new StoreError(
        'ERR_NBD_TLS_REQUIRED',
        `listening on ${host} requires TLS (x509 certificate or PSK): NBD has no authentication and sends the volume in the clear; use a Unix socket or a loopback address otherwise`,
      );
  }
  const tls = options.tls ? secureContext(options.tls) : undefined;
  const hashes = store.verifyReads && workers > 0 ? new HashPool(workers) : undefined;
  const memory = new MemoryBudget(maxMemory, hashes !== undefined);
  // The largest request fits in the requests' half of the budget, with the chunks around it and
  // the room for its reply's header (REPLY_ROOM, less than the chunk this leaves spare: a
  // request of whole chunks less two touches at most whole chunks less one).
  const cs = store.chunkSize;
  const maxPayload = Math.min(MAX_PAYLOAD, Math.floor(maxMemory / 2 / cs) * cs - 2 * cs);
  const core = new Core(
    store,
    exports,
    tls,
    handshakeTimeout,
    budget,
    memory,
    maxPayload,
    minHole,
    hashes,
    options.log ?? (() => {}),
  );
  // Sockets arrive paused: a session reads one only once its buffer is granted from the budget.
  const server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => core.accept(socket));
  server.maxConnections = maxConnections;
  server.on('drop', () => core.log(`a connection over the limit of ${maxConnections} was closed`));
  let address: NbdAddress;
  try {
    if (options.socket !== undefined) {
      await listenUnix(server, options.socket);
      address = { socket: options.socket };
    } else {
      await listen(server, () => server.listen(port, host));
      const a = server.address();
      address = { host, port: typeof a === 'object' && a ? a.port : port };
    }
  } catch (e) {
    await hashes?.close();
    throw e;
  }
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= core.close(server);
    return closing;
  };
  return {
    address,
    exports: [...exports.values()].map((e) => ({ name: e.name, version: e.version, writable: e.writable })),
    get connections() {
      return core.sessions.size;
    },
    get memory() {
      return { limit: memory.limit, used: memory.used, peak: memory.peak, waiting: memory.waiting };
    },
    uri: (name = exports.values().next().value?.name ?? '') => nbdUri(address, name, tls !== undefined),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Parses a PSK file as qemu and GnuTLS write it (`keys.psk`): one `identity:hexkey` per line.
 *
 * @throws TypeError for a malformed line (naming its number).
 */
export function parsePskFile(text: string): Map<string, Uint8Array> {
  const keys = new Map<string, Uint8Array>();
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const colon = line.lastIndexOf(':');
    const id = line.slice(0, colon);
    const hex = line.slice(colon + 1).trim();
    if (colon <= 0 || !/^(?:[0-9a-fA-F]{2})+$/.test(hex))
      throw new TypeError(`PSK file line ${i + 1}: expected 'identity:hexkey'`);
    keys.set(id, Buffer.from(hex, 'hex'));
  });
  return keys;
}

/** Builds an NBD URI (the NBD project's URI format). */
export function nbdUri(address: NbdAddress, exportName: string, tls = false): string {
  const path = encodeURIComponent(exportName).replace(/%2F/g, '/').replace(/%40/g, '@');
  if ('socket' in address)
    return `nbd${tls ? 's' : ''}+unix:///${path}?socket=${encodeURIComponent(address.socket).replace(/%2F/g, '/')}`;
  const h = isIP(address.host) === 6 ? `[${address.host}]` : address.host;
  return `nbd${tls ? 's' : ''}://${h}:${address.port}/${path}`;
}

/** Whether a host name or address is loopback. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

class Core implements SessionHost {
  readonly store: Store;
  readonly exports: ReadonlyMap<string, ServedExport>;
  readonly defaultExport: ServedExport;
  readonly tls: SessionTls | undefined;
  readonly handshakeTimeout: number;
  readonly budget: number;
  readonly memory: MemoryBudget;
  readonly maxPayload: number;
  readonly minHole: number;
  readonly hashes: HashPool | undefined;
  readonly log: (message: string) => void;
  readonly sessions = new Set<Session>();
  closing = false;
  #ids = 0;
  #writers = new Map<ServedExport, Session>();
  #generation = 0;
  #changed = new Map<string, { generation: number; ranges: Promise<readonly Range[]> }>();
  #runs = new Set<Promise<void>>();
  readonly #reads: (() => Promise<void>)[] = [];
  #reading = false;

  constructor(
    store: Store,
    exports: ReadonlyMap<string, ServedExport>,
    tls: SessionTls | undefined,
    handshakeTimeout: number,
    budget: number,
    memory: MemoryBudget,
    maxPayload: number,
    minHole: number,
    hashes: HashPool | undefined,
    log: (message: string) => void,
  ) {
    this.store = store;
    this.exports = exports;
    this.defaultExport = exports.values().next().value as ServedExport;
    this.tls = tls;
    this.handshakeTimeout = handshakeTimeout;
    this.budget = budget;
    this.memory = memory;
    this.maxPayload = maxPayload;
    this.minHole = minHole;
    this.hashes = hashes;
    this.log = log;
  }

  accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const session = new Session(this, socket, ++this.#ids);
    this.sessions.add(session);
    const run = session.run().finally(() => {
      this.sessions.delete(session);
      this.#runs.delete(run);
    });
    this.#runs.add(run);
  }

  // The store runs its operations one at a time, and its reads are mostly synchronous (page
  // cache, metadata cache): a burst of READs handed to it at once would run back to back in one
  // turn of the event loop, with every reply waiting in its socket's buffer until the burst is
  // over (measured: 0.25 s from reply to socket with nbdcopy's 64 requests in flight, and the
  // socket idle meanwhile). So reads are handed to the store one at a time, and the next one
  // starts from setImmediate, after the event loop has written to the sockets that can take data.
  storeRead<T>(read: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#reads.push(() => read().then(resolve, reject));
      if (!this.#reading) this.#nextRead();
    });
  }

  #nextRead(): void {
    const job = this.#reads.shift();
    this.#reading = job !== undefined;
    job?.().finally(() => setImmediate(() => this.#nextRead()));
  }

  claimWriter(exp: ServedExport, session: Session): boolean {
    const holder = this.#writers.get(exp);
    if (holder && holder !== session) return false;
    this.#writers.set(exp, session);
    return true;
  }

  releaseWriter(session: Session): void {
    for (const [exp, holder] of this.#writers) if (holder === session) this.#writers.delete(exp);
  }

  mutated(): void {
    this.#generation++;
  }

  /** Moves with every write through the server and every mutation of the store by anyone. */
  get generation(): number {
    return this.#generation + this.store._generation;
  }

  changed(base: string, version: string): Promise<readonly Range[]> {
    const key = `${base}\u0000${version}`;
    const hit = this.#changed.get(key);
    if (hit && hit.generation === this.generation) return hit.ranges;
    const ranges = this.store.diff(base, version);
    this.#changed.set(key, { generation: this.generation, ranges });
    ranges.catch(() => this.#changed.delete(key));
    return ranges;
  }

  async close(server: Server): Promise<void> {
    this.closing = true;
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sessions) s.shutdown();
    // Connections finish what they have in flight; one that does not within 10 s is dropped.
    const timer = setTimeout(() => {
      for (const s of this.sessions) s.destroy();
    }, 10_000);
    await Promise.allSettled([...this.#runs]);
    clearTimeout(timer);
    await stopped;
    this.#changed.clear();
    await this.hashes?.close();
  }
}

function resolveExports(store: Store, list: readonly NbdExportOptions[]): Map<string, ServedExport> {
  if (!Array.isArray(list) || list.length === 0) throw new TypeError('exports must be a non-empty array');
  const snapshots = new Set(store.listSnapshots().map((s) => s.name));
  const out = new Map<string, ServedExport>();
  for (const e of list) {
    const version = e.version ?? LIVE;
    if (typeof version !== 'string') throw new TypeError('an export version must be a string');
    if (version !== LIVE && !snapshots.has(version))
      throw new StoreError('ERR_NOT_FOUND', `no snapshot '${version}' to export`);
    const name = e.name ?? version;
    if (
      typeof name !== 'string' ||
      name === '' ||
      Buffer.byteLength(name) > MAX_STRING ||
      name.includes('\u0000')
    )
      throw new TypeError(`export name '${name}' must be 1 to ${MAX_STRING} bytes without NUL`);
    if (out.has(name)) throw new TypeError(`two exports named '${name}'`);
    const writable = e.writable === true;
    if (writable && store.readOnly)
      throw new StoreError('ERR_READ_ONLY', `export '${name}' is writable but the store is open read-only`);
    out.set(name, { name, version, writable, description: e.description, volume: store.volume(version) });
  }
  return out;
}

function secureContext(options: NbdTlsOptions): SessionTls {
  const psk = options.psk;
  const x509 = options.cert !== undefined || options.key !== undefined;
  if (!x509 && !psk) throw new TypeError('tls needs cert and key, or psk');
  if (x509 && (options.cert === undefined || options.key === undefined))
    throw new TypeError('tls needs both cert and key');
  if (psk && psk.size === 0) throw new TypeError('tls.psk holds no key');
  const buf = (v: string | Uint8Array | undefined) => (v === undefined ? undefined : Buffer.from(v));
  const context = createSecureContext({
    cert: buf(options.cert),
    key: buf(options.key),
    ca: buf(options.ca),
    minVersion: 'TLSv1.2',
    // PSK suites are off by default in OpenSSL; offer them only with PSK credentials.
    ...(psk ? { ciphers: x509 ? 'PSK:ECDHE-PSK:DHE-PSK:HIGH:!aNULL' : 'PSK:ECDHE-PSK:DHE-PSK:!aNULL' } : {}),
  });
  return { context, requestCert: options.ca !== undefined, psk };
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer`);
  return value;
}

function listen(server: Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve();
    });
    start();
  });
}

/** Listens on a Unix socket, replacing a stale socket file (one nobody answers on). */
async function listenUnix(server: Server, path: string): Promise<void> {
  try {
    await listen(server, () => server.listen(path));
  } catch (e) {
    if ((e as { code?: string }).code !== 'EADDRINUSE') throw e;
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isSocket() || (await answers(path))) throw e;
    await unlink(path);
    await listen(server, () => server.listen(path));
  }
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
