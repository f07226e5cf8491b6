// Exit codes of `deja` and how a failure becomes one line on stderr. User mistakes (a missing or
// locked store, an unknown snapshot, a bad size) get one clear line and no stack; `--debug` adds
// the stack and the chain of causes. Scripts can rely on the codes (documented in `deja --help`
// and the README), and on the error code in parentheses at the end of the line.

import { isStoreError } from '../index';

/** Exit codes. */
export const EXIT = Object.freeze({
  /** Success. */
  OK: 0,
  /** The operation failed (a missing or locked store, an unknown snapshot, an I/O error, ...). */
  FAILURE: 1,
  /** Usage: a bad option, argument or size; an unknown command. Nothing was changed. */
  USAGE: 2,
  /** `deja check` found damage (with `--repair`: damage repairing could not fix). */
  DAMAGE: 3,
  /** Interrupted by Ctrl-C (SIGINT); 128 + the signal number for other signals. */
  INTERRUPTED: 130,
});

/** A mistake in how `deja` was called: exits with {@link EXIT.USAGE}. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A failure the CLI itself reports, with an exit code and an optional error code. */
export class CliFailure extends Error {
  override name = 'CliFailure';
  readonly exitCode: number;
  readonly code: string | undefined;
  constructor(
    message: string,
    exitCode: number = EXIT.FAILURE,
    code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.exitCode = exitCode;
    this.code = code;
  }
}

/** Node's system error codes that mean the user named a wrong path. */
const PATH_CODES: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  EEXIST: 'already exists',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system',
};

/** What a failure looks like to the user: one line, an exit code, the error code if any. */
export interface Described {
  readonly message: string;
  readonly exitCode: number;
  readonly code: string | undefined;
  /** Whether it is an expected failure (no hint to rerun with --debug). */
  readonly expected: boolean;
}

/**
 * Turns any thrown value into one line and an exit code.
 *
 * @param error - what an action threw.
 */
export function describe(error: unknown): Described {
  if (error instanceof UsageError) {
    return { message: error.message, exitCode: EXIT.USAGE, code: 'ERR_USAGE', expected: true };
  }
  if (error instanceof CliFailure) {
    return { message: error.message, exitCode: error.exitCode, code: error.code, expected: true };
  }
  if (isStoreError(error)) {
    return { message: oneLine(error.message), exitCode: EXIT.FAILURE, code: error.code, expected: true };
  }
  const code = (error as { code?: unknown } | null)?.code;
  const syscallPath = (error as { path?: unknown } | null)?.path;
  if (typeof code === 'string' && code in PATH_CODES && typeof syscallPath === 'string') {
    return {
      message: `${syscallPath}: ${PATH_CODES[code]}`,
      exitCode: EXIT.FAILURE,
      code,
      expected: true,
    };
  }
  if (code === 'EPIPE') {
    return {
      message: 'the output was closed early (broken pipe)',
      exitCode: EXIT.FAILURE,
      code,
      expected: true,
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    message: oneLine(message),
    exitCode: EXIT.FAILURE,
    code: typeof code === 'string' ? code : undefined,
    // A TypeError or RangeError from the library is a wrong call by the CLI, or an input the CLI
    // did not validate: worth a stack with --debug.
    expected: false,
  };
}

/** The stack and every `cause` below it, for `--debug`. */
export function debugText(error: unknown): string {
  const parts: string[] = [];
  let e: unknown = error;
  for (let depth = 0; e !== undefined && depth < 8; depth++) {
    parts.push(
      depth === 0 ? String((e as Error)?.stack ?? e) : `caused by: ${String((e as Error)?.stack ?? e)}`,
    );
    e = (e as { cause?: unknown } | null)?.cause;
  }
  return parts.join('\n');
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
