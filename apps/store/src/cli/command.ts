// Small pieces every command definition uses: the action wrapper type and the examples block of
// `--help`.

import type { Output } from './context';

/**
 * Wraps a command's action: it records whether `--json` was given, runs the action, and prints
 * what it returns (see `program.ts`).
 */
export type Act = <A extends unknown[]>(fn: (...args: A) => Promise<Output>) => (...args: A) => Promise<void>;

/** The "Examples:" block of a command's `--help`. */
export function examples(lines: readonly (readonly [string, string])[]): string {
  const width = Math.max(...lines.map(([cmd]) => cmd.length));
  return `\nExamples:\n${lines.map(([cmd, what]) => `  $ ${cmd.padEnd(width)}  # ${what}`).join('\n')}\n`;
}
