// The S3 server the tests run against (here and in apps/store's whole-store and CLI tests, which
// import this file through apps/store/test/_s3-server.ts): s3rver (from npm, in the lockfile) on 127.0.0.1 at a random
// port, over a temporary directory, and a fault-injecting HTTP proxy in front of it.
//
// Why s3rver: it is a real S3 HTTP server (SigV4, XML errors, ListObjectsV2) that installs with the
// lockfile and starts in milliseconds inside the test process; Ceph's radosgw needs a cluster (mon,
// osd) and root to start, and MinIO is not in a registry we use. What it lacks, and what we do here:
// - Its filesystem store writes a PUT's body into the object file as it arrives, so a client killed
//   mid-upload leaves a torn object; S3, RGW and MinIO commit a PUT only once the whole body has
//   arrived. `atomicPuts` makes it do the same (temporary file + rename), so the crash test sees the
//   object model of a real server. GETs read the file in one go, so they never mix two versions.
// - It ignores `If-None-Match`/`If-Match` on PUT, so the bucket lock runs in its `'lease'` mode;
//   the proxy's `conditional: true` enforces both headers in front of it to test `'conditional'`.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import S3rver from 's3rver';

const require = createRequire(import.meta.url);
const S3Object = require('s3rver/lib/models/object.js') as new (
  bucket: string,
  key: string,
  content: Readable,
  metadata: Record<string, string>,
) => unknown;

import { BUCKET } from './_bucket';

export { BUCKET, CREDENTIALS } from './_bucket';

interface FsStore {
  getResourcePath(bucket: string, key: string, kind: string): string;
  getMetadata(bucket: string, key: string): Promise<Record<string, string>>;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  getObject(bucket: string, key: string, options?: unknown): Promise<unknown>;
  putObject(object: {
    bucket: string;
    key: string;
    content: unknown;
    metadata: Record<string, string>;
  }): Promise<{ size: number; md5: string }>;
}

/** Makes s3rver's filesystem store commit a PUT only once its whole body arrived. */
function atomicPuts(store: FsStore): void {
  const getObject = store.getObject.bind(store);
  store.putObject = async (object) => {
    const content = Buffer.isBuffer(object.content)
      ? object.content
      : await (async () => {
          const parts: Buffer[] = [];
          for await (const part of object.content as AsyncIterable<Buffer>) parts.push(part);
          return Buffer.concat(parts);
        })();
    const declared = object.metadata['content-length'];
    if (declared !== undefined && Number(declared) !== content.length) {
      throw new Error(`incomplete body: ${content.length} of ${declared} bytes`);
    }
    const path = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(path), { recursive: true });
    const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temporary, content);
    const md5 = createHash('md5').update(content).digest('hex');
    await store.putMetadata(object.bucket, object.key, object.metadata, md5);
    await rename(temporary, path);
    return { size: content.length, md5 };
  };
  store.getObject = async (bucket, key, options) => {
    if (options !== undefined && Object.keys(options as object).length > 0)
      return getObject(bucket, key, options);
    let content: Buffer;
    let metadata: Record<string, string>;
    try {
      content = await readFile(store.getResourcePath(bucket, key, 'object'));
      metadata = await store.getMetadata(bucket, key);
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return null;
      throw error;
    }
    metadata['content-length'] = String(content.length);
    metadata.etag = JSON.stringify(createHash('md5').update(content).digest('hex'));
    return new S3Object(bucket, key, Readable.from([content]), metadata);
  };
}

/** A running s3rver with one bucket. */
export interface TestServer {
  readonly endpoint: string;
  readonly directory: string;
  close(): Promise<void>;
}

export async function startServer(bucket = BUCKET): Promise<TestServer> {
  const directory = await mkdtemp(join(tmpdir(), 'deja-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  atomicPuts((server as unknown as { store: FsStore }).store);
  const address = (await server.run()) as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    directory,
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** What the proxy does with one request. */
export type Fault =
  | 'pass'
  /** Never answer (the client's request timeout fires); the request is not forwarded. */
  | 'drop'
  /** Forward, then cut the connection instead of answering: applied, but the client never knows. */
  | 'drop-response'
  /** Cut the connection at once. */
  | 'reset'
  | { readonly delayMs: number }
  | { readonly status: number; readonly code: string };

export interface RequestInfo {
  readonly method: string;
  /** The path, `/bucket/key`. */
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  /** Requests seen before this one. */
  readonly n: number;
}

/** A fault-injecting proxy in front of the server. */
export interface FaultProxy {
  readonly endpoint: string;
  /** Decides each request's fate; the default passes everything. */
  fault: (request: RequestInfo) => Fault;
  /** Requests seen, and the most that were in flight at once. */
  readonly counts: { requests: number; inFlight: number; maxInFlight: number };
  close(): Promise<void>;
}

/**
 * Starts a proxy on 127.0.0.1 (random port) forwarding to `upstream`. The Host header is kept, so
 * SigV4 signatures still match. With `conditional`, PUTs carrying `If-None-Match: *` or `If-Match`
 * are checked against the object (a GET through to the server first) and answered 412 when the
 * condition fails, as AWS S3 does.
 */
export async function startProxy(
  upstream: string,
  options: { conditional?: boolean } = {},
): Promise<FaultProxy> {
  const target = new URL(upstream);
  const sockets = new Set<import('node:net').Socket>();
  const counts = { requests: 0, inFlight: 0, maxInFlight: 0 };
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, cut = false): void => {
    const out = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (cut) {
          // The server applied the request; the client never hears of it.
          answer.resume();
          answer.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    out.end(body);
  };
  const etagOf = (path: string): Promise<string | undefined> =>
    new Promise((resolve) => {
      http
        .get({ host: target.hostname, port: target.port, path }, (answer) => {
          answer.resume();
          resolve(answer.statusCode === 200 ? (answer.headers.etag as string) : undefined);
        })
        .on('error', () => resolve(undefined));
    });
  const proxy: FaultProxy = {
    endpoint: '',
    fault: () => 'pass',
    counts,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    const body = Buffer.concat(parts);
    const info: RequestInfo = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      n: counts.requests++,
    };
    counts.inFlight++;
    counts.maxInFlight = Math.max(counts.maxInFlight, counts.inFlight);
    res.on('close', () => counts.inFlight--);
    const fault = proxy.fault(info);
    if (fault === 'drop') return;
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    if (typeof fault === 'object' && 'status' in fault) {
      res.writeHead(fault.status, { 'content-type': 'application/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code>` +
          `<Message>injected by the test proxy</Message><RequestId>test</RequestId></Error>`,
      );
      return;
    }
    if (typeof fault === 'object') await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (options.conditional && req.method === 'PUT') {
      const path = (req.url ?? '').split('?')[0]!;
      const ifNoneMatch = req.headers['if-none-match'];
      const ifMatch = req.headers['if-match'];
      if (ifNoneMatch !== undefined || ifMatch !== undefined) {
        const etag = await etagOf(path);
        if ((ifNoneMatch === '*' && etag !== undefined) || (ifMatch !== undefined && ifMatch !== etag)) {
          res.writeHead(412, { 'content-type': 'application/xml' });
          res.end(
            '<?xml version="1.0"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>',
          );
          return;
        }
      }
    }
    forward(req, res, body, fault === 'drop-response');
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  Object.assign(proxy, { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  return proxy;
}

let prefixes = 0;
/** A fresh key prefix per test store. */
export function freshPrefix(name = 'store'): string {
  return `${name}-${process.pid}-${prefixes++}-${randomBytes(3).toString('hex')}`;
}
