// Translation of @deja/delta-index errors into this package's error class. Errors are recognised by
// the delta index's marker guard (not instanceof), as the conventions ask across packages.

import { isDeltaIndexError } from '@deja/delta-index';
import { ChapterIndexError, type ChapterIndexErrorCode } from './errors';

/**
 * Rethrows a delta index failure as a ChapterIndexError of the same concept (`ERR_OVERFLOW`,
 * `ERR_EXISTS`; anything else met while decoding is `ERR_CORRUPT_DATA`) with `cause`; other errors
 * pass through.
 */
export function rethrowDeltaError(error: unknown, where: string): never {
  if (isDeltaIndexError(error)) {
    const mapped: ChapterIndexErrorCode =
      error.code === 'ERR_OVERFLOW' || error.code === 'ERR_EXISTS' ? error.code : 'ERR_CORRUPT_DATA';
    throw new ChapterIndexError(mapped, `${where}: ${error.message}`, { cause: error });
  }
  throw error;
}
