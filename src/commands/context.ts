// What most commands share: the selected stack, a runner honouring --dry-run, progress on a terminal, --via.
import { resolve } from 'node:path';
import { selectStack, stacksDirectory, type SelectedStack } from '../config/select.js';
import { flag, requireString, stringValue, type CommandSpec, type OptionSpec, type Output, type Values } from '../cli/cli.js';
import { UsageError } from '../config/errors.js';
import { destinationOf, isRepositoryDestination, type Destination } from '../backup/destination.js';
import { Repository } from '../backup/repository.js';
import type { LocalDecision, Via } from '../engine/local-path.js';
import { Runner } from '../engine/command.js';
import { silentProgress, terminalProgress, type ProgressFactory } from '../cli/progress.js';

/** What most commands need: the selected stack, a runner honouring --dry-run, progress only on a terminal. */
export interface StackContext {
  selected: SelectedStack;
  runner: Runner;
  progress: ProgressFactory;
  log: (line: string) => void;
}

export function stackContext(spec: CommandSpec, values: Values, out: Output): StackContext {
  const selected = selectStack(requireString(values, 'stack', spec), stacksDirectory(stringValue(values, 'stacks-dir')));
  const runner = new Runner({ dryRun: flag(values, 'dry-run'), printPlan: (line) => out.say(line) });
  const progress = out.interactive ? terminalProgress(process.stderr) : silentProgress;
  return { selected, runner, progress, log: (line) => out.warn(line) };
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
