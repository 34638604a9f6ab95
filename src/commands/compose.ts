import { resolve } from 'node:path';
import { stacksDirectory } from '../config/select.js';
import { EXIT, STACK_OPTION, stringValue, type CommandSpec, type Handler } from '../cli/cli.js';
import { renderRequested, writeRendered } from '../ops/compose-files.js';

export const spec: CommandSpec = {
  name: 'compose',
  summary: 'render Compose files (base plus one override per environment) from stack files',
  usage: '[--stack <app>-<env>] [--out DIR]',
  options: {
    ...STACK_OPTION,
    out: { type: 'string', value: 'DIR', description: 'output directory (default: compose/)' },
  },
  details: 'Without --stack, every stack file in the stacks directory is rendered. Files that are already current are left alone.',
};

export const handler: Handler = async ({ values, out }) => {
  const stacksDir = stacksDirectory(stringValue(values, 'stacks-dir'));
  const outDir = resolve(stringValue(values, 'out') ?? 'compose');
  const files = renderRequested(stacksDir, outDir, stringValue(values, 'stack'));
  const written = writeRendered(files, outDir);
  out.result({ out: outDir, files: files.map((f) => f.name), written }, () =>
    written.length === 0 ? `${files.length} file(s) in ${outDir} already current` : `wrote ${written.join(', ')}`,
  );
  return EXIT.ok;
};
