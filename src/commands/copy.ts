// scripts/copy.mjs: parse its options (spec), call the library, print the result; no logic here.
import { DRY_RUN_OPTION, EXIT, STACK_OPTION, ENGINE_OPTION, flag, requireString, stringValue, type CommandSpec, type Handler } from '../cli/cli.js';
import { UsageError } from '../config/errors.js';
import { formatBytes } from '../cli/progress.js';
import { copySet } from '../backup/copy.js';
import { destinationOf, parseDestination } from '../backup/destination.js';
import { Repository } from '../backup/repository.js';
import { openSetReader } from '../backup/set-reader.js';
import { pruneRepository } from '../backup/retention.js';
import { stackContext } from './context.js';
import { IDENTITY_OPTION } from './verify.js';

export const spec: CommandSpec = {
  name: 'copy',
  summary: 'replicate one backup set into another restic repository (3-2-1: a copy off-site)',
  usage: '--stack <app>-<env> --backup <latest|id|path> --to restic:REPO [--from DIR|restic:REPO] [--init] [--prune] [--identity FILE] [--json] [--dry-run]',
  options: {
    ...STACK_OPTION,
    ...ENGINE_OPTION,
    backup: { type: 'string', value: '<latest|id|path>', description: 'the set: latest (the newest complete set of this environment), its id (UTC timestamp), or a set directory' },
    to: { type: 'string', value: 'restic:REPO', description: 'the repository the set is copied into' },
    from: { type: 'string', value: 'DEST', description: 'where the set is: a directory or restic:<repository> (default: backups.to, else ./backups)' },
    init: { type: 'boolean', description: 'create the target repository when it does not exist yet' },
    prune: { type: 'boolean', description: 'after the copy, apply backups.retention in the target repository (never its newest set that verifies), under the project\'s lock' },
    ...IDENTITY_OPTION,
    ...DRY_RUN_OPTION,
  },
  details:
    'The copy is the same set (same id, time and tags), volumes first and its manifest last: an interrupted copy is an\n' +
    'incomplete set there, never used, and the next copy replaces it. Only what the target lacks is stored: between\n' +
    'repositories restic copy moves the missing blobs; a local set\'s archives are decompressed and stored through\n' +
    'restic, which keeps each chunk once. The target\'s password: backups.resticPasswordFile, else RESTIC_PASSWORD_FILE\n' +
    'or RESTIC_PASSWORD (one password for both repositories). Copying a set that is there already does nothing.',
};

export const handler: Handler = async ({ values, out }) => {
  const ctx = stackContext(spec, values, out);
  const model = ctx.selected.model;
  const to = parseDestination(requireString(values, 'to', spec), model.backups.resticPasswordFile);
  if (to.kind !== 'repository') throw new UsageError(`--to ${to.display}: copy.mjs copies into a restic repository (restic:<repository>); a set directory is copied with cp -a or rsync -aH`);
  const source = await openSetReader(destinationOf(stringValue(values, 'from'), model), requireString(values, 'backup', spec), model.project, model.env, ctx.runner, ctx.log);
  const target = new Repository(ctx.runner, to, ctx.log);
  const result = await copySet(source, target, {
    runner: ctx.runner,
    identity: stringValue(values, 'identity') ?? process.env['STOWAGE_AGE_IDENTITY'],
    init: flag(values, 'init'),
    progress: ctx.progress,
    log: ctx.log,
  });
  const pruned = flag(values, 'prune') ? await pruneRepository(model, target, ctx.runner, ctx.log) : undefined;
  if (ctx.runner.dryRun) {
    out.result({ dryRun: true, from: result.from, to: result.to }, () => '');
    return EXIT.ok;
  }
  out.result(
    {
      id: result.id,
      from: result.from,
      to: result.to,
      copied: result.copied,
      added: result.added ?? null,
      artifacts: result.artifacts.map((a) => ({ volume: a.volume, file: a.file, bytes: a.bytes, sha256: a.sha256, snapshot: a.snapshot })),
      ...(pruned === undefined ? {} : { pruned: { removed: pruned.removed, kept: pruned.kept } }),
    },
    () =>
      [
        ...(result.copied
          ? [`copied ${result.from}`, `    to ${result.to}`, result.added === undefined ? '  only the data the repository lacked was copied' : `  added to the repository: ${formatBytes(result.added)} (the rest was there already)`]
          : [`${result.to} holds this set already; nothing was copied`]),
        ...(pruned === undefined ? [] : [`  retention: kept ${pruned.kept.length} set(s), removed ${pruned.removed.length}${pruned.removed.map((p) => `\n    removed ${p}`).join('')}`]),
      ].join('\n'),
  );
  return EXIT.ok;
};
