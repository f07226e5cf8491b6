// @deja/storage-s3: the Storage adapter over an S3-compatible bucket (fixed-size objects, a bounded
// write-back cache, flush as parallel PUTs, a one-writer lease lock in the bucket, retries with
// backoff). The interface, its errors and the conformance suite it passes live in @deja/storage.
export type { RetryOptions, S3Stats } from './_internal-s3';
export type { BucketLockMode, BucketLockOptions } from './bucket-lock';
export { DiskCache, type DiskCacheEntry, type DiskCacheOptions } from './disk-cache';
export { DEFAULT_OBJECT_SIZE, S3Storage, type S3StorageOptions } from './s3-storage';
export { formatS3Url, parseS3Url, type S3Location } from './s3-url';
