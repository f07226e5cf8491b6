// An NBD client: the same protocol code from the other end, for reading an export into a store
// (`importNbd`, `deja import STORE nbd://...`) and for tests. It negotiates fixed newstyle,
// STARTTLS when given credentials, structured replies, the metadata contexts asked for, and
// NBD_OPT_GO (falling back to NBD_OPT_EXPORT_NAME on old servers); then it sends requests with
// distinct cookies and matches replies to them, so many requests can be in flight on one
// connection. Replies are checked as they arrive: a chunk outside its request, an unknown cookie
// or an oversized length is a protocol error that ends the connection, never a wrong answer.

import { connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { isStoreError, StoreError } from '../errors';
import { ByteReader, EndOfStream } from './_reader';
import {
  CMD,
  CMD_FLAG,
  DEFAULT_PORT,
  errorName,
  FLAG_C_FIXED_NEWSTYLE,
  FLAG_C_NO_ZEROES,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO,
  MAX_PAYLOAD,
  NBDMAGIC,
  OPT,
  OPT_REPLY_MAGIC_HI,
  OPT_REPLY_MAGIC_LO,
  REP,
  REPLY_FLAG_DONE,
  REPLY_TYPE,
  REQUEST_MAGIC,
  readU64,
  replyName,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  TFLAG,
  utf8,
  writeU64,
} from './protocol';

/** Where an export is: parsed from an NBD URI, or given as parts. */
export interface NbdTarget {
  /** A Unix socket path, or a TCP host and port. */
  readonly socket?: string;
  readonly host?: string;
  readonly port?: number;
  readonly exportName: string;
  /** Whether the URI asked for TLS (`nbds://`). */
  readonly tls: boolean;
}

/** Client TLS credentials. */
export interface NbdClientTlsOptions {
  /** PEM CA certificates to verify the server with (default: the system's). */
  readonly ca?: string | Uint8Array;
  /** PEM client certificate and key, for servers that ask for one. */
  readonly cert?: string | Uint8Array;
  readonly key?: string | Uint8Array;
  /** A pre-shared key and its identity, instead of certificates. */
  readonly psk?: { readonly identity: string; readonly key: Uint8Array };
  /** The name the server's certificate must carry (default: the host). */
  readonly servername?: string;
}

/** Options of {@link NbdClient.connect}. */
export interface NbdConnectOptions {
  /** Metadata contexts to select (`base:allocation`, `qemu:dirty-bitmap:NAME`). */
  readonly contexts?: readonly string[];
  /** TLS: required for `nbds` URIs, and used with any target when given. */
  readonly tls?: NbdClientTlsOptions;
}

/** One extent of a BLOCK_STATUS reply. */
export interface NbdExtent {
  readonly offset: number;
  readonly length: number;
  readonly flags: number;
}

/**
 * Parses an NBD URI: `nbd://host[:port]/export`, `nbd+unix:///export?socket=PATH`, and the `nbds`
 * forms (TLS). The export name is the percent-decoded path without its first `/`.
 *
 * @throws TypeError for anything else.
 */
export function parseNbdUri(uri: string): NbdTarget {
  const m = /^(nbds?)(\+unix)?:\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/.exec(uri);
  if (!m)
    throw new TypeError(
      `'${uri}' is not an NBD URI (nbd://host[:port]/export or nbd+unix:///export?socket=PATH)`,
    );
  const tls = m[1] === 'nbds';
  const exportName = decodeURIComponent((m[4] ?? '/').slice(1));
  const query = new URLSearchParams((m[5] ?? '').slice(1));
  if (m[2]) {
    const socket = query.get('socket');
    if (!socket || m[3] !== '') throw new TypeError(`'${uri}': nbd+unix needs ?socket=PATH and no host`);
    return { socket, exportName, tls };
  }
  const hostPort = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(m[3] ?? '');
  if (!hostPort?.[1]) throw new TypeError(`'${uri}': no host`);
  const host = (hostPort[1] as string).replace(/^\[|\]$/g, '');
  const port = hostPort[2] ? Number(hostPort[2]) : DEFAULT_PORT;
  if (port > 65535) throw new TypeError(`'${uri}': bad port`);
  return { host, port, exportName, tls };
}

interface Pending {
  readonly type: number;
  readonly offset: number;
  readonly length: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (e: Error) => void;
  buffer?: Uint8Array;
  extents?: Map<string, NbdExtent[]>;
  error?: StoreError;
}

/** A connection to one export, in the transmission phase. */
export class NbdClient {
  /** The export's size in bytes. */
  readonly size: number;
  /** Its transmission flags. */
  readonly flags: number;
  /** Block size constraints the server advertised (defaults when it did not). */
  readonly blockSize: { readonly minimum: number; readonly preferred: number; readonly maximum: number };
  /** The selected metadata contexts, by name, with their ids. */
  readonly contexts: ReadonlyMap<string, number>;
  readonly #sock: Socket | TLSSocket;
  readonly #reader: ByteReader;
  readonly #structured: boolean;
  readonly #pending = new Map<number, Pending>();
  readonly #inflight = new Set<Promise<unknown>>();
  #cookie = 0;
  #failed: StoreError | undefined;
  #closed = false;

  /** @internal Use {@link NbdClient.connect}. */
  constructor(
    sock: Socket | TLSSocket,
    reader: ByteReader,
    info: {
      size: number;
      flags: number;
      structured: boolean;
      contexts: Map<string, number>;
      blockSize: { minimum: number; preferred: number; maximum: number };
    },
  ) {
    this.#sock = sock;
    this.#reader = reader;
    this.size = info.size;
    this.flags = info.flags;
    this.#structured = info.structured;
    this.contexts = info.contexts;
    this.blockSize = info.blockSize;
    void this.#replies();
  }

  /**
   * Connects to an export and negotiates up to the transmission phase.
   *
   * @param target - an NBD URI or a parsed {@link NbdTarget}.
   * @throws StoreError `ERR_NBD_REFUSED` (an unknown export, a refused context, TLS required),
   *   `ERR_NBD_PROTOCOL`, `ERR_NBD_TLS`, `ERR_NBD_TLS_REQUIRED`, `ERR_NBD_DISCONNECTED`; the
   *   system's error when it cannot connect.
   */
  static async connect(target: string | NbdTarget, options: NbdConnectOptions = {}): Promise<NbdClient> {
    const t = typeof target === 'string' ? parseNbdUri(target) : target;
    if (t.tls && !options.tls)
      throw new StoreError('ERR_NBD_TLS_REQUIRED', 'an nbds URI needs TLS credentials (a CA or a PSK)');
    const raw = await new Promise<Socket>((resolve, reject) => {
      const s = t.socket !== undefined ? netConnect(t.socket) : netConnect(t.port ?? DEFAULT_PORT, t.host);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
    raw.setNoDelay(true);
    raw.on('error', () => {});
    try {
      return await negotiate(raw, t, options);
    } catch (e) {
      raw.destroy();
      if (e instanceof EndOfStream)
        throw new StoreError('ERR_NBD_DISCONNECTED', 'the server closed the connection during negotiation', {
          cause: e,
        });
      throw e;
    }
  }

  /** Reads `length` bytes at `offset` (holes come back as zeros). */
  read(offset: number, length: number): Promise<Uint8Array> {
    return this.#request(CMD.READ, 0, offset, length) as Promise<Uint8Array>;
  }

  /** Writes `data` at `offset`; with `fua`, durable when it resolves. */
  async write(offset: number, data: Uint8Array, options: { fua?: boolean } = {}): Promise<void> {
    await this.#request(CMD.WRITE, options.fua ? CMD_FLAG.FUA : 0, offset, data.length, data);
  }

  /** Makes every completed write durable. */
  async flush(): Promise<void> {
    await this.#request(CMD.FLUSH, 0, 0, 0);
  }

  /** Discards a range (a hint; it may read back as anything, zeros on a Deja server). */
  async trim(offset: number, length: number): Promise<void> {
    await this.#request(CMD.TRIM, 0, offset, length);
  }

  /** Writes zeros over a range. */
  async writeZeroes(
    offset: number,
    length: number,
    options: { noHole?: boolean; fast?: boolean } = {},
  ): Promise<void> {
    const flags = (options.noHole ? CMD_FLAG.NO_HOLE : 0) | (options.fast ? CMD_FLAG.FAST_ZERO : 0);
    await this.#request(CMD.WRITE_ZEROES, flags, offset, length);
  }

  /**
   * One BLOCK_STATUS request: the extents of each selected context from `offset` (the server may
   * cover less or more than `length`; see {@link extents} for a whole range).
   */
  blockStatus(offset: number, length: number): Promise<Map<string, NbdExtent[]>> {
    return this.#request(CMD.BLOCK_STATUS, 0, offset, length) as Promise<Map<string, NbdExtent[]>>;
  }

  /**
   * Every extent of one context over `[offset, offset + length)`, cut to that range, in order,
   * with as many BLOCK_STATUS requests as the server needs.
   */
  async extents(context: string, offset = 0, length = this.size - offset): Promise<NbdExtent[]> {
    if (!this.contexts.has(context)) throw new TypeError(`context '${context}' was not selected`);
    const out: NbdExtent[] = [];
    const end = offset + length;
    let pos = offset;
    while (pos < end) {
      const reply = await this.blockStatus(pos, Math.min(end - pos, 0xffffffff));
      const list = reply.get(context) ?? [];
      if (list.length === 0)
        throw new StoreError('ERR_NBD_PROTOCOL', `no extents for '${context}' at ${pos}`);
      for (const e of list) {
        if (pos >= end) break;
        const n = Math.min(e.length, end - pos);
        const last = out[out.length - 1];
        if (last && last.flags === e.flags) out[out.length - 1] = { ...last, length: last.length + n };
        else out.push({ offset: pos, length: n, flags: e.flags });
        pos += n;
      }
    }
    return out;
  }

  /** Sends NBD_CMD_DISC once every request in flight is answered, and closes. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#inflight]);
    if (!this.#sock.destroyed && this.#failed === undefined) {
      const h = requestHeader(CMD.DISC, 0, 0, 0, 0);
      await new Promise<void>((resolve) => this.#sock.end(h, () => resolve()));
    }
    this.#sock.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #request(type: number, flags: number, offset: number, length: number, data?: Uint8Array): Promise<unknown> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#closed) return Promise.reject(new StoreError('ERR_CLOSED', 'the NBD client is closed'));
    if (
      !Number.isSafeInteger(offset) ||
      offset < 0 ||
      !Number.isInteger(length) ||
      length < 0 ||
      length > 0xffffffff
    )
      return Promise.reject(new RangeError(`bad offset ${offset} or length ${length}`));
    if ((type === CMD.READ || type === CMD.WRITE) && length > this.blockSize.maximum)
      return Promise.reject(
        new RangeError(`${length} bytes is over the server's ${this.blockSize.maximum}-byte limit`),
      );
    if (type === CMD.BLOCK_STATUS && this.contexts.size === 0)
      return Promise.reject(new TypeError('no metadata context was selected'));
    const cookie = ++this.#cookie;
    const promise = new Promise((resolve, reject) => {
      const p: Pending = { type, offset, length, resolve, reject };
      if (type === CMD.READ) p.buffer = new Uint8Array(length);
      if (type === CMD.BLOCK_STATUS) p.extents = new Map();
      this.#pending.set(cookie, p);
      const h = requestHeader(type, flags, cookie, offset, length);
      if (data && data.length > 0) {
        this.#sock.cork();
        this.#sock.write(h);
        this.#sock.write(data);
        this.#sock.uncork();
      } else this.#sock.write(h);
    });
    this.#inflight.add(promise);
    const done = () => this.#inflight.delete(promise);
    promise.then(done, done);
    return promise;
  }

  /** Reads replies until the connection ends, settling the requests they answer. */
  async #replies(): Promise<void> {
    try {
      for (;;) {
        const head = await this.#reader.read(4);
        const magic = head.readUInt32BE(0);
        if (magic === SIMPLE_REPLY_MAGIC) await this.#simple();
        else if (magic === STRUCTURED_REPLY_MAGIC && this.#structured) await this.#chunk();
        else throw new StoreError('ERR_NBD_PROTOCOL', `a reply with magic 0x${magic.toString(16)}`);
      }
    } catch (e) {
      const err = isStoreError(e)
        ? e
        : new StoreError('ERR_NBD_DISCONNECTED', 'the connection closed with requests in flight', {
            cause: e,
          });
      this.#failed = err;
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
      if (err.code === 'ERR_NBD_PROTOCOL') this.#sock.destroy();
    }
  }

  #take(cookieHi: number, cookieLo: number): Pending {
    const p = cookieHi === 0 ? this.#pending.get(cookieLo) : undefined;
    if (!p)
      throw new StoreError('ERR_NBD_PROTOCOL', `a reply to no request (cookie ${cookieHi}:${cookieLo})`);
    return p;
  }

  async #simple(): Promise<void> {
    const rest = await this.#reader.read(12);
    const error = rest.readUInt32BE(0);
    const hi = rest.readUInt32BE(4);
    const lo = rest.readUInt32BE(8);
    const p = this.#take(hi, lo);
    this.#pending.delete(lo);
    if (error !== 0) {
      p.reject(requestError(p, error, ''));
      return;
    }
    if (p.type === CMD.READ) {
      if (this.#structured)
        throw new StoreError('ERR_NBD_PROTOCOL', 'a simple reply to a READ after structured replies');
      p.resolve(new Uint8Array(await this.#reader.read(p.length)));
      return;
    }
    if (p.type === CMD.BLOCK_STATUS)
      throw new StoreError('ERR_NBD_PROTOCOL', 'a simple reply to BLOCK_STATUS');
    p.resolve(undefined);
  }

  async #chunk(): Promise<void> {
    const rest = await this.#reader.read(16);
    const flags = rest.readUInt16BE(0);
    const type = rest.readUInt16BE(2);
    const hi = rest.readUInt32BE(4);
    const lo = rest.readUInt32BE(8);
    const length = rest.readUInt32BE(12);
    const p = this.#take(hi, lo);
    if (length > MAX_PAYLOAD + 8 * (1 << 20) + 64)
      throw new StoreError('ERR_NBD_PROTOCOL', `a reply chunk of ${length} bytes`);
    const payload = await this.#reader.read(length);
    const bad = (what: string) =>
      new StoreError('ERR_NBD_PROTOCOL', `${what} in the reply to a ${p.type} request`);
    if ((type & 0x8000) !== 0) {
      if (length < 6) throw bad('a short error chunk');
      const errno = payload.readUInt32BE(0);
      const n = payload.readUInt16BE(4);
      if (6 + n > length) throw bad('an error message past its chunk');
      p.error ??= requestError(p, errno || 5, payload.toString('utf8', 6, 6 + n));
    } else if (type === REPLY_TYPE.OFFSET_DATA || type === REPLY_TYPE.OFFSET_HOLE) {
      if (p.type !== CMD.READ || !p.buffer) throw bad('a data chunk');
      if (length < (type === REPLY_TYPE.OFFSET_DATA ? 9 : 12)) throw bad('a short data chunk');
      const off = readU64(payload, 0);
      const n = type === REPLY_TYPE.OFFSET_DATA ? length - 8 : payload.readUInt32BE(8);
      if (off < p.offset || off + n > p.offset + p.length) throw bad('a chunk outside the request');
      // Holes are zeros already (the buffer starts zeroed).
      if (type === REPLY_TYPE.OFFSET_DATA) p.buffer.set(payload.subarray(8), off - p.offset);
    } else if (type === REPLY_TYPE.BLOCK_STATUS) {
      if (p.type !== CMD.BLOCK_STATUS || !p.extents) throw bad('a block status chunk');
      if (length < 12 || (length - 4) % 8 !== 0) throw bad('a malformed block status chunk');
      const id = payload.readUInt32BE(0);
      const name = [...this.contexts].find(([, v]) => v === id)?.[0];
      if (name === undefined) throw bad(`context id ${id}`);
      const list: NbdExtent[] = [];
      let pos = p.offset;
      for (let i = 4; i < length; i += 8) {
        const n = payload.readUInt32BE(i);
        if (n === 0) throw bad('an empty extent');
        list.push({ offset: pos, length: n, flags: payload.readUInt32BE(i + 4) });
        pos += n;
      }
      p.extents.set(name, list);
    } else if (type !== REPLY_TYPE.NONE) throw bad(`chunk type ${type}`);
    if ((flags & REPLY_FLAG_DONE) !== 0) {
      this.#pending.delete(lo);
      if (p.error) p.reject(p.error);
      else p.resolve(p.type === CMD.READ ? p.buffer : p.type === CMD.BLOCK_STATUS ? p.extents : undefined);
    }
  }
}

function requestError(p: Pending, errno: number, message: string): StoreError {
  return new StoreError(
    'ERR_NBD_REQUEST',
    `${['read', 'write', 'disc', 'flush', 'trim', 'cache', 'write zeroes', 'block status'][p.type] ?? 'request'} at ${p.offset} (${p.length} bytes) failed: ${errorName(errno)}${message ? `: ${message}` : ''}`,
    { nbdErrno: errno },
  );
}

function requestHeader(type: number, flags: number, cookie: number, offset: number, length: number): Buffer {
  const h = Buffer.alloc(28);
  h.writeUInt32BE(REQUEST_MAGIC, 0);
  h.writeUInt16BE(flags, 4);
  h.writeUInt16BE(type, 6);
  h.writeUInt32BE(0, 8);
  h.writeUInt32BE(cookie >>> 0, 12);
  writeU64(h, offset, 16);
  h.writeUInt32BE(length >>> 0, 24);
  return h;
}

async function negotiate(raw: Socket, t: NbdTarget, options: NbdConnectOptions): Promise<NbdClient> {
  let sock: Socket | TLSSocket = raw;
  let reader = new ByteReader(raw);
  const hello = await reader.read(18);
  if (!hello.subarray(0, 8).equals(NBDMAGIC)) throw new StoreError('ERR_NBD_PROTOCOL', 'not an NBD server');
  if (!hello.subarray(8, 16).equals(IHAVEOPT))
    throw new StoreError(
      'ERR_NBD_PROTOCOL',
      'the server speaks oldstyle negotiation, which this client does not',
    );
  const serverFlags = hello.readUInt16BE(16);
  if ((serverFlags & FLAG_FIXED_NEWSTYLE) === 0)
    throw new StoreError('ERR_NBD_PROTOCOL', 'the server does not speak fixed newstyle negotiation');
  const noZeroes = (serverFlags & FLAG_NO_ZEROES) !== 0;
  const cf = Buffer.alloc(4);
  cf.writeUInt32BE(FLAG_C_FIXED_NEWSTYLE | (noZeroes ? FLAG_C_NO_ZEROES : 0), 0);
  sock.write(cf);

  const option = async (opt: number, data: Uint8Array = new Uint8Array(0)) => {
    const h = Buffer.alloc(16);
    IHAVEOPT.copy(h, 0);
    h.writeUInt32BE(opt, 8);
    h.writeUInt32BE(data.length, 12);
    sock.write(Buffer.concat([h, data]));
    const replies: { type: number; data: Buffer }[] = [];
    for (;;) {
      const r = await reader.read(20);
      if (r.readUInt32BE(0) !== OPT_REPLY_MAGIC_HI || r.readUInt32BE(4) !== OPT_REPLY_MAGIC_LO)
        throw new StoreError('ERR_NBD_PROTOCOL', 'an option reply without its magic');
      if (r.readUInt32BE(8) !== opt) throw new StoreError('ERR_NBD_PROTOCOL', 'a reply to another option');
      const type = r.readUInt32BE(12);
      const n = r.readUInt32BE(16);
      if (n > 1 << 20) throw new StoreError('ERR_NBD_PROTOCOL', `an option reply of ${n} bytes`);
      const body = await reader.read(n);
      replies.push({ type, data: body });
      if (type === REP.ACK || type >= 0x80000000) return replies;
    }
  };
  const refused = (what: string, r: { type: number; data: Buffer }) =>
    new StoreError(
      r.type === REP.ERR_TLS_REQD ? 'ERR_NBD_TLS_REQUIRED' : 'ERR_NBD_REFUSED',
      `the server refused ${what}: ${replyName(r.type)}${r.data.length ? ` (${r.data.toString('utf8')})` : ''}`,
      { nbdReply: r.type },
    );

  if (options.tls) {
    const r = await option(OPT.STARTTLS);
    const last = r[r.length - 1] as { type: number; data: Buffer };
    if (last.type !== REP.ACK) throw refused('STARTTLS', last);
    reader.detach();
    sock = await startTls(raw, t, options.tls);
    reader = new ByteReader(sock);
  }

  const name = utf8(t.exportName);
  const sr = await option(OPT.STRUCTURED_REPLY);
  const structured = sr[sr.length - 1]?.type === REP.ACK;
  const contexts = new Map<string, number>();
  if (options.contexts && options.contexts.length > 0) {
    if (!structured)
      throw new StoreError(
        'ERR_NBD_REFUSED',
        'the server does not offer structured replies (needed for metadata contexts)',
      );
    const parts: Buffer[] = [];
    const head = Buffer.alloc(8 + name.length);
    head.writeUInt32BE(name.length, 0);
    name.copy(head, 4);
    head.writeUInt32BE(options.contexts.length, 4 + name.length);
    parts.push(head);
    for (const c of options.contexts) {
      const q = utf8(c);
      const l = Buffer.alloc(4);
      l.writeUInt32BE(q.length, 0);
      parts.push(l, q);
    }
    const r = await option(OPT.SET_META_CONTEXT, Buffer.concat(parts));
    const last = r[r.length - 1] as { type: number; data: Buffer };
    if (last.type !== REP.ACK) throw refused('the metadata contexts', last);
    for (const x of r)
      if (x.type === REP.META_CONTEXT && x.data.length >= 4)
        contexts.set(x.data.toString('utf8', 4), x.data.readUInt32BE(0));
  }

  const go = Buffer.alloc(4 + name.length + 4);
  go.writeUInt32BE(name.length, 0);
  name.copy(go, 4);
  go.writeUInt16BE(1, 4 + name.length);
  go.writeUInt16BE(INFO.BLOCK_SIZE, 6 + name.length);
  const r = await option(OPT.GO, go);
  const last = r[r.length - 1] as { type: number; data: Buffer };
  let size = -1;
  let flags = 0;
  const blockSize = { minimum: 1, preferred: 4096, maximum: MAX_PAYLOAD };
  if (last.type === REP.ACK) {
    for (const x of r) {
      if (x.type !== REP.INFO || x.data.length < 2) continue;
      const kind = x.data.readUInt16BE(0);
      if (kind === INFO.EXPORT && x.data.length === 12) {
        size = readU64(x.data, 2);
        flags = x.data.readUInt16BE(10);
      } else if (kind === INFO.BLOCK_SIZE && x.data.length === 14) {
        blockSize.minimum = x.data.readUInt32BE(2);
        blockSize.preferred = x.data.readUInt32BE(6);
        blockSize.maximum = Math.min(x.data.readUInt32BE(10), MAX_PAYLOAD);
      }
    }
    if (size < 0) throw new StoreError('ERR_NBD_PROTOCOL', 'NBD_OPT_GO succeeded without NBD_INFO_EXPORT');
  } else if (last.type === REP.ERR_UNSUP) {
    // An old server: NBD_OPT_EXPORT_NAME, which cannot fail except by closing.
    const h = Buffer.alloc(16);
    IHAVEOPT.copy(h, 0);
    h.writeUInt32BE(OPT.EXPORT_NAME, 8);
    h.writeUInt32BE(name.length, 12);
    sock.write(Buffer.concat([h, name]));
    const info = await reader.read(10);
    size = readU64(info, 0);
    flags = info.readUInt16BE(8);
    if (!noZeroes) await reader.read(124);
  } else throw refused(`export '${t.exportName}'`, last);
  if (!Number.isSafeInteger(size)) throw new StoreError('ERR_NBD_PROTOCOL', 'an export size past 2^53');
  if ((flags & TFLAG.HAS_FLAGS) === 0) flags = 0;
  return new NbdClient(sock, reader, {
    size,
    flags,
    structured,
    contexts,
    blockSize,
  });
}

function startTls(raw: Socket, t: NbdTarget, tls: NbdClientTlsOptions): Promise<TLSSocket> {
  const buf = (v: string | Uint8Array | undefined) => (v === undefined ? undefined : Buffer.from(v));
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      socket: raw,
      ca: buf(tls.ca),
      cert: buf(tls.cert),
      key: buf(tls.key),
      servername: tls.servername ?? (t.host && !/^[\d.:]+$/.test(t.host) ? t.host : undefined),
      minVersion: 'TLSv1.2',
      ...(tls.psk
        ? {
            ciphers: 'PSK:ECDHE-PSK:DHE-PSK',
            checkServerIdentity: () => undefined,
            pskCallback: () => ({
              identity: tls.psk?.identity as string,
              psk: Buffer.from(tls.psk?.key as Uint8Array),
            }),
          }
        : {}),
    });
    s.once('secureConnect', () => {
      s.off('error', onError);
      s.on('error', () => {});
      resolve(s);
    });
    const onError = (e: Error) =>
      reject(new StoreError('ERR_NBD_TLS', `TLS handshake failed: ${e.message}`, { cause: e }));
    s.once('error', onError);
  });
}
