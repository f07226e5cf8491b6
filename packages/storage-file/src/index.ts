// @deja/storage-file: the Storage adapter over one local file (positional I/O, flush = fdatasync,
// an exclusive OS lock through a native addon). The interface, its errors and the conformance
// suite it passes live in @deja/storage.
export { type FileIoMode, FileStorage, type FileStorageOptions } from './file-storage';
