import { resolve } from 'node:path';
import { UsageError } from '../config/errors.js';
import { loadStackFile, stackFileErrorAt, type LoadedStack } from '../config/load.js';
import { resolveModel, type Model } from '../config/model.js';
import { remoteBindIssues } from '../config/semantic.js';
import { listStackFiles, selectStack, stacksDirectory, type SelectedStack } from '../config/select.js';
import { flag, requireString, stringValue, type CommandSpec, type Output, type Values } from '../cli/cli.js';
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

/** --to, else the stack file's backups.to (relative to the working directory), else ./backups. */
export function backupRoot(values: Values, selected: SelectedStack): string {
  return resolve(stringValue(values, 'to') ?? selected.model.backups.to ?? 'backups');
}
