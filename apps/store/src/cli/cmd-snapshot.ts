// `deja snapshot create|list|delete|rollback` and `deja du`: the snapshots of a store, with what
// each one costs (exclusive bytes: what deleting it frees; shared bytes: its own copies that other
// snapshots share too), from the library's snapshotUsage.

import type { Command } from 'commander';
import { LIVE, type Store } from '../index';
import { timeName } from './cmd-transfer';
import { type Act, examples } from './command';
import {
  type CommonOptions,
  type Context,
  checkSnapshotName,
  localTime,
  readStore,
  table,
  withStore,
} from './context';
import { CliFailure, EXIT } from './errors';
import { formatCount, formatSize } from './size';

/** A snapshot with its usage, as `snapshot list --json` and `du --json` print it. */
export interface SnapshotRow {
  readonly name: string;
  /** ISO 8601 (UTC). */
  readonly created: string;
  /** Logical size in bytes. */
  readonly size: number;
  readonly exclusiveBytes: number;
  readonly sharedBytes: number;
}

async function rows(store: Store): Promise<SnapshotRow[]> {
  const out: SnapshotRow[] = [];
  for (const s of store.listSnapshots()) {
    const u = await store.snapshotUsage(s.name);
    out.push({
      name: s.name,
      created: new Date(s.created).toISOString(),
      size: s.size,
      exclusiveBytes: u.exclusiveBytes,
      sharedBytes: u.sharedBytes,
    });
  }
  return out;
}

/** Registers `snapshot` (create, list, delete, rollback) and `du`. */
export function registerSnapshots(program: Command, _ctx: Context, act: Act): void {
  const snapshot = program
    .command('snapshot')
    .summary('create, list, delete or roll back to snapshots')
    .description(
      'Snapshots of the live volume: instant, readable, exportable; deleting one frees what only it held.',
    )
    .addHelpText(
      'after',
      examples([
        ['deja snapshot create /srv/deja/vm1 before-upgrade', 'a named snapshot'],
        ['deja snapshot list /srv/deja/vm1', 'with sizes and what each frees'],
        ['deja snapshot delete /srv/deja/vm1 monday tuesday', 'frees what only they held'],
        ['deja snapshot rollback /srv/deja/vm1 before-upgrade', 'the live volume becomes the snapshot'],
      ]),
    );

  snapshot
    .command('create')
    .summary('snapshot the live volume')
    .description(
      'Take a snapshot of the live volume as it is now (instant, whatever the size). Default name: the time, ISO 8601 UTC.',
    )
    .argument('<store>', 'the store directory')
    .argument('[name]', 'the snapshot name (1 to 64 bytes, not starting with @)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      examples([['deja snapshot create /srv/deja/vm1 before-upgrade', 'a named snapshot']]),
    )
    .action(
      act(async (path: string, name: string | undefined, _opts: CommonOptions) => {
        const chosen = checkSnapshotName(name ?? timeName());
        return withStore(path, async (store) => {
          const info = await store.createSnapshot(chosen);
          const json = { name: info.name, created: new Date(info.created).toISOString(), size: info.size };
          return { json, text: `created snapshot '${info.name}' (${formatSize(info.size)})` };
        });
      }),
    );

  snapshot
    .command('list')
    .alias('ls')
    .summary('list the snapshots, oldest first')
    .description(
      'List the snapshots, oldest first: creation time, logical size, and exclusive size (the bytes deleting it frees).',
    )
    .argument('<store>', 'the store directory')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', examples([['deja snapshot list /srv/deja/vm1 --json', 'for scripts']]))
    .action(
      act(async (path: string, _opts: CommonOptions) =>
        readStore(path, async (store) => {
          const list = await rows(store);
          const text =
            list.length === 0
              ? 'no snapshots'
              : table(
                  [
                    ['NAME', 'CREATED', 'SIZE', 'EXCLUSIVE'],
                    ...list.map((r) => [
                      r.name,
                      localTime(Date.parse(r.created)),
                      formatSize(r.size),
                      formatSize(r.exclusiveBytes),
                    ]),
                  ],
                  [2, 3],
                );
          return { json: { snapshots: list }, text };
        }),
      ),
    );

  snapshot
    .command('delete')
    .alias('rm')
    .summary('delete snapshots, freeing what only they held')
    .description('Delete one or more snapshots; the chunks only they held are freed at once.')
    .argument('<store>', 'the store directory')
    .argument('<names...>', 'the snapshots to delete')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', examples([['deja snapshot delete /srv/deja/vm1 monday', 'prints the bytes freed']]))
    .action(
      act(async (path: string, names: string[], _opts: CommonOptions) => {
        for (const n of names) checkSnapshotName(n);
        return withStore(path, async (store) => {
          // All or nothing for names: a typo in the last name deletes none.
          const known = new Set(store.listSnapshots().map((s) => s.name));
          const missing = names.find((n) => !known.has(n));
          if (missing !== undefined)
            throw new CliFailure(
              `no snapshot '${missing}' in this store; nothing deleted`,
              EXIT.FAILURE,
              'ERR_NOT_FOUND',
            );
          const deleted: { name: string; freedBytes: number }[] = [];
          for (const name of names) deleted.push({ name, freedBytes: await store.deleteSnapshot(name) });
          const freedBytes = deleted.reduce((n, d) => n + d.freedBytes, 0);
          return {
            json: { deleted, freedBytes },
            text: deleted
              .map((d) => `deleted snapshot '${d.name}', freed ${formatSize(d.freedBytes)}`)
              .join('\n'),
          };
        });
      }),
    );

  snapshot
    .command('rollback')
    .summary('make the live volume a snapshot again')
    .description(
      "Roll the live volume back to a snapshot. The snapshot stays; the live volume's current content is lost unless snapshotted first.",
    )
    .argument('<store>', 'the store directory')
    .argument('<name>', 'the snapshot')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      examples([
        [
          'deja snapshot create /srv/deja/vm1 oops && deja snapshot rollback /srv/deja/vm1 monday',
          'keep the current state first',
        ],
      ]),
    )
    .action(
      act(async (path: string, name: string, _opts: CommonOptions) => {
        checkSnapshotName(name);
        return withStore(path, async (store) => {
          await store.rollback(name);
          return {
            json: { name, size: store.size },
            text: `rolled the live volume back to '${name}' (${formatSize(store.size)})`,
          };
        });
      }),
    );

  program
    .command('du')
    .summary('space used per snapshot: exclusive and shared bytes')
    .description(
      `Per snapshot: exclusive bytes (what deleting it frees) and shared bytes (its own copies that other snapshots share too). Chunks a snapshot shares with the live volume (${LIVE}) are in neither.`,
    )
    .argument('<store>', 'the store directory')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', examples([['deja du /srv/deja/vm1', 'which snapshot to delete for space']]))
    .action(
      act(async (path: string, _opts: CommonOptions) =>
        readStore(path, async (store) => {
          const list = await rows(store);
          const stats = await store.stats();
          const exclusiveBytes = list.reduce((n, r) => n + r.exclusiveBytes, 0);
          const sharedBytes = list.reduce((n, r) => n + r.sharedBytes, 0);
          const json = {
            snapshots: list,
            exclusiveBytes,
            sharedBytes,
            dataBytes: stats.dataBytes,
            deadFragmentBytes: stats.deadFragmentBytes,
          };
          const text = [
            table(
              [
                ['NAME', 'CREATED', 'SIZE', 'EXCLUSIVE', 'SHARED'],
                ...list.map((r) => [
                  r.name,
                  localTime(Date.parse(r.created)),
                  formatSize(r.size),
                  formatSize(r.exclusiveBytes),
                  formatSize(r.sharedBytes),
                ]),
                ['total', '', '', formatSize(exclusiveBytes), formatSize(sharedBytes)],
              ],
              [2, 3, 4],
            ),
            `data stored: ${formatSize(stats.dataBytes)} in ${formatCount(stats.distinctChunks)} distinct chunks (deja stats adds the metadata)`,
            ...(stats.compression === 'off'
              ? []
              : [`dead fragments: ${formatSize(stats.deadFragmentBytes)} inside packed pages still in use`]),
          ].join('\n');
          return { json, text };
        }),
      ),
    );
}
