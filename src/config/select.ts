import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from './errors.js';
import { loadStackFile, type LoadedStack } from './load.js';
import { resolveModel, type Model } from './model.js';

/**
 * Which stack file and environment a `--stack <app>-<env>` names, in the
 * stacks directory (--stacks-dir, STOWAGE_STACKS_DIR, ./stacks).
 */

export const DEFAULT_STACKS_DIR = 'stacks';

/** --stacks-dir, then STOWAGE_STACKS_DIR, then ./stacks. */
export function stacksDirectory(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env['STOWAGE_STACKS_DIR'] ?? DEFAULT_STACKS_DIR);
}

/** Stack files in a directory (`<app>.yaml`), sorted; Pulumi stack configs are not stack files. */
export function listStackFiles(dir: string): string[] {
  if (!existsSync(dir)) {
    throw new UsageError(`stacks directory ${dir} does not exist: pass --stacks-dir or set STOWAGE_STACKS_DIR`);
  }
  return readdirSync(dir)
    .filter((name) => /^[a-z][a-z0-9-]*\.ya?ml$/.test(name))
    .sort()
    .map((name) => join(dir, name));
}

export interface SelectedStack extends LoadedStack {
  model: Model;
}

/**
 * `--stack <app>-<env>`: both app and environment names may contain dashes, so
 * every split point is tried and the one naming an existing file wins.
 */
export function selectStack(stackArg: string, dir: string): SelectedStack {
  if (!/^[a-z][a-z0-9-]*-[a-z][a-z0-9-]*$/.test(stackArg)) {
    throw new UsageError(`--stack ${stackArg}: expected <app>-<env>, e.g. pim-dev`);
  }
  const dashes = [...stackArg.matchAll(/-/g)].map((m) => m.index);
  // A stack file that exists but lacks the environment: reported as such when no other split fits.
  let withoutEnv: { loaded: LoadedStack; env: string } | undefined;
  for (const at of dashes.reverse()) {
    const app = stackArg.slice(0, at);
    const env = stackArg.slice(at + 1);
    for (const ext of ['yaml', 'yml']) {
      const file = join(dir, `${app}.${ext}`);
      if (!existsSync(file)) continue;
      const loaded = loadStackFile(file);
      if (loaded.stack.environments[env] === undefined) {
        withoutEnv ??= { loaded, env };
        continue;
      }
      return { ...loaded, model: resolveModel(loaded.stack, env, { stackFile: file }) };
    }
  }
  if (withoutEnv !== undefined) {
    const { loaded, env } = withoutEnv;
    return { ...loaded, model: resolveModel(loaded.stack, env, { stackFile: loaded.file }) }; // throws: no environment
  }
  const known = existsSync(dir) ? listStackFiles(dir).map((f) => f.replace(/^.*\//, '')).join(', ') : '(directory missing)';
  throw new UsageError(`--stack ${stackArg}: no stack file for it in ${dir} (found: ${known || 'none'}); pass --stacks-dir or set STOWAGE_STACKS_DIR`);
}
