// Human sizes for the `deja` command line: parsing what a user types (`20G`, `4K`, `1.5GiB`, all in
// powers of 1024, as borg, restic and qemu-img read them) and printing sizes and rates the way
// `ls -h` / `du -h` users read them (`1.3 GiB`, `85.2 MB/s`). Exact byte counts go to `--json`.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'] as const;
const PREFIX = 'KMGTPE';
const SIZE_RE = /^(\d+)(?:\.(\d*))?\s*(?:([KMGTPE])(?:I?B)?|B)?$/i;

/**
 * Parses a size: a whole or decimal number with an optional unit `K`, `M`, `G`, `T`, `P`, `E`
 * (also written `KiB`/`KB`, case-insensitive; all powers of 1024) or `B`. The result must be a
 * whole number of bytes and a safe integer.
 *
 * @param text - what the user typed (`20G`, `4K`, `1.5GiB`, `4096`).
 * @returns the size in bytes.
 * @throws RangeError naming the text when it is not a size.
 */
export function parseSize(text: string): number {
  const m = SIZE_RE.exec(text.trim());
  if (!m) throw new RangeError(`'${text}' is not a size (examples: 4096, 4K, 20G, 1.5GiB)`);
  const whole = m[1] as string;
  const frac = m[2] ?? '';
  const unit = m[3] ? PREFIX.indexOf(m[3].toUpperCase()) + 1 : 0;
  // Exact arithmetic at the edge: digits as BigInt, so 1.5G is exactly 1610612736.
  const scale = 10n ** BigInt(frac.length);
  const num = BigInt(whole + frac) * (1n << BigInt(10 * unit));
  if (num % scale !== 0n) throw new RangeError(`'${text}' is not a whole number of bytes`);
  const bytes = num / scale;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`'${text}' is too large`);
  return Number(bytes);
}

/**
 * Formats a byte count for people: `512 B`, `4 KiB`, `1.3 GiB` (one decimal, dropped when it is 0).
 *
 * @param bytes - a non-negative byte count.
 */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const sign = bytes < 0 ? '-' : '';
  let v = Math.abs(bytes);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${sign}${v} B`;
  let text = v.toFixed(1);
  // 1023.96 KiB rounds up to the next unit, not to "1024.0 KiB".
  if (text === '1024.0' && u < UNITS.length - 1) {
    text = '1.0';
    u++;
  }
  if (text.endsWith('.0')) text = text.slice(0, -2);
  return `${sign}${text} ${UNITS[u]}`;
}

/**
 * Formats a rate in decimal megabytes per second (`85.2 MB/s`), the unit disk and network
 * benchmarks quote.
 *
 * @param bytes - bytes moved.
 * @param seconds - in this many seconds.
 */
export function formatRate(bytes: number, seconds: number): string {
  if (seconds <= 0) return '- MB/s';
  const mbs = bytes / 1e6 / seconds;
  return `${mbs >= 100 ? mbs.toFixed(0) : mbs.toFixed(1)} MB/s`;
}

/** Formats a duration: `0.42 s`, `12.3 s`, `4 min 05 s`, `2 h 03 min`. */
export function formatDuration(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/**
 * Formats a whole number with thousands separators (`12,345`), as `toLocaleString('en-US')` does
 * for integers, without loading the locale data (20-25 ms of a command's start).
 */
export function formatCount(n: number): string {
  if (!Number.isSafeInteger(n)) return n.toLocaleString('en-US');
  const digits = String(Math.abs(n));
  let out = '';
  for (let end = digits.length; end > 0; end -= 3) {
    const part = digits.slice(Math.max(0, end - 3), end);
    out = out === '' ? part : `${part},${out}`;
  }
  return n < 0 ? `-${out}` : out;
}
