// `deja diff`, `deja stats` and `deja check`: read-only views of a store (check --repair
// excepted). `check` exits with 3 when it finds damage, so scripts and monitoring can tell "the
// store is damaged" from "the command failed" (1).

import { type Command, InvalidArgumentError } from 'commander';
import { isStoreError, LIVE } from '../index';
import { type Act, examples } from './command';
import {
  type CommonOptions,
  type Context,
  checkVersion,
  openStore,
  readStore,
  since,
  table,
  withStore,
} from './context';
import { EXIT } from './errors';
import { formatCount, formatDuration, formatSize } from './size';

interface CheckOptions extends CommonOptions {
  readonly data?: boolean;
  readonly repair?: boolean;
}

interface CompactOptions extends CommonOptions {
  readonly minDead: number;
}

/** A fraction in (0, 1] given as a percentage or a fraction ("25%", "0.25"). */
function fractionArg(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  const v = m ? Number(m[1]) / (m[2] === '%' ? 100 : 1) : Number.NaN;
  if (!(v > 0 && v <= 1))
    throw new InvalidArgumentError(`a fraction in (0, 1] or a percentage, got '${text}'`);
  return v;
}

/** Registers `diff`, `stats`, `check`, `compact`. */
export function registerInspect(program: Command, ctx: Context, act: Act): void {
  const { io } = ctx;

  program
    .command('compact')
    .summary('give back the space dead fragments hold (compressed stores)')
    .description(
      'In a compressed store, a chunk that is no longer referenced leaves its compressed fragment as dead space inside a packed page that other chunks keep alive. compact copies the live fragments of the pages with the most dead space into new pages (without recompressing), points every version at them and frees the old pages, one commit per batch: an interrupted compaction loses nothing. Deleting a snapshot compacts on its own once half the packed bytes are dead. Nothing to do in a store without compression.',
    )
    .argument('<store>', 'the store directory')
    .option('--min-dead <fraction>', 'compact pages at least this much dead (default 25%)', fractionArg, 0.25)
    .option('--no-progress', 'no progress bar (there is none with --json or when stderr is not a terminal)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      examples([
        ['deja compact /srv/deja/vm1', 'pages at least a quarter dead'],
        ['deja compact /srv/deja/vm1 --min-dead 1%', 'every page with any dead space worth a copy'],
      ]),
    )
    .action(
      act(async (path: string, opts: CompactOptions) => {
        const start = performance.now();
        return withStore(path, async (store) => {
          const before = await store.stats();
          const bar = ctx.progress('compact', opts);
          let r: Awaited<ReturnType<typeof store.compact>>;
          try {
            r = await store.compact({
              minDead: opts.minDead,
              signal: io.signal,
              onProgress: (p) => bar.update(p.bytes, p.total),
            });
          } catch (e) {
            bar.stop();
            throw ctx.interrupted('compaction stopped; the batches done are kept') ?? e;
          }
          bar.stop();
          const after = await store.stats();
          const seconds = since(start);
          const json = {
            store: path,
            compression: after.compression,
            ...r,
            deadFragmentBytesBefore: before.deadFragmentBytes,
            deadFragmentBytes: after.deadFragmentBytes,
            seconds,
          };
          const text =
            after.compression === 'off'
              ? `${path} is not compressed: nothing to compact`
              : `compacted ${formatCount(r.pagesCompacted)} packed pages into ${formatCount(r.pagesWritten)} (${formatCount(r.fragmentsMoved)} fragments moved), ${formatSize(r.bytesFreed)} freed in ${formatDuration(seconds)}; dead fragments ${formatSize(before.deadFragmentBytes)} -> ${formatSize(after.deadFragmentBytes)}`;
          return { json, text };
        });
      }),
    );

  program
    .command('diff')
    .summary('byte ranges where two versions differ')
    .description(
      `List the byte ranges where two versions differ, sorted and merged (chunk-granular). '${LIVE}' is the live volume; B defaults to it.`,
    )
    .argument('<store>', 'the store directory')
    .argument('<a>', 'a version')
    .argument('[b]', 'another version', LIVE)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      examples([
        ['deja diff /srv/deja/vm1 monday tuesday', 'what changed between two snapshots'],
        ['deja diff /srv/deja/vm1 tuesday', 'what changed since tuesday'],
      ]),
    )
    .action(
      act(async (path: string, a: string, b: string, _opts: CommonOptions) => {
        checkVersion(a);
        checkVersion(b);
        return readStore(path, async (store) => {
          const ranges = await store.diff(a, b);
          const changedBytes = ranges.reduce((n, r) => n + r.length, 0);
          const summary = `${formatCount(ranges.length)} ${ranges.length === 1 ? 'range' : 'ranges'}, ${formatSize(changedBytes)} changed between '${a}' and '${b}'`;
          const text =
            ranges.length === 0
              ? `no changes between '${a}' and '${b}'`
              : `${table(
                  [
                    ['OFFSET', 'END', 'LENGTH'],
                    ...ranges.map((r) => [
                      String(r.offset),
                      String(r.offset + r.length),
                      formatSize(r.length),
                    ]),
                  ],
                  [0, 1, 2],
                )}\n${summary}`;
          return {
            json: { a, b, chunkSize: store.chunkSize, ranges: ranges.map((r) => ({ ...r })), changedBytes },
            text,
          };
        });
      }),
    );

  program
    .command('stats')
    .summary('space and deduplication figures')
    .description('Space and deduplication figures of a store (no scan: instant).')
    .argument('<store>', 'the store directory')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', examples([['deja stats /srv/deja/vm1 --json', 'for monitoring']]))
    .action(
      act(async (path: string, _opts: CommonOptions) =>
        withStore(path, async (store) => {
          const s = await store.stats();
          const json = { store: path, ...s, maxSnapshots: store.maxSnapshots };
          const text = table([
            ['store', path],
            ['chunk size', formatSize(s.chunkSize)],
            [
              'live volume',
              `${formatSize(s.logicalBytes)} (${formatSize(s.mappedChunks * s.chunkSize)} mapped, ${formatSize(s.zeroChunks * s.chunkSize)} zero)`,
            ],
            ['snapshots', `${s.snapshots} of ${store.maxSnapshots}`],
            [
              'stored',
              `${formatSize(s.storedBytes)}: data ${formatSize(s.dataBytes)} in ${formatCount(s.distinctChunks)} distinct chunks, metadata ${formatSize(s.metadataBytes)}`,
            ],
            [
              s.compression === 'off' ? 'dedup ratio' : 'dedup+compression',
              `${s.dedupRatio.toFixed(2)}x (live mapped bytes over data bytes)`,
            ],
            ...(s.compression === 'off'
              ? []
              : [
                  [
                    'compression',
                    `${s.compression}: ${formatCount(s.packedPages)} packed pages, ${formatSize(s.deadFragmentBytes)} held by dead fragments`,
                  ],
                ]),
            [
              'dedup index',
              s.indexAvailable
                ? `${s.indexBytesPerRecord.toFixed(2)} bytes per record`
                : 'not available (rebuilt at the next open)',
            ],
          ]);
          return { json, text };
        }),
      ),
    );

  program
    .command('check')
    .summary('verify the store (exit 3 on damage)')
    .description(
      'Check every reference count, every structure and the counters; with --data also read every chunk and compare it with its content name. --repair fixes reference counts, leaked pages and counters and rebuilds the dedup index, then checks again.\nExit status: 0 no damage, 3 damage found (with --repair: damage that remains), 1 the check could not run.',
    )
    .argument('<store>', 'the store directory')
    .option('--data', "also verify every chunk's bytes (reads all the data)")
    .option('--repair', 'fix what can be fixed, then check again')
    .option('--no-progress', 'no progress bar (there is none with --json or when stderr is not a terminal)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      examples([
        ['deja check /srv/deja/vm1', 'metadata only: fast'],
        ['deja check /srv/deja/vm1 --data', 'every byte'],
        ['deja check /srv/deja/vm1 --repair', 'fix counts and leaks'],
      ]),
    )
    .action(
      act(async (path: string, opts: CheckOptions) => {
        const start = performance.now();
        let store: Awaited<ReturnType<typeof openStore>>;
        try {
          store = await openStore(path);
        } catch (e) {
          // A store too damaged to open is what check is for: damage, exit 3.
          if (isStoreError(e, 'ERR_CORRUPT_DATA') || isStoreError(e, 'ERR_UNSUPPORTED_VERSION')) {
            const problem = { kind: 'structure', message: e.message };
            return {
              json: {
                store: path,
                ok: false,
                opened: false,
                problems: [problem],
                repaired: 0,
                chunksVerified: 0,
              },
              text: `store ${path} cannot be opened: ${e.message}\ndamage found (${e.code})`,
              exitCode: EXIT.DAMAGE,
            };
          }
          throw e;
        }
        try {
          const bar = ctx.progress('check', opts);
          const run = async (repair: boolean) => {
            try {
              return await store.check({
                data: opts.data === true,
                repair,
                signal: io.signal,
                onProgress: (p) => bar.update(p.bytes, p.total),
              });
            } catch (e) {
              bar.stop();
              throw ctx.interrupted('the check stopped; nothing was changed') ?? e;
            }
          };
          const first = await run(opts.repair === true);
          let after = first;
          if (opts.repair && !first.ok) after = await run(false);
          bar.stop();
          await store.close();
          const seconds = since(start);
          const warnings: string[] = [];
          const dropped = first.recovery.dropped;
          if (dropped)
            warnings.push(
              `opening dropped journaled transaction ${dropped.transaction} (${dropped.reason}): ${dropped.detail}; the store is at the flush before it`,
            );
          const json = {
            store: path,
            ok: after.ok,
            opened: true,
            problems: first.problems,
            ...(opts.repair
              ? { repaired: first.repaired, problemsAfterRepair: after.problems }
              : { repaired: 0 }),
            chunksVerified: first.chunksVerified,
            recovery: first.recovery,
            seconds,
          };
          const lines: string[] = [];
          for (const p of first.problems) lines.push(`${p.kind}: ${p.message}`);
          if (opts.repair && !first.ok) {
            lines.push(`repaired ${formatCount(first.repaired)} ${first.repaired === 1 ? 'item' : 'items'}`);
            for (const p of after.problems) lines.push(`still: ${p.kind}: ${p.message}`);
          }
          const verified = opts.data ? `, ${formatCount(first.chunksVerified)} chunks' bytes verified` : '';
          if (after.ok)
            lines.push(
              `${first.ok ? 'no damage found' : 'repaired: no damage remains'} in ${formatDuration(seconds)}${verified}`,
            );
          else
            lines.push(
              `damage found: ${formatCount(after.problems.length)} ${after.problems.length === 1 ? 'problem' : 'problems'}${opts.repair ? ' remain' : ' (deja check --repair fixes counts, leaks and counters)'}${verified}`,
            );
          return { json, text: lines.join('\n'), warnings, exitCode: after.ok ? EXIT.OK : EXIT.DAMAGE };
        } catch (e) {
          await store.close().catch(() => {});
          throw e;
        }
      }),
    );
}
