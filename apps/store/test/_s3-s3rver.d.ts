// s3rver ships no types: the little of it the S3 tests use (a copy of packages/storage-s3/test/s3rver.d.ts,
// for this project's type check of the fixture it imports from there).
declare module 's3rver' {
  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    configureBuckets?: { name: string; configs: unknown[] }[];
  }
  export default class S3rver {
    constructor(options: S3rverOptions);
    run(): Promise<unknown>;
    close(): Promise<void>;
  }
}
