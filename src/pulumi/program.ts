import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { StackFileError, UsageError } from '../config/errors.js';
import { loadStackFile } from '../config/load.js';
import { resolveModel, type Model } from '../config/model.js';
import { DEFAULT_STACKS_DIR } from '../config/select.js';
import { Runner } from '../engine/command.js';
import { describeEngine, withEngine, type EngineEndpoint } from '../engine/endpoint.js';
import { refuseOtherEnvironment } from '../session/environment-guard.js';

/** The `stowage:*` keys of a Pulumi stack config (stacks/Pulumi.<app>-<env>.yaml). */
export interface ProgramSettings {
  app: string;
  env: string;
  /** Absolute directory holding `<app>.yaml`. */
  stacksDir: string;
}

/** The part of `pulumi.Config` the program reads, so tests can hand in plain values. */
export interface ProgramConfig {
  get(key: string): string | undefined;
}

const NAME = /^[a-z][a-z0-9-]*$/;

/**
 * The directory of Pulumi.yaml. Current CLIs pass it (`--root-directory`); without
 * it the SDK reports the placeholder "rootDirectory" (older CLIs, unit-test mocks),
 * so then it is found by walking up from the working directory, as the CLI does.
 */
export function projectRoot(reportedRoot: string, workingDirectory: string): string {
  if (isAbsolute(reportedRoot)) return reportedRoot;
  const start = resolve(workingDirectory);
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'Pulumi.yaml')) || existsSync(join(dir, 'Pulumi.yml'))) return dir;
    if (dirname(dir) === dir) return start;
  }
}

/**
 * Reads `stowage:app`, `stowage:env` and the optional `stowage:stacksDir`
 * (relative to the project root, default `stacks`).
 */
export function programSettings(config: ProgramConfig, projectRoot: string): ProgramSettings {
  const app = requireName(config, 'app', 'pim');
  const env = requireName(config, 'env', 'dev');
  const stacksDir = resolve(projectRoot, config.get('stacksDir') ?? DEFAULT_STACKS_DIR);
  return { app, env, stacksDir };
}

function requireName(config: ProgramConfig, key: string, example: string): string {
  const value = config.get(key);
  if (value === undefined || value === '') {
    throw new pulumi.RunError(
      `stack config has no stowage:${key}: run \`pulumi config set stowage:${key} ${example}\` or select a stack that has one (stacks/Pulumi.<app>-<env>.yaml)`,
    );
  }
  // The app name becomes a file name: refuse anything that could point elsewhere.
  if (!NAME.test(value)) {
    throw new pulumi.RunError(`stowage:${key} is "${value}": expected lower-case letters, digits and dashes, starting with a letter`);
  }
  return value;
}

/** `<stacksDir>/<app>.yaml`, or `.yml` when only that exists. */
export function stackFilePath(settings: ProgramSettings): string {
  const yml = join(settings.stacksDir, `${settings.app}.yml`);
  const yaml = join(settings.stacksDir, `${settings.app}.yaml`);
  return !existsSync(yaml) && existsSync(yml) ? yml : yaml;
}

/**
 * Loads, validates and resolves the stack file. Its errors already say file,
 * line, key and fix; as RunErrors Pulumi prints just that, without a stack trace.
 */
export function loadModel(settings: ProgramSettings): Model {
  const file = stackFilePath(settings);
  try {
    const { stack } = loadStackFile(file);
    return resolveModel(stack, settings.env, { stackFile: file });
  } catch (err) {
    if (err instanceof StackFileError || err instanceof UsageError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

/** A stack named after another app or environment than its config names is almost always a copy-paste mistake. */
export function stackNameWarning(settings: ProgramSettings, stackName: string): string | undefined {
  const expected = `${settings.app}-${settings.env}`;
  if (stackName === expected) return undefined;
  return `Pulumi stack "${stackName}" deploys ${settings.app} environment "${settings.env}"; stacks are usually named ${expected}. Check stowage:app and stowage:env in stacks/Pulumi.${stackName}.yaml.`;
}

/**
 * Before anything is declared: the volumes and containers this environment is
 * about to use must not carry another environment's labels (dev and prod of one
 * app on one engine share every name, and Docker hands prod dev's volume). Reads
 * the engine the provider talks to (deployTarget) with the docker CLI;
 * read-only, so previews check too.
 */
export async function checkEngineLabels(model: Model, engine: EngineEndpoint): Promise<void> {
  try {
    await withEngine(engine, () => refuseOtherEnvironment(model, new Runner()));
  } catch (err) {
    if (err instanceof UsageError) throw new pulumi.RunError(err.message);
    const reason = err instanceof Error ? err.message : String(err);
    throw new pulumi.RunError(
      `cannot read the labels of ${model.project}'s volumes and containers on the engine, which stowage checks before every deploy: ${reason}\n` +
        `The check uses the docker CLI (Debian: apt-get install docker.io, or docker-ce-cli) and the engine the provider gets: ${describeEngine(engine)}.`,
    );
  }
}
