import { resolve } from 'node:path';
import { selectStack, stacksDirectory, type SelectedStack } from '../config/select.js';
import { flag, requireString, stringValue, type CommandSpec, type Output, type Values } from '../cli/cli.js';
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

/** --to, else the stack file's backups.to (relative to the working directory), else ./backups. */
export function backupRoot(values: Values, selected: SelectedStack): string {
  return resolve(stringValue(values, 'to') ?? selected.model.backups.to ?? 'backups');
}
