// scripts/runbook.mjs: parse its options (spec), call the library, print the result; no logic here.
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../config/errors.js';
import { selectStack, stacksDirectory } from '../config/select.js';
import { DRY_RUN_OPTION, EXIT, STACK_OPTION, ENGINE_OPTION, flag, requireString, stringList, stringValue, type CommandSpec, type ExitCode, type Handler, type Output, type Values } from '../cli/cli.js';
import { confirmDestructive } from '../cli/confirm.js';
import { command, Runner, shellQuote } from '../engine/command.js';
import { runRunbook, type RunbookResult } from '../runbook/run.js';
import { docsDrift, outdatedDocs, renderRunbookDocs, writeDocs } from '../runbook/docs.js';
import { spawnExec } from '../runbook/exec.js';
import { listRunbooks, loadRunbook, runbookPath } from '../runbook/load.js';
import { COMPOSE_V1, COMPOSE_V2, resolveVars, type ComposeInvocation } from '../runbook/plan.js';
import { backupRoot, useStackEngine } from './context.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export const spec: CommandSpec = {
  name: 'runbook',
  asks: true,
  summary: 'run an executable runbook (runbooks/<name>.yaml) against a stack, or render the runbook pages',
  usage: '<name> --stack <app>-<env> [--var name=value]... [--dry-run] [--resume] [--yes] [--json] | --render-docs [--check] | --list',
  positionals: '<name>',
  options: {
    ...STACK_OPTION,
    ...ENGINE_OPTION,
    var: { type: 'string', multiple: true, value: 'name=value', description: 'set a variable of the runbook' },
    resume: { type: 'boolean', description: 'continue the last run of this runbook from where its journal ends' },
    ...DRY_RUN_OPTION,
    to: { type: 'string', value: 'DIR', description: 'backup root, {{backups}} (default: the stack\'s backups.to, else ./backups)' },
    identity: { type: 'string', value: 'FILE', description: 'age identity for encrypted artifacts (default: $STOWAGE_AGE_IDENTITY)' },
    'runbooks-dir': { type: 'string', value: 'DIR', description: 'where <name>.yaml is (default: $STOWAGE_RUNBOOKS_DIR or the runbooks/ shipped with stowage)' },
    'journal-dir': { type: 'string', value: 'DIR', description: 'where journals are written (default: .stowage/runbooks)' },
    'compose-dir': { type: 'string', value: 'DIR', description: 'generated Compose files, {{compose_dir}} (default: compose/)' },
    list: { type: 'boolean', description: 'list the runbooks' },
    'render-docs': { type: 'boolean', description: 'write docs/runbooks/*.md from the runbooks' },
    check: { type: 'boolean', description: 'with --render-docs: write nothing, exit 3 when the pages are not current' },
    'docs-dir': { type: 'string', value: 'DIR', description: 'with --render-docs: output directory (default: docs/runbooks of stowage)' },
  },
  details:
    'Runbooks: safe-update, restore (--var mode=full|secrets|database), restore-drill, missing-volumes, clean-start.\n' +
    'Each step is journaled in .stowage/runbooks/<project>/<runbook>-<time>.jsonl. A failed step stops the run, says\n' +
    'what failed and runs the runbook\'s onFailure steps; --resume continues from the failed step.\n' +
    'Exit codes: 3 when the failed step found a problem (exit 3 of an operation, a drill mismatch) or --check found stale pages.',
};

function runbooksDirectory(values: Values): string {
  return resolve(stringValue(values, 'runbooks-dir') ?? process.env['STOWAGE_RUNBOOKS_DIR'] ?? `${repoRoot}runbooks`);
}

/** `docker compose` when the plugin works, else Compose v1; STOWAGE_COMPOSE=docker-compose|"docker compose" decides explicitly. */
async function detectCompose(runner: Runner): Promise<ComposeInvocation> {
  const forced = process.env['STOWAGE_COMPOSE'];
  if (forced === 'docker-compose') return COMPOSE_V1;
  if (forced === 'docker compose') return COMPOSE_V2;
  const works = async (program: string, args: string[]): Promise<boolean> => {
    try {
      return (await runner.run(command(program, args, `check ${program} ${args[0] ?? ''}`, false), { allowFailure: true })).code === 0;
    } catch {
      return false;
    }
  };
  if (await works('docker', ['compose', 'version'])) return COMPOSE_V2;
  if (await works('docker-compose', ['version'])) return COMPOSE_V1;
  throw new UsageError('this runbook runs Compose, but neither `docker compose` nor `docker-compose` works here: install the Compose plugin or docker-compose');
}

/** The same invocation with the flags that locate things, so "how to resume" can be pasted. */
function commandLine(name: string, values: Values, extra: string[]): string {
  const words = ['npx', 'zx', 'scripts/runbook.mjs', name, '--stack', stringValue(values, 'stack') ?? ''];
  for (const option of ['stacks-dir', 'engine', 'runbooks-dir', 'journal-dir', 'compose-dir', 'to', 'identity']) {
    const value = stringValue(values, option);
    if (value !== undefined) words.push(`--${option}`, value);
  }
  if (flag(values, 'yes')) words.push('--yes');
  return [...words, ...extra].map(shellQuote).join(' ');
}

function renderDocs(values: Values, out: Output): ExitCode {
  const docs = renderRunbookDocs(runbooksDirectory(values));
  const dir = resolve(stringValue(values, 'docs-dir') ?? `${repoRoot}docs/runbooks`);
  if (flag(values, 'check')) {
    const drift = docsDrift(docs, dir);
    out.result({ docs: dir, current: drift.length === 0, drift }, () =>
      drift.length === 0 ? `${docs.length} page(s) in ${dir} are current` : [...drift.map((d) => d.diff), `${drift.length} page(s) are not current: run npx zx scripts/runbook.mjs --render-docs`].join('\n'),
    );
    return drift.length === 0 ? EXIT.ok : EXIT.check;
  }
  if (flag(values, 'dry-run')) {
    const wouldWrite = outdatedDocs(docs, dir).map((d) => join(dir, d.name));
    out.result({ docs: dir, files: docs.map((d) => d.name), dryRun: true, wouldWrite }, () =>
      wouldWrite.length === 0 ? `${docs.length} page(s) in ${dir} already current; nothing to write` : `dry run: would write ${wouldWrite.join(', ')}`,
    );
    return EXIT.ok;
  }
  const written = writeDocs(docs, dir);
  out.result({ docs: dir, files: docs.map((d) => d.name), written }, () => (written.length === 0 ? `${docs.length} page(s) in ${dir} already current` : `wrote ${written.join(', ')}`));
  return EXIT.ok;
}

function human(result: RunbookResult): string {
  if (result.plan !== undefined) return result.plan.join('\n');
  const lines = [
    `runbook ${result.runbook} on ${result.stack}: ${result.status === 'ok' ? 'OK' : result.status.toUpperCase()} in ${result.seconds.toFixed(1)} s`,
    ...result.steps.map(
      (s) =>
        `  ${s.status.padEnd(11)} ${`${s.phase === 'onFailure' ? 'onFailure/' : ''}${s.id}${s.item === null ? '' : ` [${s.item}]`}`.padEnd(34)} ${s.seconds === undefined ? '' : `${s.seconds.toFixed(1)} s`}${s.reason === undefined || s.status === 'ok' ? '' : `  ${s.reason}`}`,
    ),
  ];
  if (result.journal !== undefined) lines.push(`  journal: ${result.journal}`);
  if (result.next !== undefined) lines.push(result.next);
  return lines.join('\n');
}

export const handler: Handler = async ({ values, positionals, out }) => {
  if (flag(values, 'render-docs')) return renderDocs(values, out);
  const dir = runbooksDirectory(values);
  if (flag(values, 'list')) {
    const books = listRunbooks(dir).map((f) => loadRunbook(f).book);
    out.result({ runbooks: books.map((b) => ({ name: b.runbook, title: b.title })) }, () => books.map((b) => `${b.runbook.padEnd(18)} ${b.title}`).join('\n'));
    return EXIT.ok;
  }
  if (flag(values, 'check')) throw new UsageError('--check goes with --render-docs');
  const [name, ...rest] = positionals;
  if (name === undefined) throw new UsageError(`say which runbook to run (${listRunbooks(dir).map((f) => f.replace(/^.*\//, '').replace(/\.ya?ml$/, '')).join(', ')}); usage: npx zx scripts/runbook.mjs ${spec.usage}`);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0] ?? ''}": one runbook at a time`);
  const loaded = loadRunbook(runbookPath(name, dir));
  const given = stringList(values, 'var');
  // A resumed run keeps the variables its journal recorded.
  const vars = flag(values, 'resume') ? new Map<string, string>() : resolveVars(loaded.book, given);
  const stacksDir = stacksDirectory(stringValue(values, 'stacks-dir'));
  const selected = selectStack(requireString(values, 'stack', spec), stacksDir);
  const model = selected.model;
  const engine = useStackEngine(selected, values, out);
  const runner = new Runner({ printPlan: (line) => out.say(line) });
  const result = await runRunbook({
    loaded,
    model,
    settings: {
      stack: requireString(values, 'stack', spec),
      stacksDir,
      composeDir: resolve(stringValue(values, 'compose-dir') ?? 'compose'),
      backups: backupRoot(values, selected, 'runbook.mjs'),
    },
    vars,
    varsGiven: given.length > 0,
    dryRun: flag(values, 'dry-run'),
    yes: flag(values, 'yes'),
    resume: flag(values, 'resume'),
    journalRoot: resolve(stringValue(values, 'journal-dir') ?? '.stowage/runbooks'),
    scriptsDir: `${repoRoot}scripts`,
    cwd: process.cwd(),
    identity: stringValue(values, 'identity') ?? process.env['STOWAGE_AGE_IDENTITY'],
    exec: spawnExec,
    runner,
    engine,
    compose: () => detectCompose(runner),
    interactive: process.stdin.isTTY === true,
    confirm: (what) => confirmDestructive(what, { yes: false, production: model.production, project: model.project }),
    say: (line) => out.say(line),
    resumeCommand: commandLine(name, values, ['--resume']),
    rerunCommand: commandLine(name, values, given.flatMap((v) => ['--var', v])),
  });
  out.result(result, () => human(result));
  if (result.exitCode === 0) return EXIT.ok;
  if (result.exitCode === 2) return EXIT.usage;
  if (result.exitCode === 3) return EXIT.check;
  return EXIT.failed;
};
