import { resolve } from 'node:path';
import { stacksDirectory } from '../config/select.js';
import { UsageError } from '../config/errors.js';
import { EXIT, STACK_OPTION, flag, stringValue, type CommandSpec, type Handler } from '../cli/cli.js';
import { composeDrift, renderRequested } from '../ops/compose-files.js';

export const spec: CommandSpec = {
  name: 'drift',
  summary: 'check that what is committed matches what the stack files declare',
  usage: '--compose [--stack <app>-<env>] [--compose-dir DIR]',
  options: {
    ...STACK_OPTION,
    compose: { type: 'boolean', description: 'compare the committed Compose files with a fresh render' },
    'compose-dir': { type: 'string', value: 'DIR', description: 'where the committed Compose files are (default: compose/)' },
  },
  details: 'Exit 3 with a unified diff when a committed file differs; regenerate with npx zx scripts/compose.mjs.',
};

export const handler: Handler = async ({ values, out }) => {
  if (!flag(values, 'compose')) throw new UsageError('choose what to check: --compose');
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
