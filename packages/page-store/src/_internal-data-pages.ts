// Batch I/O of data pages, which bypass the journal: they are written at home (they were free at
// the last commit) and read raw. A batch read coalesces pages that are neighbours on the medium into
// runs (one storage `readv`, one system call per run on a file), whatever order the caller lists
// them in, and reads a run straight into the destination when its pages land side by side there.
// The callers (PageStore.readDataMany, a transaction's readDataMany and writeDataMany) check the
// pages first.

import type { ReadRequest, Storage } from '@deja/storage';
import { type Layout, userPhysical } from './_internal-layout';

/**
 * Reads committed data pages into `into`, page i at byte `at[i]` (default `i × pageSize`).
 * @returns `into`
 * @throws RangeError for offsets that do not match the pages or a destination outside `into`; the
 *   storage's failure (a PageStoreError through checkedStorage)
 */
export async function readDataPages(
  io: Storage,
  layout: Layout,
  pages: readonly number[],
  into: Uint8Array,
  at: readonly number[] | undefined,
): Promise<Uint8Array> {
  const size = layout.pageSize;
  if (at !== undefined && at.length !== pages.length)
    throw new RangeError(`readDataMany: ${at.length} offsets for ${pages.length} pages`);
  const dest = (i: number): number => (at === undefined ? i * size : (at[i] as number));
  for (let i = 0; i < pages.length; i++) {
    const d = dest(i);
    if (!Number.isSafeInteger(d) || d < 0 || d + size > into.length)
      throw new RangeError(`readDataMany: page ${pages[i]} would land at ${d}, outside ${into.length} bytes`);
  }
  const n = pages.length;
  if (n === 0) return into;
  // Runs of pages that are neighbours on the medium, in medium order (the callers mostly list
  // them in that order already: then nothing is sorted). Typed arrays and parallel run arrays, no
  // object per page: a batch read is on every read path.
  const phys = new Float64Array(n);
  let sorted = true;
  for (let i = 0; i < n; i++) {
    phys[i] = userPhysical(layout, pages[i] as number);
    if (i > 0 && (phys[i] as number) < (phys[i - 1] as number)) sorted = false;
  }
  let order: Uint32Array | undefined;
  if (!sorted) {
    order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => (phys[a] as number) - (phys[b] as number));
  }
  const MAX_RUN = Math.max(1, Math.floor((1 << 20) / size));
  // Run r: pages runFirst[r] .. + runCount[r] on the medium; its members (the caller's indexes,
  // a page listed twice is one page read twice into its places) are order[runFrom[r] .. runFrom[r + 1]).
  const runFirst: number[] = [];
  const runCount: number[] = [];
  const runFrom: number[] = [];
  for (let k = 0; k < n; k++) {
    const p = phys[order === undefined ? k : (order[k] as number)] as number;
    const r = runFirst.length - 1;
    if (r >= 0 && p === (runFirst[r] as number) + (runCount[r] as number) - 1) continue;
    if (
      r >= 0 &&
      p === (runFirst[r] as number) + (runCount[r] as number) &&
      (runCount[r] as number) < MAX_RUN
    ) {
      runCount[r] = (runCount[r] as number) + 1;
      continue;
    }
    runFirst.push(p);
    runCount.push(1);
    runFrom.push(k);
  }
  const runs = runFirst.length;
  runFrom.push(n);
  // A run whose pages go to neighbouring destinations, in order, is read in place.
  const requests: ReadRequest[] = new Array(runs);
  const inPlace: boolean[] = new Array(runs);
  for (let r = 0; r < runs; r++) {
    const from = runFrom[r] as number;
    const to = runFrom[r + 1] as number;
    const count = runCount[r] as number;
    const offset = (runFirst[r] as number) * size;
    let direct = to - from === count;
    if (direct) {
      const base = dest(order === undefined ? from : (order[from] as number));
      for (let k = 1; k < count && direct; k++)
        direct = dest(order === undefined ? from + k : (order[from + k] as number)) === base + k * size;
      if (direct) {
        requests[r] = { offset, length: count * size, into: into.subarray(base, base + count * size) };
        inPlace[r] = true;
        continue;
      }
    }
    requests[r] = { offset, length: count * size };
    inPlace[r] = false;
  }
  const got = await io.readv(requests);
  for (let r = 0; r < runs; r++) {
    if (inPlace[r]) continue;
    const bytes = got[r] as Uint8Array;
    const first = runFirst[r] as number;
    for (let k = runFrom[r] as number; k < (runFrom[r + 1] as number); k++) {
      const i = order === undefined ? k : (order[k] as number);
      const off = ((phys[i] as number) - first) * size;
      into.set(bytes.subarray(off, off + size), dest(i));
    }
  }
  return into;
}

/**
 * Writes data pages at home, page i from byte `at[i]` of `data` (default `i × pageSize`), in one
 * storage `writev` of one request per run of pages that are neighbours both on the medium and in
 * `data`.
 * @throws the storage's failure (a PageStoreError through checkedStorage)
 */
export async function writeDataPages(
  io: Storage,
  layout: Layout,
  pages: readonly number[],
  data: Uint8Array,
  at: readonly number[] | undefined,
): Promise<void> {
  const size = layout.pageSize;
  const from = (i: number): number => (at === undefined ? i * size : (at[i] as number));
  // Pages that are neighbours both on the medium and in `data` go in one request.
  const requests: { offset: number; data: Uint8Array }[] = [];
  for (let i = 0; i < pages.length; ) {
    const physical = userPhysical(layout, pages[i] as number);
    const start = from(i);
    let n = 1;
    while (
      i + n < pages.length &&
      userPhysical(layout, pages[i + n] as number) === physical + n &&
      from(i + n) === start + n * size
    )
      n++;
    requests.push({ offset: physical * size, data: data.subarray(start, start + n * size) });
    i += n;
  }
  await io.writev(requests);
}
