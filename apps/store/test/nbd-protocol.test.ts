// The NBD server at the byte level, with a client written here (RawClient) that sends what a test
// says, good or bad: the handshake and options as the protocol defines them, and bad clients
// (unknown flags, wrong magics, oversized or malformed options and requests, requests past the
// end, writes to read-only exports, a second writer, clients that vanish mid-request, thousands
// of connections opened and dropped, a client that never reads its replies). The server must
// answer with the protocol's errors or drop that connection, keep serving the others, and leave
// the store intact.

import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LIVE, Store } from '../src/index';
import { dirtyExtents } from '../src/nbd/_session';
import { type NbdServer, serve } from '../src/nbd/index';
import { CMD, CMD_FLAG, INFO, MAX_PAYLOAD, NBD_ERR, OPT, REP, REPLY_TYPE, TFLAG } from '../src/nbd/protocol';
import { MemStore, prng } from './_helpers';
import { goData, metaData, RawClient, tempDir } from './_nbd';

const CS = 4096;
const SIZE = 256 * CS; // 1 MiB

describe('NBD server: protocol and bad clients', () => {
  let dir: { path: string; dispose(): Promise<void> };
  let mem: MemStore;
  let store: Store;
  let server: NbdServer;
  let socket: string;
  let model: Uint8Array;
  const clients: RawClient[] = [];
  const client = async () => {
    const c = await RawClient.connect(socket);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    dir = await tempDir();
    mem = await MemStore.create({ size: SIZE, chunkSize: CS });
    store = mem.store;
    model = new Uint8Array(SIZE);
    const rand = prng(42);
    for (let i = 0; i < SIZE; i += CS) if (rand() < 0.6) model.fill((i / CS) & 0xff || 1, i, i + CS);
    await store.write(0, model);
    await store.createSnapshot('snap');
    socket = join(dir.path, 'nbd.sock');
    server = await serve(store, {
      socket,
      exports: [
        { name: 'ro', version: 'snap' },
        { name: 'rw', version: LIVE, writable: true },
      ],
      handshakeTimeout: 2000,
      minHole: 0, // every unmapped chunk reported, to compare with the store's own map
    });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.destroy();
  });
  afterAll(async () => {
    await server?.close();
    await store?.close();
    await dir?.dispose();
  });

  /** The server still serves: a fresh client reads the snapshot. */
  async function stillServes(): Promise<void> {
    const c = await client();
    await c.go('ro', { structured: true });
    const bytes = await c.readStructured(0, SIZE);
    expect(Buffer.compare(bytes, Buffer.from(model))).toBe(0);
    c.destroy();
  }

  describe('handshake', () => {
    it('greets with NBDMAGIC IHAVEOPT and the fixed newstyle and no-zeroes flags', async () => {
      const c = await client();
      expect(await c.hello()).toBe(3);
    });

    it('drops a client that sets unknown client flags', async () => {
      const c = await client();
      await c.hello(0x80);
      expect(await c.closedWithin(2000)).toBe(true);
      await stillServes();
    });

    it('drops an option without the IHAVEOPT magic', async () => {
      const c = await client();
      await c.hello();
      c.send(Buffer.from('IHAVEOPXxxxxxxxx'));
      expect(await c.closedWithin(2000)).toBe(true);
    });

    it('drops an option that claims more data than any option has, without waiting for it', async () => {
      const c = await client();
      await c.hello();
      c.sendOption(OPT.GO, Buffer.alloc(0), 0xffffffff);
      expect(await c.closedWithin(2000)).toBe(true);
      await stillServes();
    });

    it('answers an unknown option with NBD_REP_ERR_UNSUP and goes on', async () => {
      const c = await client();
      await c.hello();
      expect((await c.option(99, Buffer.from('whatever')))[0]?.type).toBe(REP.ERR_UNSUP);
      const go = await c.tryGo('ro');
      expect(go).toBe(REP.ACK);
    });

    it('lists the exports; LIST with data is invalid', async () => {
      const c = await client();
      await c.hello();
      const r = await c.option(OPT.LIST);
      expect(r.map((x) => x.type)).toEqual([REP.SERVER, REP.SERVER, REP.ACK]);
      expect(r.slice(0, 2).map((x) => x.data.toString('utf8', 4, 4 + x.data.readUInt32BE(0)))).toEqual([
        'ro',
        'rw',
      ]);
      expect((await c.option(OPT.LIST, Buffer.from('x')))[0]?.type).toBe(REP.ERR_INVALID);
    });

    it('INFO: size, flags, name and block sizes; unknown export; malformed data', async () => {
      const c = await client();
      await c.hello();
      const r = await c.option(OPT.INFO, goData('', [INFO.NAME, INFO.BLOCK_SIZE]));
      expect(r[r.length - 1]?.type).toBe(REP.ACK);
      const info = (t: number) => r.find((x) => x.type === REP.INFO && x.data.readUInt16BE(0) === t)?.data;
      const exp = info(INFO.EXPORT) as Buffer;
      expect(Number(exp.readBigUInt64BE(2))).toBe(SIZE);
      const flags = exp.readUInt16BE(10);
      expect(flags & TFLAG.READ_ONLY).not.toBe(0);
      expect(flags & TFLAG.SEND_FLUSH).not.toBe(0);
      expect(info(INFO.NAME)?.toString('utf8', 2)).toBe('ro'); // the default export is the first
      const bs = info(INFO.BLOCK_SIZE) as Buffer;
      expect([bs.readUInt32BE(2), bs.readUInt32BE(6), bs.readUInt32BE(10)]).toEqual([1, CS, MAX_PAYLOAD]);
      expect((await c.option(OPT.INFO, goData('nope')))[0]?.type).toBe(REP.ERR_UNKNOWN);
      const bad = goData('ro');
      bad.writeUInt32BE(1000, 0); // name longer than the option
      expect((await c.option(OPT.GO, bad))[0]?.type).toBe(REP.ERR_INVALID);
      expect((await c.option(OPT.GO, Buffer.alloc(3)))[0]?.type).toBe(REP.ERR_INVALID);
      const odd = Buffer.concat([goData('ro', [1]), Buffer.alloc(1)]); // a stray byte after the requests
      expect((await c.option(OPT.GO, odd))[0]?.type).toBe(REP.ERR_INVALID);
      expect(await c.tryGo('ro')).toBe(REP.ACK); // still negotiating after every refusal
    });

    it('meta contexts: need structured replies; list, wildcards and selection', async () => {
      const c = await client();
      await c.hello();
      expect((await c.option(OPT.SET_META_CONTEXT, metaData('ro', ['base:allocation'])))[0]?.type).toBe(
        REP.ERR_INVALID,
      );
      expect((await c.option(OPT.STRUCTURED_REPLY))[0]?.type).toBe(REP.ACK);
      const names = (r: { type: number; data: Buffer }[]) =>
        r.filter((x) => x.type === REP.META_CONTEXT).map((x) => x.data.toString('utf8', 4));
      expect(names(await c.option(OPT.LIST_META_CONTEXT, metaData('ro', [])))).toEqual([
        'base:allocation',
        'qemu:dirty-bitmap:snap',
      ]);
      expect(names(await c.option(OPT.LIST_META_CONTEXT, metaData('ro', ['base:'])))).toEqual([
        'base:allocation',
      ]);
      expect(names(await c.option(OPT.LIST_META_CONTEXT, metaData('ro', ['qemu:dirty-bitmap:'])))).toEqual([
        'qemu:dirty-bitmap:snap',
      ]);
      expect(names(await c.option(OPT.LIST_META_CONTEXT, metaData('ro', ['x-other:thing'])))).toEqual([]);
      expect((await c.option(OPT.LIST_META_CONTEXT, metaData('ro', ['nocolon'])))[0]?.type).toBe(
        REP.ERR_INVALID,
      );
      expect((await c.option(OPT.SET_META_CONTEXT, metaData('nope', [])))[0]?.type).toBe(REP.ERR_UNKNOWN);
      const trunc = metaData('ro', ['base:allocation']).subarray(0, 14);
      expect((await c.option(OPT.SET_META_CONTEXT, trunc))[0]?.type).toBe(REP.ERR_INVALID);
      const set = await c.option(
        OPT.SET_META_CONTEXT,
        metaData('ro', ['base:allocation', 'qemu:dirty-bitmap:nosuch', 'base:', 'qemu:dirty-bitmap:snap']),
      );
      expect(names(set)).toEqual(['base:allocation', 'qemu:dirty-bitmap:snap']);
      const ids = set.filter((x) => x.type === REP.META_CONTEXT).map((x) => x.data.readUInt32BE(0));
      expect(new Set(ids).size).toBe(2);
    });

    it('ABORT is acknowledged and the connection closes', async () => {
      const c = await client();
      await c.hello();
      expect((await c.option(OPT.ABORT))[0]?.type).toBe(REP.ACK);
      expect(await c.closedWithin(2000)).toBe(true);
    });

    it('EXPORT_NAME: the old way in (size, flags, no zeroes); an unknown name drops the connection', async () => {
      const c = await client();
      await c.hello(3);
      c.sendOption(OPT.EXPORT_NAME, Buffer.from('ro'));
      const r = await c.read(10);
      expect(Number(r.readBigUInt64BE(0))).toBe(SIZE);
      c.request(CMD.READ, 0, 100);
      const rep = await c.reply(100);
      expect(rep.simple).toBe(true);
      expect(rep.payload.equals(Buffer.from(model.subarray(0, 100)))).toBe(true);
      const d = await client();
      await d.hello(1); // without NO_ZEROES: 124 zero bytes follow
      d.sendOption(OPT.EXPORT_NAME, Buffer.from(''));
      const r2 = await d.read(134);
      expect(r2.subarray(10).every((b) => b === 0)).toBe(true);
      const e = await client();
      await e.hello();
      e.sendOption(OPT.EXPORT_NAME, Buffer.from('nope'));
      expect(await e.closedWithin(2000)).toBe(true);
    });

    it('drops a connection that does not choose an export in time', async () => {
      const c = await client();
      await c.hello();
      expect(await c.closedWithin(5000)).toBe(true);
    });
  });

  describe('transmission', () => {
    it('reads with simple and structured replies: data and holes as the store has them', async () => {
      const c = await client();
      await c.go('ro');
      c.request(CMD.READ, 1000, 20000);
      const simple = await c.reply(20000);
      expect(simple.payload.equals(Buffer.from(model.subarray(1000, 21000)))).toBe(true);
      const s = await client();
      await s.go('ro', { structured: true });
      s.request(CMD.READ, 0, SIZE);
      const chunks = await s.replies();
      const holes = chunks.filter((x) => x.type === REPLY_TYPE.OFFSET_HOLE);
      expect(holes.length).toBeGreaterThan(0);
      for (const h of holes) {
        const off = Number(h.payload.readBigUInt64BE(0));
        const len = h.payload.readUInt32BE(8);
        expect(model.subarray(off, off + len).every((b) => b === 0)).toBe(true);
      }
      expect(
        Buffer.compare(await s.readStructured(5, SIZE - 10), Buffer.from(model.subarray(5, SIZE - 5))),
      ).toBe(0);
      // Don't fragment: one data chunk.
      s.request(CMD.READ, 0, 65536, { flags: CMD_FLAG.DF });
      const df = await s.replies();
      expect(df.map((x) => x.type)).toEqual([REPLY_TYPE.OFFSET_DATA]);
    });

    it('errors: past the end, unknown command and flags, oversized read, no context; the connection goes on', async () => {
      const c = await client();
      await c.go('ro', { structured: true });
      const expectError = async (errno: number) => {
        const r = await c.replies();
        expect(r[r.length - 1]?.error).toBe(errno);
      };
      c.request(CMD.READ, SIZE - 10, 11);
      await expectError(NBD_ERR.EINVAL);
      c.request(CMD.READ, 0xffffffffffffff00n, 16);
      await expectError(NBD_ERR.EINVAL);
      c.request(CMD.READ, 0, 16, { flags: 1 << 9 });
      await expectError(NBD_ERR.EINVAL);
      c.request(42, 0, 16);
      await expectError(NBD_ERR.EINVAL);
      c.request(CMD.READ, 0, MAX_PAYLOAD + 1);
      await expectError(NBD_ERR.EINVAL);
      c.request(CMD.BLOCK_STATUS, 0, 4096);
      await expectError(NBD_ERR.EINVAL);
      c.request(CMD.TRIM, SIZE - 1, 2);
      await expectError(NBD_ERR.EPERM);
      expect(Buffer.compare(await c.readStructured(0, 100), Buffer.from(model.subarray(0, 100)))).toBe(0);
    });

    it('a read-only export refuses writes, trims and zeroing with EPERM, consuming the payload', async () => {
      const c = await client();
      await c.go('ro');
      c.request(CMD.WRITE, 0, 5000, { data: Buffer.alloc(5000, 0xee) });
      expect((await c.reply()).error).toBe(NBD_ERR.EPERM);
      c.request(CMD.TRIM, 0, 4096);
      expect((await c.reply()).error).toBe(NBD_ERR.EPERM);
      c.request(CMD.WRITE_ZEROES, 0, 4096);
      expect((await c.reply()).error).toBe(NBD_ERR.EPERM);
      c.request(CMD.FLUSH, 0, 0);
      expect((await c.reply()).error).toBe(0);
      c.request(CMD.READ, 0, 5000);
      expect((await c.reply(5000)).payload.equals(Buffer.from(model.subarray(0, 5000)))).toBe(true);
    });

    it('a wrong request magic drops the connection; an oversized write is refused and drops it', async () => {
      const c = await client();
      await c.go('ro');
      c.request(CMD.READ, 0, 16, { magic: 0x12345678 });
      expect(await c.closedWithin(2000)).toBe(true);
      const d = await client();
      await d.go('rw');
      d.request(CMD.WRITE, 0, 0xffffffff);
      expect((await d.reply()).error).toBe(NBD_ERR.EINVAL);
      expect(await d.closedWithin(2000)).toBe(true);
      await stillServes();
    });

    it('one writer per writable export; the slot frees when the writer leaves', async () => {
      const a = await client();
      await a.go('rw');
      const b = await client();
      await b.hello();
      const refused = await b.option(OPT.GO, goData('rw'));
      expect(refused[refused.length - 1]?.type).toBe(REP.ERR_POLICY);
      expect(await b.tryGo('ro')).toBe(REP.ACK); // other exports stay open to it
      a.request(CMD.DISC, 0, 0);
      expect(await a.closedWithin(2000)).toBe(true);
      const c = await client();
      await c.go('rw');
      c.request(CMD.DISC, 0, 0);
      await c.closedWithin(2000);
    });

    it('writes past the end get ENOSPC; writes, trims, zeroes, FUA and flush change the live volume only', async () => {
      const c = await client();
      await c.go('rw', { structured: true });
      c.request(CMD.WRITE, SIZE - 100, 200, { data: Buffer.alloc(200, 1) });
      expect((await c.replies())[0]?.error).toBe(NBD_ERR.ENOSPC);
      const live = model.slice();
      c.request(CMD.WRITE, 777, 9000, { data: Buffer.alloc(9000, 0x99), flags: CMD_FLAG.FUA });
      live.fill(0x99, 777, 9777);
      c.request(CMD.TRIM, 8 * CS, 3 * CS);
      live.fill(0, 8 * CS, 11 * CS);
      c.request(CMD.WRITE_ZEROES, 20 * CS + 5, CS, { flags: CMD_FLAG.NO_HOLE });
      live.fill(0, 20 * CS + 5, 21 * CS + 5);
      c.request(CMD.WRITE_ZEROES, 30 * CS, 4 * CS, { flags: CMD_FLAG.FAST_ZERO });
      live.fill(0, 30 * CS, 34 * CS);
      c.request(CMD.FLUSH, 0, 0);
      for (let i = 0; i < 5; i++) expect((await c.replies())[0]?.error).toBe(0);
      expect(Buffer.compare(await c.readStructured(0, SIZE), Buffer.from(live))).toBe(0);
      expect(Buffer.compare(Buffer.from(await store.read(0, SIZE)), Buffer.from(live))).toBe(0);
      expect(Buffer.compare(Buffer.from(await store.volume('snap').read(0, SIZE)), Buffer.from(model))).toBe(
        0,
      );
      // Put the live volume back for the other tests.
      c.request(CMD.WRITE, 0, SIZE, { data: Buffer.from(model) });
      expect((await c.replies())[0]?.error).toBe(0);
      c.request(CMD.DISC, 0, 0);
      await c.closedWithin(2000);
    });

    it('BLOCK_STATUS: allocation and dirty extents, REQ_ONE', async () => {
      const c = await client();
      const { contexts } = await c.go('rw', { contexts: ['base:allocation', 'qemu:dirty-bitmap:snap'] });
      await store.write(50 * CS, new Uint8Array(2 * CS).fill(3));
      const alloc = contexts.get('base:allocation') as number;
      const dirty = contexts.get('qemu:dirty-bitmap:snap') as number;
      c.request(CMD.BLOCK_STATUS, 0, SIZE);
      const r = await c.replies();
      const byId = new Map(r.map((x) => [x.payload.readUInt32BE(0), x]));
      const decode = (p: Buffer) => {
        const out: [number, number][] = [];
        for (let i = 4; i < p.length; i += 8) out.push([p.readUInt32BE(i), p.readUInt32BE(i + 4)]);
        return out;
      };
      const a = decode((byId.get(alloc) as { payload: Buffer }).payload);
      const want = (await store.volume(LIVE).allocation(0, SIZE)).map((e) => [e.length, e.zero ? 3 : 0]);
      expect(a).toEqual(want);
      const d = decode((byId.get(dirty) as { payload: Buffer }).payload);
      expect(d).toEqual([
        [50 * CS, 0],
        [2 * CS, 1],
        [SIZE - 52 * CS, 0],
      ]);
      c.request(CMD.BLOCK_STATUS, 51 * CS, 10, { flags: CMD_FLAG.REQ_ONE });
      const one = await c.replies();
      for (const x of one) expect(decode(x.payload).length).toBe(1);
      expect(
        decode((one.find((x) => x.payload.readUInt32BE(0) === dirty) as { payload: Buffer }).payload),
      ).toEqual([[10, 1]]);
      await store.write(50 * CS, model.subarray(50 * CS, 52 * CS));
    });

    it('answers requests pipelined in one write, more than it takes in flight, each by its cookie', async () => {
      const c = await client();
      await c.go('ro');
      // 300 READs (and a FLUSH among them) in one write: the server takes what is buffered at
      // once, stops at its in-flight cap (128), and reads the rest as replies go out.
      const asked = new Map<bigint, [number, number]>();
      const heads: Uint8Array[] = [];
      // The requests are collected, then sent together.
      const collect = Object.assign(c, {
        send: (b: Uint8Array) => {
          heads.push(b);
        },
      });
      const rand = prng(7);
      for (let i = 0; i < 300; i++) {
        const offset = Math.floor(rand() * (SIZE - 3 * CS));
        const length = 1 + Math.floor(rand() * 3 * CS);
        asked.set(collect.request(CMD.READ, offset, length), [offset, length]);
        if (i === 150) asked.set(collect.request(CMD.FLUSH, 0, 0), [0, 0]);
      }
      delete (c as { send?: unknown }).send;
      c.send(Buffer.concat(heads));
      while (asked.size > 0) {
        const head = await c.reply();
        const want = asked.get(head.cookie);
        expect(want).toBeDefined();
        expect(head.error).toBe(0);
        const [offset, length] = want as [number, number];
        const data = await c.read(length);
        expect(data.equals(Buffer.from(model.subarray(offset, offset + length)))).toBe(true);
        asked.delete(head.cookie);
      }
      expect(asked.size).toBe(0);
    });

    it('by default, holes shorter than minHole between data are reported as data, and READ sends them as zeros', async () => {
      // A region of its own: data, a 3-chunk hole, data, a 32-chunk hole, data.
      const sock = join(dir.path, 'holes.sock');
      const m = await MemStore.create({ size: 64 * CS, chunkSize: CS });
      await m.store.write(0, new Uint8Array(4 * CS).fill(1));
      await m.store.write(7 * CS, new Uint8Array(2 * CS).fill(2));
      await m.store.write(41 * CS, new Uint8Array(23 * CS).fill(3));
      const own = await serve(m.store, { socket: sock, exports: [{ writable: true }] });
      try {
        const c = await RawClient.connect(sock);
        clients.push(c);
        const { contexts } = await c.go('@live', { contexts: ['base:allocation'] });
        expect(contexts.has('base:allocation')).toBe(true);
        const extents = async (offset: number) => {
          c.request(CMD.BLOCK_STATUS, offset, 64 * CS - offset);
          const [r] = await c.replies();
          const p = (r as { payload: Buffer }).payload;
          const out: [number, number][] = [];
          for (let i = 4; i < p.length; i += 8) out.push([p.readUInt32BE(i), p.readUInt32BE(i + 4)]);
          return out;
        };
        // 12 KiB of hole inside data is data; 128 KiB is a hole.
        expect(await extents(0)).toEqual([
          [9 * CS, 0],
          [32 * CS, 3],
          [23 * CS, 0],
        ]);
        // The next query, from inside the first answer, is answered from it.
        expect(await extents(5 * CS)).toEqual([
          [4 * CS, 0],
          [32 * CS, 3],
          [23 * CS, 0],
        ]);
        // READ replies follow the same rule: the short hole goes as zeros inside one data chunk
        // (whose header shares the data's piece of the reply), the long one as a hole.
        const flat = new Uint8Array(64 * CS);
        flat.fill(1, 0, 4 * CS);
        flat.fill(2, 7 * CS, 9 * CS);
        flat.fill(3, 41 * CS, 64 * CS);
        const shape = async (offset: number, length: number, flags = 0) => {
          c.request(CMD.READ, offset, length, { flags });
          const chunks = await c.replies();
          const got = Buffer.alloc(length, 0xee);
          for (const x of chunks) {
            expect(x.error).toBe(0);
            const at = Number(x.payload.readBigUInt64BE(0)) - offset;
            if (x.type === REPLY_TYPE.OFFSET_DATA) x.payload.copy(got, at, 8);
            else got.fill(0, at, at + x.payload.readUInt32BE(8));
          }
          expect(got.equals(flat.subarray(offset, offset + length))).toBe(true);
          return chunks.map((x) => [x.type, x.payload.length - (x.type === REPLY_TYPE.OFFSET_DATA ? 8 : 0)]);
        };
        expect(await shape(0, 9 * CS)).toEqual([[REPLY_TYPE.OFFSET_DATA, 9 * CS]]);
        // Unaligned, with the header written over the bytes before the range.
        expect(await shape(CS + 7, 8 * CS - 100)).toEqual([[REPLY_TYPE.OFFSET_DATA, 8 * CS - 100]]);
        expect(await shape(3, 9)).toEqual([[REPLY_TYPE.OFFSET_DATA, 9]]);
        expect(await shape(2 * CS, 64 * CS - 2 * CS)).toEqual([
          [REPLY_TYPE.OFFSET_DATA, 7 * CS],
          [REPLY_TYPE.OFFSET_HOLE, 12],
          [REPLY_TYPE.OFFSET_DATA, 23 * CS],
        ]);
        // A read that is all hole, however short, is one hole chunk; with DF, one data chunk.
        expect(await shape(4 * CS + 1, CS)).toEqual([[REPLY_TYPE.OFFSET_HOLE, 12]]);
        expect(await shape(4 * CS + 1, CS, CMD_FLAG.DF)).toEqual([[REPLY_TYPE.OFFSET_DATA, CS]]);
        expect(await shape(0, 64 * CS, CMD_FLAG.DF)).toEqual([[REPLY_TYPE.OFFSET_DATA, 64 * CS]]);
        // A hole at the end of the range, short or long.
        expect(await shape(8 * CS, 2 * CS)).toEqual([[REPLY_TYPE.OFFSET_DATA, 2 * CS]]);
        expect(await shape(8 * CS, 33 * CS + 5)).toEqual([
          [REPLY_TYPE.OFFSET_DATA, CS],
          [REPLY_TYPE.OFFSET_HOLE, 12],
          [REPLY_TYPE.OFFSET_DATA, 5],
        ]);
        expect(await shape(8 * CS, 33 * CS)).toEqual([
          [REPLY_TYPE.OFFSET_DATA, CS],
          [REPLY_TYPE.OFFSET_HOLE, 12],
        ]);
        // A write through the server is seen by the next query at once (the kept walk is stale).
        c.request(CMD.WRITE, 24 * CS, CS, { data: new Uint8Array(CS).fill(9) });
        expect((await c.reply()).error).toBe(0);
        // (The hole before it is now 15 chunks, under 64 KiB: data; the one after it 16: a hole.)
        expect(await extents(5 * CS)).toEqual([
          [20 * CS, 0],
          [16 * CS, 3],
          [23 * CS, 0],
        ]);
      } finally {
        await own.close();
        await m.store.close();
      }
    });
  });

  describe('vanishing and abusive clients', () => {
    it('a client that vanishes mid-write leaves the store as it was; flushed writes stay', async () => {
      const c = await client();
      await c.go('rw');
      c.request(CMD.WRITE, 0, 4096, { data: Buffer.alloc(4096, 0x61) });
      c.request(CMD.FLUSH, 0, 0);
      expect((await c.reply()).error).toBe(0);
      expect((await c.reply()).error).toBe(0);
      // Half of a write's payload, then gone.
      const h = Buffer.alloc(28);
      h.writeUInt32BE(0x25609513, 0);
      h.writeUInt16BE(CMD.WRITE, 6);
      h.writeUInt32BE(65536, 24);
      c.send(Buffer.concat([h, Buffer.alloc(30000, 0x62)]));
      await new Promise((r) => setTimeout(r, 50));
      c.destroy();
      await new Promise((r) => setTimeout(r, 100));
      const now = await store.read(0, 65536);
      expect(now.subarray(0, 4096).every((b) => b === 0x61)).toBe(true);
      expect(Buffer.compare(Buffer.from(now.subarray(4096)), Buffer.from(model.subarray(4096, 65536)))).toBe(
        0,
      );
      await store.write(0, model.subarray(0, 4096));
      expect((await store.check({ data: true })).ok).toBe(true);
      await stillServes();
    });

    it('thousands of connections opened and dropped at every stage; the server serves on', async () => {
      const rand = prng(7);
      const n = 2000;
      const stages = Array.from({ length: n }, () => Math.floor(rand() * 5));
      // In waves: a Unix socket's backlog refuses (EAGAIN) what the kernel cannot queue.
      const one = async (stage: number, i: number) => {
        const c = await RawClient.connect(socket);
        try {
          if (stage >= 1) await c.hello();
          if (stage >= 2) c.sendOption(OPT.GO, goData('ro').subarray(0, 5 + (i % 4)), 20);
          if (stage >= 3) c.send(Buffer.from([1, 2, 3]));
          if (stage === 4) c.send(Buffer.alloc(100, 0xff));
        } catch {
          // The server may have dropped it first.
        } finally {
          c.destroy();
        }
      };
      for (let w = 0; w < n; w += 250)
        await Promise.all(stages.slice(w, w + 250).map((s, i) => one(s, w + i)));
      for (let i = 0; i < 50 && server.connections > 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(server.connections).toBe(0);
      await stillServes();
    });

    it('a client that never reads its replies stalls on flow control, not on server memory', async () => {
      const c = await client();
      await c.go('ro');
      const before = process.memoryUsage().arrayBuffers;
      // 512 reads of 1 MiB: 512 MiB of replies nobody reads.
      for (let i = 0; i < 512; i++) c.request(CMD.READ, 0, SIZE);
      await new Promise((r) => setTimeout(r, 1500));
      const grown = process.memoryUsage().arrayBuffers - before;
      expect(grown).toBeLessThan(160 * 1024 * 1024);
      c.destroy();
      await stillServes();
    });

    it('closing the server answers what is in flight, then closes every connection', async () => {
      const own = await serve(store, { socket: join(dir.path, 'own.sock'), exports: [{ version: 'snap' }] });
      const c = await RawClient.connect(join(dir.path, 'own.sock'));
      clients.push(c);
      await c.go('snap');
      c.request(CMD.READ, 0, SIZE);
      const waiting = await RawClient.connect(join(dir.path, 'own.sock'));
      clients.push(waiting);
      await waiting.hello();
      const reply = c.reply(SIZE);
      await own.close();
      expect((await reply).payload.length).toBe(SIZE);
      expect(await c.closedWithin(2000)).toBe(true);
      expect(await waiting.closedWithin(2000)).toBe(true);
      await own.close(); // idempotent
    });
  });
});

describe('NBD server: options', () => {
  it('refuses to listen beyond loopback without TLS, and bad exports', async () => {
    const mem = await MemStore.create({ size: 1 << 20 });
    try {
      await expect(serve(mem.store, { host: '0.0.0.0', port: 0 })).rejects.toMatchObject({
        code: 'ERR_NBD_TLS_REQUIRED',
      });
      await expect(serve(mem.store, { port: 0, exports: [{ version: 'nope' }] })).rejects.toMatchObject({
        code: 'ERR_NOT_FOUND',
      });
      await expect(serve(mem.store, { port: 0, exports: [{ name: 'a' }, { name: 'a' }] })).rejects.toThrow(
        TypeError,
      );
      const tcp = await serve(mem.store, { port: 0 });
      expect(tcp.uri()).toMatch(/^nbd:\/\/127\.0\.0\.1:\d+\/@live$/);
      await tcp.close();
    } finally {
      await mem.store.close();
    }
  });

  it('refuses a writable export of a store opened read-only', async () => {
    const dir = await tempDir();
    try {
      const s = await Store.create(join(dir.path, 's'), { size: 1 << 20 });
      await s.close();
      const ro = await Store.open(join(dir.path, 's'), { readOnly: true });
      await expect(serve(ro, { port: 0, exports: [{ writable: true }] })).rejects.toMatchObject({
        code: 'ERR_READ_ONLY',
      });
      await ro.close();
    } finally {
      await dir.dispose();
    }
  });

  it('dirtyExtents walks merged ranges: clean and dirty runs, windows, a cap', () => {
    const ranges = [
      { offset: 10, length: 5 },
      { offset: 20, length: 10 },
    ];
    const out = (o: number, l: number, max = 100) => {
      const e: [number, number][] = [];
      dirtyExtents(ranges, o, l, max, e);
      return e;
    };
    expect(out(0, 40)).toEqual([
      [10, 0],
      [5, 1],
      [5, 0],
      [10, 1],
      [10, 0],
    ]);
    expect(out(12, 10)).toEqual([
      [3, 1],
      [5, 0],
      [2, 1],
    ]);
    expect(out(0, 40, 2)).toEqual([
      [10, 0],
      [5, 1],
    ]);
    expect(out(31, 5)).toEqual([[5, 0]]);
  });
});
