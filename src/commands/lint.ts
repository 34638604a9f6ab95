// scripts/lint.mjs: parse its options (spec), call the library, print the result; no logic here.
import { selectStack, stacksDirectory } from '../config/select.js';
import { EXIT, STACK_OPTION, stringValue, type CommandSpec, type Handler } from '../cli/cli.js';
import { lintModel, lintStacksDirectory, summarize, type StackLint } from '../policy/lint.js';
import { formatLint } from '../policy/report.js';

export const spec: CommandSpec = {
  name: 'lint',
  summary: 'check stack files against the stowage policies (the same rules the CrossGuard pack enforces)',
  usage: '[--stack <app>-<env>]',
  options: { ...STACK_OPTION },
  details:
    'Without --stack, every environment of every stack file is checked. Exit 3 when a mandatory rule is violated;\n' +
    'advisory violations are printed and exit 0. Rules, and how to fix each: docs/policies.md.',
};

export const handler: Handler = async ({ values, out }) => {
  const stacksDir = stacksDirectory(stringValue(values, 'stacks-dir'));
  const stackArg = stringValue(values, 'stack');
  let stacks: StackLint[];
  if (stackArg === undefined) {
    stacks = lintStacksDirectory(stacksDir);
  } else {
    const selected = selectStack(stackArg, stacksDir);
    stacks = [{ stack: stackArg, file: selected.file, violations: lintModel(selected.model, selected.stack) }];
  }
  const summary = summarize(stacks);
  out.result(summary, () => formatLint(summary));
  return summary.passed ? EXIT.ok : EXIT.check;
};
