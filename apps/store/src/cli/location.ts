// Where a store named on the command line lives: a directory (the library opens its files) or
// `s3://BUCKET/PREFIX` (a store in an S3-compatible bucket: the page layer under PREFIX/data, the
// dedup index under PREFIX/index, each an S3Storage of @deja/storage-s3, handed to Store.create/open
// as adapters). The S3 module and the AWS SDK behind it are imported only when an s3:// location is
// used, so commands on directories do not pay for loading them.
//
// Endpoint, region and credentials come from the AWS SDK's standard chain (AWS_REGION,
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, AWS_PROFILE, the shared config and
// credentials files, SSO, instance and container roles) and AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL,
// overridden by the global options `--s3-endpoint`, `--s3-region` and `--[no-]s3-path-style`.

import type { S3Storage, S3StorageOptions } from '@deja/storage-s3';
import type { StoreLocation } from '../index';
import { CliFailure, EXIT, UsageError } from './errors';

/** The global options that say how to reach a store in a bucket (commander's camel-cased names). */
export interface LocationOptions {
  /** An S3-compatible endpoint (`http://127.0.0.1:9000`). */
  readonly s3Endpoint?: string;
  readonly s3Region?: string;
  /** Path-style (`host/bucket/key`) or virtual-host addressing; default: path-style with an endpoint. */
  readonly s3PathStyle?: boolean;
  /** Bytes per object of a store `deja init` creates. */
  readonly s3ObjectSize?: number;
  /** Take the lock in the bucket even while a lease looks live (its writer is known to be dead). */
  readonly s3ForceUnlock?: boolean;
  /** A local directory caching the objects read from the bucket. */
  readonly cacheDir?: string;
  /** The most bytes the cache directory holds. */
  readonly cacheSize?: number;
}

let settings: LocationOptions = {};

/** Sets the options of this run (the program calls it before each command's action). */
export function configureLocations(options: LocationOptions): void {
  settings = { ...options };
}

/** Whether `path` names a store in a bucket. */
export function isS3Url(path: string): boolean {
  return path.startsWith('s3://');
}

type S3Module = typeof import('@deja/storage-s3');

async function loadS3(): Promise<S3Module> {
  // The SDK warns on every process that Node 20 will lose support in its releases from 2027 on:
  // a notice for whoever upgrades the SDK, not for each `deja` run.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return import('@deja/storage-s3');
}

/** How an S3 location is opened: to create a store, to write it, or to read it. */
export type OpenMode = 'create' | 'write' | 'read';

/** The S3Storage options shared by the data and index adapters of `url`. */
async function s3Options(url: string): Promise<{ s3: S3Module; base: S3StorageOptions; where: string }> {
  const s3 = await loadS3();
  let location: { bucket: string; prefix: string } | undefined;
  try {
    location = s3.parseS3Url(url);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (location === undefined) throw new UsageError(`${url} is not an s3:// location`);
  if (location.prefix === '')
    throw new UsageError(`${url}: name a prefix for the store (s3://BUCKET/PREFIX), not a whole bucket`);
  const endpoint = settings.s3Endpoint ?? env('AWS_ENDPOINT_URL_S3') ?? env('AWS_ENDPOINT_URL');
  const base: S3StorageOptions = {
    bucket: location.bucket,
    prefix: location.prefix,
    ...(endpoint !== undefined && { endpoint }),
    ...(settings.s3Region !== undefined && { region: settings.s3Region }),
    ...(settings.s3PathStyle !== undefined && { forcePathStyle: settings.s3PathStyle }),
    ...(settings.s3ForceUnlock && { lock: { force: true } }),
  };
  return { s3, base, where: s3.formatS3Url(location) };
}

function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * What Store.create/open take for `path`: the path itself for a directory, or the two S3Storage
 * adapters of an s3:// location, opened (and locked, unless reading) in parallel.
 * @throws CliFailure for no store there (ERR_NOT_FOUND), a store in use (ERR_LOCKED), and the
 *   bucket's other refusals (ERR_PERMISSION, ERR_IO); UsageError for a malformed URL.
 */
export async function storeLocation(path: string, mode: OpenMode): Promise<StoreLocation> {
  if (!isS3Url(path)) return path;
  const { s3, base, where } = await s3Options(path);
  const readOnly = mode === 'read';
  // One directory cache for both adapters, so its bound covers the store.
  const diskCache =
    settings.cacheDir === undefined
      ? undefined
      : await s3.DiskCache.open({
          path: settings.cacheDir,
          ...(settings.cacheSize !== undefined && { maxBytes: settings.cacheSize }),
        });
  const open = (part: 'data' | 'index', extra: Partial<S3StorageOptions>): Promise<S3Storage> =>
    s3.S3Storage.open({
      ...base,
      prefix: `${base.prefix}/${part}`,
      ...(diskCache !== undefined && { diskCache }),
      ...extra,
    });
  const data = open('data', {
    create: mode === 'create',
    readOnly,
    ...(mode === 'create' && settings.s3ObjectSize !== undefined && { objectSize: settings.s3ObjectSize }),
  });
  // As with a directory: a writer creates a missing index (the store rebuilds it); a reader
  // needs none.
  const index = readOnly
    ? open('index', { readOnly: true }).catch(() => undefined)
    : open('index', { create: true });
  const [d, i] = await Promise.allSettled([data, index]);
  // Handed over: the store closes them (and so releases the bucket's lock) when it closes.
  if (d.status === 'fulfilled' && i.status === 'fulfilled')
    return { data: d.value, index: i.value, owned: true };
  for (const opened of [d, i]) if (opened.status === 'fulfilled') await opened.value?.close().catch(() => {});
  throw explain(d.status === 'rejected' ? d.reason : (i as PromiseRejectedResult).reason, where);
}

/** Whether an s3:// location holds a store (its data manifest exists). */
export async function s3StoreExists(url: string): Promise<boolean> {
  const { s3, base, where } = await s3Options(url);
  try {
    const data = await s3.S3Storage.open({
      ...base,
      prefix: `${base.prefix}/data`,
      readOnly: true,
      lock: false,
    });
    await data.close();
    return true;
  } catch (e) {
    // No manifest: no store. (A missing bucket is ERR_NOT_FOUND too, and an error to report.)
    if ((e as { code?: string }).code === 'ERR_NOT_FOUND' && /no store here/.test((e as Error).message))
      return false;
    throw explain(e, where);
  }
}

/** The storage layer's refusal, as one line for people. */
function explain(error: unknown, where: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  const message = (error as Error | null)?.message ?? String(error);
  if (code === 'ERR_NOT_FOUND' && /no store here/.test(message))
    return new CliFailure(`no store at ${where}; create one with 'deja init'`, EXIT.FAILURE, code, {
      cause: error,
    });
  if (code === 'ERR_LOCKED') {
    const holder = /locked by (.*?) \(lease until ([^)]*)\)/.exec(message);
    const detail = holder
      ? ` (${holder[1]}, lease until ${holder[2]}); if that process is dead, retry after its lease and one more, or pass --s3-force-unlock`
      : '';
    return new CliFailure(`store ${where} is in use by another process${detail}`, EXIT.FAILURE, code, {
      cause: error,
    });
  }
  if (typeof code === 'string' && code.startsWith('ERR_'))
    return new CliFailure(message, EXIT.FAILURE, code, { cause: error });
  return error;
}
