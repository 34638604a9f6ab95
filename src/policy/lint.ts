// The lint for Compose users: every rule over every environment of the stack
// files, as the generated Compose files would deploy them.

import { loadStackFile } from '../config/load.js';
import { resolveModel, type Model } from '../config/model.js';
import { listStackFiles } from '../config/select.js';
import type { StackFile } from '../config/types.js';
import { factsFromModel } from './from-model.js';
import { evaluate } from './rules.js';
import type { Violation } from './types.js';

export interface StackLint {
  /** `<app>-<env>` */
  stack: string;
  file: string;
  violations: Violation[];
}

export interface LintSummary {
  stacks: StackLint[];
  mandatory: number;
  advisory: number;
  /** No mandatory violation: deployable. */
  passed: boolean;
}

export function lintModel(model: Model, stack: StackFile): Violation[] {
  return evaluate(factsFromModel(model, stack));
}

/** Every environment of one stack file (throws StackFileError for an invalid file). */
export function lintStackFile(file: string): StackLint[] {
  const { stack } = loadStackFile(file);
  return Object.keys(stack.environments).map((env) => {
    const model = resolveModel(stack, env, { stackFile: file });
    return { stack: `${model.app}-${model.env}`, file, violations: lintModel(model, stack) };
  });
}

export function lintStacksDirectory(dir: string): StackLint[] {
  return listStackFiles(dir).flatMap(lintStackFile);
}

export function summarize(stacks: StackLint[]): LintSummary {
  const all = stacks.flatMap((s) => s.violations);
  const mandatory = all.filter((v) => v.severity === 'mandatory').length;
  return { stacks, mandatory, advisory: all.length - mandatory, passed: mandatory === 0 };
}
