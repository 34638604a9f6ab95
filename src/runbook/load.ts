import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { UsageError, formatIssues, nameList, type KeyPath, type StackIssue } from '../config/errors.js';
import { compileSchema } from '../config/schema.js';
import { schemaIssues } from '../config/schema-issues.js';
import type { IssueAt } from '../config/semantic.js';
import { parseYaml, readYamlFile, type YamlKind } from '../config/yaml-source.js';
import { ACTIONS_SPEC, BUILTIN_LISTS, BUILTIN_SCALARS } from './scope.js';
import { references } from './template.js';
import { DESTRUCTIVE_OPS, placedSteps, type PlacedStep, type RunbookFile, type RunbookStep } from './types.js';

/** A runbook that cannot be used: every problem, each with file:line:column, key, what is wrong and what to do. Exit 2. */
export class RunbookFileError extends UsageError {
  readonly issues: StackIssue[];

  constructor(issues: StackIssue[]) {
    super(`invalid runbook:\n${formatIssues(issues)}`);
    this.name = 'RunbookFileError';
    this.issues = issues;
  }
}

export interface LoadedRunbook {
  file: string;
  /** The file as read: its hash goes into the journal, so --resume can say when the runbook changed since. */
  text: string;
  book: RunbookFile;
}

let validator: ReturnType<typeof compileSchema<RunbookFile>> | undefined;

export function runbookValidator(): ReturnType<typeof compileSchema<RunbookFile>> {
  validator ??= compileSchema<RunbookFile>('runbook.schema.json');
  return validator;
}

/** `<dir>/<name>.yaml`, or a path to a .yaml file. */
export function runbookPath(nameOrPath: string, dir: string): string {
  if (nameOrPath.includes('/') || /\.ya?ml$/.test(nameOrPath)) return nameOrPath;
  if (!/^[a-z][a-z0-9-]*$/.test(nameOrPath)) throw new UsageError(`runbook "${nameOrPath}": expected a name like safe-update, or a path to a .yaml file`);
  for (const ext of ['yaml', 'yml']) {
    const file = join(dir, `${nameOrPath}.${ext}`);
    if (existsSync(file)) return file;
  }
  const known = listRunbooks(dir).map((f) => basename(f).replace(/\.ya?ml$/, ''));
  throw new UsageError(`no runbook "${nameOrPath}" in ${dir} (found: ${known.join(', ') || 'none'}); pass --runbooks-dir or a path to the .yaml file`);
}

export function listRunbooks(dir: string): string[] {
  if (!existsSync(dir)) throw new UsageError(`runbooks directory ${dir} does not exist: pass --runbooks-dir`);
  return readdirSync(dir)
    .filter((n) => /^[a-z][a-z0-9-]*\.ya?ml$/.test(n))
    .sort()
    .map((n) => join(dir, n));
}

const RUNBOOK: YamlKind = {
  what: 'runbook',
  unreadableFix: 'check the name or path, or pass --runbooks-dir',
  tooBigFix: 'a runbook is a list of steps a person can read: split it into several runbooks',
};

export function loadRunbook(file: string): LoadedRunbook {
  const read = readYamlFile(file, RUNBOOK);
  if (!read.ok) throw new RunbookFileError(read.issues);
  return { file, text: read.text, book: parseRunbookText(read.text, file) };
}

export function parseRunbookText(text: string, file: string): RunbookFile {
  const parsed = parseYaml(text, file);
  if (!parsed.ok) throw new RunbookFileError(parsed.issues);
  const { data, source } = parsed;
  const validate = runbookValidator();
  const place = (issues: IssueAt[]): StackIssue[] => issues.map((issue) => source.place(issue));
  if (!validate(data)) throw new RunbookFileError(place(schemaIssues(validate.errors ?? [], { oneOfFix: 'write one of the forms the runbook schema allows (see schemas/runbook.schema.json)' })));
  const semantic = semanticIssues(data, basename(file).replace(/\.ya?ml$/, ''));
  if (semantic.length > 0) throw new RunbookFileError(place(semantic));
  return data;
}

// ---------------------------------------------------------------- semantic checks

const KINDS = ['op', 'run', 'compose', 'action'] as const;

/** Arguments that remove volumes or containers' data: such steps must ask first. */
export function removesData(step: RunbookStep): boolean {
  if (step.op === 'fix-permissions') return !(step.args ?? []).includes('--check');
  if (step.op === 'secrets') return (step.args ?? [])[0] === 'rotate';
  if (step.op !== undefined) return DESTRUCTIVE_OPS.has(step.op);
  const words = step.compose ?? [];
  if (words.includes('down') && (words.includes('-v') || words.includes('--volumes'))) return true;
  if (words.includes('rm') && (words.includes('-v') || words.includes('--volumes'))) return true;
  const run = step.run ?? [];
  const program = (run[0] ?? '').replace(/^.*\//, '');
  if (program === 'docker' && ((run[1] === 'volume' && (run[2] === 'rm' || run[2] === 'prune')) || (run[1] === 'system' && run[2] === 'prune'))) return true;
  return program === 'pulumi' && run.includes('destroy');
}

function semanticIssues(book: RunbookFile, fileName: string): IssueAt[] {
  const issues: IssueAt[] = [];
  if (book.runbook !== fileName) {
    issues.push({ path: ['runbook'], message: `"${book.runbook}" does not match the file name ${fileName}.yaml`, fix: `write runbook: ${fileName}, or rename the file to ${book.runbook}.yaml` });
  }
  for (const [name, variable] of Object.entries(book.vars ?? {})) {
    if (variable.default !== undefined && variable.enum !== undefined && !variable.enum.includes(variable.default)) {
      issues.push({ path: ['vars', name, 'default'], message: `default "${variable.default}" is not one of its enum values`, fix: `use one of: ${nameList(variable.enum, '(none)')}` });
    }
  }
  const placed = placedSteps(book);
  const seenIds = new Map<string, PlacedStep>();
  for (const p of placed) {
    const where = [p.phase, p.index];
    if (seenIds.has(p.step.id)) issues.push({ path: [...where, 'id'], message: `step id "${p.step.id}" is used twice`, fix: 'give every step a unique id (--resume and conditions refer to steps by id)' });
    seenIds.set(p.step.id, p);
  }
  const mainIds = book.steps.map((s) => s.id);
  const varNames = Object.keys(book.vars ?? {});
  const mainIndex = new Map<string, number>();
  book.steps.forEach((s, i) => {
    if (!mainIndex.has(s.id)) mainIndex.set(s.id, i);
  });
  const captured = new Map<string, { list: boolean; fields: readonly string[] }>();
  const captureOwners = new Map<string, string>();
  // Every capture of the main steps is visible to onFailure steps (set or not, the when: set condition tells).
  const mainCaptures = new Map<string, { list: boolean; fields: readonly string[] }>();
  for (const s of book.steps) for (const [n, v] of outputsOf(s)) mainCaptures.set(n, v);
  // What onFailure steps see: every main capture, then what earlier onFailure steps captured.
  // Kept up to date rather than rebuilt for each step, which would cost steps times captures.
  let failureVisible: Map<string, { list: boolean; fields: readonly string[] }> | undefined;

  for (const p of placed) {
    const { step } = p;
    const where: KeyPath = [p.phase, p.index];
    const kinds = KINDS.filter((k) => step[k] !== undefined);
    if (kinds.length !== 1) {
      issues.push({
        path: where,
        message: kinds.length === 0 ? `step "${step.id}" says nothing to do` : `step "${step.id}" has ${kinds.join(' and ')}: a step does one thing`,
        fix: 'give it exactly one of: op (a stowage operation), run (a program), compose (docker compose arguments), action (a built-in)',
      });
    }
    if (step.args !== undefined && step.op === undefined) issues.push({ path: [...where, 'args'], pointAtKey: true, message: 'args belongs to op steps', fix: 'put the arguments into run or compose, or add op' });
    if (step.with !== undefined && step.action === undefined) issues.push({ path: [...where, 'with'], pointAtKey: true, message: 'with belongs to action steps', fix: 'remove it or add action' });
    if (removesData(step) && step.confirm !== true) {
      issues.push({ path: [...where, step.op !== undefined ? 'op' : step.compose !== undefined ? 'compose' : 'run'], message: `step "${step.id}" replaces or removes data`, fix: 'add confirm: true (the run then asks, or needs --yes without a terminal)' });
    }
    if (step.capture !== undefined && step.forEach !== undefined) issues.push({ path: [...where, 'capture'], pointAtKey: true, message: 'a step with forEach cannot capture (which item would win?)', fix: 'capture in a step without forEach' });
    if (step.action !== undefined) {
      const spec = ACTIONS_SPEC[step.action];
      for (const key of Object.keys(step.with ?? {})) {
        if (!(key in spec.params)) issues.push({ path: [...where, 'with', key], pointAtKey: true, message: `action ${step.action} has no parameter "${key}"`, fix: Object.keys(spec.params).length > 0 ? `use: ${Object.keys(spec.params).join(', ')}` : 'remove it' });
      }
      for (const [key, fallback] of Object.entries(spec.params)) {
        if (fallback === null && step.with?.[key] === undefined) issues.push({ path: [...where], message: `action ${step.action} needs with: {${key}: ...}`, fix: `add with: {${key}: "{{drill_set}}"} or the value to use` });
      }
    }
    if (p.phase === 'onFailure') failureVisible ??= new Map([...mainCaptures, ...captured]);
    const visible = failureVisible ?? captured;
    // Conditions
    const when = step.when;
    if (when !== undefined) {
      if (when.var !== undefined) {
        const declared = book.vars?.[when.var];
        if (declared === undefined) issues.push({ path: [...where, 'when', 'var'], message: `variable "${when.var}" is not declared`, fix: `declare it under vars, or use one of: ${nameList(varNames, '(none declared)')}` });
        else if (declared.enum !== undefined) {
          const allowed = new Set(declared.enum);
          for (const [i, value] of (when.in ?? []).entries()) {
            if (!allowed.has(value)) issues.push({ path: [...where, 'when', 'in', i], message: `"${value}" is not a value of ${when.var}`, fix: `use one of: ${nameList(declared.enum, '(none)')}` });
          }
        }
      }
      for (const key of ['started', 'failed', 'succeeded'] as const) {
        const target = when[key];
        if (target === undefined) continue;
        const at = mainIndex.get(target);
        if (at === undefined) issues.push({ path: [...where, 'when', key], message: `no step "${target}" in steps`, fix: `use one of: ${nameList(mainIds, '(no steps)')}` });
        else if (p.phase === 'steps' && (key === 'failed' || at >= p.index)) {
          issues.push({ path: [...where, 'when', key], message: key === 'failed' ? 'a run stops at its failed step: failed only makes sense in onFailure' : `step "${target}" does not come before "${step.id}"`, fix: key === 'failed' ? 'move the step to onFailure' : 'refer to an earlier step' });
        }
      }
      if (when.set !== undefined) {
        if (!visible.has(when.set)) issues.push({ path: [...where, 'when', 'set'], message: `no earlier step captures "${when.set}"`, fix: 'capture it in an earlier step (capture: {name: {json: field}})' });
      }
    }
    // Variables in arguments
    let itemFields: readonly string[] | undefined;
    if (step.forEach !== undefined) {
      const list = BUILTIN_LISTS[step.forEach] ?? (visible.get(step.forEach)?.list === true ? visible.get(step.forEach)?.fields : undefined);
      if (list === undefined) {
        issues.push({ path: [...where, 'forEach'], message: `"${step.forEach}" is not a list`, fix: `use one of: ${nameList(listNames(visible), '(none)')}` });
        itemFields = [];
      } else itemFields = list;
    }
    const wordLists: Array<[string, readonly string[]]> = [
      ['args', step.args ?? []],
      ['run', step.run ?? []],
      ['compose', step.compose ?? []],
    ];
    for (const [key, words] of wordLists) {
      for (const [i, word] of words.entries()) issues.push(...referenceIssues(word, [...where, key, i], book, visible, itemFields, true));
    }
    for (const [key, word] of Object.entries(step.with ?? {})) issues.push(...referenceIssues(word, [...where, 'with', key], book, visible, itemFields, false));
    if (step.run !== undefined && references(step.run[0] ?? '').length > 0) {
      issues.push({ path: [...where, 'run', 0], message: 'the program name comes from a variable', fix: 'name the program literally (docker, pulumi, ...) so the runbook says what it runs' });
    }
    // Captures: visible to later steps
    for (const [name, value] of outputsOf(step)) {
      if (name in BUILTIN_SCALARS || name in BUILTIN_LISTS || name === 'item' || name === 'var') {
        issues.push({ path: [...where, 'capture', name], pointAtKey: true, message: `"${name}" is a built-in variable`, fix: 'choose another name' });
        continue;
      }
      const owner = captureOwners.get(name);
      if (owner !== undefined && owner !== step.id && step.action === undefined) {
        issues.push({ path: [...where, 'capture', name], pointAtKey: true, message: `"${name}" is already captured by step "${owner}"`, fix: 'choose another name' });
      }
      captureOwners.set(name, step.id);
      captured.set(name, value);
      failureVisible?.set(name, value);
    }
  }
  return issues;
}

/** `{{var.NAME}}` for each declared variable, made only as far as a message shows them. */
function* varReferences(vars: Record<string, unknown>): Generator<string> {
  for (const name in vars) yield `{{var.${name}}}`;
}

/** Built-in lists, then captured ones; a generator, so that a message naming the first few does not walk them all. */
function* listNames(visible: ReadonlyMap<string, { list: boolean }>): Generator<string> {
  yield* Object.keys(BUILTIN_LISTS);
  for (const [name, value] of visible) if (value.list) yield name;
}

function outputsOf(step: RunbookStep): Array<[string, { list: boolean; fields: readonly string[] }]> {
  const out: Array<[string, { list: boolean; fields: readonly string[] }]> = Object.entries(step.capture ?? {}).map(([n, c]) => [n, { list: c.lines === true, fields: [] }]);
  if (step.action !== undefined) {
    const sets = ACTIONS_SPEC[step.action].sets;
    for (const s of sets.scalars) out.push([s, { list: false, fields: [] }]);
    for (const [n, fields] of Object.entries(sets.lists)) out.push([n, { list: true, fields }]);
  }
  return out;
}

function referenceIssues(
  word: string,
  path: KeyPath,
  book: RunbookFile,
  captured: ReadonlyMap<string, { list: boolean; fields: readonly string[] }>,
  itemFields: readonly string[] | undefined,
  listsAllowed: boolean,
): IssueAt[] {
  const issues: IssueAt[] = [];
  const refs = references(word);
  for (const name of refs) {
    const wholeWord = refs.length === 1 && word.trim() === `{{${name}}}`;
    if (name === 'item' || name.startsWith('item.')) {
      if (itemFields === undefined) issues.push({ path, message: `{{${name}}} is only defined in a step with forEach`, fix: 'add forEach: <list> or use another variable' });
      else if (name === 'item' && itemFields.length > 0) issues.push({ path, message: '{{item}} is a record here', fix: `use {{item.<field>}}: ${itemFields.map((f) => `{{item.${f}}}`).join(', ')}` });
      else if (name !== 'item' && !itemFields.includes(name.slice(5))) issues.push({ path, message: `{{${name}}}: the items have no field "${name.slice(5)}"`, fix: itemFields.length > 0 ? `use one of: ${itemFields.map((f) => `{{item.${f}}}`).join(', ')}` : 'the items are plain strings: use {{item}}' });
      continue;
    }
    if (name.startsWith('var.')) {
      const v = name.slice(4);
      if (book.vars?.[v] === undefined) {
        const known = nameList(varReferences(book.vars ?? {}), '');
        issues.push({ path, message: `{{${name}}}: variable "${v}" is not declared`, fix: `declare it under vars${known === '' ? '' : ` or use one of: ${known}`}` });
      }
      continue;
    }
    if (name in BUILTIN_SCALARS) continue;
    const list = name in BUILTIN_LISTS ? { list: true, fields: BUILTIN_LISTS[name] ?? [] } : captured.get(name);
    if (list === undefined) {
      issues.push({
        path,
        message: `{{${name}}} is not defined here`,
        fix: `use a built-in (${Object.keys(BUILTIN_SCALARS).join(', ')}), {{var.<name>}}, a list, or a value captured by an earlier step${captured.size > 0 ? ` (${nameList(captured.keys(), '')})` : ''}`,
      });
      continue;
    }
    if (list.list) {
      if (!listsAllowed || !wholeWord) issues.push({ path, message: `{{${name}}} is a list`, fix: `write it as a whole argument ("{{${name}}}") to pass one argument per item, or use forEach: ${name}` });
      else if (list.fields.length > 0) issues.push({ path, message: `{{${name}}} is a list of records`, fix: `use forEach: ${name} and {{item.<field>}} (${list.fields.join(', ')})` });
    }
  }
  return issues;
}
