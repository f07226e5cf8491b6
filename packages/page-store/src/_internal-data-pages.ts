// Batch I/O of data pages, which bypass the journal: they are written at home (they were free at
// the last commit) and read raw. A batch read coalesces pages that are neighbours on the medium into
// runs (one storage `readv`, one system call per run on a file), whatever order the caller lists
// them in, and reads a run straight into the destination when its pages land side by side there.
// The callers (PageStore.readDataMany, a transaction's readDataMany and writeDataMany) check the
// pages first.

import type { Storage } from '@deja/storage';
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
  if (pages.length === 0) return into;
  // Runs of pages that are neighbours on the medium, in medium order.
  const order = pages.map((_, i) => i);
  const phys = pages.map((p) => userPhysical(layout, p));
  order.sort((a, b) => (phys[a] as number) - (phys[b] as number));
  const runs: { first: number; count: number; members: number[] }[] = [];
  const MAX_RUN = Math.max(1, Math.floor((1 << 20) / size));
  for (const i of order) {
    const p = phys[i] as number;
    const run = runs[runs.length - 1];
    if (run !== undefined && p === run.first + run.count - 1) run.members.push(i);
    else if (run !== undefined && p === run.first + run.count && run.count < MAX_RUN) {
      run.count++;
      run.members.push(i);
    } else runs.push({ first: p, count: 1, members: [i] });
  }
  // A run whose pages go to neighbouring destinations, in order, is read in place.
  const inPlace = runs.map((run) => {
    if (run.members.length !== run.count) return undefined;
    const base = dest(run.members[0] as number);
    for (let k = 1; k < run.count; k++)
      if (dest(run.members[k] as number) !== base + k * size) return undefined;
    return into.subarray(base, base + run.count * size);
  });
  const got = await io.readv(
    runs.map((r, k) => {
      const at = inPlace[k];
      return at === undefined
        ? { offset: r.first * size, length: r.count * size }
        : { offset: r.first * size, length: r.count * size, into: at };
    }),
  );
  runs.forEach((run, r) => {
    if (inPlace[r] !== undefined) return;
    const bytes = got[r] as Uint8Array;
    for (const i of run.members) {
      const off = ((phys[i] as number) - run.first) * size;
      into.set(bytes.subarray(off, off + size), dest(i));
    }
  });
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
