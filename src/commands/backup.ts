import { DESTRUCTIVE_OPTIONS, EXIT, STACK_OPTION, stringList, type CommandSpec, type Handler } from '../cli/cli.js';
import { backup } from '../ops/backup.js';
import { formatBytes } from '../ops/progress.js';
import { backupRoot, stackContext } from './context.js';

export const spec: CommandSpec = {
  name: 'backup',
  summary: 'back up a stack\'s volumes into a verified-format backup set',
  usage: '--stack <app>-<env> [--volume V]... [--path P]... [--to DIR] [--json] [--dry-run]',
  options: {
    ...STACK_OPTION,
    volume: { type: 'string', multiple: true, value: 'V', description: 'back up only this volume' },
    path: { type: 'string', multiple: true, value: 'P', description: 'only this path inside the volume (with one --volume), e.g. secrets.env' },
    to: { type: 'string', value: 'DIR', description: 'backup root (default: the stack\'s backups.to, else ./backups)' },
    'dry-run': DESTRUCTIVE_OPTIONS['dry-run'] ?? { type: 'boolean', description: 'print the plan' },
  },
  details:
    'Writes <to>/<project>/<YYYYMMDDTHHMMSSZ>/ with one artifact per volume and manifest.json last.\n' +
    'tar volumes: writers are stopped for the copy and always started again. sqlite: online copy, no downtime.\n' +
    'pg_dump / mongodump: run inside the database container.',
};

export const handler: Handler = async ({ values, out }) => {
  const ctx = stackContext(spec, values, out);
  const result = await backup(ctx.selected.model, {
    to: backupRoot(values, ctx.selected),
    volumes: stringList(values, 'volume'),
    paths: stringList(values, 'path'),
    runner: ctx.runner,
    progress: ctx.progress,
    log: ctx.log,
  });
  if (ctx.runner.dryRun) return EXIT.ok;
  out.result(
    { id: result.id, path: result.path, artifacts: result.artifacts.map((a) => ({ volume: a.volume, file: a.file, bytes: a.bytes, sha256: a.sha256 })), stopped: result.stopped, durationSeconds: result.durationSeconds },
    () =>
      [
        `backup set ${result.path}`,
        ...result.artifacts.map((a) => `  ${a.volume.padEnd(16)} ${a.method.padEnd(9)} ${formatBytes(a.bytes).padStart(10)}  ${a.file}`),
        result.stopped.length > 0 ? `  stopped and started again: ${result.stopped.join(', ')}` : '',
        `  done in ${result.durationSeconds.toFixed(1)} s`,
      ]
        .filter((l) => l !== '')
        .join('\n'),
  );
  return EXIT.ok;
};
