import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { writeFileAtomic } from '../util/durable-file.js';
import { listRunbooks, loadRunbook } from './load.js';
import { describeCondition, describeRetry } from './plan.js';
import { ACTIONS_SPEC, BUILTIN_LISTS, BUILTIN_SCALARS, LIST_DESCRIPTIONS } from './scope.js';
import type { RunbookFile, RunbookStep } from './types.js';

/**
 * docs/runbooks/*.md, generated from runbooks/*.yaml. Deterministic: the same
 * YAML always gives the same bytes, so CI can tell when the pages are stale.
 */

export interface RenderedDoc {
  name: string;
  content: string;
}

/** A word of a command as written in the runbook: `{{...}}` stays readable, anything else is shell-quoted. */
function docWord(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]*$/.test(word.replace(/\{\{[a-z][a-z0-9_.]*\}\}/g, ''))) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function templateCommand(step: RunbookStep): string | undefined {
  if (step.op !== undefined) return ['node', `scripts/${step.op}.mjs`, ...(step.args ?? [])].map(docWord).join(' ');
  if (step.run !== undefined) return step.run.map(docWord).join(' ');
  if (step.compose !== undefined) {
    return ['docker', 'compose', '-p', '{{project}}', '-f', '{{compose_dir}}/{{app}}.yml', '-f', '{{compose_dir}}/{{app}}.{{env}}.yml', ...step.compose].map(docWord).join(' ');
  }
  return undefined;
}

function indent(text: string, prefix: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => (l === '' ? '' : `${prefix}${l}`))
    .join('\n');
}

function stepSection(step: RunbookStep, number: number): string[] {
  const lines: string[] = [`${number}. **${step.id}**: ${step.title}`];
  const notes: string[] = [];
  if (step.when !== undefined) notes.push(`Runs only if ${describeCondition(step.when)}.`);
  if (step.forEach !== undefined) notes.push(`Runs once per item of \`{{${step.forEach}}}\`${LIST_DESCRIPTIONS[step.forEach] === undefined ? '' : ` (${LIST_DESCRIPTIONS[step.forEach] ?? ''})`}.`);
  if (step.confirm === true) notes.push('Destructive: asks for confirmation first; without a terminal the run needs `--yes`.');
  const retry = describeRetry(step);
  if (retry !== '') notes.push(`${retry[0]?.toUpperCase() ?? ''}${retry.slice(1)}.`);
  for (const [name, spec] of Object.entries(step.capture ?? {})) {
    notes.push(`Sets \`{{${name}}}\` from ${spec.json !== undefined ? `\`.${spec.json}\` of the JSON it prints` : spec.lines === true ? 'the lines it prints' : 'what it prints'}.`);
  }
  if (step.description !== undefined) lines.push('', indent(step.description, '   '));
  if (notes.length > 0) lines.push('', indent(notes.join(' '), '   '));
  const cmd = templateCommand(step);
  if (cmd !== undefined) lines.push('', '   ```sh', `   ${cmd}`, '   ```');
  if (step.action !== undefined) {
    const params = Object.entries(step.with ?? {}).map(([k, v]) => `${k}: \`${v}\``);
    lines.push('', `   Built-in \`${step.action}\`: ${ACTIONS_SPEC[step.action].summary}${params.length > 0 ? ` (${params.join(', ')})` : ''}.`);
  }
  lines.push('');
  return lines;
}

function usageLine(book: RunbookFile): string {
  const vars = Object.entries(book.vars ?? {}).map(([name, v]) => `[--var ${name}=${v.enum !== undefined ? v.enum.join('|') : '<value>'}]`);
  return ['npx zx scripts/runbook.mjs', book.runbook, '--stack <app>-<env>', ...vars, '[--dry-run] [--yes] [--resume]'].join(' ');
}

export function renderRunbookPage(book: RunbookFile, source: string): string {
  const lines: string[] = [
    `<!-- Generated from ${source} by npx zx scripts/runbook.mjs --render-docs: do not edit; edit the YAML and render again. -->`,
    `# ${book.runbook}: ${book.title}`,
    '',
    book.description.trimEnd(),
    '',
    '```sh',
    usageLine(book),
    '```',
    '',
    'Run it with `--dry-run` first: it prints every command below with the values filled in, and runs nothing.',
    ...([...book.steps, ...(book.onFailure ?? [])].some((s) => s.compose !== undefined)
      ? ['Compose steps run `docker compose`, or `docker-compose` where only Compose v1 is installed (`STOWAGE_COMPOSE` chooses), on the files `npx zx scripts/compose.mjs` generates.']
      : []),
    '',
  ];
  const vars = Object.entries(book.vars ?? {});
  if (vars.length > 0) {
    lines.push('## Variables', '', '| Variable | Default | Values | Meaning |', '|---|---|---|---|');
    for (const [name, v] of vars) lines.push(`| \`${name}\` | ${v.default === undefined ? '(required)' : `\`${v.default}\``} | ${v.enum?.join(', ') ?? 'any'} | ${v.description.replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`);
    lines.push('');
  }
  lines.push('## Steps', '');
  book.steps.forEach((step, i) => lines.push(...stepSection(step, i + 1)));
  const rollback = book.onFailure ?? [];
  if (rollback.length > 0) {
    lines.push('## When a step fails', '', 'The run stops at the failed step and runs these steps, in order, each only when its condition holds:', '');
    rollback.forEach((step, i) => lines.push(...stepSection(step, i + 1)));
  }
  lines.push(
    '## If it stops',
    '',
    'Every run writes a journal, `.stowage/runbooks/<project>/' + book.runbook + '-<UTC time>.jsonl`: one JSON line per step with its command, times, exit code and the last lines of its error output.',
    'A failed run says which step failed, its command and exit code.',
    rollback.length > 0
      ? 'When the rollback steps above ran, fix the cause and run the runbook again. When none of them applied, or the rollback itself stopped, `--resume` continues where the journal ends, with the same variables.'
      : 'After fixing the cause, `--resume` continues from the failed step, with the same variables; finished steps are not run again.',
    '',
  );
  return `${lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

function indexPage(books: Array<{ book: RunbookFile; file: string }>): string {
  const lines = [
    '<!-- Generated from runbooks/*.yaml by npx zx scripts/runbook.mjs --render-docs: do not edit. -->',
    '# Runbooks',
    '',
    'Executable runbooks: YAML files in `runbooks/`, validated against `schemas/runbook.schema.json`, run by',
    '`npx zx scripts/runbook.mjs <name> --stack <app>-<env>`. Each step runs a stowage operation, `docker`,',
    'Compose or `pulumi` with an argument list (never a shell string). `--dry-run` prints every command.',
    '',
    '| Runbook | What it does |',
    '|---|---|',
    ...books.map(({ book }) => `| [${book.runbook}](${book.runbook}.md) | ${book.title} |`),
    '',
    '## Variables in arguments',
    '',
    '`{{name}}` in an argument is replaced by its value; a word that is exactly a list (`"{{containers}}"`) becomes one argument per item.',
    'Go templates for `docker --format` (`{{.State.Status}}`, `{{json .}}`, `{{else}}`) are left alone.',
    '',
    '| Variable | Value |',
    '|---|---|',
    ...Object.entries(BUILTIN_SCALARS).map(([name, about]) => `| \`{{${name}}}\` | ${about} |`),
    '| `{{var.<name>}}` | a variable of the runbook (`--var name=value`, else its default) |',
    '| `{{<name>}}` | a value captured by an earlier step (`capture:`) or set by a built-in action |',
    '| `{{item}}`, `{{item.<field>}}` | the current item of a step with `forEach` |',
    '',
    '| List | Items |',
    '|---|---|',
    ...Object.keys(BUILTIN_LISTS).map((name) => `| \`{{${name}}}\` | ${LIST_DESCRIPTIONS[name] ?? ''} |`),
    '',
    '## Built-in actions',
    '',
    ...Object.entries(ACTIONS_SPEC).map(([name, spec]) => `- \`${name}\`: ${spec.summary}.`),
    '',
  ];
  return `${lines.join('\n').trimEnd()}\n`;
}

/** Every page: one per runbook and README.md, the index. Throws RunbookFileError for an invalid runbook. */
export function renderRunbookDocs(runbooksDir: string): RenderedDoc[] {
  const books = listRunbooks(runbooksDir).map((file) => ({ file, book: loadRunbook(file).book }));
  return [
    ...books.map(({ book, file }) => ({ name: `${book.runbook}.md`, content: renderRunbookPage(book, `runbooks/${basename(file)}`) })),
    { name: 'README.md', content: indexPage(books) },
  ];
}

export interface DocDrift {
  file: string;
  state: 'missing' | 'changed' | 'stale';
  diff: string;
}

export function docsDrift(docs: RenderedDoc[], dir: string, cwd: string = process.cwd()): DocDrift[] {
  const label = (name: string): string => relative(cwd, join(dir, name)) || name;
  const drift: DocDrift[] = [];
  for (const doc of docs) {
    const path = join(dir, doc.name);
    const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (current === doc.content) continue;
    drift.push({ file: label(doc.name), state: current === undefined ? 'missing' : 'changed', diff: createTwoFilesPatch(`${label(doc.name)} (committed)`, `${label(doc.name)} (rendered)`, current ?? '', doc.content) });
  }
  if (existsSync(dir)) {
    const expected = new Set(docs.map((d) => d.name));
    for (const name of readdirSync(dir).sort()) {
      if (name.endsWith('.md') && !expected.has(name)) drift.push({ file: label(name), state: 'stale', diff: `${label(name)}: no runbook renders it any more; delete it\n` });
    }
  }
  return drift;
}

/** The pages a write would create or replace: those missing or different in `dir`. */
export function outdatedDocs(docs: RenderedDoc[], dir: string): RenderedDoc[] {
  return docs.filter((doc) => {
    const path = join(dir, doc.name);
    return !(existsSync(path) && readFileSync(path, 'utf8') === doc.content);
  });
}

export function writeDocs(docs: RenderedDoc[], dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const doc of outdatedDocs(docs, dir)) {
    const path = join(dir, doc.name);
    writeFileAtomic(path, doc.content);
    written.push(path);
  }
  return written;
}
