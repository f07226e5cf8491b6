// Byte sources and sinks of the transfer commands: stdin that stops at Ctrl-C even while it waits
// for the next byte, files read with a running count (the progress of `apply-diff`), a counting
// wrapper around stdout, and the removal of an output file a failed command created.

import { createReadStream } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { Writable } from 'node:stream';

/** An error that marks a source stopped by the interruption signal. */
export class Stopped extends Error {
  override name = 'Stopped';
}

/**
 * Yields `source`'s chunks until it ends or `signal` aborts; an abort also ends a wait for the
 * next chunk (stdin from a pipe that has nothing to say). `onBytes` sees the running byte count.
 */
export async function* guarded(
  source: AsyncIterable<Uint8Array>,
  signal: AbortSignal,
  onBytes?: (bytes: number) => void,
): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    onAbort = () => reject(new Stopped('stopped'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  stopped.catch(() => {});
  let bytes = 0;
  try {
    for (;;) {
      const next = await Promise.race([it.next(), stopped]);
      if (next.done) return;
      bytes += next.value.length;
      onBytes?.(bytes);
      yield next.value;
    }
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
    // Ends the source (a file stream closes its descriptor); not awaited: a pending read may
    // only settle when the process ends.
    it.return?.()?.catch(() => {});
  }
}

/** A file's chunks, for a guarded read. */
export function fileChunks(path: string): AsyncIterable<Uint8Array> {
  return createReadStream(path, { highWaterMark: 1 << 20 });
}

/** A Writable over `target` that counts the bytes it passes on, one write at a time. */
export function counting(target: Writable): { readonly sink: Writable; bytes(): number } {
  let n = 0;
  const sink = new Writable({
    write(chunk: Uint8Array, _encoding, callback) {
      n += chunk.length;
      target.write(chunk, (e) => callback(e ?? null));
    },
  });
  return { sink, bytes: () => n };
}

/** Whether a path exists (anything: file, directory, device). */
export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Removes an output file a failed command created (never one that existed before, never anything
 * but a regular file).
 */
export async function removeCreated(path: string, existedBefore: boolean): Promise<void> {
  if (existedBefore) return;
  const s = await stat(path).catch(() => undefined);
  if (s?.isFile()) await unlink(path).catch(() => {});
}
