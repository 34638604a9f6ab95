import { EXIT, STACK_OPTION, ENGINE_OPTION, requireString, stringList, stringValue, type CommandSpec, type Handler } from '../cli/cli.js';
import { resolveBackupSet } from '../backup/set.js';
import { stateDirectory } from '../util/state-dir.js';
import { recordVerification } from '../backup/verification-record.js';
import { verifySet, type ArtifactCheck } from '../backup/verify.js';
import { backupRoot, stackContext } from './context.js';

export const IDENTITY_OPTION = {
  identity: { type: 'string' as const, value: 'FILE', description: 'age identity file for encrypted artifacts (default: $STOWAGE_AGE_IDENTITY)' },
};

export const spec: CommandSpec = {
  name: 'verify',
  summary: 'prove a backup set is complete and restorable',
  usage: '--stack <app>-<env> --backup <path|latest> [--volume V]... [--to DIR] [--identity FILE] [--json]',
  options: {
    ...STACK_OPTION,
    ...ENGINE_OPTION,
    backup: { type: 'string', value: '<path|latest>', description: 'the set directory, or latest: the newest complete set' },
    volume: { type: 'string', multiple: true, value: 'V', description: 'verify only this volume\'s artifact' },
    to: { type: 'string', value: 'DIR', description: 'backup root where latest is looked up (default: backups.to, else ./backups)' },
    ...IDENTITY_OPTION,
  },
  details: 'Re-hashes every artifact, reads every archive to its end, checks entries are safe to restore,\nruns PRAGMA integrity_check on SQLite copies and pg_restore --list on dumps. Exit 3 names the artifact.\n' +
    'The outcome is recorded in <set>/verification.json (or, when the set is read-only, in\n' +
    '$STOWAGE_STATE_DIR/verifications/<project>/<set>.json, default ./.stowage), where status.mjs reads it.',
};

export const handler: Handler = async ({ values, out }) => {
  const ctx = stackContext(spec, values, out);
  const set = resolveBackupSet(requireString(values, 'backup', spec), backupRoot(values, ctx.selected), ctx.selected.model.project, ctx.selected.model.env);
  const result = await verifySet(set, {
    runner: ctx.runner,
    identity: stringValue(values, 'identity') ?? process.env['STOWAGE_AGE_IDENTITY'],
    progress: ctx.progress,
    volumes: stringList(values, 'volume'),
  });
  // A verification nobody can see later is half the work: status.mjs reads this record.
  let record: string | null = null;
  try {
    const recorded = recordVerification(result, stateDirectory());
    record = recorded.path;
    if (recorded.fellBack !== undefined) out.warn(`note: the set cannot be written (${recorded.fellBack}); the verification is recorded in ${recorded.path}`);
  } catch (err) {
    out.warn(`warning: ${err instanceof Error ? err.message : String(err)}`);
  }
  out.result({ set: result.set, ok: result.ok, artifacts: result.artifacts.map(reportOf), record }, () =>
    [
      `${result.ok ? 'OK' : 'FAILED'} ${result.set}`,
      ...result.artifacts.flatMap((a) => [
        `  ${a.ok ? 'ok  ' : 'BAD '} ${a.file}: ${a.ok ? a.checked.join(', ') : a.problems.join('; ')}`,
        ...a.warnings.map((w) => `       warning: ${w}`),
      ]),
    ].join('\n'),
  );
  if (!result.ok) {
    out.warn(`verification failed: ${result.artifacts.filter((a) => !a.ok).map((a) => a.file).join(', ')}`);
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
