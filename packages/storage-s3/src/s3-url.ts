// `s3://BUCKET/PREFIX` locations: how the CLI and configuration name a store in a bucket.

/** A bucket and a key prefix. */
export interface S3Location {
  readonly bucket: string;
  /** The key prefix without leading or trailing slashes ('' for the bucket's root). */
  readonly prefix: string;
}

/**
 * Parses `s3://BUCKET` or `s3://BUCKET/PREFIX` (a trailing slash is ignored). O(length).
 * @param url - the location.
 * @returns the bucket and prefix, or `undefined` if `url` does not start with `s3://`.
 * @throws TypeError if it starts with `s3://` but names no valid bucket.
 */
export function parseS3Url(url: string): S3Location | undefined {
  if (typeof url !== 'string' || !url.startsWith('s3://')) return undefined;
  const rest = url.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new TypeError(`${url}: '${bucket}' is not a valid bucket name (3-63 of a-z, 0-9, '.', '-')`);
  }
  return { bucket, prefix };
}

/** The URL of a location: `s3://bucket/prefix`. */
export function formatS3Url(location: S3Location): string {
  return location.prefix === '' ? `s3://${location.bucket}` : `s3://${location.bucket}/${location.prefix}`;
}
