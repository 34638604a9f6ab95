// scripts/restore.mjs: parse its options (spec), call the library, print the result; no logic here.
import { DRY_RUN_OPTION, EXIT, STACK_OPTION, ENGINE_OPTION, flag, requireString, stringList, stringValue, type CommandSpec, type Handler } from '../cli/cli.js';
import { confirmDestructive } from '../cli/confirm.js';
import { refuseOtherEnvironment } from '../session/environment-guard.js';
import { openSetReader } from '../backup/set-reader.js';
import { describePlan, restore } from '../backup/restore.js';
import { VIA_OPTION, destinationFor, stackContext, viaOf, viaReport } from './context.js';
import type { LocalDecision } from '../engine/local-path.js';
import { IDENTITY_OPTION } from './verify.js';

export const spec: CommandSpec = {
  name: 'restore',
  asks: true,
  summary: 'replace volumes\' content with a verified backup',
  usage: '--stack <app>-<env> --backup <latest|id|path> [--to DIR|restic:REPO] [--volume V]... [--path P]... [--yes] [--dry-run] [--json]',
  options: {
    ...STACK_OPTION,
    ...ENGINE_OPTION,
    backup: { type: 'string', value: '<latest|id|path>', description: 'latest: the newest complete set; a set id (its UTC timestamp); or a set directory' },
    volume: { type: 'string', multiple: true, value: 'V', description: 'restore only this volume' },
    path: { type: 'string', multiple: true, value: 'P', description: 'restore only this path inside the volume (e.g. secrets.env)' },
    to: { type: 'string', value: 'DEST', description: 'where latest or the id is looked up: a directory or restic:<repository> (default: backups.to, else ./backups)' },
    'from-env': { type: 'string', value: 'ENV', description: 'restore a set made in another environment of the stack (e.g. prod into dev); without it such a set is refused' },
    ...IDENTITY_OPTION,
    ...VIA_OPTION,
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
  const set = await openSetReader(destinationFor(values, ctx.selected), requireString(values, 'backup', spec), model.project, stringValue(values, 'from-env') ?? model.env, ctx.runner, ctx.log);
  {
    const via: LocalDecision[] = [];
    const result = await restore(model, set, {
      runner: ctx.runner,
      via: viaOf(values),
      onVia: (decision) => via.push(decision),
      volumes: stringList(values, 'volume'),
      paths: stringList(values, 'path'),
      ...(stringValue(values, 'from-env') === undefined ? {} : { fromEnv: stringValue(values, 'from-env') }),
      identity: stringValue(values, 'identity') ?? process.env['STOWAGE_AGE_IDENTITY'],
      progress: ctx.progress,
      log: ctx.log,
      confirm: (plan) => confirmDestructive(describePlan(plan), { yes: flag(values, 'yes'), production: model.production, project: model.project }),
    });
    if (ctx.runner.dryRun) {
      out.result({ dryRun: true, set: result.set, via: viaReport(via) }, () => '');
      return EXIT.ok;
    }
    out.result({ set: result.set, restored: result.restored, stopped: result.stopped, via: viaReport(via), ...(result.recovered.length > 0 ? { recovered: result.recovered } : {}) }, () =>
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
