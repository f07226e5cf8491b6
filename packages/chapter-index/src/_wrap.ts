// Translation of @deja/delta-index errors into this package's error class. Errors are matched on
// their `code` (not instanceof), as the conventions ask across packages.

import { ChapterIndexError, type ChapterIndexErrorCode } from './errors';

/** Rethrows a delta index failure as a ChapterIndexError with `cause`; other errors pass through. */
export function rethrowDeltaError(error: unknown, where: string): never {
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof Error && error.name === 'DeltaIndexError' && typeof code === 'string') {
    const mapped: ChapterIndexErrorCode =
      code === 'ERR_OVERFLOW'
        ? 'ERR_OVERFLOW'
        : code === 'ERR_DUPLICATE_NAME'
          ? 'ERR_DUPLICATE_NAME'
          : 'ERR_CORRUPT_DATA';
    throw new ChapterIndexError(mapped, `${where}: ${error.message}`, { cause: error });
  }
  throw error;
}
