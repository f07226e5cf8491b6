// The NBD layer of @deja/store: the server (any version of a store as a network block device) and
// the client (reading an NBD export, as `deja import nbd://...` does).
export { isNbdError, NbdError, type NbdErrorCode } from './errors';
export {
  isLoopback,
  type NbdAddress,
  type NbdExportOptions,
  type NbdServer,
  type NbdTlsOptions,
  nbdUri,
  parsePskFile,
  type ServeOptions,
  serve,
} from './server';
