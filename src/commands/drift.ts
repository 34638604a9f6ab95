// scripts/drift.mjs: parse its options (spec), call the library, print the result; no logic here.
import { join, resolve } from 'node:path';
import { selectStack, stacksDirectory } from '../config/select.js';
import { UsageError } from '../config/errors.js';
import { EXIT, flag, STACK_OPTION, stringValue, type CommandSpec, type ExitCode, type Handler, type Invocation } from '../cli/cli.js';
import { composeDrift, renderRequested } from '../ops/compose-files.js';
import { Runner } from '../engine/command.js';
import { checkAll, formatCheckAll } from '../ops/check-all.js';
import { formatLiveDrift, liveDrift } from '../ops/live-drift.js';

export const spec: CommandSpec = {
  name: 'drift',
  summary: 'check that what is committed matches what the stack files declare',
  usage: '--compose [--stack <app>-<env>] [--compose-dir DIR] | --stack <app>-<env> | --all [--compose-dir DIR] [--runbooks-dir DIR] [--docs-dir DIR]',
  options: {
    ...STACK_OPTION,
    compose: { type: 'boolean', description: 'compare the committed Compose files with a fresh render' },
    'compose-dir': { type: 'string', value: 'DIR', description: 'where the committed Compose files are (default: compose/)' },
    all: { type: 'boolean', description: 'CI gate: stack files valid, Compose files and generated docs current, no mandatory policy violation' },
    'runbooks-dir': { type: 'string', value: 'DIR', description: 'with --all: the runbooks the docs are generated from (default: $STOWAGE_RUNBOOKS_DIR or runbooks/)' },
    'docs-dir': { type: 'string', value: 'DIR', description: 'with --all: the generated runbook pages (default: docs/runbooks/)' },
  },
  details:
    'Exit 3 with a unified diff when a committed file differs; regenerate with npx zx scripts/compose.mjs.\n' +
    '--stack S alone compares the live engine with the stack file: containers missing, stopped, extra or differing\n' +
    '(image, mounts, environment, user, labels), volumes missing, extra or differing (driver, options, labels); exit 3 naming each.\n' +
    '--all runs every check CI needs and exits 3 listing each one that failed. See docs/drift.md.',
};

async function liveHandler({ values, out }: Invocation, stackArg: string): Promise<ExitCode> {
  const { model } = selectStack(stackArg, stacksDirectory(stringValue(values, 'stacks-dir')));
  const report = await liveDrift(new Runner(), model);
  out.result({ live: report }, () => formatLiveDrift(report));
  return report.clean ? EXIT.ok : EXIT.check;
}

async function allHandler({ values, out }: Invocation): Promise<ExitCode> {
  if (flag(values, 'compose') || stringValue(values, 'stack') !== undefined) {
    throw new UsageError('--all checks every stack file and the Compose files already: leave out --compose and --stack');
  }
  const report = checkAll({
    stacksDir: stacksDirectory(stringValue(values, 'stacks-dir')),
    composeDir: resolve(stringValue(values, 'compose-dir') ?? 'compose'),
    runbooksDir: resolve(stringValue(values, 'runbooks-dir') ?? process.env['STOWAGE_RUNBOOKS_DIR'] ?? 'runbooks'),
    docsDir: resolve(stringValue(values, 'docs-dir') ?? join('docs', 'runbooks')),
  });
  out.result({ all: report }, () => formatCheckAll(report));
  return report.passed ? EXIT.ok : EXIT.check;
}

export const handler: Handler = async (invocation) => {
  const { values, out } = invocation;
  if (flag(values, 'all')) return allHandler(invocation);
  const live = stringValue(values, 'stack');
  if (!flag(values, 'compose') && live !== undefined) return liveHandler(invocation, live);
  if (!flag(values, 'compose')) throw new UsageError('choose what to check: --compose (committed Compose files), --stack <app>-<env> (the live engine) or --all (CI)');
  const stacksDir = stacksDirectory(stringValue(values, 'stacks-dir'));
  const composeDir = resolve(stringValue(values, 'compose-dir') ?? 'compose');
  const stackArg = stringValue(values, 'stack');
  const drift = composeDrift(renderRequested(stacksDir, composeDir, stackArg), composeDir, stackArg === undefined);
  out.result({ compose: { current: drift.length === 0, drift } }, () =>
    drift.length === 0
      ? `compose files in ${composeDir} are current`
      : [
          ...drift.map((d) => d.diff),
          `${drift.length} compose file(s) differ from the stack files: run npx zx scripts/compose.mjs and commit the result`,
        ].join('\n'),
  );
  return drift.length === 0 ? EXIT.ok : EXIT.check;
};
