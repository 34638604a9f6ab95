import { resolve } from 'node:path';
import { stacksDirectory } from '../config/select.js';
import { EXIT, STACK_OPTION, flag, stringValue, type CommandSpec, type Handler } from '../cli/cli.js';
import { composeDrift, renderRequested, writeRendered } from '../ops/compose-files.js';

export const spec: CommandSpec = {
  name: 'compose',
  summary: 'render Compose files (base plus one override per environment) from stack files',
  usage: '[--stack <app>-<env>] [--out DIR]',
  options: {
    ...STACK_OPTION,
    out: { type: 'string', value: 'DIR', description: 'output directory (default: compose/)' },
    check: { type: 'boolean', description: 'write nothing; exit 3 with a diff when the files in the output directory are not current' },
  },
  details: 'Without --stack, every stack file in the stacks directory is rendered. Files that are already current are left alone.',
};

export const handler: Handler = async ({ values, out }) => {
  const stacksDir = stacksDirectory(stringValue(values, 'stacks-dir'));
  const outDir = resolve(stringValue(values, 'out') ?? 'compose');
  const stackArg = stringValue(values, 'stack');
  const files = renderRequested(stacksDir, outDir, stackArg);
  if (flag(values, 'check')) {
    const drift = composeDrift(files, outDir, stackArg === undefined);
    out.result({ out: outDir, current: drift.length === 0, drift }, () =>
      drift.length === 0 ? `${files.length} file(s) in ${outDir} are current` : [...drift.map((d) => d.diff), `${drift.length} file(s) are not current: run npx zx scripts/compose.mjs`].join('\n'),
    );
    return drift.length === 0 ? EXIT.ok : EXIT.check;
  }
  const written = writeRendered(files, outDir);
  out.result({ out: outDir, files: files.map((f) => f.name), written }, () =>
    written.length === 0 ? `${files.length} file(s) in ${outDir} already current` : `wrote ${written.join(', ')}`,
  );
  return EXIT.ok;
};
