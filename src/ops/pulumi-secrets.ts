import { readFileSync } from 'node:fs';
import { UsageError } from '../config/errors.js';
import type { Model } from '../config/model.js';
import { command, renderCommand, shellQuote, type Command, type Runner } from '../engine/command.js';
import { inspectContainers } from '../engine/inspect.js';
import { envValues, parseEnvFile } from './secrets-file.js';

/**
 * Moving a stack from Compose to Pulumi: the secrets Compose users keep in
 * compose/.env (`DIGIDIG_POSTGRES_PASSWORD=...`) go into the Pulumi stack config
 * with `pulumi config set --secret`. Without them Pulumi would generate new
 * passwords, and PostgreSQL and MongoDB, which keep the password they were
 * initialised with, would lock identity and storage out of their data. Values
 * reach `pulumi` on stdin only, never as an argument, a message or a result.
 */

/** The namespace of the program's config (`new pulumi.Config('stowage')`, the project name). */
export const CONFIG_NAMESPACE = 'stowage';

export interface SecretCarry {
  /** Stack file secret key, e.g. postgres_password. */
  key: string;
  /** Where Compose users keep it, e.g. DIGIDIG_POSTGRES_PASSWORD. */
  variable: string;
  /** What the Pulumi program reads, e.g. stowage:postgres_password. */
  configKey: string;
}

export interface SecretsToPulumiResult {
  stack: string;
  /** The Pulumi stack the values were set in: `<app>-<env>`, as docs/pulumi.md names them. */
  pulumiStack: string;
  envFile: string;
  set: SecretCarry[];
  /** Existing containers whose environment was compared with the env file. */
  compared: string[];
}

export function pulumiStackName(model: Model): string {
  return `${model.app}-${model.env}`;
}

export function carries(model: Model): SecretCarry[] {
  return model.secrets.map((s) => ({ key: s.key, variable: s.composeVariable, configKey: `${CONFIG_NAMESPACE}:${s.key}` }));
}

/**
 * The value of every declared secret from the env file's text. Missing or empty
 * variables are one usage error naming all of them, so nothing is half migrated.
 */
export function composeSecretValues(model: Model, envText: string, envFile: string): Map<string, string> {
  const values = envValues(parseEnvFile(envText));
  const missing = carries(model).filter((c) => (values.get(c.variable) ?? '') === '');
  if (missing.length > 0) {
    throw new UsageError(
      `${envFile} does not set ${missing.map((c) => c.variable).join(', ')}: these are the passwords the ${model.app} databases were initialised with. ` +
        `Put the values the running stack uses into ${envFile} (compose/${model.app}.env.example lists the variables); nothing was changed`,
    );
  }
  return new Map(carries(model).map((c) => [c.key, values.get(c.variable) ?? '']));
}

/** `pulumi config set --secret`: the value comes on stdin, which the CLI reads when it is not a terminal. */
export function pulumiConfigSet(pulumiStack: string, configKey: string, projectDir: string): Command {
  return command('pulumi', ['config', 'set', '--secret', '--stack', pulumiStack, '--cwd', projectDir, configKey], `set ${configKey} in the Pulumi config of ${pulumiStack}`);
}

export interface Mismatch {
  container: string;
  variable: string;
  secret: SecretCarry;
}

/**
 * The containers that exist and carry a secret in their environment must run
 * with the value the env file holds: otherwise the env file is not what the
 * stack runs with, and carrying it over would hand Pulumi a wrong password.
 */
export async function compareWithContainers(model: Model, values: ReadonlyMap<string, string>, runner: Runner): Promise<{ compared: string[]; mismatches: Mismatch[] }> {
  const users = model.containers.filter((c) => c.environment.some((e) => e.secret !== undefined));
  const found = await inspectContainers(runner, users.map((c) => c.name));
  const mismatches: Mismatch[] = [];
  for (const state of found) {
    const container = users.find((c) => c.name === state.Name);
    for (const variable of container?.environment ?? []) {
      const secret = carries(model).find((c) => c.key === variable.secret);
      if (secret === undefined) continue;
      const prefix = `${variable.name}=`;
      const running = (state.Config.Env ?? []).find((entry) => entry.startsWith(prefix))?.slice(prefix.length);
      if (running !== undefined && running !== values.get(secret.key)) mismatches.push({ container: state.Name, variable: variable.name, secret });
    }
  }
  return { compared: found.map((c) => c.Name), mismatches };
}

function mismatchError(model: Model, envFile: string, mismatches: Mismatch[]): UsageError {
  const lines = mismatches.map((m) => `  ${m.container} runs with a ${m.variable} that is not ${envFile}'s ${m.secret.variable}`);
  const first = mismatches[0];
  return new UsageError(
    [
      `${envFile} does not hold the secrets the ${model.project} containers run with; nothing was changed:`,
      ...lines,
      `Put the running values into ${envFile} (docker inspect --format '{{range .Config.Env}}{{println .}}{{end}}' ${first?.container ?? '<container>'}), ` +
        'or, if the password was changed inside the database after the container was created, recreate the container with the new value first ' +
        `(docker compose -p ${model.project} -f compose/${model.app}.yml -f compose/${model.app}.${model.env}.yml up -d); then run this again.`,
    ].join('\n'),
  );
}

export interface SecretsToPulumiOptions {
  runner: Runner;
  envFile: string;
  /** The directory of Pulumi.yaml, passed to `pulumi --cwd`. */
  projectDir: string;
  log: (line: string) => void;
}

export async function secretsToPulumi(model: Model, options: SecretsToPulumiOptions): Promise<SecretsToPulumiResult> {
  const { runner, envFile, projectDir } = options;
  const pulumiStack = pulumiStackName(model);
  const base = { stack: `${model.app}-${model.env}`, pulumiStack, envFile };
  if (model.secrets.length === 0) return { ...base, set: [], compared: [] };
  let text: string;
  try {
    text = readFileSync(envFile, 'utf8');
  } catch (err) {
    throw new UsageError(
      `cannot read ${envFile} (${err instanceof Error ? err.message : String(err)}): name the env file the Compose stack uses with --compose-env; nothing was changed`,
    );
  }
  const values = composeSecretValues(model, text, envFile);
  const { compared, mismatches } = await compareWithContainers(model, values, runner);
  if (mismatches.length > 0) throw mismatchError(model, envFile, mismatches);

  const items = carries(model);
  if (runner.dryRun) {
    runner.plan(`set -a; . ${shellQuote(envFile)}; set +a   # the values, from the env file Compose reads`);
    for (const item of items) runner.plan(`printf '%s' "$${item.variable}" | ${renderCommand(pulumiConfigSet(pulumiStack, item.configKey, projectDir))}`);
    return { ...base, set: [], compared };
  }
  // Fails before anything is set when the CLI is missing, rather than after the first value.
  try {
    await runner.run(command('pulumi', ['version'], 'find the Pulumi CLI', false));
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\nInstall the Pulumi CLI first (docs/pulumi.md, step 1); nothing was changed`);
  }
  for (const item of items) {
    await runner.run(pulumiConfigSet(pulumiStack, item.configKey, projectDir), { input: values.get(item.key) ?? '' });
    options.log(`${item.configKey} <- ${item.variable} (${envFile})`);
  }
  return { ...base, set: items, compared };
}
