import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sweepScratch } from '../session/scratch.js';
import { CheckFailed, StackFileError, UsageError } from '../config/errors.js';
import { engineJson, type EngineEndpoint } from '../engine/endpoint.js';

/**
 * The command-line contract shared by every script: parsing, the common
 * options (--help, --json, --stacks-dir, --yes, --dry-run), where output goes,
 * and the exit codes (0 done, 1 failed, 2 bad usage, 3 a check found a problem).
 */

export const EXIT = { ok: 0, failed: 1, usage: 2, check: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  value?: string;
  description: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  /** Positional words allowed (e.g. inspect's `ls PATH`); none when absent. */
  positionals?: string;
  details?: string;
  /** It asks before it destroys anything, so --yes matters; elsewhere --yes is accepted and does nothing. */
  asks?: boolean;
}

/**
 * Options every script understands (docs/architecture.md, command line), so
 * the same flags can be passed to any of them: `--yes` too, a no-op where
 * nothing asks. Scripts that change anything add DRY_RUN_OPTION.
 */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'show this help' },
  json: { type: 'boolean', description: 'print exactly one JSON document on stdout; human output goes to stderr' },
  'stacks-dir': { type: 'string', value: 'DIR', description: 'read stack files from DIR (default: $STOWAGE_STACKS_DIR or ./stacks)' },
  yes: { type: 'boolean', short: 'y', description: 'accepted by every script; this one never asks, so it changes nothing' },
};

const YES_WHEN_ASKING: OptionSpec = { type: 'boolean', short: 'y', description: 'do not ask for confirmation (required without a terminal)' };

export const STACK_OPTION: Record<string, OptionSpec> = {
  stack: { type: 'string', value: '<app>-<env>', description: 'stack file stacks/<app>.yaml and its environment' },
};

/** Scripts that talk to a Docker engine. */
export const ENGINE_OPTION: Record<string, OptionSpec> = {
  engine: {
    type: 'string',
    value: 'URL',
    description: 'the engine to talk to, overriding the stack\'s environments.<env>.engine and DOCKER_HOST: ssh://user@host[:port], tcp://host:port, unix:///path',
  },
};

export const DRY_RUN_OPTION: Record<string, OptionSpec> = {
  'dry-run': { type: 'boolean', description: 'print the docker commands it would run and change nothing' },
};

/** Every option of a command: its own, then the common ones. */
export function optionsOf(spec: CommandSpec): Record<string, OptionSpec> {
  return { ...spec.options, ...COMMON_OPTIONS, ...(spec.asks === true ? { yes: YES_WHEN_ASKING } : {}) };
}

export type Values = Record<string, string | boolean | Array<string | boolean> | undefined>;

export interface Invocation {
  values: Values;
  positionals: string[];
  out: Output;
}

/** Where output goes: with --json, stdout carries one document and everything else goes to stderr. */
export class Output {
  readonly json: boolean;
  readonly interactive: boolean;
  private engine: EngineEndpoint | undefined;

  constructor(json: boolean) {
    this.json = json;
    this.interactive = !json && process.stderr.isTTY === true;
  }

  /** The engine this command talks to: every JSON document it prints says which (`engine`). */
  talksTo(engine: EngineEndpoint): void {
    this.engine = engine;
  }

  /** A JSON document with the engine added (documents of commands that talk to one engine). */
  withEngine(document: unknown): unknown {
    if (this.engine === undefined || document === null || typeof document !== 'object' || Array.isArray(document) || 'engine' in document) return document;
    return { ...document, engine: engineJson(this.engine) };
  }

  /** Human-readable progress and reports. */
  say(text: string): void {
    (this.json ? process.stderr : process.stdout).write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Warnings and notes: always stderr. */
  warn(text: string): void {
    process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** The result: one JSON document with --json, otherwise the human rendering. */
  result(document: unknown, human: () => string): void {
    if (this.json) process.stdout.write(`${JSON.stringify(this.withEngine(document), null, 2)}\n`);
    else {
      const text = human();
      if (text !== '') this.say(text);
    }
  }
}

export function helpText(spec: CommandSpec): string {
  const all = optionsOf(spec);
  const lines = Object.entries(all).map(([name, o]) => {
    const flag = `${o.short === undefined ? '    ' : `-${o.short}, `}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    return `  ${flag.padEnd(34)} ${o.description}${o.multiple === true ? ' (repeatable)' : ''}`;
  });
  return [
    `${spec.name}: ${spec.summary}`,
    '',
    `Usage: npx zx scripts/${spec.name}.mjs ${spec.usage}`,
    '',
    'Options:',
    ...lines,
    '',
    'Exit codes: 0 done; 1 the operation failed; 2 bad usage or invalid stack file; 3 a check found a problem.',
    ...(spec.details === undefined ? [] : ['', spec.details]),
  ].join('\n');
}

export function parseInvocation(spec: CommandSpec, argv: string[]): Invocation {
  const options = optionsOf(spec);
  const config = Object.fromEntries(
    Object.entries(options).map(([name, o]) => [
      name,
      { type: o.type, ...(o.multiple === true ? { multiple: true } : {}), ...(o.short === undefined ? {} : { short: o.short }) },
    ]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: config, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${err instanceof Error ? err.message : String(err)}\nRun npx zx scripts/${spec.name}.mjs --help for the options.`);
  }
  const values: Values = { ...parsed.values };
  if (spec.positionals === undefined && parsed.positionals.length > 0 && values['help'] !== true) {
    throw new UsageError(`unexpected argument "${parsed.positionals[0] ?? ''}"; run npx zx scripts/${spec.name}.mjs --help`);
  }
  return { values, positionals: parsed.positionals, out: new Output(values['json'] === true) };
}

export function stringValue(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function stringList(values: Values, name: string): string[] {
  const value = values[name];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return typeof value === 'string' ? [value] : [];
}

export function flag(values: Values, name: string): boolean {
  return values[name] === true;
}

export function requireString(values: Values, name: string, spec: CommandSpec): string {
  const value = stringValue(values, name);
  if (value === undefined || value === '') {
    throw new UsageError(`--${name} is required; usage: npx zx scripts/${spec.name}.mjs ${spec.usage}`);
  }
  return value;
}

/** Maps what went wrong onto the exit code contract and prints it where the operator will see it. */
export function exitCodeFor(err: unknown, out: Output | undefined): ExitCode {
  const json = out?.json === true;
  const report = (kind: string, message: string, extra: Record<string, unknown> = {}): void => {
    process.stderr.write(`${message}\n`);
    if (json) process.stdout.write(`${JSON.stringify(out?.withEngine({ error: { kind, message, ...extra } }) ?? { error: { kind, message, ...extra } }, null, 2)}\n`);
  };
  if (err instanceof StackFileError) {
    report('invalid-stack-file', `invalid stack file:\n${err.message}`, { issues: err.issues });
    return EXIT.usage;
  }
  if (err instanceof UsageError) {
    report('usage', `error: ${err.message}`);
    return EXIT.usage;
  }
  if (err instanceof CheckFailed) {
    report('check-failed', err.message);
    return EXIT.check;
  }
  const message = err instanceof Error ? err.message : String(err);
  report('failed', `error: ${message}`);
  if (process.env['STOWAGE_DEBUG'] === '1' && err instanceof Error && err.stack !== undefined) process.stderr.write(`${err.stack}\n`);
  return EXIT.failed;
}

export type Handler = (inv: Invocation) => Promise<ExitCode>;

/** Runs one command: parse, --help, handler, exit code. Scripts call only this. */
export async function runCli(spec: CommandSpec, argv: string[], handler: Handler): Promise<ExitCode> {
  let out: Output | undefined;
  try {
    const inv = parseInvocation(spec, argv);
    out = inv.out;
    if (flag(inv.values, 'help')) {
      process.stdout.write(`${helpText(spec)}\n`);
      return EXIT.ok;
    }
    return await handler(inv);
  } catch (err) {
    return exitCodeFor(err, out ?? (argv.includes('--json') ? new Output(true) : undefined));
  }
}

/**
 * The arguments after the script's own path, however it was started
 * (`npx zx scripts/x.mjs`, `zx scripts/x.mjs`, `node scripts/x.mjs`).
 */
export function scriptArguments(scriptUrl: string, argv: string[] = process.argv): string[] {
  const script = realpathSync(fileURLToPath(scriptUrl));
  const index = argv.findIndex((arg, i) => {
    if (i === 0) return false;
    try {
      return realpathSync(arg) === script;
    } catch {
      return false;
    }
  });
  return index === -1 ? argv.slice(2) : argv.slice(index + 1);
}

/** Entry point for scripts/*.mjs: run the command and exit with its code. */
export async function main(spec: CommandSpec, scriptUrl: string, handler: Handler): Promise<never> {
  // If the event loop ever empties while an operation is still pending, that is a failure, not success.
  process.exitCode = EXIT.failed;
  // Private copies (decoded databases) a killed run left behind go first.
  sweepScratch();
  const code = await runCli(spec, scriptArguments(scriptUrl), handler);
  // Let piped stdout drain before exiting, or a large --json document is cut short.
  await new Promise<void>((done) => process.stdout.write('', () => done()));
  process.exit(code);
}
