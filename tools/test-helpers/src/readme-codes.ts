// Reads the error-code table of a package README, so each package's tests can check that the
// README documents exactly the codes the package exports (one table, kept in step with the code).
import { readFileSync } from 'node:fs';

/**
 * The codes in the first column of the table under the README heading `heading` (a line starting
 * with `#` and containing it), in table order.
 *
 * @param readmePath - the README file.
 * @param heading - text of the heading above the table, e.g. `Errors`.
 * @returns the codes (cells of the form `` `ERR_...` ``).
 * @throws Error if the heading or a table under it is missing.
 */
export function readmeErrorCodes(readmePath: string, heading = 'Errors'): string[] {
  const lines = readFileSync(readmePath, 'utf8').split('\n');
  const start = lines.findIndex((line) => /^#+ /.test(line) && line.includes(heading));
  if (start < 0) throw new Error(`${readmePath}: no heading '${heading}'`);
  const codes: string[] = [];
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (/^#+ /.test(line)) break;
    if (line.startsWith('|')) {
      inTable = true;
      const cell = /^\|\s*`(ERR_[A-Z0-9_]+)`/.exec(line);
      if (cell) codes.push(cell[1] as string);
    } else if (inTable) break;
  }
  if (codes.length === 0) throw new Error(`${readmePath}: no code table under '${heading}'`);
  return codes;
}
