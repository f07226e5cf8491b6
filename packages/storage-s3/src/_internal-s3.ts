// The request layer under S3Storage and the bucket lock: every call to the bucket goes through
// `S3Io`, which bounds how many requests run at once, retries transient failures (5xx, throttling,
// timeouts, connection resets) with exponential backoff and jitter, counts requests and bytes, and
// turns what is left into a StorageError whose message names the bucket and the key.

import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { StorageError } from '@deja/storage';

/** How transient failures are retried. */
export interface RetryOptions {
  /** Attempts per request, the first included. Default 8. */
  readonly attempts?: number;
  /** Delay before the first retry, in ms; it doubles per retry (with jitter). Default 50. */
  readonly baseDelayMs?: number;
  /** The longest delay between two attempts, in ms. Default 2000. */
  readonly maxDelayMs?: number;
}

/** Requests and bytes an {@link S3Storage} has sent, for benchmarks and monitoring. */
export interface S3Stats {
  /** GET requests (objects, the manifest, the lock), retries included. */
  gets: number;
  /** PUT requests, retries included. */
  puts: number;
  /** DELETE and LIST requests. */
  deletes: number;
  lists: number;
  /** Attempts that failed with a transient error and were tried again. */
  retries: number;
  /** Body bytes sent by PUTs that succeeded. */
  bytesUploaded: number;
  /** Body bytes received by GETs that succeeded. */
  bytesDownloaded: number;
}

/** Names of S3 errors that are worth trying again (server-side trouble, throttling). */
const TRANSIENT_NAMES = new Set([
  'InternalError',
  'ServiceUnavailable',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'OperationAborted',
  'PriorRequestNotComplete',
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
]);

/** Node and undici error codes of a connection that failed or was cut. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

const PERMISSION_NAMES = new Set([
  'AccessDenied',
  'AllAccessDisabled',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AccountProblem',
]);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

/** The HTTP status of an SDK error, if the server answered. */
export function statusOf(error: unknown): number | undefined {
  return (error as SdkError | null)?.$metadata?.httpStatusCode;
}

/** The S3 error name (`NoSuchKey`, `SlowDown`, ...) or the Node error code. */
export function nameOf(error: unknown): string {
  const e = error as SdkError | null;
  return e?.name ?? e?.code ?? 'Error';
}

/**
 * Whether a failed request may succeed if sent again: a 5xx or 429 answer, a throttling or timeout
 * error, or a connection that was refused, reset or cut (the answer never came). O(1).
 */
export function isTransient(error: unknown): boolean {
  for (let e = error as SdkError | undefined, depth = 0; e && depth < 4; e = e.cause as SdkError, depth++) {
    if (typeof e !== 'object') return false;
    const status = e.$metadata?.httpStatusCode;
    if (status !== undefined && (status >= 500 || status === 429)) return true;
    if (e.name !== undefined && TRANSIENT_NAMES.has(e.name)) return true;
    if (e.code !== undefined && TRANSIENT_CODES.has(e.code)) return true;
    if (e.$retryable) return true;
    // A body cut mid-way, or a response the SDK could not parse because it was cut.
    if (
      typeof e.message === 'string' &&
      /socket hang up|premature close|aborted|ECONNRESET/i.test(e.message)
    ) {
      return true;
    }
  }
  return false;
}

/** A counting semaphore: at most `limit` tasks at once, the rest wait in FIFO order. */
export class Limiter {
  readonly #limit: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running++;
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

export function emptyStats(): S3Stats {
  return { gets: 0, puts: 0, deletes: 0, lists: 0, retries: 0, bytesUploaded: 0, bytesDownloaded: 0 };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What a conditional PUT asks for. */
export interface PutConditions {
  /** `'*'`: create only if the key does not exist (412 otherwise, on servers that support it). */
  readonly ifNoneMatch?: '*';
  /** Replace only if the object's ETag is this one. */
  readonly ifMatch?: string;
}

/** The bucket seen through bounded, retried, counted requests. */
export class S3Io {
  readonly client: S3Client;
  readonly bucket: string;
  readonly stats: S3Stats;
  readonly #limiter: Limiter;
  readonly #attempts: number;
  readonly #base: number;
  readonly #max: number;

  /**
   * @param stats - counters to add to (shared by the store's data requests and its lock's, which
   *   get an `S3Io` of their own so that a renewal never queues behind a flush).
   */
  constructor(
    client: S3Client,
    bucket: string,
    parallelism: number,
    retry: RetryOptions = {},
    stats: S3Stats = emptyStats(),
  ) {
    this.client = client;
    this.stats = stats;
    this.bucket = bucket;
    this.#limiter = new Limiter(parallelism);
    this.#attempts = retry.attempts ?? 8;
    this.#base = retry.baseDelayMs ?? 50;
    this.#max = retry.maxDelayMs ?? 2000;
  }

  /** `s3://bucket/key`, how messages name an object. */
  where(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  /**
   * GETs an object whole; with `ifNoneMatch`, only if its ETag differs (a conditional GET).
   * @returns its bytes and ETag; `{ notModified: true }` when its ETag is `ifNoneMatch` (304, no
   *   body sent); `undefined` if the key does not exist.
   * @throws StorageError `ERR_NOT_FOUND` (no bucket), `ERR_PERMISSION`, `ERR_IO`.
   */
  get(key: string): Promise<{ body: Uint8Array; etag: string | undefined } | undefined>;
  get(
    key: string,
    ifNoneMatch: string,
  ): Promise<{ body: Uint8Array; etag: string | undefined } | { notModified: true } | undefined>;
  async get(
    key: string,
    ifNoneMatch?: string,
  ): Promise<{ body: Uint8Array; etag: string | undefined } | { notModified: true } | undefined> {
    return this.#send('GET', key, async () => {
      this.stats.gets++;
      try {
        const out = await this.client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: key,
            ...(ifNoneMatch !== undefined && { IfNoneMatch: ifNoneMatch }),
          }),
        );
        const body = out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
        if (out.ContentLength !== undefined && body.length !== out.ContentLength) {
          throw Object.assign(new Error(`short body: ${body.length} of ${out.ContentLength} bytes`), {
            code: 'ERR_STREAM_PREMATURE_CLOSE',
          });
        }
        this.stats.bytesDownloaded += body.length;
        return { body, etag: out.ETag };
      } catch (error) {
        if (nameOf(error) === 'NoSuchKey') return undefined;
        if (ifNoneMatch !== undefined && statusOf(error) === 304) return { notModified: true as const };
        throw error;
      }
    });
  }

  /**
   * PUTs an object (atomic on S3: readers see the old or the new object, never a part).
   * @returns the new ETag; `undefined` with `conditionFailed: true` when a condition failed (412).
   * @throws StorageError `ERR_NOT_FOUND` (no bucket), `ERR_PERMISSION`, `ERR_IO`.
   */
  async put(
    key: string,
    body: Uint8Array,
    conditions: PutConditions = {},
  ): Promise<{ etag: string | undefined; conditionFailed: boolean }> {
    return this.#send('PUT', key, async () => {
      this.stats.puts++;
      try {
        const out = await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            ...(conditions.ifNoneMatch !== undefined && { IfNoneMatch: conditions.ifNoneMatch }),
            ...(conditions.ifMatch !== undefined && { IfMatch: conditions.ifMatch }),
          }),
        );
        this.stats.bytesUploaded += body.length;
        return { etag: out.ETag, conditionFailed: false };
      } catch (error) {
        const status = statusOf(error);
        // 412: the condition failed. 409 ConditionalRequestConflict: a concurrent conditional write.
        if (status === 412 || (status === 409 && nameOf(error) === 'ConditionalRequestConflict')) {
          return { etag: undefined, conditionFailed: true };
        }
        throw error;
      }
    });
  }

  /** DELETEs an object; a missing key is not an error. */
  async delete(key: string): Promise<void> {
    await this.#send('DELETE', key, async () => {
      this.stats.deletes++;
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    });
  }

  /** Every key under `prefix` that sorts after `startAfter`, in key order. */
  async list(prefix: string, startAfter: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#send('LIST', prefix, async () => {
        this.stats.lists++;
        return this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ...(token === undefined ? { StartAfter: startAfter } : { ContinuationToken: token }),
          }),
        );
      });
      for (const item of page.Contents ?? []) if (item.Key !== undefined) keys.push(item.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return keys;
  }

  /** Runs one request under the limiter, retrying transient failures, mapping the final one. */
  async #send<T>(verb: string, key: string, request: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#limiter.run(request);
      } catch (error) {
        if (!isTransient(error) || attempt >= this.#attempts) throw this.#wrap(verb, key, error, attempt);
        this.stats.retries++;
        const delay = Math.min(this.#max, this.#base * 2 ** (attempt - 1));
        await sleep(delay / 2 + Math.random() * (delay / 2));
      }
    }
  }

  #wrap(verb: string, key: string, error: unknown, attempts: number): StorageError {
    if (error instanceof StorageError) return error;
    const name = nameOf(error);
    const status = statusOf(error);
    const detail = `${name}${status === undefined ? '' : ` (HTTP ${status})`}: ${(error as Error)?.message ?? String(error)}`;
    const where = this.where(key);
    if (name === 'NoSuchBucket') {
      return new StorageError(
        'ERR_NOT_FOUND',
        `${where}: ${verb} failed: the bucket '${this.bucket}' does not exist`,
        {
          cause: error,
        },
      );
    }
    if (PERMISSION_NAMES.has(name) || status === 403) {
      return new StorageError('ERR_PERMISSION', `${where}: ${verb} refused: ${detail}`, { cause: error });
    }
    const tries = isTransient(error) ? ` after ${attempts} attempts` : '';
    return new StorageError('ERR_IO', `${where}: ${verb} failed${tries}: ${detail}`, { cause: error });
  }
}
