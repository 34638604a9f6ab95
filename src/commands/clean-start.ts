// scripts/clean-start.mjs: parse its options (spec), call the library, print the result; no logic here.
import { DRY_RUN_OPTION, EXIT, STACK_OPTION, ENGINE_OPTION, flag, stringValue, type CommandSpec, type Handler } from '../cli/cli.js';
import { confirmDestructive } from '../cli/confirm.js';
import { cleanStart, describeCleanStart, type CleanStartResult } from '../ops/clean-start.js';
import { backupRoot, stackContext } from './context.js';

export const spec: CommandSpec = {
  name: 'clean-start',
  asks: true,
  summary: 'back up and verify, then remove a stack\'s containers and volumes and empty its directories',
  usage: '--stack <app>-<env> [--no-backup] [--to DIR] [--yes] [--dry-run] [--json]',
  options: {
    ...STACK_OPTION,
    ...ENGINE_OPTION,
    'no-backup': { type: 'boolean', description: 'do not back up first (the data is gone for good)' },
    to: { type: 'string', value: 'DIR', description: 'backup root (default: the stack\'s backups.to, else ./backups)' },
    identity: { type: 'string', value: 'FILE', description: 'age identity to verify encrypted artifacts (default: $STOWAGE_AGE_IDENTITY)' },
    ...DRY_RUN_OPTION,
  },
  details:
    'Removes only containers named <project>-<service> that carry stowage.project=<project>, and containers\n' +
    'labelled stowage.project=<project> and stowage.env=<env>; only the stack\'s declared volumes (with its labels,\n' +
    'or without any stowage labels); empties (never removes) its bind-mounted and host-backed directories.\n' +
    'Production environments ask for the project name. Running it again removes nothing and exits 0.',
};

function backupLine(result: CleanStartResult): string {
  if (result.backup !== null) return `${result.backup.path} (verified, ${result.backup.artifacts} artifacts)`;
  if (result.backupSkipped !== null) return `none (${result.backupSkipped})`;
  return result.dryRun ? 'would be made and verified first (plan above)' : 'none';
}

function human(result: CleanStartResult): string {
  const { removed } = result;
  const verb = result.dryRun ? 'would remove' : 'removed';
  const list = (items: string[]): string => (items.length === 0 ? 'none' : items.join(', '));
  const lines = [
    `${result.dryRun ? 'dry run: ' : ''}clean start of project ${result.project} (${result.env})`,
    `  backup:      ${backupLine(result)}`,
    `  containers:  ${verb} ${list(removed.containers)}`,
    `  volumes:     ${verb} ${list(removed.volumes)}`,
    `  directories: ${result.dryRun ? 'would empty' : 'emptied'} ${list(removed.directories.map((d) => `${d.path}${d.entries === null ? '' : ` (${d.entries} ${d.entries === 1 ? 'entry' : 'entries'})`}`))}`,
    ...result.skipped.map((s) => `  left alone:  ${s.kind} ${s.name}: ${s.reason}`),
  ];
  return lines.join('\n');
}

export const handler: Handler = async ({ values, out }) => {
  const ctx = stackContext(spec, values, out);
  const model = ctx.selected.model;
  const result = await cleanStart(model, {
    runner: ctx.runner,
    backupTo: flag(values, 'no-backup') ? undefined : backupRoot(values, ctx.selected, 'clean-start.mjs'),
    identity: stringValue(values, 'identity') ?? process.env['STOWAGE_AGE_IDENTITY'],
    progress: ctx.progress,
    log: ctx.log,
    confirm: (plan) => confirmDestructive(describeCleanStart(plan), { yes: flag(values, 'yes'), production: model.production, project: model.project }),
  });
  const { removed, ...rest } = result;
  out.result(result.dryRun ? { ...rest, wouldRemove: removed } : result, () => human(result));
  return EXIT.ok;
};
