// The NBD server over TLS (STARTTLS, FORCEDTLS mode): x509 certificates made here with openssl and
// a PSK file in qemu's format, with nbdinfo, qemu-img and this package's client; a client without
// TLS is refused with NBD_REP_ERR_TLS_REQD.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Store } from '../src/index';
import { NbdClient, parsePskFile, serve } from '../src/nbd/index';
import { MemStore } from './_helpers';
import { describeWith, mustRun, runTool, tempDir } from './_nbd';

describeWith(['openssl', 'nbdinfo', 'qemu-img'], 'NBD server with TLS', () => {
  let dir: { path: string; dispose(): Promise<void> };
  let mem: MemStore;
  let store: Store;
  const d = (f: string) => join(dir.path, f);

  beforeAll(async () => {
    dir = await tempDir();
    const ssl = (args: string[]) => mustRun('openssl', args);
    await ssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      d('ca-key.pem'),
      '-out',
      d('ca-cert.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=deja-test-ca',
    ]);
    await ssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      d('server-key.pem'),
      '-out',
      d('server.csr'),
      '-subj',
      '/CN=localhost',
    ]);
    await writeFile(d('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    await ssl([
      'x509',
      '-req',
      '-in',
      d('server.csr'),
      '-CA',
      d('ca-cert.pem'),
      '-CAkey',
      d('ca-key.pem'),
      '-CAcreateserial',
      '-out',
      d('server-cert.pem'),
      '-days',
      '2',
      '-extfile',
      d('ext.cnf'),
    ]);
    await writeFile(d('keys.psk'), `alice:${'5a'.repeat(32)}\n`);
    mem = await MemStore.create({ size: 1 << 20 });
    store = mem.store;
    await store.write(0, new Uint8Array(4096).fill(5));
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await dir?.dispose();
  });

  it('x509: nbdinfo and qemu-img connect with the CA; a client without TLS is refused', async () => {
    await using server = await serve(store, {
      host: 'localhost',
      port: 0,
      tls: { cert: await readFile(d('server-cert.pem')), key: await readFile(d('server-key.pem')) },
    });
    const port = (server.address as { port: number }).port;
    expect(server.uri()).toBe(`nbds://localhost:${port}/@live`);
    const info = await mustRun('nbdinfo', [`nbds://localhost:${port}/@live?tls-certificates=${dir.path}/`]);
    expect(info).toContain('with TLS');
    const q = JSON.parse(
      await mustRun('qemu-img', [
        'info',
        '--output=json',
        '--object',
        `tls-creds-x509,id=t0,endpoint=client,dir=${dir.path}`,
        '--image-opts',
        `driver=nbd,host=localhost,port=${port},export=@live,tls-creds=t0`,
      ]),
    );
    expect(q['virtual-size']).toBe(1 << 20);
    const plain = await runTool('nbdinfo', [`nbd://localhost:${port}/@live`]);
    expect(plain.code).not.toBe(0);
    await expect(NbdClient.connect(`nbd://localhost:${port}/@live`)).rejects.toMatchObject({
      code: 'ERR_NBD_TLS_REQUIRED',
    });
    const c = await NbdClient.connect(`nbds://localhost:${port}/@live`, {
      tls: { ca: await readFile(d('ca-cert.pem')) },
    });
    expect([...(await c.read(0, 4))]).toEqual([5, 5, 5, 5]);
    await c.close();
  });

  it('PSK: nbdinfo and qemu-img with a keys.psk file, and this client', async () => {
    const psk = parsePskFile(await readFile(d('keys.psk'), 'utf8'));
    await using server = await serve(store, { port: 0, tls: { psk } });
    const port = (server.address as { port: number }).port;
    expect(
      await mustRun('nbdinfo', [`nbds://alice@localhost:${port}/@live?tls-psk-file=${d('keys.psk')}`]),
    ).toContain('with TLS');
    await mustRun('qemu-img', [
      'info',
      '--object',
      `tls-creds-psk,id=t0,endpoint=client,dir=${dir.path},username=alice`,
      '--image-opts',
      `driver=nbd,host=localhost,port=${port},export=@live,tls-creds=t0`,
    ]);
    const c = await NbdClient.connect(`nbds://localhost:${port}/@live`, {
      tls: { psk: { identity: 'alice', key: psk.get('alice') as Uint8Array } },
    });
    expect([...(await c.read(0, 4))]).toEqual([5, 5, 5, 5]);
    await c.close();
    await expect(
      NbdClient.connect(`nbds://localhost:${port}/@live`, {
        tls: { psk: { identity: 'alice', key: new Uint8Array(32) } },
      }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/ERR_NBD_TLS|ERR_NBD_DISCONNECTED/) });
  });
});
