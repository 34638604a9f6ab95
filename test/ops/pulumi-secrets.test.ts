// secrets.mjs to-pulumi: moving a stack from Compose to Pulumi carries the
// passwords Compose users keep in compose/.env into the Pulumi stack config, so
// Pulumi does not generate new ones the databases never knew. The Pulumi CLI
// cannot be installed here: a stand-in `pulumi` on PATH records its arguments and
// its stdin, which is all the real one gets from stowage.
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/config/errors.js';
import { selectStack } from '../../src/config/select.js';
import { carries, composeSecretValues, pulumiConfigSet } from '../../src/ops/pulumi-secrets.js';
import { repoRoot, runScript, type RunResult } from '../helpers/run.js';
import { TempDirs, yamlText } from '../helpers/stacks.js';
import { removeProject, runService, show, uniqueProject } from '../helpers/engine.js';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

const digidig = selectStack('digidig-prod', join(repoRoot, 'stacks')).model;
const POSTGRES = 'pg-value-from-env-file-4c1d';
const MONGO = "mongo 'value' with $ and spaces";
const ENV_FILE_TEXT = `# compose/.env\nDIGIDIG_POSTGRES_PASSWORD=${POSTGRES}\nDIGIDIG_MONGO_PASSWORD="${MONGO}"\nOTHER=1\n`;

/** A `pulumi` that writes each call's arguments and stdin into $FAKE_PULUMI_LOG/<n>.args and <n>.stdin. */
function fakePulumi(): { bin: string; log: string; calls: () => Array<{ args: string[]; stdin: string }> } {
  const dir = temp.make('stowage-fake-pulumi-');
  const bin = join(dir, 'bin');
  const log = join(dir, 'log');
  mkdirSync(bin);
  mkdirSync(log);
  writeFileSync(
    join(bin, 'pulumi'),
    '#!/bin/sh\nn=$(ls "$FAKE_PULUMI_LOG" | wc -l)\nprintf "%s\\n" "$@" > "$FAKE_PULUMI_LOG/$n.args"\ncat > "$FAKE_PULUMI_LOG/$n.stdin"\n[ "$1" = version ] && echo v3.248.0\nexit 0\n',
  );
  chmodSync(join(bin, 'pulumi'), 0o755);
  const calls = (): Array<{ args: string[]; stdin: string }> =>
    readdirSync(log)
      .filter((f) => f.endsWith('.args'))
      .sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10))
      .map((f) => ({
        args: readFileSync(join(log, f), 'utf8').split('\n').slice(0, -1),
        stdin: readFileSync(join(log, f.replace(/\.args$/, '.stdin')), 'utf8'),
      }));
  return { bin, log, calls };
}

function toPulumi(args: string[], pulumi: ReturnType<typeof fakePulumi>): Promise<RunResult> {
  return runScript('secrets', ['to-pulumi', ...args], { env: { PATH: `${pulumi.bin}:${process.env['PATH'] ?? ''}`, FAKE_PULUMI_LOG: pulumi.log } });
}

describe('the values and commands', () => {
  it('maps each declared secret from its Compose variable to the key the program reads', () => {
    expect(carries(digidig)).toEqual([
      { key: 'postgres_password', variable: 'DIGIDIG_POSTGRES_PASSWORD', configKey: 'stowage:postgres_password' },
      { key: 'mongo_password', variable: 'DIGIDIG_MONGO_PASSWORD', configKey: 'stowage:mongo_password' },
    ]);
  });

  it('reads the values as Compose does, quotes removed', () => {
    expect(composeSecretValues(digidig, ENV_FILE_TEXT, 'compose/.env')).toEqual(new Map([['postgres_password', POSTGRES], ['mongo_password', MONGO]]));
  });

  it('refuses when a variable is missing or empty, naming every one of them', () => {
    const call = (): unknown => composeSecretValues(digidig, 'DIGIDIG_POSTGRES_PASSWORD=\n', 'compose/.env');
    expect(call).toThrow(UsageError);
    expect(call).toThrow(/compose\/\.env does not set DIGIDIG_POSTGRES_PASSWORD, DIGIDIG_MONGO_PASSWORD/);
  });

  it('never puts a value into the command line: `pulumi config set --secret` reads it from stdin', () => {
    expect(pulumiConfigSet('digidig-prod', 'stowage:postgres_password', '/srv/stowage').args).toEqual([
      'config', 'set', '--secret', '--stack', 'digidig-prod', '--cwd', '/srv/stowage', 'stowage:postgres_password',
    ]);
  });
});

describe('secrets.mjs to-pulumi --stack digidig-prod', () => {
  const envFile = join(temp.make('stowage-envfile-'), '.env');
  writeFileSync(envFile, ENV_FILE_TEXT);

  it('sets every secret in the Pulumi config of digidig-prod, each value on stdin only', async () => {
    const pulumi = fakePulumi();
    const result = await toPulumi(['--stack', 'digidig-prod', '--compose-env', envFile, '--json'], pulumi);
    expect(result.code, show(result)).toBe(0);
    const sets = pulumi.calls().filter((c) => c.args[0] === 'config');
    expect(sets.map((c) => c.args)).toEqual([
      ['config', 'set', '--secret', '--stack', 'digidig-prod', '--cwd', repoRoot, 'stowage:postgres_password'],
      ['config', 'set', '--secret', '--stack', 'digidig-prod', '--cwd', repoRoot, 'stowage:mongo_password'],
    ]);
    expect(sets.map((c) => c.stdin)).toEqual([POSTGRES, MONGO]);
    expect(`${result.stdout}${result.stderr}`).not.toContain(POSTGRES);
    expect(`${result.stdout}${result.stderr}`).not.toContain(MONGO);
  });

  it('with --dry-run prints the commands, values only as variables of the env file, and runs no pulumi', async () => {
    const pulumi = fakePulumi();
    const result = await toPulumi(['--stack', 'digidig-prod', '--compose-env', envFile, '--dry-run'], pulumi);
    expect(result.code, show(result)).toBe(0);
    expect(pulumi.calls()).toEqual([]);
    expect(result.stdout).toContain(`printf '%s' "$DIGIDIG_POSTGRES_PASSWORD" | pulumi config set --secret --stack digidig-prod --cwd ${repoRoot}`);
    expect(result.stdout).not.toContain(POSTGRES);
  });

  it('refuses with exit 2 and sets nothing when the env file lacks a secret', async () => {
    const pulumi = fakePulumi();
    const partial = join(temp.make('stowage-envfile-'), '.env');
    writeFileSync(partial, `DIGIDIG_POSTGRES_PASSWORD=${POSTGRES}\n`);
    const result = await toPulumi(['--stack', 'digidig-prod', '--compose-env', partial], pulumi);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain('does not set DIGIDIG_MONGO_PASSWORD');
    expect(pulumi.calls()).toEqual([]);
  });

  it('refuses with exit 2 when the env file does not exist', async () => {
    const pulumi = fakePulumi();
    const result = await toPulumi(['--stack', 'digidig-prod', '--compose-env', join(envFile, 'missing')], pulumi);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toMatch(/cannot read .*missing/);
    expect(existsSync(pulumi.log) && pulumi.calls().length === 0).toBe(true);
  });
});

describe('secrets.mjs to-pulumi against the containers the Compose stack runs (engine)', () => {
  const project = uniqueProject('mig');
  const stacksDir = temp.stacksDir({
    [`${project}.yaml`]: yamlText`
      app: ${project}
      secrets:
        db_password: {}
      volumes: {}
      services:
        db:
          image: stowage-test/busybox:1
          environment: { POSTGRES_PASSWORD: { secret: db_password } }
        api:
          image: stowage-test/busybox:1
          environment: { DB_PASSWORD: { secret: db_password } }
      environments:
        dev: {}
    `,
  });
  const variable = `${project.toUpperCase()}_DB_PASSWORD`;
  const envFile = join(temp.make('stowage-envfile-'), '.env');
  const run = (pulumi: ReturnType<typeof fakePulumi>): Promise<RunResult> =>
    toPulumi(['--stack', `${project}-dev`, '--stacks-dir', stacksDir, '--compose-env', envFile, '--json'], pulumi);

  beforeAll(async () => {
    await runService(project, 'db', { mounts: [], env: { POSTGRES_PASSWORD: 'initialised-with-this-77' } });
    await runService(project, 'api', { mounts: [], env: { DB_PASSWORD: 'initialised-with-this-77' } });
  });
  afterAll(() => removeProject(project));

  it('refuses with exit 2, naming each container, when the env file is not what they run with', async () => {
    writeFileSync(envFile, `${variable}=edited-since-77\n`);
    const pulumi = fakePulumi();
    const result = await run(pulumi);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain(`${project}-db runs with a POSTGRES_PASSWORD that is not ${envFile}'s ${variable}`);
    expect(result.stderr).toContain(`${project}-api runs with a DB_PASSWORD that is not`);
    expect(result.stderr).not.toContain('initialised-with-this-77');
    expect(pulumi.calls()).toEqual([]);
  });

  it('carries the value over when it is the one the containers run with', async () => {
    writeFileSync(envFile, `${variable}=initialised-with-this-77\n`);
    const pulumi = fakePulumi();
    const result = await run(pulumi);
    expect(result.code, show(result)).toBe(0);
    const report: unknown = JSON.parse(result.stdout);
    expect(report).toMatchObject({ pulumiStack: `${project}-dev`, compared: [`${project}-db`, `${project}-api`] });
    expect(pulumi.calls().filter((c) => c.args[0] === 'config').map((c) => [c.args.at(-1), c.stdin])).toEqual([['stowage:db_password', 'initialised-with-this-77']]);
  });
});
