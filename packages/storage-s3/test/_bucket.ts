// The bucket and credentials of the test server (s3rver's fixed keys), in a file of their own so
// that code which must not load s3rver (the crash test's child process in apps/store) can use them.

/** The bucket every test server starts with. */
export const BUCKET = 'deja-test';
/** s3rver's fixed credentials. */
export const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
