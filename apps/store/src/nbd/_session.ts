// One client connection of the NBD server: the fixed newstyle handshake (options, STARTTLS, meta
// contexts, INFO/GO), then the transmission phase (requests in, replies out).
//
// Robustness is the design constraint: whatever a client sends, the session answers with the
// protocol's errors or drops this one connection; it never throws out of `run`, never lets a
// malformed length make it allocate (option data is capped at MAX_OPTION_BYTES, a WRITE payload
// at MAX_PAYLOAD, and anything larger drops the connection), and bounds what it holds: requests
// are read only while the bytes in flight (READ and WRITE payloads being served) stay under the
// connection's budget and the socket's unsent replies under the same bound, so a client that
// sends requests and never reads the replies stalls on TCP flow control instead of growing the
// server's memory. The handshake has a deadline, so idle or slow connections go away. Beyond the
// connection's own bounds, every byte it makes the server hold is granted from the server-wide
// MemoryBudget first (_budget.ts): its read buffer before the socket is read, a READ's reply
// buffer until the reply is sent, a WRITE's payload before it is read; while the budget is spent,
// the connection waits and reads nothing.
//
// The read path, which carries nearly all the bytes: a READ is one `_readRaw` of the chunks it
// touches into a recycled reply buffer (no per-request allocation, no copy of the range), in its
// turn among the server's store reads (one at a time, with a pass through the event loop between
// two, so replies reach their sockets while the store works); then checked against the chunks'
// names when the store verifies reads (on the server's hashing workers if it has some, while the
// main thread reads the next request's chunks), with holes taken from the block map (no scan of
// the bytes for zeros). Its reply is, in the common case, one slice of that buffer with the header
// written in front of the data (holes shorter than minHole go as zeros: cheaper than a chunk
// each), and replies finished in the same turn of the event loop leave in one corked write.
// Requests the client pipelined are taken from the reader's buffer without a promise each.
//
// Requests of one connection are handled concurrently and may complete out of order (the store
// runs its operations one at a time, in call order, so a request issued after a write sees it
// and a FLUSH covers every write acknowledged before it).

import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type SecureContext, TLSSocket } from 'node:tls';
import { type HashPool, hashBatch } from '../_hash-pool';
import { uncheckedChunks, verifyBatch } from '../_util';
import { isStoreError } from '../errors';
import type { Store } from '../store';
import type { Range } from '../types';
import type { Volume } from '../volume';
import type { MemoryBudget } from './_budget';
import { ByteReader, EndOfStream } from './_reader';
import {
  BASE_ALLOCATION,
  CMD,
  CMD_FLAG,
  DIRTY_BITMAP_PREFIX,
  decodeString,
  FLAG_C_FIXED_NEWSTYLE,
  FLAG_C_NO_ZEROES,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO,
  NBD_ERR,
  NBDMAGIC,
  OPT,
  optionReply,
  REP,
  REPLY_FLAG_DONE,
  REPLY_TYPE,
  REQUEST_BYTES,
  REQUEST_MAGIC,
  readU64,
  SIMPLE_REPLY_BYTES,
  SIMPLE_REPLY_MAGIC,
  STATE_DIRTY,
  STATE_HOLE,
  STATE_ZERO,
  STRUCTURED_HEADER_BYTES,
  STRUCTURED_REPLY_MAGIC,
  simpleReply,
  structuredHeader,
  TFLAG,
  utf8,
  writeU64,
} from './protocol';

/** An export as the server serves it. */
export interface ServedExport {
  readonly name: string;
  readonly version: string;
  readonly writable: boolean;
  readonly description: string | undefined;
  readonly volume: Volume;
}

/** What a session needs from its server. */
export interface SessionHost {
  readonly store: Store;
  /** Exports by name; the empty name selects {@link defaultExport}. */
  readonly exports: ReadonlyMap<string, ServedExport>;
  readonly defaultExport: ServedExport;
  /** TLS, when the server requires it (every export is TLS-only then). */
  readonly tls: SessionTls | undefined;
  readonly handshakeTimeout: number;
  /** Bytes of READ/WRITE payload in flight per connection before it stops reading requests. */
  readonly budget: number;
  /** The server-wide memory cap every connection draws from. */
  readonly memory: MemoryBudget;
  /**
   * The largest READ or WRITE payload: MAX_PAYLOAD, or less so that one request (with the chunks
   * around an unaligned range) fits in the requests' half of {@link memory}.
   */
  readonly maxPayload: number;
  /** Workers that check chunks read against their names (when the store verifies reads). */
  readonly hashes: HashPool | undefined;
  /**
   * Runs a store read in its turn: one at a time across the server, with a pass through the
   * event loop between two, so sockets are written between reads.
   */
  storeRead<T>(read: () => Promise<T>): Promise<T>;
  /** Whether the server is shutting down. */
  readonly closing: boolean;
  /** Takes the one writer slot of a writable export; false when another session holds it. */
  claimWriter(exp: ServedExport, session: Session): boolean;
  releaseWriter(session: Session): void;
  /** A mutation went through the server (cached dirty maps are stale). */
  mutated(): void;
  /** Counts {@link mutated} calls: what was computed at one generation is stale at the next. */
  readonly generation: number;
  /** Holes shorter than this (bytes) between data are reported as data in base:allocation. */
  readonly minHole: number;
  /** The byte ranges where `version` differs from snapshot `base` (cached briefly). */
  changed(base: string, version: string): Promise<readonly Range[]>;
  log(message: string): void;
}

/** TLS settings of a session. */
export interface SessionTls {
  readonly context: SecureContext;
  /** Ask for and verify a client certificate (x509 with a CA). */
  readonly requestCert: boolean;
  /** PSK identities and keys. */
  readonly psk: ReadonlyMap<string, Uint8Array> | undefined;
}

/** A refusal the session answers by dropping the connection. */
class Drop extends Error {
  override name = 'Drop';
}

/** Option data beyond this drops the connection (the longest legal option is far smaller). */
const MAX_OPTION_BYTES = 64 * 1024;
/** Options one connection may send before it is dropped. */
const MAX_OPTIONS = 1024;
/** Meta context queries in one option. */
const MAX_QUERIES = 256;
/** Requests in flight per connection. */
const MAX_INFLIGHT = 128;
/** Bytes of the volume one BLOCK_STATUS base:allocation reply covers at most. */
const STATUS_SPAN = 256 * 1024 * 1024;
/** base:allocation extents after which a reply stops walking the block map. */
const STATUS_EXTENTS = 1024;
/** The largest window of the block map one step of a base:allocation walk covers. */
const MAX_STATUS_WINDOW = 64 * 1024 * 1024;
/** Dirty-bitmap extents one BLOCK_STATUS reply carries at most (the client asks again for more). */
const MAX_EXTENTS = 8192;
/** Read-ahead of a connection's reader: request headers pipelined beyond the current one. */
const READ_AHEAD = 64 * 1024;
/**
 * What a connection holds before any request: its reader's read-ahead and one socket chunk
 * (libuv reads at most 64 KiB at a time). Reserved from the server's budget before the socket is
 * read.
 */
export const CONNECTION_BYTES = READ_AHEAD + 64 * 1024;
/** A structured reply chunk's header plus the 12 bytes of an OFFSET_HOLE. */
const HOLE_HEAD = STRUCTURED_HEADER_BYTES + 12;
/** A structured reply chunk's header plus the 8-byte offset of an OFFSET_DATA. */
const DATA_HEAD = STRUCTURED_HEADER_BYTES + 8;
/**
 * Bytes a READ's buffer keeps in front of its chunks, so that the reply's header (a simple
 * reply's 16 bytes, an OFFSET_DATA chunk's 28) can be written right before the data and both
 * leave as one piece.
 */
const REPLY_ROOM = 32;

type Context =
  | { readonly id: number; readonly name: string; readonly kind: 'allocation' }
  | { readonly id: number; readonly name: string; readonly kind: 'dirty'; readonly base: string };

interface Transmission {
  readonly exp: ServedExport;
  readonly size: number;
  readonly structured: boolean;
  readonly contexts: readonly Context[];
  readonly readOnly: boolean;
}

interface Request {
  readonly flags: number;
  readonly type: number;
  readonly cookie: Buffer;
  readonly offset: number;
  readonly length: number;
}

/** An error reply: the NBD error value and a message for the client's user. */
class Failure extends Error {
  readonly errno: number;
  constructor(errno: number, message: string) {
    super(message);
    this.errno = errno;
  }
}

/** One client connection. */
export class Session {
  readonly #host: SessionHost;
  readonly #raw: Socket;
  #sock: Duplex;
  #reader: ByteReader | undefined;
  readonly id: number;
  /** Aborted when the connection goes: cancels waits for the server's memory budget. */
  readonly #gone = new AbortController();
  /** Whether replies are being collected for one write at the end of this turn. */
  #corked = false;
  /** The last base:allocation walk, for the queries that follow it. */
  #walked: Walk | undefined;
  // Negotiation state.
  #structured = false;
  #tlsActive = false;
  #meta: { exp: ServedExport; contexts: Context[] } | undefined;
  // Transmission state.
  #inTransmission = false;
  #stopping = false;
  #wake: (() => void) | undefined;
  #inflightBytes = 0;
  #inflight = 0;

  constructor(host: SessionHost, socket: Socket, id: number) {
    this.#host = host;
    this.#raw = socket;
    this.#sock = socket;
    this.id = id;
    socket.setNoDelay(true);
    // Errors surface through the reader (close/end); an unhandled 'error' would end the process.
    socket.on('error', () => {});
    socket.once('close', () => this.#gone.abort(new EndOfStream('the connection was closed')));
  }

  get #in(): ByteReader {
    if (!this.#reader) throw new EndOfStream('the connection is not being read');
    return this.#reader;
  }

  /** Serves the connection to its end. Never rejects. */
  async run(): Promise<void> {
    const timer = setTimeout(() => {
      this.#host.log(
        `connection ${this.id}: no export chosen within ${this.#host.handshakeTimeout} ms; dropped`,
      );
      this.#destroy();
    }, this.#host.handshakeTimeout);
    let reserved = false;
    try {
      // The socket arrives paused: it is read once its buffer is granted.
      await this.#host.memory.acquire(CONNECTION_BYTES, 'connection', this.#gone.signal);
      reserved = true;
      this.#reader = new ByteReader(this.#raw, READ_AHEAD);
      this.#raw.resume();
      const t = await this.#handshake();
      clearTimeout(timer);
      if (t) await this.#transmission(t);
    } catch (e) {
      if (!(e instanceof EndOfStream))
        this.#host.log(`connection ${this.id}: ${(e as Error).message}; dropped`);
    } finally {
      clearTimeout(timer);
      this.#host.releaseWriter(this);
      this.#end();
      if (reserved) this.#host.memory.release(CONNECTION_BYTES, 'connection');
    }
  }

  /**
   * Asks the session to stop: in the handshake it is dropped; in transmission it reads no more
   * requests, finishes those in flight, then closes.
   */
  shutdown(): void {
    if (!this.#inTransmission) {
      this.#destroy();
      return;
    }
    this.#stopping = true;
    this.#wake?.();
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.#destroy();
  }

  // ---- output -------------------------------------------------------------------------------

  #send(...parts: Uint8Array[]): void {
    this.#sendThen(parts, undefined);
  }

  /**
   * Writes the parts of one reply; `sent` runs once they have left for the socket (or will never
   * leave). Replies written in the same turn of the event loop are corked into one write.
   */
  #sendThen(parts: readonly Uint8Array[], sent: (() => void) | undefined): void {
    const s = this.#sock;
    if (s.destroyed || !s.writable) {
      sent?.();
      return;
    }
    if (!this.#corked) {
      this.#corked = true;
      s.cork();
      process.nextTick(() => {
        this.#corked = false;
        s.uncork();
      });
    }
    const last = parts.length - 1;
    for (let i = 0; i < last; i++) s.write(parts[i] as Uint8Array);
    if (sent) s.write(parts[last] as Uint8Array, () => sent());
    else s.write(parts[last] as Uint8Array);
  }

  #destroy(): void {
    this.#gone.abort(new EndOfStream('the connection was dropped'));
    this.#sock.destroy();
    if (this.#sock !== this.#raw) this.#raw.destroy();
  }

  /** Closes after the replies written so far are sent (or at once if the peer is gone). */
  #end(): void {
    const s = this.#sock;
    if (s.destroyed) return;
    s.end();
    // A peer that never reads would keep the socket half open: give it a moment, then drop it.
    setTimeout(() => this.#destroy(), 5000).unref();
  }

  #reply(option: number, type: number, payload?: Uint8Array): void {
    this.#send(optionReply(option, type, payload));
  }

  #refuse(option: number, type: number, message: string): void {
    this.#reply(option, type, utf8(message));
  }

  // ---- handshake ----------------------------------------------------------------------------

  async #handshake(): Promise<Transmission | undefined> {
    const hello = Buffer.alloc(18);
    NBDMAGIC.copy(hello, 0);
    IHAVEOPT.copy(hello, 8);
    hello.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
    this.#send(hello);
    const clientFlags = (await this.#in.read(4)).readUInt32BE(0);
    if ((clientFlags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) !== 0)
      throw new Drop(`unknown client flags 0x${clientFlags.toString(16)}`);
    const fixed = (clientFlags & FLAG_C_FIXED_NEWSTYLE) !== 0;
    const noZeroes = (clientFlags & FLAG_C_NO_ZEROES) !== 0;
    const tls = this.#host.tls;
    if (tls && !fixed) throw new Drop('TLS is required, and the client does not speak fixed newstyle');

    for (let count = 0; ; count++) {
      if (count >= MAX_OPTIONS) throw new Drop(`more than ${MAX_OPTIONS} options`);
      const head = await this.#in.read(16);
      if (!head.subarray(0, 8).equals(IHAVEOPT)) throw new Drop('an option without the IHAVEOPT magic');
      const option = head.readUInt32BE(8);
      const length = head.readUInt32BE(12);
      if (length > MAX_OPTION_BYTES) throw new Drop(`option ${option} carries ${length} bytes`);
      const data = await this.#in.read(length);

      if (option === OPT.ABORT) {
        this.#reply(option, REP.ACK);
        return undefined;
      }
      if (this.#host.closing) {
        if (option === OPT.EXPORT_NAME) throw new Drop('shutting down');
        this.#refuse(option, REP.ERR_SHUTDOWN, 'the server is shutting down');
        continue;
      }
      if (tls && !this.#tlsActive && option !== OPT.STARTTLS) {
        if (option === OPT.EXPORT_NAME) throw new Drop('NBD_OPT_EXPORT_NAME before STARTTLS');
        this.#refuse(option, REP.ERR_TLS_REQD, 'this server requires TLS: start it with NBD_OPT_STARTTLS');
        continue;
      }
      switch (option) {
        case OPT.EXPORT_NAME: {
          const name = decodeString(data);
          const exp = name === undefined ? undefined : this.#lookup(name);
          if (!exp) throw new Drop(`NBD_OPT_EXPORT_NAME of an unknown export`);
          if (exp.writable && !this.#host.claimWriter(exp, this))
            throw new Drop(`export '${exp.name}' already has a writer`);
          const t = this.#enter(exp);
          const out = Buffer.alloc(noZeroes ? 10 : 134);
          writeU64(out, t.size, 0);
          out.writeUInt16BE(this.#transmissionFlags(t), 8);
          this.#send(out);
          return t;
        }
        case OPT.LIST: {
          if (length !== 0) {
            this.#refuse(option, REP.ERR_INVALID, 'NBD_OPT_LIST carries no data');
            break;
          }
          for (const exp of this.#host.exports.values()) {
            const name = utf8(exp.name);
            const desc = exp.description ? utf8(exp.description) : Buffer.alloc(0);
            const payload = Buffer.alloc(4 + name.length + desc.length);
            payload.writeUInt32BE(name.length, 0);
            name.copy(payload, 4);
            desc.copy(payload, 4 + name.length);
            this.#reply(option, REP.SERVER, payload);
          }
          this.#reply(option, REP.ACK);
          break;
        }
        case OPT.STARTTLS: {
          if (!tls) {
            this.#refuse(option, REP.ERR_POLICY, 'this server does not offer TLS');
            break;
          }
          if (this.#tlsActive || length !== 0) {
            this.#refuse(
              option,
              REP.ERR_INVALID,
              this.#tlsActive ? 'TLS is already active' : 'STARTTLS carries no data',
            );
            break;
          }
          this.#reply(option, REP.ACK);
          await this.#startTls(tls);
          // Nothing negotiated before TLS survives it.
          this.#structured = false;
          this.#meta = undefined;
          break;
        }
        case OPT.INFO:
        case OPT.GO: {
          const t = this.#infoOrGo(option, data);
          if (t) return t;
          break;
        }
        case OPT.STRUCTURED_REPLY: {
          if (length !== 0) this.#refuse(option, REP.ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY carries no data');
          else if (this.#structured)
            this.#refuse(option, REP.ERR_INVALID, 'structured replies are already negotiated');
          else {
            this.#structured = true;
            this.#reply(option, REP.ACK);
          }
          break;
        }
        case OPT.LIST_META_CONTEXT:
        case OPT.SET_META_CONTEXT:
          this.#metaContext(option, data);
          break;
        default:
          this.#refuse(option, REP.ERR_UNSUP, `option ${option} is not supported`);
      }
    }
  }

  async #startTls(tls: SessionTls): Promise<void> {
    const rest = this.#in.detach();
    if (rest.length > 0) throw new Drop('data sent after STARTTLS before the TLS handshake');
    const secure = new TLSSocket(this.#raw, {
      isServer: true,
      secureContext: tls.context,
      requestCert: tls.requestCert,
      rejectUnauthorized: tls.requestCert,
      ...(tls.psk
        ? {
            pskCallback: (_socket: TLSSocket, identity: string) => {
              const key = tls.psk?.get(identity);
              return key ? Buffer.from(key) : null;
            },
          }
        : {}),
    } as ConstructorParameters<typeof TLSSocket>[1]);
    secure.on('error', () => {});
    this.#sock = secure;
    await new Promise<void>((resolve, reject) => {
      const fail = (e?: Error) => reject(new Drop(`TLS handshake failed${e ? `: ${e.message}` : ''}`));
      secure.once('secure', () => {
        secure.off('error', fail);
        secure.off('close', fail);
        resolve();
      });
      secure.once('error', fail);
      secure.once('close', () => fail());
    });
    this.#tlsActive = true;
    this.#reader = new ByteReader(secure, READ_AHEAD);
  }

  #lookup(name: string): ServedExport | undefined {
    return name === '' ? this.#host.defaultExport : this.#host.exports.get(name);
  }

  #infoOrGo(option: number, data: Buffer): Transmission | undefined {
    if (data.length < 6) {
      this.#refuse(option, REP.ERR_INVALID, 'option data too short');
      return undefined;
    }
    const nameLength = data.readUInt32BE(0);
    if (nameLength > data.length - 6) {
      this.#refuse(option, REP.ERR_INVALID, 'export name longer than the option');
      return undefined;
    }
    const name = decodeString(data.subarray(4, 4 + nameLength));
    const count = data.readUInt16BE(4 + nameLength);
    if (name === undefined || 6 + nameLength + 2 * count !== data.length) {
      this.#refuse(option, REP.ERR_INVALID, 'malformed NBD_OPT_INFO/GO data');
      return undefined;
    }
    const requests = new Set<number>();
    for (let i = 0; i < count; i++) requests.add(data.readUInt16BE(6 + nameLength + 2 * i));
    const exp = this.#lookup(name);
    if (!exp) {
      this.#refuse(option, REP.ERR_UNKNOWN, `no export named '${name}' (NBD_OPT_LIST lists them)`);
      return undefined;
    }
    let size: number;
    try {
      size = exp.volume.size;
    } catch {
      this.#refuse(option, REP.ERR_UNKNOWN, `export '${exp.name}': its snapshot no longer exists`);
      return undefined;
    }
    if (option === OPT.GO && exp.writable && !this.#host.claimWriter(exp, this)) {
      this.#refuse(
        option,
        REP.ERR_POLICY,
        `export '${exp.name}' is writable and already has a writer (one writer per writable export)`,
      );
      return undefined;
    }
    const t: Transmission = this.#enter(exp, size);
    const info = Buffer.alloc(12);
    info.writeUInt16BE(INFO.EXPORT, 0);
    writeU64(info, size, 2);
    info.writeUInt16BE(this.#transmissionFlags(t), 10);
    this.#reply(option, REP.INFO, info);
    if (requests.has(INFO.NAME) || name === '') {
      const n = utf8(exp.name);
      const payload = Buffer.alloc(2 + n.length);
      payload.writeUInt16BE(INFO.NAME, 0);
      n.copy(payload, 2);
      this.#reply(option, REP.INFO, payload);
    }
    if (requests.has(INFO.DESCRIPTION) && exp.description) {
      const d = utf8(exp.description);
      const payload = Buffer.alloc(2 + d.length);
      payload.writeUInt16BE(INFO.DESCRIPTION, 0);
      d.copy(payload, 2);
      this.#reply(option, REP.INFO, payload);
    }
    const block = Buffer.alloc(14);
    block.writeUInt16BE(INFO.BLOCK_SIZE, 0);
    block.writeUInt32BE(1, 2);
    block.writeUInt32BE(Math.max(512, this.#host.store.chunkSize), 6);
    block.writeUInt32BE(this.#host.maxPayload, 10);
    this.#reply(option, REP.INFO, block);
    this.#reply(option, REP.ACK);
    return option === OPT.GO ? t : undefined;
  }

  #enter(exp: ServedExport, size = exp.volume.size): Transmission {
    const contexts = this.#meta && this.#meta.exp === exp ? this.#meta.contexts : [];
    return {
      exp,
      size,
      structured: this.#structured,
      contexts,
      readOnly: !exp.writable || this.#host.store.readOnly,
    };
  }

  #transmissionFlags(t: Transmission): number {
    let flags =
      TFLAG.HAS_FLAGS |
      TFLAG.SEND_FLUSH |
      TFLAG.SEND_FUA |
      TFLAG.SEND_TRIM |
      TFLAG.SEND_WRITE_ZEROES |
      TFLAG.SEND_FAST_ZERO |
      TFLAG.SEND_CACHE;
    if (t.structured) flags |= TFLAG.SEND_DF;
    // Every connection shares one store whose flush covers all of them; a read-only export can
    // take many connections of one client (nbdcopy, qemu-img with multi-conn).
    if (t.readOnly) flags |= TFLAG.READ_ONLY | TFLAG.CAN_MULTI_CONN;
    return flags;
  }

  /** NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT. */
  #metaContext(option: number, data: Buffer): void {
    const set = option === OPT.SET_META_CONTEXT;
    if (set) this.#meta = undefined;
    if (!this.#structured) {
      this.#refuse(option, REP.ERR_INVALID, 'negotiate structured replies first');
      return;
    }
    const parsed = parseMetaOption(data);
    if (typeof parsed === 'string') {
      this.#refuse(option, REP.ERR_INVALID, parsed);
      return;
    }
    if (parsed.queries.length > MAX_QUERIES) {
      this.#refuse(option, REP.ERR_TOO_BIG, `more than ${MAX_QUERIES} queries`);
      return;
    }
    const exp = this.#lookup(parsed.name);
    if (!exp) {
      this.#refuse(option, REP.ERR_UNKNOWN, `no export named '${parsed.name}'`);
      return;
    }
    const snapshots = this.#host.store.listSnapshots().map((s) => s.name);
    const names: string[] = [];
    const add = (n: string) => {
      if (!names.includes(n)) names.push(n);
    };
    if (parsed.queries.length === 0 && !set) {
      add(BASE_ALLOCATION);
      for (const s of snapshots) add(DIRTY_BITMAP_PREFIX + s);
    }
    for (const q of parsed.queries) {
      const colon = q.indexOf(':');
      if (colon <= 0) {
        this.#refuse(option, REP.ERR_INVALID, `query '${q}' has no namespace`);
        return;
      }
      if (q === BASE_ALLOCATION || (!set && q === 'base:')) add(BASE_ALLOCATION);
      else if (!set && (q === 'qemu:' || q === DIRTY_BITMAP_PREFIX))
        for (const s of snapshots) add(DIRTY_BITMAP_PREFIX + s);
      else if (q.startsWith(DIRTY_BITMAP_PREFIX) && snapshots.includes(q.slice(DIRTY_BITMAP_PREFIX.length)))
        add(q);
      // Anything else (another namespace, an unknown leaf) is ignored, as the protocol asks.
    }
    const contexts: Context[] = names.map((name, i) =>
      name === BASE_ALLOCATION
        ? { id: i + 1, name, kind: 'allocation' }
        : { id: i + 1, name, kind: 'dirty', base: name.slice(DIRTY_BITMAP_PREFIX.length) },
    );
    for (const c of contexts) {
      const n = utf8(c.name);
      const payload = Buffer.alloc(4 + n.length);
      payload.writeUInt32BE(set ? c.id : 0, 0);
      n.copy(payload, 4);
      this.#reply(option, REP.META_CONTEXT, payload);
    }
    this.#reply(option, REP.ACK);
    if (set) this.#meta = { exp, contexts };
  }

  // ---- transmission -------------------------------------------------------------------------

  async #transmission(t: Transmission): Promise<void> {
    this.#inTransmission = true;
    this.#host.log(
      `connection ${this.id}: export '${t.exp.name}' (${t.exp.version}, ${t.readOnly ? 'read-only' : 'writable'})`,
    );
    const running = new Set<Promise<void>>();
    this.#sock.on('drain', () => this.#wake?.());
    try {
      for (;;) {
        // Requests already buffered are taken at once, without a promise each (a client
        // pipelines them: nbdcopy keeps 64 in flight per connection); only an empty buffer or a
        // full connection waits.
        if (this.#busy() && !(await this.#room())) break;
        const head =
          (!this.#stopping && this.#in.tryRead(REQUEST_BYTES)) || (await this.#readOrStop(REQUEST_BYTES));
        if (!head) break;
        if (head.readUInt32BE(0) !== REQUEST_MAGIC) throw new Drop('a request with a wrong magic');
        const req: Request = {
          flags: head.readUInt16BE(4),
          type: head.readUInt16BE(6),
          cookie: Buffer.from(head.subarray(8, 16)),
          offset: readU64(head, 16),
          length: head.readUInt32BE(24),
        };
        if (req.type === CMD.DISC) break;
        // The server-wide budget first: nothing of this request is held, or read, before it.
        const lease: Lease = { bytes: this.#memoryCost(t, req) };
        const granted =
          lease.bytes > 0 && this.#host.memory.acquire(lease.bytes, 'request', this.#gone.signal);
        if (granted) await granted;
        let payload: Buffer | undefined;
        if (req.type === CMD.WRITE) {
          if (req.length > this.#host.maxPayload) {
            this.#error(
              t,
              req,
              NBD_ERR.EINVAL,
              `a write of ${req.length} bytes is over the ${this.#host.maxPayload}-byte limit`,
            );
            throw new Drop(`a WRITE payload of ${req.length} bytes`);
          }
          try {
            payload = await this.#in.read(req.length);
          } catch (e) {
            this.#host.memory.release(lease.bytes, 'request');
            throw e;
          }
        }
        const cost = req.type === CMD.READ || req.type === CMD.WRITE ? req.length : 0;
        this.#inflightBytes += cost;
        this.#inflight++;
        const p: Promise<void> = this.#handle(t, req, payload, lease).finally(() => {
          this.#inflightBytes -= cost;
          this.#inflight--;
          running.delete(p);
          this.#wake?.();
        });
        running.add(p);
      }
    } finally {
      // Requests already read are answered before the connection closes.
      await Promise.allSettled([...running]);
    }
  }

  /** Whether the connection must not read another request now (it is full, or stopping). */
  #busy(): boolean {
    return (
      this.#stopping ||
      this.#sock.destroyed ||
      this.#inflight >= MAX_INFLIGHT ||
      (this.#inflight > 0 && this.#inflightBytes >= this.#host.budget) ||
      this.#sock.writableLength >= this.#host.budget
    );
  }

  /** Waits until the connection may read another request; false when it is stopping. */
  async #room(): Promise<boolean> {
    for (;;) {
      if (this.#stopping || this.#sock.destroyed) return false;
      if (!this.#busy()) return true;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }

  /** Reads `n` bytes, or undefined if the session is asked to stop first. */
  async #readOrStop(n: number): Promise<Buffer | undefined> {
    if (this.#stopping) return undefined;
    const stop = new Promise<undefined>((resolve) => {
      this.#wake = () => {
        if (this.#stopping) resolve(undefined);
      };
    });
    try {
      return await Promise.race([this.#in.read(n), stop]);
    } catch (e) {
      if (e instanceof EndOfStream) return undefined;
      throw e;
    } finally {
      this.#wake = undefined;
    }
  }

  /**
   * Bytes of the server's budget a request needs before it is read further: a READ's reply
   * buffer, a WRITE's payload, the largest BLOCK_STATUS reply; nothing for requests that fail at
   * once or carry no data.
   */
  #memoryCost(t: Transmission, req: Request): number {
    const { type, offset, length } = req;
    if (type === CMD.WRITE) return length <= this.#host.maxPayload ? length : 0;
    if (length === 0 || !(offset + length <= t.size)) return 0;
    if (type === CMD.READ) {
      if (length > this.#host.maxPayload) return 0;
      const cs = this.#host.store.chunkSize;
      const first = Math.floor(offset / cs);
      return REPLY_ROOM + (Math.ceil((offset + length) / cs) - first) * cs;
    }
    if (type === CMD.BLOCK_STATUS) {
      let bytes = 0;
      for (const ctx of t.contexts)
        bytes += HOLE_HEAD + 8 * (ctx.kind === 'dirty' ? MAX_EXTENTS : STATUS_EXTENTS);
      return bytes;
    }
    return 0;
  }

  async #handle(t: Transmission, req: Request, payload: Buffer | undefined, lease: Lease): Promise<void> {
    try {
      await this.#execute(t, req, payload, lease);
    } catch (e) {
      const f = toFailure(e, req);
      this.#error(t, req, f.errno, f.message);
    } finally {
      // A READ hands its lease to the write of its reply; anything else is done with it here.
      if (lease.bytes > 0) this.#host.memory.release(lease.bytes, 'request');
      lease.bytes = 0;
    }
  }

  async #execute(t: Transmission, req: Request, payload: Buffer | undefined, lease: Lease): Promise<void> {
    const { type, flags, offset, length } = req;
    const vol = t.exp.volume;
    const allowed = (mask: number) => {
      if ((flags & ~(mask | CMD_FLAG.FUA)) !== 0)
        throw new Failure(NBD_ERR.EINVAL, `flags 0x${flags.toString(16)} are not valid for command ${type}`);
    };
    const inRange = (errno: number) => {
      if (offset + length > t.size)
        throw new Failure(
          errno,
          `bytes ${offset}..${offset + length} are past the end of the export (${t.size} bytes)`,
        );
    };
    const writable = () => {
      if (t.readOnly) throw new Failure(NBD_ERR.EPERM, `export '${t.exp.name}' is read-only`);
    };
    const fua = async () => {
      if ((flags & CMD_FLAG.FUA) !== 0) await vol.flush();
    };
    switch (type) {
      case CMD.READ: {
        allowed(t.structured ? CMD_FLAG.DF : 0);
        inRange(NBD_ERR.EINVAL);
        if (length > this.#host.maxPayload)
          throw new Failure(
            NBD_ERR.EINVAL,
            `a read of ${length} bytes is over the ${this.#host.maxPayload}-byte limit`,
          );
        await this.#read(t, req, lease);
        return;
      }
      case CMD.WRITE: {
        allowed(0);
        writable();
        inRange(NBD_ERR.ENOSPC);
        if (length > 0) {
          this.#host.mutated();
          await vol.write(offset, payload as Buffer);
          this.#host.mutated();
        }
        await fua();
        break;
      }
      case CMD.FLUSH: {
        allowed(0);
        if (!t.readOnly) await vol.flush();
        break;
      }
      case CMD.TRIM:
      case CMD.WRITE_ZEROES: {
        allowed(type === CMD.TRIM ? 0 : CMD_FLAG.NO_HOLE | CMD_FLAG.FAST_ZERO);
        writable();
        inRange(type === CMD.TRIM ? NBD_ERR.EINVAL : NBD_ERR.ENOSPC);
        // The store keeps no zero chunks: zeros are unmapped chunks, which is also what a trim
        // leaves. So both are a discard, a metadata update that is faster than writing zeros
        // (FAST_ZERO succeeds); NO_HOLE cannot be honoured any better (a later write allocates
        // a new chunk in any case, dedup or not).
        if (length > 0) {
          this.#host.mutated();
          await vol.discard(offset, length);
          this.#host.mutated();
        }
        await fua();
        break;
      }
      case CMD.CACHE: {
        allowed(0);
        inRange(NBD_ERR.EINVAL);
        break;
      }
      case CMD.BLOCK_STATUS: {
        allowed(CMD_FLAG.REQ_ONE);
        if (!t.structured || t.contexts.length === 0)
          throw new Failure(NBD_ERR.EINVAL, 'no metadata context was selected (NBD_OPT_SET_META_CONTEXT)');
        if (length === 0) throw new Failure(NBD_ERR.EINVAL, 'a block status query of 0 bytes');
        inRange(NBD_ERR.EINVAL);
        await this.#blockStatus(t, req);
        return;
      }
      default:
        throw new Failure(NBD_ERR.EINVAL, `unknown command ${type}`);
    }
    this.#ok(t, req);
  }

  /**
   * A READ: the chunks it touches are read into a recycled buffer in one store operation, after
   * REPLY_ROOM bytes kept for the reply's header, checked against their names (on the hashing
   * workers when there are some), and sent as slices of that buffer (one slice, header included,
   * unless the reply keeps long holes apart); the buffer and the lease go back once the reply has
   * left. O(chunks).
   */
  async #read(t: Transmission, req: Request, lease: Lease): Promise<void> {
    const { offset, length, cookie } = req;
    if (length === 0) {
      if (t.structured) this.#ok(t, req);
      else this.#send(simpleReply(cookie, 0));
      return;
    }
    const store = this.#host.store;
    const memory = this.#host.memory;
    const cs = store.chunkSize;
    const first = Math.floor(offset / cs);
    const count = Math.ceil((offset + length) / cs) - first;
    let whole: Uint8Array | undefined;
    let sent = false;
    try {
      // The buffer is taken in the read's turn: requests waiting for it hold none.
      const raw = await this.#host.storeRead(() => {
        whole = memory.take(REPLY_ROOM + count * cs);
        return store._readRaw(t.exp.version, first, count, whole.subarray(REPLY_ROOM));
      });
      const buf = whole as Uint8Array;
      if (store.verifyReads) {
        const bytes = buf.subarray(REPLY_ROOM);
        const hashes = this.#host.hashes;
        const only = uncheckedChunks(raw);
        verifyBatch(
          raw,
          hashes ? await hashes.hash(bytes, cs, only) : hashBatch(bytes, cs, only),
          first,
          `export '${t.exp.name}'`,
        );
        store._keepChecked(raw);
      }
      const parts = readReply(
        t.structured,
        (req.flags & CMD_FLAG.DF) === 0 ? this.#host.minHole : undefined,
        cookie,
        offset,
        length,
        buf,
        first * cs,
        cs,
        raw.physical,
      );
      const leased = lease.bytes;
      lease.bytes = 0;
      sent = true;
      this.#sendThen(parts, () => {
        memory.release(leased, 'request');
        memory.recycle(buf);
      });
    } finally {
      if (!sent && whole) memory.recycle(whole);
    }
  }

  async #blockStatus(t: Transmission, req: Request): Promise<void> {
    const { offset, cookie } = req;
    const one = (req.flags & CMD_FLAG.REQ_ONE) !== 0;
    const length = Math.min(req.length, t.size - offset);
    const chunks: Buffer[][] = [];
    for (const ctx of t.contexts) {
      const extents: [number, number][] = [];
      if (ctx.kind === 'allocation') {
        await this.#allocation(t, offset, length, one, extents);
      } else {
        dirtyExtents(
          await this.#host.changed(ctx.base, t.exp.version),
          offset,
          length,
          one ? 1 : MAX_EXTENTS,
          extents,
        );
      }
      if (one) extents.length = 1;
      const payload = Buffer.alloc(4 + 8 * extents.length);
      payload.writeUInt32BE(ctx.id, 0);
      extents.forEach(([len, flags], i) => {
        payload.writeUInt32BE(len, 4 + 8 * i);
        payload.writeUInt32BE(flags, 8 + 8 * i);
      });
      chunks.push([payload]);
    }
    const parts: Uint8Array[] = [];
    chunks.forEach(([payload], i) => {
      const flags = i === chunks.length - 1 ? REPLY_FLAG_DONE : 0;
      parts.push(
        structuredHeader(cookie, flags, REPLY_TYPE.BLOCK_STATUS, (payload as Buffer).length),
        payload as Buffer,
      );
    });
    this.#send(...parts);
  }

  /**
   * base:allocation extents from `offset`. The block map is walked in growing windows until
   * enough extents are known (a client asks again where a reply stops), so a query over a whole
   * large export costs what one reply holds, not a walk of every chunk; and the extents walked are
   * kept, so the next query (qemu-img asks again at the end of every extent it is told about) is
   * answered from them while no write went through the server (and for at most a second, for
   * writes to the store from elsewhere). Holes shorter than `minHole` between data are reported as
   * data: a client then reads a fragmented region in a few large READs instead of one per extent,
   * and the READ replies send those holes as zeros inside their data chunk (see readReply).
   * O(chunks walked) for a new walk, O(log extents + extents sent) from the kept ones.
   */
  async #allocation(
    t: Transmission,
    offset: number,
    length: number,
    one: boolean,
    out: [number, number][],
  ): Promise<void> {
    const generation = this.#host.generation;
    let walk = this.#walked;
    if (
      !walk ||
      walk.exp !== t.exp ||
      walk.generation !== generation ||
      offset < walk.start ||
      offset >= walk.end
    ) {
      walk = await this.#walk(t, offset, offset + Math.min(length, STATUS_SPAN));
      if (generation === this.#host.generation) this.#walked = walk;
    }
    // The first kept extent ending after offset.
    const { ends, flags } = walk;
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((ends[mid] as number) <= offset) lo = mid + 1;
      else hi = mid;
    }
    const end = offset + length;
    let pos = offset;
    const max = one ? 1 : STATUS_EXTENTS;
    for (let i = lo; i < ends.length && pos < end && out.length < max; i++) {
      const next = Math.min(ends[i] as number, end);
      out.push([next - pos, flags[i] as number]);
      pos = next;
    }
  }

  /** Walks the block map from `offset` (see #allocation): extents as end offsets and flags. */
  async #walk(t: Transmission, offset: number, end: number): Promise<Walk> {
    const cs = this.#host.store.chunkSize;
    const minHole = this.#host.minHole;
    const raw: [number, number][] = [];
    let window = Math.min(MAX_STATUS_WINDOW, Math.max(64 * cs, 256 * 1024));
    let pos = offset;
    while (pos < end) {
      const n = Math.min(window, end - pos);
      for (const e of await t.exp.volume.allocation(pos, n)) {
        const f = e.zero ? STATE_HOLE | STATE_ZERO : 0;
        const last = raw[raw.length - 1];
        if (last && last[1] === f) last[0] += e.length;
        else raw.push([e.length, f]);
      }
      pos += n;
      if (raw.length > STATUS_EXTENTS) break;
      window = Math.min(window * 2, MAX_STATUS_WINDOW);
    }
    // Short holes between data become data; the last extent stays as it is (it may go on).
    const ends: number[] = [];
    const flags: number[] = [];
    let at = offset;
    raw.forEach(([len, f], i) => {
      at += len;
      const g = f !== 0 && len < minHole && i < raw.length - 1 ? 0 : f;
      const k = ends.length - 1;
      if (k >= 0 && flags[k] === g) ends[k] = at;
      else {
        ends.push(at);
        flags.push(g);
      }
    });
    return {
      exp: t.exp,
      generation: this.#host.generation,
      start: offset,
      end: at,
      ends,
      flags,
    };
  }

  #ok(t: Transmission, req: Request): void {
    if (t.structured) this.#send(structuredHeader(req.cookie, REPLY_FLAG_DONE, REPLY_TYPE.NONE, 0));
    else this.#send(simpleReply(req.cookie, 0));
  }

  #error(t: Transmission, req: Request, errno: number, message: string): void {
    if (!t.structured) {
      this.#send(simpleReply(req.cookie, errno));
      return;
    }
    const m = utf8(message);
    const payload = Buffer.alloc(6 + m.length);
    payload.writeUInt32BE(errno, 0);
    payload.writeUInt16BE(m.length, 4);
    m.copy(payload, 6);
    this.#send(structuredHeader(req.cookie, REPLY_FLAG_DONE, REPLY_TYPE.ERROR, payload.length), payload);
  }
}

/** base:allocation extents walked from `start` to `end`, kept for the next query. */
interface Walk {
  readonly exp: ServedExport;
  readonly generation: number;
  readonly start: number;
  readonly end: number;
  /** End offset of each extent (the first starts at `start`). */
  readonly ends: readonly number[];
  readonly flags: readonly number[];
}

/** What a request holds of the server's memory budget; 0 once given back (or handed on). */
interface Lease {
  bytes: number;
}

/**
 * The parts of a READ reply for `[offset, offset + length)`, whose chunks sit in `buf` from byte
 * REPLY_ROOM on, starting at byte `base` of the volume: a simple reply with the bytes; or
 * structured chunks, one OFFSET_HOLE per run of unmapped chunks (`physical[i] < 0`: the store
 * keeps no zero chunks, so those read as zeros) of at least `minHole` bytes or covering the whole
 * request (none when `minHole` is undefined: the DF flag), and one OFFSET_DATA per run of the rest (shorter holes go as the zeros the store
 * filled in: a chunk header and a separate piece of the reply cost more than a few KiB of zeros,
 * to the server and to the client). A reply of one piece of data (the common case: a simple reply,
 * or a structured one with no long hole) is a single slice of `buf`, its header written in front
 * of the data (in the room before the first chunk, or over the bytes of the first chunk that
 * precede `offset`, which are not sent); otherwise the data parts are slices of `buf` and the
 * headers share one small buffer. O(chunks).
 */
function readReply(
  structured: boolean,
  minHole: number | undefined,
  cookie: Buffer,
  offset: number,
  length: number,
  buf: Uint8Array,
  base: number,
  cs: number,
  physical: readonly number[],
): Uint8Array[] {
  const from = REPLY_ROOM + offset - base;
  const end = offset + length;
  if (!structured) {
    const head = headerView(buf, from - SIMPLE_REPLY_BYTES, SIMPLE_REPLY_BYTES);
    head.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
    head.writeUInt32BE(0, 4);
    cookie.copy(head, 8, 0, 8);
    return [buf.subarray(from - SIMPLE_REPLY_BYTES, from + length)];
  }
  // Runs of data / hole chunks, clipped to the request: [start, end, hole] triples.
  const runs: number[] = [];
  let pos = offset;
  for (let i = 0; pos < end; i++) {
    const next = Math.min(end, base + (i + 1) * cs);
    const hole = (physical[i] as number) < 0 ? 1 : 0;
    const n = runs.length;
    if (n > 0 && runs[n - 1] === hole) runs[n - 2] = next;
    else runs.push(pos, next, hole);
    pos = next;
  }
  // Holes shorter than minHole become data (merged with the data around them), unless the whole
  // request is one; with no minHole (DF), every hole does.
  const only = runs.length === 3;
  let w = 0;
  for (let r = 0; r < runs.length; r += 3) {
    const start = runs[r] as number;
    const stop = runs[r + 1] as number;
    const hole = runs[r + 2] === 1 && minHole !== undefined && (only || stop - start >= minHole) ? 1 : 0;
    if (w > 0 && runs[w - 1] === hole) runs[w - 2] = stop;
    else {
      runs[w] = start;
      runs[w + 1] = stop;
      runs[w + 2] = hole;
      w += 3;
    }
  }
  runs.length = w;
  if (runs.length === 3 && runs[2] === 0) {
    const at = from - DATA_HEAD;
    const head = headerView(buf, at, DATA_HEAD);
    writeChunkHead(head, 0, cookie, REPLY_FLAG_DONE, REPLY_TYPE.OFFSET_DATA, 8 + length);
    writeU64(head, offset, 20);
    return [buf.subarray(at, from + length)];
  }
  const chunks = runs.length / 3;
  const heads = Buffer.allocUnsafe(chunks * HOLE_HEAD);
  const parts: Uint8Array[] = [];
  for (let k = 0; k < chunks; k++) {
    const start = runs[3 * k] as number;
    const stop = runs[3 * k + 1] as number;
    const hole = runs[3 * k + 2] === 1;
    const at = k * HOLE_HEAD;
    const flags = k === chunks - 1 ? REPLY_FLAG_DONE : 0;
    writeU64(heads, start, at + 20);
    if (hole) {
      writeChunkHead(heads, at, cookie, flags, REPLY_TYPE.OFFSET_HOLE, 12);
      heads.writeUInt32BE(stop - start, at + 28);
      parts.push(heads.subarray(at, at + HOLE_HEAD));
    } else {
      writeChunkHead(heads, at, cookie, flags, REPLY_TYPE.OFFSET_DATA, 8 + stop - start);
      parts.push(
        heads.subarray(at, at + DATA_HEAD),
        buf.subarray(from + start - offset, from + stop - offset),
      );
    }
  }
  return parts;
}

/** A Buffer over `length` bytes of `buf` from `at`, to write a header with. */
function headerView(buf: Uint8Array, at: number, length: number): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + at, length);
}

/** Writes a structured reply chunk's 20-byte header at `at`. */
function writeChunkHead(
  out: Buffer,
  at: number,
  cookie: Buffer,
  flags: number,
  type: number,
  length: number,
): void {
  out.writeUInt32BE(STRUCTURED_REPLY_MAGIC, at);
  out.writeUInt16BE(flags, at + 4);
  out.writeUInt16BE(type, at + 6);
  cookie.copy(out, at + 8, 0, 8);
  out.writeUInt32BE(length, at + 16);
}

/**
 * Appends to `out` the dirty/clean extents of `[offset, offset + length)` given the sorted, merged
 * changed ranges, at most `max` of them. O(log ranges + extents).
 */
export function dirtyExtents(
  ranges: readonly Range[],
  offset: number,
  length: number,
  max: number,
  out: [number, number][],
): void {
  // The first range ending after offset.
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const r = ranges[mid] as Range;
    if (r.offset + r.length <= offset) lo = mid + 1;
    else hi = mid;
  }
  const end = offset + length;
  let pos = offset;
  let i = lo;
  while (pos < end && out.length < max) {
    const r = ranges[i];
    let next: number;
    let flags: number;
    if (r && r.offset <= pos) {
      next = Math.min(r.offset + r.length, end);
      flags = STATE_DIRTY;
      i++;
    } else {
      next = r ? Math.min(r.offset, end) : end;
      flags = 0;
    }
    out.push([next - pos, flags]);
    pos = next;
  }
}

/** Parses LIST/SET_META_CONTEXT data; a string says what is malformed. */
function parseMetaOption(data: Buffer): { name: string; queries: string[] } | string {
  if (data.length < 8) return 'option data too short';
  const nameLength = data.readUInt32BE(0);
  if (nameLength > data.length - 8) return 'export name longer than the option';
  const name = decodeString(data.subarray(4, 4 + nameLength));
  if (name === undefined) return 'export name is not a valid string';
  let at = 4 + nameLength;
  const count = data.readUInt32BE(at);
  at += 4;
  if (count > (data.length - at) / 4) return 'more queries than the option holds';
  const queries: string[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 4 > data.length) return 'a query past the end of the option';
    const n = data.readUInt32BE(at);
    at += 4;
    if (n > data.length - at) return 'a query past the end of the option';
    const q = decodeString(data.subarray(at, at + n));
    if (q === undefined) return 'a query is not a valid string';
    queries.push(q);
    at += n;
  }
  if (at !== data.length) return 'bytes after the last query';
  return { name, queries };
}

/** The NBD error for what a store operation threw. */
function toFailure(e: unknown, req: Request): Failure {
  if (e instanceof Failure) return e;
  const message = e instanceof Error ? e.message : String(e);
  if (isStoreError(e, 'ERR_READ_ONLY')) return new Failure(NBD_ERR.EPERM, message);
  if (isStoreError(e, 'ERR_NO_SPACE')) return new Failure(NBD_ERR.ENOSPC, message);
  if (isStoreError(e, 'ERR_OUT_OF_RANGE'))
    return new Failure(
      req.type === CMD.WRITE || req.type === CMD.WRITE_ZEROES ? NBD_ERR.ENOSPC : NBD_ERR.EINVAL,
      message,
    );
  if (isStoreError(e, 'ERR_CLOSED')) return new Failure(NBD_ERR.ESHUTDOWN, message);
  return new Failure(NBD_ERR.EIO, message);
}
