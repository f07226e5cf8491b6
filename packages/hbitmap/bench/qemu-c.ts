// QEMU's C hbitmap as a contender of the benchmark: bench/c/build.sh compiles the seed's
// util/hbitmap.c with bench/c/bench.c (gcc -O2), and this module runs that binary as a child process
// that holds its own bitmap and runs one named workload per request (a line on its stdin, a JSON line
// back), so the benchmark can put it between its own contenders in every round. The child draws the
// same positions and ranges from the same seed and times them by the same rules as bench/harness.ts.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const BUILD = fileURLToPath(new URL('./c/build.sh', import.meta.url));
const BINARY = fileURLToPath(new URL('./c/.build/hbitmap-bench', import.meta.url));

/** One reply of the child: the figure, its unit, and what the workload saw (to check the inputs). */
export interface CReply {
  op: string;
  value: number;
  unit: string;
  /** Set bits an iteration visited. */
  visited?: number;
  /** The bitmap's count after a setup command. */
  count?: number;
}

/**
 * Builds the C benchmark (when a C compiler is present) and says why not otherwise.
 *
 * @returns undefined when the binary is ready, else the reason it is not
 */
export function buildQemuC(): string | undefined {
  const cc = process.env.CC ?? 'gcc';
  if (spawnSync('sh', ['-c', 'command -v "$0"', cc]).status !== 0)
    return `no C compiler (${cc}) on this machine`;
  const r = spawnSync('sh', [BUILD], { encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(BINARY)) {
    return `bench/c/build.sh failed: ${(r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-3).join(' / ')}`;
  }
  return undefined;
}

/** The running C benchmark for one configuration (size, granularity). */
export class QemuC {
  private readonly replies: string[] = [];
  private waiting: ((line: string | undefined) => void) | undefined;
  private closed = false;
  private readonly child;

  constructor(size: number, granularity: number, quick: boolean) {
    this.child = spawn(BINARY, [String(size), String(granularity), quick ? '1' : '0'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: this.child.stdout });
    lines.on('line', (line) => this.deliver(line));
    this.child.on('close', () => {
      this.closed = true;
      this.deliver(undefined);
    });
    this.child.on('error', () => {
      this.closed = true;
      this.deliver(undefined);
    });
  }

  private deliver(line: string | undefined): void {
    const w = this.waiting;
    if (w !== undefined) {
      this.waiting = undefined;
      w(line);
    } else if (line !== undefined) this.replies.push(line);
  }

  /**
   * Runs one workload (a command of bench/c/bench.c) and waits for its figure.
   *
   * @throws Error if the child has gone or answers with an error
   */
  async run(op: string): Promise<CReply> {
    if (this.closed) throw new Error('the C benchmark has exited');
    this.child.stdin.write(`${op}\n`);
    const line =
      this.replies.shift() ??
      (await new Promise<string | undefined>((resolve) => {
        this.waiting = resolve;
      }));
    if (line === undefined) throw new Error(`the C benchmark exited during '${op}'`);
    const reply = JSON.parse(line) as CReply & { error?: string };
    if (reply.error !== undefined || reply.op !== op) throw new Error(`the C benchmark answered '${line}'`);
    return reply;
  }

  /** Ends the child (its memory is freed with it). */
  close(): void {
    if (!this.closed) this.child.stdin.end('quit\n');
  }
}
