// scripts/compose.mjs: parse its options (spec), call the library, print the result; no logic here.
import { join, resolve } from 'node:path';
import { UsageError } from '../config/errors.js';
import { stacksDirectory } from '../config/select.js';
import { EXIT, STACK_OPTION, flag, stringValue, type CommandSpec, type Handler } from '../cli/cli.js';
import { composeDrift, outdatedFiles, renderRequested, writeRendered } from '../ops/compose-files.js';

export const spec: CommandSpec = {
  name: 'compose',
  summary: 'render Compose files (base plus one override per environment) from stack files',
  usage: '[--stack <app>-<env>] [--out DIR] [--check | --dry-run]',
  options: {
    ...STACK_OPTION,
    out: { type: 'string', value: 'DIR', description: 'output directory (default: compose/)' },
    check: { type: 'boolean', description: 'write nothing; exit 3 with a diff when the files in the output directory are not current' },
    'dry-run': { type: 'boolean', description: 'write nothing; list the files a run would write (exit 0)' },
  },
  details: 'Without --stack, every stack file in the stacks directory is rendered. Files that are already current are left alone.',
};

export const handler: Handler = async ({ values, out }) => {
  const stacksDir = stacksDirectory(stringValue(values, 'stacks-dir'));
  const outDir = resolve(stringValue(values, 'out') ?? 'compose');
  const stackArg = stringValue(values, 'stack');
  if (flag(values, 'check') && flag(values, 'dry-run')) throw new UsageError('--check and --dry-run both write nothing: choose one (--check exits 3 when files are not current)');
  const files = renderRequested(stacksDir, outDir, stackArg);
  if (flag(values, 'check')) {
    const drift = composeDrift(files, outDir, stackArg === undefined);
    out.result({ out: outDir, current: drift.length === 0, drift }, () =>
      drift.length === 0 ? `${files.length} file(s) in ${outDir} are current` : [...drift.map((d) => d.diff), `${drift.length} file(s) are not current: run npx zx scripts/compose.mjs`].join('\n'),
    );
    return drift.length === 0 ? EXIT.ok : EXIT.check;
  }
  if (flag(values, 'dry-run')) {
    const wouldWrite = outdatedFiles(files, outDir).map((f) => join(outDir, f.name));
    out.result({ out: outDir, files: files.map((f) => f.name), dryRun: true, wouldWrite }, () =>
      wouldWrite.length === 0 ? `${files.length} file(s) in ${outDir} already current; nothing to write` : `dry run: would write ${wouldWrite.join(', ')}`,
    );
    return EXIT.ok;
  }
  const written = writeRendered(files, outDir);
  out.result({ out: outDir, files: files.map((f) => f.name), written }, () =>
    written.length === 0 ? `${files.length} file(s) in ${outDir} already current` : `wrote ${written.join(', ')}`,
  );
  return EXIT.ok;
};
