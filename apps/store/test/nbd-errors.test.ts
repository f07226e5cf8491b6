// The NBD layer's failures are StoreErrors (one error class per package): each ERR_NBD_* code is
// reached here and recognised by isStoreError with its code, with the protocol's own value where
// it has one (nbdReply, nbdErrno), and a call on a closed client is the shared ERR_CLOSED.

import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isStoreError,
  NbdClient,
  type NbdServer,
  STORE_ERROR_CODES,
  type StoreErrorCode,
  serve,
} from '../src/index';
import { REP } from '../src/nbd/protocol';
import { MemStore } from './_helpers';
import { tempDir } from './_nbd';

const CS = 4096;

/** A fake server on a Unix socket that does what `behave` says with each connection. */
async function fake(path: string, behave: (s: Socket) => void): Promise<Server> {
  const server = createServer((s) => {
    s.on('error', () => {});
    behave(s);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

function expectCode(e: unknown, code: StoreErrorCode): void {
  expect(isStoreError(e, code), `${String(e)} should be ${code}`).toBe(true);
}

describe('NBD errors are StoreErrors', () => {
  let dir: { path: string; dispose(): Promise<void> };
  let mem: MemStore;
  let server: NbdServer;
  const fakes: Server[] = [];

  beforeAll(async () => {
    dir = await tempDir();
    mem = await MemStore.create({ size: 16 * CS, chunkSize: CS });
    await mem.store.write(0, new Uint8Array(16 * CS).fill(7));
    server = await serve(mem.store, { socket: join(dir.path, 'nbd.sock') });
  });
  afterAll(async () => {
    for (const f of fakes) await new Promise((r) => f.close(r));
    await server?.close();
    await mem?.store.close();
    await dir?.dispose();
  });

  it('the code list holds the six NBD codes', () => {
    const nbd = STORE_ERROR_CODES.filter((c) => c.startsWith('ERR_NBD_'));
    expect(nbd.sort()).toEqual(
      [
        'ERR_NBD_DISCONNECTED',
        'ERR_NBD_PROTOCOL',
        'ERR_NBD_REFUSED',
        'ERR_NBD_REQUEST',
        'ERR_NBD_TLS',
        'ERR_NBD_TLS_REQUIRED',
      ].sort(),
    );
    expect(Object.isFrozen(STORE_ERROR_CODES)).toBe(true);
  });

  it('ERR_NBD_REFUSED with nbdReply, ERR_NBD_REQUEST with nbdErrno, ERR_CLOSED after close', async () => {
    const refused = await rejection(NbdClient.connect(server.uri('nope')));
    expectCode(refused, 'ERR_NBD_REFUSED');
    expect((refused as { nbdReply?: number }).nbdReply).toBe(REP.ERR_UNKNOWN);
    const c = await NbdClient.connect(server.uri());
    const past = await rejection(c.read(16 * CS - 1, 2));
    expectCode(past, 'ERR_NBD_REQUEST');
    expect((past as { nbdErrno?: number }).nbdErrno).toBe(22); // EINVAL
    const readOnly = await rejection(c.write(0, new Uint8Array(1)));
    expect((readOnly as { nbdErrno?: number }).nbdErrno).toBe(1); // EPERM
    await c.close();
    expectCode(await rejection(c.read(0, 1)), 'ERR_CLOSED');
  });

  it('ERR_NBD_PROTOCOL: a peer that is not an NBD server', async () => {
    const path = join(dir.path, 'garbage.sock');
    fakes.push(await fake(path, (s) => s.end(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'))));
    expectCode(await rejection(NbdClient.connect(`nbd+unix:///?socket=${path}`)), 'ERR_NBD_PROTOCOL');
  });

  it('ERR_NBD_DISCONNECTED: the server hangs up during negotiation', async () => {
    const path = join(dir.path, 'hangup.sock');
    fakes.push(await fake(path, (s) => s.destroy()));
    expectCode(await rejection(NbdClient.connect(`nbd+unix:///?socket=${path}`)), 'ERR_NBD_DISCONNECTED');
  });

  it('ERR_NBD_TLS_REQUIRED: a listener beyond loopback without TLS, an nbds URI without credentials', async () => {
    expectCode(await rejection(serve(mem.store, { host: '0.0.0.0', port: 0 })), 'ERR_NBD_TLS_REQUIRED');
    expectCode(
      await rejection(NbdClient.connect(`nbds+unix:///?socket=${dir.path}/x`)),
      'ERR_NBD_TLS_REQUIRED',
    );
  });

  it('ERR_NBD_TLS: a server that accepts STARTTLS, then sends no TLS', async () => {
    const path = join(dir.path, 'notls.sock');
    fakes.push(
      await fake(path, (s) => {
        const hello = Buffer.from('NBDMAGICIHAVEOPT\u0000\u0003', 'latin1');
        s.write(hello);
        let got = Buffer.alloc(0);
        s.on('data', (d: Buffer) => {
          got = Buffer.concat([got, d]);
          // Client flags (4) and the STARTTLS option (16): acknowledge it, then talk nonsense.
          if (got.length >= 20) {
            s.removeAllListeners('data');
            const ack = Buffer.alloc(20);
            ack.writeUInt32BE(0x0003e889, 0);
            ack.writeUInt32BE(0x045565a9, 4);
            ack.writeUInt32BE(5, 8);
            ack.writeUInt32BE(REP.ACK, 12);
            s.write(ack);
            s.end(Buffer.from('this is not a TLS handshake\n'.repeat(8)));
          }
        });
      }),
    );
    const e = await rejection(
      NbdClient.connect(`nbds+unix:///?socket=${path}`, {
        tls: { psk: { identity: 'a', key: new Uint8Array(32).fill(1) } },
      }),
    );
    expectCode(e, 'ERR_NBD_TLS');
  });
});
