// scripts/status.mjs: parse its options (spec), call the library, print the result; no logic here.
import { resolve } from 'node:path';
import { UsageError } from '../config/errors.js';
import type { Model } from '../config/model.js';
import { selectStack, stacksDirectory } from '../config/select.js';
import { withEngine, type EngineEndpoint } from '../engine/endpoint.js';
import { allEnvironments, useStackEngine } from './context.js';
import { flag, STACK_OPTION, ENGINE_OPTION, stringValue, type CommandSpec, type Handler, type Output } from '../cli/cli.js';
import { Runner } from '../engine/command.js';
import { writeFileAtomic } from '../util/durable-file.js';
import { openSetSource, type SetSource } from '../backup/set-source.js';
import { stateDirectory } from '../util/state-dir.js';
import { exitCodeOf, statusReport, type StackStatus } from '../status/status.js';
import { collectStack } from '../status/collect.js';
import { renderStatusPage } from '../status/html.js';
import { statusMetrics } from '../status/prom.js';
import { renderStatus } from '../status/text.js';

export const spec: CommandSpec = {
  name: 'status',
  summary: 'every stack\'s state at a glance: backups fresh and verified, disks, growth, services, drift',
  usage: '--stack <app>-<env> | --all [--engine URL] [--to DIR|restic:REPO] [--html FILE] [--prom FILE] [--no-measure] [--state-dir DIR] [--json]',
  options: {
    ...STACK_OPTION,
    ...ENGINE_OPTION,
    all: { type: 'boolean', description: 'every environment of every stack file in the stacks directory, each on its own engine (those with nothing on their engine and no backups are listed, not checked)' },
    to: { type: 'string', value: 'DEST', description: 'where the backup sets are: a directory or restic:<repository> (default: each stack\'s backups.to, else ./backups)' },
    html: { type: 'string', value: 'FILE', description: 'also write a self-contained HTML report with charts to FILE' },
    prom: { type: 'string', value: 'FILE', description: 'also write Prometheus text format to FILE, atomically (node_exporter textfile collector)' },
    'no-measure': { type: 'boolean', description: 'do not measure volumes now; use the disk-usage history\'s newest sample' },
    'state-dir': { type: 'string', value: 'DIR', description: 'disk-usage histories and verification records kept outside sets (default: $STOWAGE_STATE_DIR or ./.stowage)' },
    yes: { type: 'boolean', short: 'y', description: 'accepted for uniformity; status asks nothing' },
  },
  details:
    'Per volume: the newest complete backup (age, size, duration, method), whether it verified and when (as verify.mjs\n' +
    'recorded it), the sets kept, the volume\'s size and growth per day, days until its filesystem is full, and drift.\n' +
    'Per service: container state and health. Reads only: nothing on the engine or on disk is changed, except the\n' +
    '--html and --prom files. Exit 3 when a backup is missing or older than backups.maxAge (default 26h), the newest\n' +
    'backup of a volume failed verification, a filesystem crossed disk.warn, a container is unhealthy, or drift is\n' +
    'found; exit 1 when a check could not run. See docs/status.md.',
};

interface Target {
  model: Model;
  engine: EngineEndpoint;
  source: SetSource;
}

/** Every model to report on, each with its own engine; stack files are all read (and must all be valid) before anything runs. */
function targets(values: Parameters<Handler>[0]['values'], out: Output, stateDir: string, runner: Runner): { list: Target[]; all: boolean } {
  const stacksDir = stacksDirectory(stringValue(values, 'stacks-dir'));
  const stackArg = stringValue(values, 'stack');
  const all = flag(values, 'all');
  if (all && stackArg !== undefined) throw new UsageError('--stack and --all exclude each other: pass one of them');
  if (!all && stackArg === undefined) throw new UsageError(`pass --stack <app>-<env> or --all; usage: npx zx scripts/status.mjs ${spec.usage}`);
  const to = stringValue(values, 'to');
  const sourceFor = (model: Model): SetSource => openSetSource(to ?? model.backups.to ?? 'backups', stateDir, runner, model.backups.resticPasswordFile);
  if (stackArg !== undefined) {
    const selected = selectStack(stackArg, stacksDir);
    const engine = useStackEngine(selected, values, out);
    return { list: [{ model: selected.model, engine, source: sourceFor(selected.model) }], all };
  }
  return { list: allEnvironments(values).map(({ model, engine }) => ({ model, engine, source: sourceFor(model) })), all };
}

export const handler: Handler = async ({ values, out }) => {
  const stateDir = stateDirectory(stringValue(values, 'state-dir'));
  const runner = new Runner();
  const { list, all } = targets(values, out, stateDir, runner);
  const html = stringValue(values, 'html');
  const prom = stringValue(values, 'prom');
  const now = new Date();
  const stacks: StackStatus[] = [];
  for (const { model, engine, source } of list) {
    stacks.push(await withEngine(engine, () => collectStack(model, { runner, source, stateDir, measure: !flag(values, 'no-measure'), onlyIfDeployed: all, now })));
  }
  const report = statusReport(stacks, now);
  if (html !== undefined) {
    writeFileAtomic(resolve(html), renderStatusPage(report));
    out.warn(`report written to ${resolve(html)}`);
  }
  if (prom !== undefined) writeFileAtomic(resolve(prom), statusMetrics(report));
  out.result(report, () => renderStatus(report));
  return exitCodeOf(report);
};
