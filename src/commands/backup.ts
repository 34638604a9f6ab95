// scripts/backup.mjs: parse its options (spec), call the library, print the result; no logic here.
import { DRY_RUN_OPTION, EXIT, STACK_OPTION, ENGINE_OPTION, flag, stringList, stringValue, type CommandSpec, type ExitCode, type Handler, type Output, type Values } from '../cli/cli.js';
import { backup, type BackupResult } from '../backup/backup.js';
import { backupAll, type EnvironmentBackup } from '../backup/backup-all.js';
import { Runner } from '../engine/command.js';
import { writeBackupMetrics } from '../backup/metrics.js';
import { prune, pruneRepository, type PruneResult } from '../backup/retention.js';
import { UsageError } from '../config/errors.js';
import { formatBytes, silentProgress, terminalProgress } from '../cli/progress.js';
import { VIA_OPTION, allEnvironments, destinationFor, repositoryOf, stackContext, viaOf, viaReport } from './context.js';

export const spec: CommandSpec = {
  name: 'backup',
  summary: 'back up a stack\'s volumes into a verified-format backup set',
  usage: '--stack <app>-<env> | --all [--engine URL] [--volume V]... [--path P]... [--to DIR|restic:REPO] [--init] [--prune] [--via auto|local|archive] [--json] [--dry-run]',
  options: {
    ...STACK_OPTION,
    ...ENGINE_OPTION,
    all: { type: 'boolean', description: 'every environment of every stack file that has anything on its engine, each through its own engine (exit 1 when one could not be backed up; the others still are)' },
    volume: { type: 'string', multiple: true, value: 'V', description: 'back up only this volume' },
    path: { type: 'string', multiple: true, value: 'P', description: 'only this path inside the volume (with one --volume), e.g. secrets.env' },
    to: { type: 'string', value: 'DEST', description: 'a directory of local sets, or restic:<repository> (default: the stack\'s backups.to, else ./backups)' },
    init: { type: 'boolean', description: 'restic repositories: create the repository when it does not exist yet' },
    prune: { type: 'boolean', description: 'after the backup, remove sets the stack\'s backups.retention does not keep (never the newest verified set)' },
    metrics: { type: 'string', value: 'FILE', description: 'write Prometheus textfile metrics (last success, duration, bytes per volume) to FILE' },
    identity: { type: 'string', value: 'FILE', description: 'age identity, so --prune can verify encrypted sets (default: $STOWAGE_AGE_IDENTITY)' },
    ...VIA_OPTION,
    ...DRY_RUN_OPTION,
  },
  details:
    'Writes <to>/<project>/<YYYYMMDDTHHMMSSZ>/ with one artifact per volume and manifest.json last.\n' +
    'Into restic:<repository>: one snapshot per volume tagged with the set id, then the set\'s manifest snapshot last.\n' +
    'The repository password comes from backups.resticPasswordFile, else RESTIC_PASSWORD_FILE or RESTIC_PASSWORD.\n' +
    'tar volumes: writers are stopped for the copy and always started again. sqlite: online copy, no downtime.\n' +
    'pg_dump / mongodump: run inside the database container.',
};

export const handler: Handler = async ({ values, out }) => {
  if (flag(values, 'all')) return allHandler(values, out);
  const ctx = stackContext(spec, values, out);
  const model = ctx.selected.model;
  const destination = destinationFor(values, ctx.selected);
  const repo = repositoryOf(destination, ctx.runner, ctx.log);
  if (flag(values, 'init') && repo === undefined) throw new UsageError(`--init creates a restic repository, and the destination is the directory ${destination.display}; leave --init out, or pass --to restic:<repository>`);
  const metrics = stringValue(values, 'metrics');
  const started = Date.now();
  let result: BackupResult;
  try {
    result = await backup(model, { to: repo ?? destination.display, init: flag(values, 'init'), volumes: stringList(values, 'volume'), paths: stringList(values, 'path'), runner: ctx.runner, progress: ctx.progress, log: ctx.log, via: viaOf(values) });
  } catch (err) {
    if (metrics !== undefined && !ctx.runner.dryRun) {
      writeBackupMetrics(metrics, model, { ok: false, finished: new Date(), durationSeconds: (Date.now() - started) / 1000, artifacts: [] });
    }
    throw err;
  }
  let pruned: PruneResult | undefined;
  const identity = stringValue(values, 'identity') ?? process.env['STOWAGE_AGE_IDENTITY'];
  if (flag(values, 'prune')) pruned = repo === undefined ? await prune(model, destination.display, ctx.runner, identity, ctx.log) : await pruneRepository(model, repo, ctx.runner, ctx.log);
  if (ctx.runner.dryRun) {
    out.result({ dryRun: true, via: viaReport(result.via) }, () => '');
    return EXIT.ok;
  }
  if (metrics !== undefined) writeBackupMetrics(metrics, model, { ok: true, finished: new Date(), durationSeconds: result.durationSeconds, artifacts: result.artifacts });
  out.result(
    {
      id: result.id,
      path: result.path,
      artifacts: artifactsJson(result),
      stopped: result.stopped,
      durationSeconds: result.durationSeconds,
      via: viaReport(result.via),
      ...(result.recovered.length > 0 ? { recovered: result.recovered } : {}),
      ...(pruned === undefined ? {} : { pruned: { removed: pruned.removed, kept: pruned.kept } }),
    },
    () =>
      [
        `backup set ${result.path}`,
        ...(result.artifacts.some((a) => a.added !== undefined) ? [`  added to the repository: ${formatBytes(result.artifacts.reduce((n, a) => n + (a.added ?? 0), 0))} (the rest was there already)`] : []),
        ...result.artifacts.map((a) => `  ${a.volume.padEnd(16)} ${a.method.padEnd(9)} ${formatBytes(a.bytes).padStart(10)}  ${a.file}`),
        result.stopped.length > 0 ? `  stopped and started again: ${result.stopped.join(', ')}` : '',
        pruned === undefined ? '' : `  retention: kept ${pruned.kept.length} set(s), removed ${pruned.removed.length}${pruned.removed.map((p) => `\n    removed ${p}`).join('')}`,
        `  done in ${result.durationSeconds.toFixed(1)} s`,
      ]
        .filter((l) => l !== '')
        .join('\n'),
  );
  return EXIT.ok;
};

/** The artifacts of a set as --json shows them (DESIGN: volume, file, bytes, sha256; snapshots for repositories). */
function artifactsJson(result: BackupResult): Array<Record<string, unknown>> {
  return result.artifacts.map((a) => ({
    volume: a.volume,
    file: a.file,
    bytes: a.bytes,
    sha256: a.sha256,
    ...(a.snapshot === undefined ? {} : { snapshot: a.snapshot, added: a.added ?? 0 }),
    ...(a.unchanged === undefined ? {} : { unchanged: a.unchanged }),
  }));
}

async function allHandler(values: Values, out: Output): Promise<ExitCode> {
  if (stringValue(values, 'stack') !== undefined) throw new UsageError('--stack and --all exclude each other: pass one of them');
  for (const name of ['volume', 'path']) {
    if (stringList(values, name).length > 0) throw new UsageError(`--${name} selects inside one stack: back that stack up with --stack, or leave --${name} out`);
  }
  for (const name of ['prune', 'metrics']) {
    if (values[name] !== undefined && values[name] !== false) throw new UsageError(`--${name} works per stack: run backup.mjs --stack <app>-<env> --${name} for each (or leave it out of --all)`);
  }
  const runner = new Runner({ dryRun: flag(values, 'dry-run'), printPlan: (line) => out.say(line) });
  const environments = await backupAll(allEnvironments(values), {
    runner,
    to: stringValue(values, 'to'),
    init: flag(values, 'init'),
    via: viaOf(values),
    progress: out.interactive ? terminalProgress(process.stderr) : silentProgress,
    log: (line) => out.warn(line),
  });
  const json = environments.map((e) =>
    e.state === 'backed-up'
      ? { stack: e.stack, engine: e.engine, state: e.state, id: e.result.id, path: e.result.path, artifacts: artifactsJson(e.result), stopped: e.result.stopped, via: viaReport(e.result.via) }
      : e,
  );
  out.result({ stacks: json, ...(runner.dryRun ? { dryRun: true } : {}) }, () => environments.map(describeEnvironment).join('\n'));
  const failed = environments.flatMap((e) => (e.state === 'unreachable' || e.state === 'failed' ? [`${e.stack}: ${e.error}`] : []));
  for (const line of failed) out.warn(`error: ${line}`);
  return failed.length > 0 ? EXIT.failed : EXIT.ok;
}

function describeEnvironment(e: EnvironmentBackup): string {
  switch (e.state) {
    case 'backed-up':
      return `${e.stack} (${e.engine.url}): backup set ${e.result.path}, ${formatBytes(e.result.artifacts.reduce((n, a) => n + a.bytes, 0))} in ${e.result.artifacts.length} artifact(s)`;
    case 'not-deployed':
      return `${e.stack}: nothing on ${e.engine.url}: not backed up`;
    default:
      return `${e.stack}: NOT BACKED UP (${e.state}): ${e.error}`;
  }
}
