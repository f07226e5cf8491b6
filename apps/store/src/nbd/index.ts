// The NBD layer of @deja/store: the server (any version of a store as a network block device) and
// the client (reading an NBD export, as `deja import nbd://...` does).

export {
  NbdClient,
  type NbdClientTlsOptions,
  type NbdConnectOptions,
  type NbdExtent,
  type NbdTarget,
  parseNbdUri,
} from './client';
export { importNbd, type NbdImportOptions, type NbdImportResult } from './import';
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
