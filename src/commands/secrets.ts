// scripts/secrets.mjs: parse its options (spec), call the library, print the result; no logic here.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../config/errors.js';
import { DRY_RUN_OPTION, EXIT, STACK_OPTION, ENGINE_OPTION, flag, stringList, stringValue, type CommandSpec, type Handler, type Output, type Values } from '../cli/cli.js';
import { confirmDestructive } from '../cli/confirm.js';
import { secretsToPulumi, type SecretsToPulumiResult } from '../ops/pulumi-secrets.js';
import { checkSecrets, initSecrets, rotateSecrets, selectSecretTarget, type CheckReport, type InitResult, type RotateResult } from '../ops/secrets.js';
import { stackContext } from './context.js';

/** Where Pulumi.yaml is: the stowage checkout this command runs from. */
const projectDir = fileURLToPath(new URL('../../', import.meta.url));

export const spec: CommandSpec = {
  name: 'secrets',
  asks: true,
  summary: 'create, rotate and check a stack\'s secret file (pim: data/secrets.env) inside its volume; carry Compose secrets into the Pulumi config',
  usage:
    'init|rotate|check --stack <app>-<env> [--volume V] [--file PATH] [--key K]... [--force-encryption-key] [--restart] [--yes] [--dry-run] [--json]\n' +
    '       to-pulumi --stack <app>-<env> [--compose-env FILE] [--dry-run] [--json]',
  positionals: 'init|rotate|check|to-pulumi',
  options: {
    ...STACK_OPTION,
    ...ENGINE_OPTION,
    volume: { type: 'string', value: 'V', description: 'the volume holding the secret file, when the stack has several' },
    file: { type: 'string', value: 'PATH', description: 'the secret file (path inside the volume), when the volume has several' },
    key: { type: 'string', multiple: true, value: 'K', description: 'rotate: only this key (default: all keys)' },
    'force-encryption-key': { type: 'boolean', description: 'rotate: allow rotating ENCRYPTION_KEY, which makes data encrypted with the old key unreadable' },
    restart: { type: 'boolean', description: 'rotate: restart the running containers that mount the volume, so they load the new values' },
    'compose-env': { type: 'string', value: 'FILE', description: 'to-pulumi: the env file the Compose stack reads its secrets from (default: compose/.env)' },
    ...DRY_RUN_OPTION,
  },
  details: [
    'init    create the file with random values (JWT_SECRET, ENCRYPTION_KEY: 32 bytes each, hex) when it is missing;',
    '        an existing file is never overwritten (exit 0, nothing touched).',
    'rotate  new values for all keys or --key K; the old file is kept next to it as <file>.<UTC timestamp>.bak;',
    '        rotating JWT_SECRET logs every user out; ENCRYPTION_KEY needs --force-encryption-key. Asks first.',
    'check   missing file or keys, weak values, unsafe mode, wrong owner: exit 3. Values are never printed.',
    'to-pulumi  moving from Compose to Pulumi: set every declared secret (digidig: DIGIDIG_POSTGRES_PASSWORD, ...) from',
    '        the env file in the Pulumi config (pulumi config set --secret --stack <app>-<env> stowage:<secret>, value on',
    '        stdin), after checking the existing containers run with those values. Run it before docker compose down.',
    'pim: secrets.mjs init --stack pim-prod; secrets.mjs rotate --stack pim-prod --key JWT_SECRET --restart; secrets.mjs check --stack pim-prod',
    'digidig: secrets.mjs to-pulumi --stack digidig-prod --compose-env compose/.env',
  ].join('\n'),
};

const SUBCOMMANDS = ['init', 'rotate', 'check', 'to-pulumi'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

function isSubcommand(word: string): word is Subcommand {
  return (SUBCOMMANDS as readonly string[]).includes(word);
}

/** Options that make sense only for some subcommands: anything else is a mistake worth stopping for. */
const ONLY_FOR: Record<string, readonly Subcommand[]> = {
  key: ['rotate'],
  'force-encryption-key': ['rotate'],
  restart: ['rotate'],
  'dry-run': ['init', 'rotate', 'to-pulumi'],
  volume: ['init', 'rotate', 'check'],
  file: ['init', 'rotate', 'check'],
  'compose-env': ['to-pulumi'],
};

function subcommandOf(positionals: string[], values: Values): Subcommand {
  const [word, ...rest] = positionals;
  if (word === undefined) throw new UsageError(`say what to do: ${SUBCOMMANDS.join(', ')}; usage: npx zx scripts/secrets.mjs ${spec.usage}`);
  if (!isSubcommand(word)) throw new UsageError(`unknown subcommand "${word}"; expected one of ${SUBCOMMANDS.join(', ')}`);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0] ?? ''}" after ${word}; run npx zx scripts/secrets.mjs --help`);
  for (const [option, allowed] of Object.entries(ONLY_FOR)) {
    const value = values[option];
    if (value !== undefined && value !== false && !allowed.includes(word)) {
      throw new UsageError(`--${option} does not apply to ${word} (only to ${allowed.join(', ')})`);
    }
  }
  return word;
}

export const handler: Handler = async ({ values, positionals, out }) => {
  const sub = subcommandOf(positionals, values);
  const ctx = stackContext(spec, values, out);
  const model = ctx.selected.model;
  if (sub === 'to-pulumi') {
    const envFile = resolve(stringValue(values, 'compose-env') ?? 'compose/.env');
    const result = await secretsToPulumi(model, { runner: ctx.runner, envFile, projectDir, log: ctx.log });
    printToPulumi(out, result, ctx.runner.dryRun);
    return EXIT.ok;
  }
  const target = selectSecretTarget(model, { volume: stringValue(values, 'volume'), file: stringValue(values, 'file') });
  const options = { runner: ctx.runner, log: ctx.log };
  switch (sub) {
    case 'init': {
      const result = await initSecrets(model, target, options);
      if (ctx.runner.dryRun) return dryRunResult(out, sub, result);
      printInit(out, result);
      return EXIT.ok;
    }
    case 'rotate': {
      const result = await rotateSecrets(model, target, {
        ...options,
        keys: stringList(values, 'key'),
        forceEncryptionKey: flag(values, 'force-encryption-key'),
        restart: flag(values, 'restart'),
        confirm: (description) => confirmDestructive(description, { yes: flag(values, 'yes'), production: model.production, project: model.project }),
      });
      if (ctx.runner.dryRun) return dryRunResult(out, sub, result);
      printRotate(out, result);
      return EXIT.ok;
    }
    case 'check': {
      const report = await checkSecrets(model, target, options);
      printCheck(out, report);
      return report.ok ? EXIT.ok : EXIT.check;
    }
  }
};

function dryRunResult(out: Output, sub: Subcommand, result: InitResult | RotateResult): typeof EXIT.ok {
  // The plan went to the human channel; --json still gets its one document.
  if (out.json) process.stdout.write(`${JSON.stringify({ dryRun: true, subcommand: sub, stack: result.stack, volume: result.volume, file: result.file }, null, 2)}\n`);
  return EXIT.ok;
}

function backupHint(result: { stack: string; volume: string; file: string }): string {
  return `npx zx scripts/backup.mjs --stack ${result.stack} --volume ${result.volume} --path ${result.file}`;
}

function printInit(out: Output, r: InitResult): void {
  out.result(r, () => {
    const where = `${r.volume}/${r.file}`;
    if (r.outcome === 'exists') return `${where} exists already (mode ${r.mode ?? '?'}, owner ${r.owner ?? '?'}); it was left untouched. Check it with: secrets.mjs check --stack ${r.stack}`;
    if (r.outcome === 'appeared') return `${where} was created by someone else while stowage was writing it; it was left untouched.`;
    return [
      `created ${where} (mode ${r.mode ?? '?'}, owner ${r.owner ?? '?'}) with ${r.keys.join(', ')}`,
      `  it must be in every backup; take one now: ${backupHint(r)}`,
    ].join('\n');
  });
}

function printRotate(out: Output, r: RotateResult): void {
  out.result(r, () =>
    [
      `rotated ${r.rotated.join(', ')} in ${r.volume}/${r.file} (mode ${r.mode}, owner ${r.owner})`,
      `  the previous file is kept inside the volume as ${r.volume}/${r.backupCopy} (mode 0600)`,
      `  take a stowage backup now as well: ${backupHint(r)}`,
      ...r.effects.map((e) => `  ${e.key}: ${e.effect}`),
      r.restarted.length > 0 ? `  restarted ${r.restarted.join(', ')}, so the new values are in use` : '',
      r.restartNeeded.length > 0
        ? `  ${r.restartNeeded.join(', ')} still use the old values: restart ${r.restartNeeded.length === 1 ? 'it' : 'them'} (docker restart ${r.restartNeeded.join(' ')}, or run again with --restart)`
        : '',
      r.restarted.length === 0 && r.restartNeeded.length === 0 ? '  no container that mounts the volume is running: the new values apply when the backend starts' : '',
    ]
      .filter((l) => l !== '')
      .join('\n'),
  );
}

function printToPulumi(out: Output, r: SecretsToPulumiResult, dryRun: boolean): void {
  out.result({ ...r, dryRun }, () => {
    if (dryRun) return '';
    if (r.set.length === 0) return `${r.stack} declares no secrets: nothing to carry into the Pulumi config`;
    return [
      `set ${r.set.map((s) => s.configKey).join(', ')} in the Pulumi config of ${r.pulumiStack} from ${r.envFile}`,
      r.compared.length > 0 ? `  the values are the ones ${r.compared.join(', ')} run with` : '  no container of the stack exists, so the values could not be compared with what runs',
      `  check: pulumi config --stack ${r.pulumiStack}; then docker compose down (without -v), and pulumi up --stack ${r.pulumiStack}`,
    ].join('\n');
  });
}

function printCheck(out: Output, r: CheckReport): void {
  out.result(r, () => {
    const where = `${r.volume}/${r.file}`;
    const facts = r.exists ? ` (mode ${r.mode ?? '?'}, owner ${r.owner ?? '?'})` : '';
    if (r.ok) return `${where}${facts}: ok${r.keys.length > 0 ? `; ${r.keys.map((k) => k.name).join(', ')} present and strong` : ''}`;
    return [`${where}${facts}: ${r.problems.length} problem(s)`, ...r.problems.map((p) => `  - ${p.message}`)].join('\n');
  });
}
