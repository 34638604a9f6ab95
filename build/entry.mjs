// @ts-check
// What scripts/<name>.mjs (and demo/demo.mjs) run: the command src/commands/<name>.ts, loaded
// from dist/ when dist/ was compiled from exactly the sources on disk (build/sources.mjs), and
// otherwise from src/ through tsx, as before there was a compile step. Either way the same code
// runs; dist/ only skips the TypeScript loader and its per-module transform at start-up.
//
// STOWAGE_FROM_SOURCE=1 always takes src/ through tsx (the benchmark compares the two);
// STOWAGE_DEBUG=1 says on stderr which one ran and why, and maps stack traces to src/.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { OUT_DIR, staleness } from './sources.mjs';

/**
 * @typedef {object} Origin
 * @property {'dist' | 'src'} from
 * @property {string} why
 */

/** @param {string} root @returns {Origin} */
function origin(root) {
  if (process.env['STOWAGE_FROM_SOURCE'] === '1') return { from: 'src', why: 'STOWAGE_FROM_SOURCE=1' };
  const stale = staleness(root);
  if (stale !== undefined) return { from: 'src', why: stale };
  return { from: 'dist', why: `${OUT_DIR}/ was compiled from the sources on disk` };
}

/**
 * Imports src/<module>.ts, or its compiled twin dist/<module>.js.
 * @param {string} root @param {Origin} where @param {string} module e.g. "cli/cli"
 * @returns {Promise<unknown>}
 */
function importModule(root, where, module) {
  const file = where.from === 'dist' ? join(root, OUT_DIR, `${module}.js`) : join(root, 'src', `${module}.ts`);
  return import(pathToFileURL(file).href);
}

/**
 * Runs src/commands/<name>.ts the way the scripts always have: `main(spec, scriptUrl, handler)`
 * from src/cli/cli.ts, which parses the arguments after the script's path and exits.
 * @param {string} name e.g. "backup"
 * @param {string} scriptUrl import.meta.url of the script (one directory below the repository root)
 * @returns {Promise<never>}
 */
export async function runCommand(name, scriptUrl) {
  const root = fileURLToPath(new URL('..', scriptUrl));
  const where = origin(root);
  if (process.env['STOWAGE_DEBUG'] === '1') process.stderr.write(`stowage: running ${where.from}/ (${where.why})\n`);
  if (where.from === 'dist') {
    // Stack traces are printed only with STOWAGE_DEBUG=1: then the source maps point them at src/,
    // as tsx does. Reading the maps costs ~30 ms of every start, so not otherwise.
    if (process.env['STOWAGE_DEBUG'] === '1') process.setSourceMapsEnabled(true);
  } else {
    const { register } = await import('tsx/esm/api');
    register();
  }
  const cli = /** @type {typeof import('../src/cli/cli.js')} */ (await importModule(root, where, 'cli/cli'));
  const command = /** @type {{ spec: import('../src/cli/cli.js').CommandSpec, handler: import('../src/cli/cli.js').Handler }} */ (
    await importModule(root, where, `commands/${name}`)
  );
  return cli.main(command.spec, scriptUrl, command.handler);
}
