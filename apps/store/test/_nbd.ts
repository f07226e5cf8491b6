// Test helpers for the NBD server: finding the real clients (qemu-img, qemu-io, nbdinfo, nbdcopy;
// a missing one skips its tests locally with a message and fails them in CI), running them, stores
// in temporary directories, and a raw protocol client that sends exactly the bytes a test wants
// (good or bad) and reads back what the server answers.

import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { ByteReader } from '../src/nbd/_reader';
import {
  CMD,
  IHAVEOPT,
  OPT,
  REP,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  writeU64,
} from '../src/nbd/protocol';

/** Which Debian package holds each client. */
const PACKAGES: Record<string, string> = {
  'qemu-img': 'qemu-utils',
  'qemu-io': 'qemu-utils',
  'qemu-nbd': 'qemu-utils',
  nbdinfo: 'libnbd-bin',
  nbdcopy: 'libnbd-bin',
  openssl: 'openssl',
};

/** Whether a program is on the PATH. */
export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * A `describe` that needs external clients: run when they are installed; otherwise skipped with a
 * message, except in CI (`CI=true`), where their absence is a failing test.
 */
export function describeWith(tools: readonly string[], title: string, body: () => void): void {
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length === 0) {
    describe(title, body);
    return;
  }
  const what = `${missing.join(', ')} not installed (apt-get install ${[...new Set(missing.map((m) => PACKAGES[m] ?? m))].join(' ')})`;
  if (process.env.CI === 'true') {
    describe(title, () => {
      it('has its NBD clients installed (required in CI)', () => {
        throw new Error(`${what}: .ci/run installs them`);
      });
    });
    return;
  }
  console.warn(`skipping '${title}': ${what}`);
  describe.skip(title, body);
}

/** The outcome of a client run. */
export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end (never rejects on a non-zero exit). */
export function runTool(cmd: string, args: readonly string[], timeoutMs = 60_000): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a program and expects exit 0. */
export async function mustRun(cmd: string, args: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await runTool(cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A temporary directory, removed by `dispose`. */
export async function tempDir(prefix = 'deja-nbd-'): Promise<{ path: string; dispose(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, dispose: () => rm(path, { recursive: true, force: true }) };
}

/** Parses `nbdinfo --map` output: `offset length flags description` lines. */
export function parseMap(text: string): { offset: number; length: number; flags: number }[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [offset, length, flags] = l.trim().split(/\s+/).map(Number);
      return { offset: offset as number, length: length as number, flags: flags as number };
    });
}

/** Merges adjacent extents with equal flags (clients may split where the server does not). */
export function mergeMap<T extends { offset: number; length: number; flags: number }>(list: readonly T[]) {
  const out: { offset: number; length: number; flags: number }[] = [];
  for (const e of list) {
    const last = out[out.length - 1];
    if (last && last.flags === e.flags && last.offset + last.length === e.offset) last.length += e.length;
    else out.push({ offset: e.offset, length: e.length, flags: e.flags });
  }
  return out;
}

/** One reply as the raw client reads it. */
export interface RawReply {
  readonly simple: boolean;
  readonly cookie: bigint;
  /** Simple replies: the error; structured: the error of an error chunk, else 0. */
  readonly error: number;
  readonly flags: number;
  readonly type: number;
  readonly payload: Buffer;
}

/**
 * A client that speaks the protocol a byte at a time, as the test says: for sending bad bytes and
 * checking what comes back.
 */
export class RawClient {
  readonly socket: Socket;
  readonly reader: ByteReader;
  readonly closed: Promise<void>;
  #cookie = 1n;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    this.reader = new ByteReader(socket);
  }

  static connect(where: string | { host?: string; port: number }): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = typeof where === 'string' ? connect(where) : connect(where.port, where.host ?? '127.0.0.1');
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  read(n: number): Promise<Buffer> {
    return this.reader.read(n);
  }

  /** Whether the server closes the connection within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
    clearTimeout(timer);
    return r;
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Reads the greeting and answers with `clientFlags`; returns the handshake flags. */
  async hello(clientFlags = 3): Promise<number> {
    const g = await this.read(18);
    if (g.toString('latin1', 0, 16) !== 'NBDMAGICIHAVEOPT') throw new Error('bad greeting');
    const f = Buffer.alloc(4);
    f.writeUInt32BE(clientFlags >>> 0, 0);
    this.send(f);
    return g.readUInt16BE(16);
  }

  /** Sends an option (the header with `length`, default the data's length). */
  sendOption(option: number, data: Uint8Array = new Uint8Array(0), length = data.length): void {
    const h = Buffer.alloc(16);
    IHAVEOPT.copy(h, 0);
    h.writeUInt32BE(option, 8);
    h.writeUInt32BE(length >>> 0, 12);
    this.send(Buffer.concat([h, data]));
  }

  /** Reads one option reply. */
  async optionReply(): Promise<{ option: number; type: number; data: Buffer }> {
    const h = await this.read(20);
    if (h.readUInt32BE(0) !== 0x0003e889 || h.readUInt32BE(4) !== 0x045565a9)
      throw new Error('bad reply magic');
    const data = await this.read(h.readUInt32BE(16));
    return { option: h.readUInt32BE(8), type: h.readUInt32BE(12), data };
  }

  /** Sends an option and reads replies up to the final one (ACK or an error). */
  async option(option: number, data?: Uint8Array): Promise<{ type: number; data: Buffer }[]> {
    this.sendOption(option, data);
    const out: { type: number; data: Buffer }[] = [];
    for (;;) {
      const r = await this.optionReply();
      out.push({ type: r.type, data: r.data });
      if (r.type === REP.ACK || r.type >= 0x80000000) return out;
    }
  }

  /**
   * Negotiates up to transmission: structured replies and contexts when asked, then GO.
   * Returns the export's size and transmission flags, and the context ids by name.
   */
  async go(
    name: string,
    options: { structured?: boolean; contexts?: readonly string[] } = {},
  ): Promise<{ size: number; flags: number; contexts: Map<string, number> }> {
    await this.hello();
    const contexts = new Map<string, number>();
    if (options.structured || options.contexts) {
      const r = await this.option(OPT.STRUCTURED_REPLY);
      if (r[0]?.type !== REP.ACK) throw new Error('structured replies refused');
    }
    if (options.contexts) {
      const replies = await this.option(OPT.SET_META_CONTEXT, metaData(name, options.contexts));
      for (const r of replies)
        if (r.type === REP.META_CONTEXT) contexts.set(r.data.toString('utf8', 4), r.data.readUInt32BE(0));
    }
    const replies = await this.option(OPT.GO, goData(name));
    const last = replies[replies.length - 1];
    if (last?.type !== REP.ACK)
      throw new Error(`GO refused: 0x${last?.type.toString(16)} ${last?.data.toString()}`);
    const info = replies.find((r) => r.type === REP.INFO && r.data.readUInt16BE(0) === 0);
    if (!info) throw new Error('no NBD_INFO_EXPORT');
    return { size: Number(info.data.readBigUInt64BE(2)), flags: info.data.readUInt16BE(10), contexts };
  }

  /** After the greeting: sends NBD_OPT_GO for `name` and returns the final reply type. */
  async tryGo(name: string): Promise<number> {
    const r = await this.option(OPT.GO, goData(name));
    return r[r.length - 1]?.type ?? -1;
  }

  /** Sends a request; returns its cookie. */
  request(
    type: number,
    offset: number | bigint,
    length: number,
    options: { flags?: number; data?: Uint8Array; magic?: number } = {},
  ): bigint {
    const cookie = this.#cookie++;
    const h = Buffer.alloc(28);
    h.writeUInt32BE(options.magic ?? REQUEST_MAGIC, 0);
    h.writeUInt16BE(options.flags ?? 0, 4);
    h.writeUInt16BE(type, 6);
    h.writeBigUInt64BE(cookie, 8);
    if (typeof offset === 'bigint') h.writeBigUInt64BE(offset, 16);
    else writeU64(h, offset, 16);
    h.writeUInt32BE(length >>> 0, 24);
    this.send(options.data ? Buffer.concat([h, options.data]) : h);
    return cookie;
  }

  /** Reads one reply message (a simple reply or one structured chunk). READ data of a simple reply is read when `readLength` is given. */
  async reply(readLength = 0): Promise<RawReply> {
    const head = await this.read(4);
    const magic = head.readUInt32BE(0);
    if (magic === SIMPLE_REPLY_MAGIC) {
      const rest = await this.read(12);
      const error = rest.readUInt32BE(0);
      const payload = error === 0 && readLength > 0 ? await this.read(readLength) : Buffer.alloc(0);
      return { simple: true, cookie: rest.readBigUInt64BE(4), error, flags: 1, type: 0, payload };
    }
    if (magic !== STRUCTURED_REPLY_MAGIC) throw new Error(`bad reply magic 0x${magic.toString(16)}`);
    const rest = await this.read(16);
    const payload = await this.read(rest.readUInt32BE(12));
    const type = rest.readUInt16BE(2);
    const error = (type & 0x8000) !== 0 ? payload.readUInt32BE(0) : 0;
    return {
      simple: false,
      cookie: rest.readBigUInt64BE(4),
      error,
      flags: rest.readUInt16BE(0),
      type,
      payload,
    };
  }

  /** Reads the chunks of one structured reply up to the one flagged done. */
  async replies(): Promise<RawReply[]> {
    const out: RawReply[] = [];
    for (;;) {
      const r = await this.reply();
      out.push(r);
      if (r.simple || (r.flags & 1) !== 0) return out;
    }
  }

  /** A structured READ put together (holes as zeros); throws on an error chunk. */
  async readStructured(offset: number, length: number): Promise<Buffer> {
    this.request(CMD.READ, offset, length);
    const out = Buffer.alloc(length);
    for (const r of await this.replies()) {
      if (r.error) throw new Error(`read failed: error ${r.error}`);
      if (r.type === 1) r.payload.copy(out, Number(r.payload.readBigUInt64BE(0)) - offset, 8);
    }
    return out;
  }
}

/** NBD_OPT_GO / INFO data for `name` with the given information requests. */
export function goData(name: string, requests: readonly number[] = [3]): Buffer {
  const n = Buffer.from(name, 'utf8');
  const b = Buffer.alloc(4 + n.length + 2 + 2 * requests.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  b.writeUInt16BE(requests.length, 4 + n.length);
  requests.forEach((r, i) => {
    b.writeUInt16BE(r, 6 + n.length + 2 * i);
  });
  return b;
}

/** NBD_OPT_SET/LIST_META_CONTEXT data. */
export function metaData(name: string, queries: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.from(name, 'utf8');
  const head = Buffer.alloc(8 + n.length);
  head.writeUInt32BE(n.length, 0);
  n.copy(head, 4);
  head.writeUInt32BE(queries.length, 4 + n.length);
  parts.push(head);
  for (const q of queries) {
    const qb = Buffer.from(q, 'utf8');
    const l = Buffer.alloc(4);
    l.writeUInt32BE(qb.length, 0);
    parts.push(l, qb);
  }
  return Buffer.concat(parts);
}
