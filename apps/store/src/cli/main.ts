#!/usr/bin/env -S node --max-semi-space-size=1 --heap-growing-percent=20 --interrupt-budget=1000000
// The `deja` executable: binds the program (program.ts) to this process. It runs with a 1 MiB
// young generation: the store keeps its working set in typed arrays outside the JavaScript heap,
// and V8's default (up to 16 MiB per semi-space) only holds garbage, 25-30 MiB of resident memory
// for nothing (a 1 GiB import peaks at about 125 MiB instead of 150, at the same speed). The old
// generation grows by 20% after each full collection (V8 picks 10% to 300% by its speed): the live
// heap is small, so the collections stay cheap and garbage does not pile up (a 1 GiB import peaked
// at 108-113 MiB instead of 122-134, with the same CPU time, in alternating runs). A function is
// optimized after about 1 MB of interpreter budget instead of V8's 132 KB: a command runs for
// seconds, and with the default V8's background threads spent 0.6-0.8 s of CPU compiling code
// that ran a few times (a perf profile of a later 1 GiB import), on two cores beside the hashing.
// A later 1 GiB import took 1.77-1.82 s of user CPU instead of 1.96-2.06 (1.53-1.58 s against
// 1.63-1.71 s for the process), a first one 3.18-3.40 instead of 3.63-3.75, and peaked 6-8 MiB
// lower; an export and a delete the same. The first Ctrl-C
// (SIGINT) or SIGTERM aborts the running command through the library's AbortSignal: it stops at
// the next step, flushes and closes the store, says what state things are in and exits 130 (143).
// A second one exits at once: the store is left at its last completed flush, as after a crash.

import { EXIT } from './errors';
import { run } from './program';

const controller = new AbortController();
let signals = 0;
const onSignal = (name: 'SIGINT' | 'SIGTERM') => {
  signals++;
  if (signals === 1) {
    controller.abort(name);
    return;
  }
  process.stderr.write('\ndeja: stopped at once; the store is at its last completed flush\n');
  process.exit(name === 'SIGTERM' ? 143 : EXIT.INTERRUPTED);
};
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));
// A reader that goes away (`deja export ... - | head`) is reported by the write that fails;
// this listener keeps a late EPIPE from crashing the process with a stack.
process.stdout.on('error', () => {});

const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  signal: controller.signal,
});
process.exitCode = code;
// Do not wait for a stdin that may never end (an aborted import from a pipe).
if (code !== EXIT.OK) process.stdin.destroy();
