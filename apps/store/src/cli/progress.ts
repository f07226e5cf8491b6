// The progress bar of long commands (import, export, export-diff, apply-diff, check): a
// cli-progress bar on stderr with bytes done, MB/s and ETA, shown only when stderr is a terminal
// and the output is not `--json` (a pipe or a log file gets no control characters). With an
// unknown total (an image read from stdin, a diff stream) it shows bytes and MB/s without a bar.

import type { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import { formatRate, formatSize } from './size';

/** What a long command reports progress to. */
export interface ProgressReporter {
  /** Bytes done so far, and the total when it is known. */
  update(bytes: number, total: number | undefined): void;
  /** Removes nothing: leaves the last state on its line and ends the line. Idempotent. */
  stop(): void;
}

const NONE: ProgressReporter = { update() {}, stop() {} };

/**
 * A progress bar labelled `label` on `stream`, or a reporter that does nothing when `enabled` is
 * false.
 */
export function progressBar(stream: Writable, label: string, enabled: boolean): ProgressReporter {
  if (!enabled) return NONE;
  const start = performance.now();
  let bar: cliProgress.SingleBar | undefined;
  let knownTotal: boolean | undefined;
  let stopped = false;
  const payload = (bytes: number, total: number | undefined) => ({
    label,
    done: formatSize(bytes),
    whole: total === undefined ? '?' : formatSize(total),
    rate: formatRate(bytes, (performance.now() - start) / 1000),
  });
  return {
    update(bytes, total) {
      if (stopped) return;
      if (bar === undefined) {
        knownTotal = total !== undefined && total > 0;
        bar = new cliProgress.SingleBar({
          stream,
          format: knownTotal
            ? '{label} |{bar}| {percentage}% | {done} / {whole} | {rate} | ETA {eta_formatted}'
            : '{label} {done} | {rate}',
          barCompleteChar: '\u2588',
          barIncompleteChar: '\u2591',
          barsize: 30,
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50,
          fps: 8,
        });
        bar.start(knownTotal ? (total as number) : Number.MAX_SAFE_INTEGER, 0, payload(0, total));
      }
      if (knownTotal && total !== undefined && total !== bar.getTotal()) bar.setTotal(total);
      bar.update(bytes, payload(bytes, total));
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar?.stop();
    },
  };
}
