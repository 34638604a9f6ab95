// scripts/drift.mjs: parse its options (spec), call the library, print the result; no logic here.
import { join, resolve } from 'node:path';
import { selectStack, stacksDirectory } from '../config/select.js';
import { UsageError } from '../config/errors.js';
import { EXIT, STACK_OPTION, ENGINE_OPTION, flag, stringValue, type CommandSpec, type ExitCode, type Handler, type Invocation, type Values } from '../cli/cli.js';
import { composeDrift, renderRequested } from '../ops/compose-files.js';
import { Runner } from '../engine/command.js';
import { checkAll, formatCheckAll } from '../ops/check-all.js';
import { formatLiveDrift, liveDrift, type LiveDrift } from '../ops/live-drift.js';
import { deployedOnEngine, visitEngines } from '../ops/engines.js';
import { engineJson, type EngineJson } from '../engine/endpoint.js';
import { allEnvironments, useStackEngine } from './context.js';

export const spec: CommandSpec = {
  name: 'drift',
  summary: 'check that what is committed matches what the stack files declare',
  usage: '--compose [--stack <app>-<env>] [--compose-dir DIR] | --stack <app>-<env> [--engine URL] | --all [--live] [--compose-dir DIR] [--runbooks-dir DIR] [--docs-dir DIR]',
  options: {
    ...STACK_OPTION,
    ...ENGINE_OPTION,
    compose: { type: 'boolean', description: 'compare the committed Compose files with a fresh render' },
    'compose-dir': { type: 'string', value: 'DIR', description: 'where the committed Compose files are (default: compose/)' },
    all: { type: 'boolean', description: 'CI gate: stack files valid, Compose files and generated docs current, no mandatory policy violation' },
    live: { type: 'boolean', description: 'with --all: also compare every environment that has anything on its engine with its stack file, each on its own engine' },
    'runbooks-dir': { type: 'string', value: 'DIR', description: 'with --all: the runbooks the docs are generated from (default: $STOWAGE_RUNBOOKS_DIR or runbooks/)' },
    'docs-dir': { type: 'string', value: 'DIR', description: 'with --all: the generated runbook pages (default: docs/runbooks/)' },
  },
  details:
    'Exit 3 with a unified diff when a committed file differs; regenerate with npx zx scripts/compose.mjs.\n' +
    '--stack S alone compares the live engine with the stack file: containers missing, stopped, extra or differing\n' +
    '(image, mounts, environment, user, labels), volumes missing, extra or differing (driver, options, labels); exit 3 naming each.\n' +
    '--all runs every check CI needs and exits 3 listing each one that failed; --all --live adds every deployed environment,\n' +
    'each compared on its own engine (an engine that does not answer is named, the others still run; exit 1 when that is\n' +
    'the only failure). See docs/drift.md.',
};

async function liveHandler({ values, out }: Invocation, stackArg: string): Promise<ExitCode> {
  const selected = selectStack(stackArg, stacksDirectory(stringValue(values, 'stacks-dir')));
  useStackEngine(selected, values, out);
  const report = await liveDrift(new Runner(), selected.model);
  out.result({ live: report }, () => formatLiveDrift(report));
  return report.clean ? EXIT.ok : EXIT.check;
}

/** One environment of --all --live. */
export type LiveEnvironment = { stack: string; engine: EngineJson } & (
  | { state: 'clean' | 'drift'; report: LiveDrift }
  | { state: 'not-deployed' }
  | { state: 'unreachable'; error: string }
);

async function liveEverywhere(values: Values): Promise<LiveEnvironment[]> {
  const runner = new Runner();
  const visits = await visitEngines(runner, allEnvironments(values), async (model) => ((await deployedOnEngine(runner, model)) ? liveDrift(runner, model) : undefined));
  return visits.map((v): LiveEnvironment => {
    const base = { stack: `${v.model.app}-${v.model.env}`, engine: engineJson(v.engine) };
    if (v.outcome === 'unreachable') return { ...base, state: 'unreachable', error: v.error };
    if (v.value === undefined) return { ...base, state: 'not-deployed' };
    return { ...base, state: v.value.clean ? 'clean' : 'drift', report: v.value };
  });
}

function formatLiveEverywhere(live: LiveEnvironment[]): string {
  return live
    .map((l) => {
      switch (l.state) {
        case 'clean':
        case 'drift':
          return `${formatLiveDrift(l.report)} [${l.engine.url}]`;
        case 'not-deployed':
          return `${l.stack}: nothing on ${l.engine.url}: not checked`;
        case 'unreachable':
          return `${l.stack}: NOT CHECKED: ${l.error}`;
      }
    })
    .join('\n');
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
  if (!flag(values, 'live')) {
    out.result({ all: report }, () => formatCheckAll(report));
    return report.passed ? EXIT.ok : EXIT.check;
  }
  const live = await liveEverywhere(values);
  out.result({ all: report, live }, () => [formatCheckAll(report), '', formatLiveEverywhere(live)].join('\n'));
  if (!report.passed || live.some((l) => l.state === 'drift')) return EXIT.check;
  return live.some((l) => l.state === 'unreachable') ? EXIT.failed : EXIT.ok;
}

export const handler: Handler = async (invocation) => {
  const { values, out } = invocation;
  if (flag(values, 'all')) return allHandler(invocation);
  if (flag(values, 'live')) throw new UsageError('--live goes with --all (every environment on its own engine); for one environment, --stack <app>-<env> compares it live');
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
