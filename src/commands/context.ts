// What most commands share: the selected stack, a runner honouring --dry-run, progress on a terminal, --via.
import { resolve } from 'node:path';
import { UsageError } from '../config/errors.js';
import { loadStackFile, stackFileErrorAt, type LoadedStack } from '../config/load.js';
import { resolveModel, type Model } from '../config/model.js';
import { remoteBindIssues } from '../config/semantic.js';
import { listStackFiles, selectStack, stacksDirectory, type SelectedStack } from '../config/select.js';
import { flag, requireString, stringValue, type CommandSpec, type OptionSpec, type Output, type Values } from '../cli/cli.js';
import { destinationOf, isRepositoryDestination, type Destination } from '../backup/destination.js';
import { Repository } from '../backup/repository.js';
import type { LocalDecision, Via } from '../engine/local-path.js';
import { Runner } from '../engine/command.js';
import { enginePlanLines, parseEngineUrl, resolveEngine, selectEngine, type EngineEndpoint } from '../engine/endpoint.js';
import { silentProgress, terminalProgress, type ProgressFactory } from '../cli/progress.js';

/** What most commands need: the selected stack, a runner honouring --dry-run, progress only on a terminal. */
export interface StackContext {
  selected: SelectedStack;
  /** The engine every docker command of this run goes to. */
  engine: EngineEndpoint;
  runner: Runner;
  progress: ProgressFactory;
  log: (line: string) => void;
}

/** --engine, checked: a bad address is bad usage (exit 2) before anything runs. */
export function engineFlag(values: Values): string | undefined {
  const given = stringValue(values, 'engine');
  if (given === undefined) return undefined;
  const parsed = parseEngineUrl(given);
  if (!parsed.ok) throw new UsageError(`--engine ${given}: ${parsed.problem}; ${parsed.fix}`);
  return given;
}

/**
 * The engine of one environment: --engine, else the stack file's, else
 * DOCKER_HOST or the Docker context. `./relative` binds cannot go to an engine
 * on another machine: that is a stack-file error at the bind (exit 2).
 */
export function engineOf(loaded: LoadedStack, model: Model, flagUrl: string | undefined): EngineEndpoint {
  if (flagUrl !== undefined) {
    const env = loaded.stack.environments[model.env] ?? {};
    const issues = remoteBindIssues(model.env, env, flagUrl, `--engine ${flagUrl}`);
    if (issues.length > 0) throw stackFileErrorAt(loaded.file, issues);
  }
  return resolveEngine({ flag: flagUrl, stack: model.engine });
}

/**
 * Selects the stack and its engine for the whole run: every docker command
 * goes there, --dry-run plans start with it and --json documents name it.
 */
export function stackContext(spec: CommandSpec, values: Values, out: Output): StackContext {
  const selected = selectStack(requireString(values, 'stack', spec), stacksDirectory(stringValue(values, 'stacks-dir')));
  const engine = useStackEngine(selected, values, out);
  const runner = new Runner({ dryRun: flag(values, 'dry-run'), printPlan: (line) => out.say(line) });
  if (runner.dryRun) for (const line of enginePlanLines(engine)) runner.plan(line);
  const progress = out.interactive ? terminalProgress(process.stderr) : silentProgress;
  return { selected, engine, runner, progress, log: (line) => out.warn(line) };
}

/** Resolves and selects the engine of a selected stack for this process, and names it in --json output. */
export function useStackEngine(selected: SelectedStack, values: Values, out: Output): EngineEndpoint {
  const engine = engineOf(selected, selected.model, engineFlag(values));
  selectEngine(engine);
  out.talksTo(engine);
  return engine;
}

/** One environment of one stack file, with the engine it runs on (for the --all forms). */
export interface EnvironmentTarget {
  model: Model;
  engine: EngineEndpoint;
}

/**
 * Every environment of every stack file in the stacks directory, each with its
 * own engine. All stack files are read (and must be valid) before anything runs.
 */
export function allEnvironments(values: Values): EnvironmentTarget[] {
  const stacksDir = stacksDirectory(stringValue(values, 'stacks-dir'));
  const flagUrl = engineFlag(values);
  const targets = listStackFiles(stacksDir).flatMap((file) => {
    const loaded = loadStackFile(file);
    return Object.keys(loaded.stack.environments).map((env) => {
      const model = resolveModel(loaded.stack, env, { stackFile: file });
      return { model, engine: engineOf(loaded, model, flagUrl) };
    });
  });
  if (targets.length === 0) throw new UsageError(`no stack files in ${stacksDir}: pass --stacks-dir or set STOWAGE_STACKS_DIR`);
  return targets;
}

/** --to, else the stack file's backups.to (a directory relative to the working directory, or restic:<repository>), else ./backups. */
export function destinationFor(values: Values, selected: SelectedStack): Destination {
  return destinationOf(stringValue(values, 'to'), selected.model);
}

/**
 * The backup root for commands that work on set directories only (runbooks,
 * clean-start): a repository destination is refused by name, never taken for
 * a directory called `restic:...`.
 */
export function backupRoot(values: Values, selected: SelectedStack, command = 'this command'): string {
  const to = stringValue(values, 'to') ?? selected.model.backups.to ?? 'backups';
  if (isRepositoryDestination(to)) {
    throw new UsageError(`${command} works with set directories only, and the destination is ${to.split(' ')[0] ?? to}${stringValue(values, 'to') === undefined ? ' (backups.to)' : ''}; pass --to DIR for a directory of local sets`);
  }
  return resolve(to);
}

/** The repository a destination names, opened through this run's runner; undefined for a directory. */
export function repositoryOf(destination: Destination, runner: Runner, log: (line: string) => void): Repository | undefined {
  return destination.kind === 'repository' ? new Repository(runner, destination, log) : undefined;
}

/** --via for backup and restore: how volume content is read and written. */
export const VIA_OPTION: Record<string, OptionSpec> = {
  via: {
    type: 'string',
    value: 'auto|local|archive',
    description: "how volume content moves: auto (default) takes the local path where it is proven to be the engine's own directory, local only that (exit 1 when it cannot be proven), archive always the engine's archive endpoint",
  },
};

export function viaOf(values: Values): Via {
  const via = stringValue(values, 'via') ?? 'auto';
  if (via !== 'auto' && via !== 'local' && via !== 'archive') throw new UsageError(`--via ${via}: write auto, local or archive`);
  return via;
}

/** One line per volume for --json and the human report: how it moved and why. */
export function viaReport(decisions: LocalDecision[]): Array<{ volume: string; via: 'local' | 'archive'; reason: string }> {
  return decisions.map((d) => ({ volume: d.volume, via: d.path === undefined ? 'archive' : 'local', reason: d.reason }));
}
