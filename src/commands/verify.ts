// scripts/verify.mjs: parse its options (spec), call the library, print the result; no logic here.
import { EXIT, STACK_OPTION, ENGINE_OPTION, requireString, stringList, stringValue, type CommandSpec, type Handler } from '../cli/cli.js';
import { openSetReader } from '../backup/set-reader.js';
import { stateDirectory } from '../util/state-dir.js';
import { recordVerification } from '../backup/verification-record.js';
import type { ArtifactCheck } from '../backup/verify.js';
import { destinationFor, stackContext } from './context.js';
import { UsageError } from '../config/errors.js';

export const IDENTITY_OPTION = {
  identity: { type: 'string' as const, value: 'FILE', description: 'age identity file for encrypted artifacts (default: $STOWAGE_AGE_IDENTITY)' },
};

export const spec: CommandSpec = {
  name: 'verify',
  summary: 'prove a backup set is complete and restorable',
  usage: '--stack <app>-<env> --backup <latest|id|path> [--volume V]... [--to DIR|restic:REPO] [--read-data-subset S] [--identity FILE] [--json]',
  options: {
    ...STACK_OPTION,
    ...ENGINE_OPTION,
    backup: { type: 'string', value: '<latest|id|path>', description: 'latest: the newest complete set; a set id (its UTC timestamp); or a set directory' },
    volume: { type: 'string', multiple: true, value: 'V', description: 'verify only this volume\'s artifact' },
    to: { type: 'string', value: 'DEST', description: 'where latest or the id is looked up: a directory or restic:<repository> (default: backups.to, else ./backups)' },
    'read-data-subset': {
      type: 'string',
      value: 'S',
      description: 'restic repositories: how much data restic check reads back: all (default, or backups.resticReadDataSubset), none, n/t, x% or a size (500M)',
    },
    ...IDENTITY_OPTION,
  },
  details: 'Re-hashes every artifact, reads every archive to its end, checks entries are safe to restore,\nruns PRAGMA integrity_check on SQLite copies and pg_restore --list on dumps. Exit 3 names the artifact.\n' +
    'In a restic repository: restic check (reading back all data unless told less), then every volume read back\nthrough restic and checked the same way; exit 3 names the volume.\n' +
    'The outcome is recorded in <set>/verification.json (or, when the set is read-only, in\n' +
    '$STOWAGE_STATE_DIR/verifications/<project>/<set>.json, default ./.stowage), where status.mjs reads it.',
};

const SUBSET = /^(all|none|[1-9][0-9]*\/[1-9][0-9]*|(100|[1-9][0-9]?)(\.[0-9]+)?%|[1-9][0-9]*[KMGT])$/;

export const handler: Handler = async ({ values, out }) => {
  const ctx = stackContext(spec, values, out);
  const model = ctx.selected.model;
  const subset = stringValue(values, 'read-data-subset') ?? model.backups.resticReadDataSubset;
  if (!SUBSET.test(subset)) throw new UsageError(`--read-data-subset ${subset}: write all, none, n/t (1/7), a percentage (10%) or a size (500M, 2G)`);
  const set = await openSetReader(destinationFor(values, ctx.selected), requireString(values, 'backup', spec), model.project, model.env, ctx.runner, ctx.log);
  const result = await set.verify({
    runner: ctx.runner,
    identity: stringValue(values, 'identity') ?? process.env['STOWAGE_AGE_IDENTITY'],
    progress: ctx.progress,
    volumes: stringList(values, 'volume'),
    readDataSubset: subset,
  });
  // A verification nobody can see later is half the work: status.mjs reads this record.
  let record: string | null = null;
  try {
    const recorded = recordVerification(result, stateDirectory(), new Date(), set.kind === 'repository');
    record = recorded.path;
    if (recorded.fellBack !== undefined) out.warn(`note: the set cannot be written (${recorded.fellBack}); the verification is recorded in ${recorded.path}`);
  } catch (err) {
    out.warn(`warning: ${err instanceof Error ? err.message : String(err)}`);
  }
  const repository = result.repository;
  out.result({ set: result.set, ok: result.ok, artifacts: result.artifacts.map(reportOf), ...(repository === undefined ? {} : { repository }), record }, () =>
    [
      `${result.ok ? 'OK' : 'FAILED'} ${result.set}`,
      ...(repository === undefined ? [] : [`  ${repository.ok ? 'ok  ' : 'BAD '} repository: ${repository.ok ? repository.checked : `${repository.checked}: ${repository.problems.join('; ')}`}`]),
      ...result.artifacts.flatMap((a) => [
        `  ${a.ok ? 'ok  ' : 'BAD '} ${set.kind === 'repository' ? `${a.volume} (${a.file})` : a.file}: ${a.ok ? a.checked.join(', ') : a.problems.join('; ')}`,
        ...a.warnings.map((w) => `       warning: ${w}`),
      ]),
    ].join('\n'),
  );
  if (!result.ok) {
    const bad = result.artifacts.filter((a) => !a.ok);
    if (set.kind === 'repository') {
      out.warn(
        bad.length > 0
          ? `verification failed: volume ${bad.map((a) => a.volume).join(', volume ')}${repository?.ok === false ? '; restic check also found damage in the repository' : ''}`
          : `verification failed: restic check found damage in ${set.location.replace(/ set \S+$/, '')}, though every volume of this set read back whole: ${repository?.problems.slice(0, 2).join('; ') ?? ''}`,
      );
    } else out.warn(`verification failed: ${bad.map((a) => a.file).join(', ')}`);
    return EXIT.check;
  }
  return EXIT.ok;
};

/** What the report shows of a check: the held-back entries are working data for a restore. */
function reportOf(check: ArtifactCheck): Omit<ArtifactCheck, 'heldBack' | 'linkGroups'> {
  const { heldBack, linkGroups, ...report } = check;
  void heldBack;
  void linkGroups;
  return report;
}
