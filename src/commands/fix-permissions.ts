// scripts/fix-permissions.mjs: parse its options (spec), call the library, print the result; no logic here.
import { DRY_RUN_OPTION, EXIT, STACK_OPTION, ENGINE_OPTION, flag, stringList, type CommandSpec, type Handler } from '../cli/cli.js';
import { displayPath, fixPermissions, type PermissionsResult, type VolumePermissions } from '../ops/permissions.js';
import { stackContext } from './context.js';

export const spec: CommandSpec = {
  name: 'fix-permissions',
  summary: 'enforce the owners and modes the stack file declares on its volumes',
  usage: '--stack <app>-<env> [--volume V]... [--check] [--dry-run] [--json]',
  options: {
    ...STACK_OPTION,
    ...ENGINE_OPTION,
    volume: { type: 'string', multiple: true, value: 'V', description: 'only this volume (default: all of the stack\'s volumes)' },
    check: { type: 'boolean', description: 'change nothing; exit 3 when an owner, a mode or a host directory differs (for CI)' },
    ...DRY_RUN_OPTION,
  },
  details:
    'Sets the volume owner on the root and the whole tree, the volume mode on the root only, and the\n' +
    'per-file rules (files:); secret files are never left readable by group or others (0600 if no mode).\n' +
    'Missing host directories of host-backed and bind volumes are created with the owner and mode.\n' +
    'Missing files of per-file rules are reported, never created. A second run changes nothing.',
};

function volumeLines(v: VolumePermissions, applied: boolean): string[] {
  const verb = applied ? 'changed' : 'differs';
  const where = v.via ?? (v.hostPath === undefined ? v.name : v.hostPath);
  const counts = v.changed.owner + v.changed.mode === 0 ? 'owners and modes match' : `owner ${verb} on ${v.changed.owner}, mode ${verb} on ${v.changed.mode}`;
  const lines = [`${v.volume} (${where}): ${v.note ?? counts}`];
  if (v.createdHostPath !== undefined) lines.push(`  created ${v.createdHostPath}`);
  for (const e of v.examples.owner) lines.push(`  owner ${e.current} -> ${e.wanted}  ${displayPath(e.path)}`);
  if (v.changed.owner > v.examples.owner.length) lines.push(`  ... and ${v.changed.owner - v.examples.owner.length} more with the wrong owner`);
  for (const e of v.examples.mode) lines.push(`  mode  ${e.current} -> ${e.wanted}  ${displayPath(e.path)}`);
  for (const path of v.missing) lines.push(`  missing ${displayPath(path)} (declared under files:; the application creates it)`);
  for (const s of v.skipped) lines.push(`  skipped ${displayPath(s.path)}: ${s.reason}`);
  for (const w of v.warnings) lines.push(`  warning: ${w}`);
  return lines;
}

export function renderPermissions(result: PermissionsResult): string {
  const lines = result.volumes.flatMap((v) => volumeLines(v, result.applied));
  const total = result.differences;
  if (result.applied) lines.push(total === 0 ? 'nothing to change: owners and modes match the stack file' : `done: ${total} change(s)`);
  else lines.push(total === 0 ? 'no differences: owners and modes match the stack file' : `${total} difference(s); run without --check/--dry-run to fix them`);
  return lines.join('\n');
}

export const handler: Handler = async ({ values, out }) => {
  const ctx = stackContext(spec, values, out);
  const check = flag(values, 'check');
  const result = await fixPermissions(ctx.selected.model, { runner: ctx.runner, volumes: stringList(values, 'volume'), check, log: ctx.log });
  out.result(
    {
      stack: result.stack,
      project: result.project,
      applied: result.applied,
      differences: result.differences,
      volumes: result.volumes.map((v) => ({
        volume: v.volume,
        name: v.name,
        kind: v.kind,
        via: v.via ?? null,
        changed: v.changed,
        missing: v.missing,
        skipped: v.skipped,
        examples: v.examples,
        warnings: v.warnings,
        hostPath: v.hostPath ?? null,
        createdHostPath: v.createdHostPath ?? null,
        missingHostPath: v.missingHostPath ?? null,
        note: v.note ?? null,
      })),
    },
    () => renderPermissions(result),
  );
  if (check && result.differences > 0) {
    out.warn(`fix-permissions --check: ${result.differences} difference(s) from ${ctx.selected.file}; run npx zx scripts/fix-permissions.mjs --stack ${result.stack} to fix them`);
    return EXIT.check;
  }
  return EXIT.ok;
};
