import { DRY_RUN_OPTION, EXIT, STACK_OPTION, ENGINE_OPTION, flag, requireString, stringList, stringValue, type CommandSpec, type Handler } from '../cli/cli.js';
import { confirmDestructive } from '../cli/confirm.js';
import { refuseOtherEnvironment } from '../session/environment-guard.js';
import { resolveBackupSet } from '../backup/set.js';
import { describePlan, restore } from '../backup/restore.js';
import { backupRoot, stackContext } from './context.js';
import { IDENTITY_OPTION } from './verify.js';

export const spec: CommandSpec = {
  name: 'restore',
  asks: true,
  summary: 'replace volumes\' content with a verified backup',
  usage: '--stack <app>-<env> --backup <path|latest> [--volume V]... [--path P]... [--yes] [--dry-run] [--json]',
  options: {
    ...STACK_OPTION,
    ...ENGINE_OPTION,
    backup: { type: 'string', value: '<path|latest>', description: 'the set directory, or latest: the newest complete set' },
    volume: { type: 'string', multiple: true, value: 'V', description: 'restore only this volume' },
    path: { type: 'string', multiple: true, value: 'P', description: 'restore only this path inside the volume (e.g. secrets.env)' },
    to: { type: 'string', value: 'DIR', description: 'backup root where latest is looked up (default: backups.to, else ./backups)' },
    'from-env': { type: 'string', value: 'ENV', description: 'restore a set made in another environment of the stack (e.g. prod into dev); without it such a set is refused' },
    ...IDENTITY_OPTION,
    ...DRY_RUN_OPTION,
  },
  details:
    'Verifies the set first and refuses unsafe archives. Stops the containers that use the volume, extracts into\n' +
    'a staging directory, swaps it in (the previous content is kept until the new one is complete), starts them again.\n' +
    'pim examples: everything; secrets only: --volume data --path secrets.env; database only: --volume data --path database.sqlite',
};

export const handler: Handler = async ({ values, out }) => {
  const ctx = stackContext(spec, values, out);
  const model = ctx.selected.model;
  // The other environment's volumes are never a restore's target, whichever set was asked for.
  await refuseOtherEnvironment(model, ctx.runner);
  const set = resolveBackupSet(requireString(values, 'backup', spec), backupRoot(values, ctx.selected), model.project, stringValue(values, 'from-env') ?? model.env);
  {
    const result = await restore(model, set, {
      runner: ctx.runner,
      volumes: stringList(values, 'volume'),
      paths: stringList(values, 'path'),
      ...(stringValue(values, 'from-env') === undefined ? {} : { fromEnv: stringValue(values, 'from-env') }),
      identity: stringValue(values, 'identity') ?? process.env['STOWAGE_AGE_IDENTITY'],
      progress: ctx.progress,
      log: ctx.log,
      confirm: (plan) => confirmDestructive(describePlan(plan), { yes: flag(values, 'yes'), production: model.production, project: model.project }),
    });
    if (ctx.runner.dryRun) return EXIT.ok;
    out.result({ set: result.set, restored: result.restored, stopped: result.stopped, ...(result.recovered.length > 0 ? { recovered: result.recovered } : {}) }, () =>
      [
        `restored from ${result.set}:`,
        ...result.restored.map((r) => `  ${r.volume} <- ${r.file}${r.paths.length > 0 ? ` (${r.paths.join(', ')})` : ''}${r.created ? ' (volume created)' : ''}`),
        result.stopped.length > 0 ? `  stopped and started again: ${result.stopped.join(', ')}` : '',
      ]
        .filter((l) => l !== '')
        .join('\n'),
    );
    return EXIT.ok;
  }
};
