// The S3 test server (s3rver on 127.0.0.1 over a temporary directory, with PUTs made atomic as on
// a real server) and the fault-injecting proxy, as @deja/storage-s3's tests run them: one copy of
// that fixture, in the adapter's test folder, used from here (an app may import a package; a
// package never imports an app).
export {
  BUCKET,
  CREDENTIALS,
  type FaultProxy,
  freshPrefix,
  startProxy,
  startServer,
  type TestServer,
} from '../../../packages/storage-s3/test/_server';
