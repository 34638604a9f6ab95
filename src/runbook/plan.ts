import { isAbsolute, join, relative } from 'node:path';
import { UsageError } from '../config/errors.js';
import type { Model } from '../config/model.js';
import { shellQuote } from '../engine/command.js';
import { ACTIONS_SPEC } from './scope.js';
import { expandWords, fillText, renderArg, shellVariable, type Arg, type ListItem, type Scope } from './template.js';
import type { Condition, RunbookFile, RunbookStep } from './types.js';

/**
 * Pure planning: which commands a step runs, whether its conditions hold, and
 * the printed plan of --dry-run. Nothing here touches the engine or the disk.
 */

/** How Compose is invoked: `docker compose` (v2 plugin) or `docker-compose` (v1). */
export interface ComposeInvocation {
  program: string;
  prefix: string[];
}

export const COMPOSE_V2: ComposeInvocation = { program: 'docker', prefix: ['compose'] };
export const COMPOSE_V1: ComposeInvocation = { program: 'docker-compose', prefix: [] };

export interface PlanContext {
  model: Model;
  /** Absolute path of scripts/ (where `node scripts/<op>.mjs` lives). */
  scriptsDir: string;
  /** Commands print paths relative to this directory when they are inside it. */
  cwd: string;
  composeDir: string;
  compose: ComposeInvocation;
  /** --engine given to the runbook: its operations get it too, or they would go to the stack file's engine. */
  engineFlag: string | undefined;
}

export interface PlannedCommand {
  program: string;
  args: Arg[];
}

function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

const text = (value: string): Arg => ({ parts: [{ text: value }] });

export function composeFiles(ctx: PlanContext): string[] {
  const { app, env } = ctx.model;
  return [join(ctx.composeDir, `${app}.yml`), join(ctx.composeDir, `${app}.${env}.yml`)];
}

/** The command of an op, run or compose step (actions have none: they are built in). */
export function stepCommand(step: RunbookStep, scope: Scope, ctx: PlanContext): PlannedCommand | undefined {
  if (step.op !== undefined) {
    const engine = ctx.engineFlag === undefined ? [] : [text('--engine'), text(ctx.engineFlag)];
    return { program: 'node', args: [text(displayPath(join(ctx.scriptsDir, `${step.op}.mjs`), ctx.cwd)), ...expandWords(step.args ?? [], scope), ...engine] };
  }
  if (step.run !== undefined) {
    const [program, ...rest] = step.run;
    return { program: program ?? '', args: expandWords(rest, scope) };
  }
  if (step.compose !== undefined) {
    const files = composeFiles(ctx).flatMap((f) => ['-f', displayPath(f, ctx.cwd)]);
    return { program: ctx.compose.program, args: [...ctx.compose.prefix, '-p', ctx.model.project, ...files, ...expandWords(step.compose, scope)].map((a) => (typeof a === 'string' ? text(a) : a)) };
  }
  return undefined;
}

export function renderPlanned(cmd: PlannedCommand): string {
  return [shellQuote(cmd.program), ...cmd.args.map(renderArg)].join(' ');
}

// ---------------------------------------------------------------- conditions

export interface History {
  started: ReadonlySet<string>;
  succeeded: ReadonlySet<string>;
  failed: string | undefined;
}

export interface Verdict {
  holds: boolean;
  /** Why it does not hold (or, for a dry run, what it depends on). */
  reason: string;
}

/** Every key of the condition must hold. `vars` are the runbook's variables; `captured` the values set so far. */
export function evaluate(condition: Condition | undefined, vars: ReadonlyMap<string, string>, history: History, captured: ReadonlySet<string>): Verdict {
  if (condition === undefined) return { holds: true, reason: '' };
  const reasons: string[] = [];
  if (condition.var !== undefined) {
    const value = vars.get(condition.var) ?? '';
    if (!(condition.in ?? []).includes(value)) reasons.push(`${condition.var} is ${value}, not ${(condition.in ?? []).join(' or ')}`);
  }
  if (condition.started !== undefined && !history.started.has(condition.started)) reasons.push(`step ${condition.started} was not started`);
  if (condition.succeeded !== undefined && !history.succeeded.has(condition.succeeded)) reasons.push(`step ${condition.succeeded} did not succeed`);
  if (condition.failed !== undefined && history.failed !== condition.failed) reasons.push(`step ${condition.failed} did not fail`);
  if (condition.set !== undefined && !captured.has(condition.set)) reasons.push(`${condition.set} was not captured`);
  return { holds: reasons.length === 0, reason: reasons.join('; ') };
}

/** Only the parts of a condition that are known before the run (its variables). */
export function evaluateStatically(condition: Condition | undefined, vars: ReadonlyMap<string, string>): Verdict {
  if (condition?.var === undefined) return { holds: true, reason: '' };
  return evaluate({ var: condition.var, in: condition.in ?? [] }, vars, { started: new Set(), succeeded: new Set(), failed: undefined }, new Set());
}

export function describeCondition(condition: Condition | undefined): string {
  if (condition === undefined) return '';
  const parts: string[] = [];
  if (condition.var !== undefined) parts.push(`${condition.var} is ${(condition.in ?? []).join(' or ')}`);
  if (condition.started !== undefined) parts.push(`step ${condition.started} was started`);
  if (condition.succeeded !== undefined) parts.push(`step ${condition.succeeded} succeeded`);
  if (condition.failed !== undefined) parts.push(`step ${condition.failed} failed`);
  if (condition.set !== undefined) parts.push(`${condition.set} was captured`);
  return parts.join(' and ');
}

export function describeRetry(step: RunbookStep): string {
  const parts: string[] = [];
  if (step.retry !== undefined) parts.push(`up to ${step.retry.attempts} attempts${step.retry.delaySeconds === undefined ? '' : `, ${step.retry.delaySeconds} s apart`}`);
  if (step.until?.lines !== undefined) parts.push(`until every line of output is ${step.until.lines.join(' or ')}`);
  if (step.until?.stdout !== undefined) parts.push(`until the output is ${JSON.stringify(step.until.stdout)}`);
  if (step.expectExit !== undefined) parts.push(`exit code ${step.expectExit.join(' or ')} counts as success`);
  if (step.timeoutSeconds !== undefined) parts.push(`killed after ${step.timeoutSeconds} s`);
  return parts.join('; ');
}

/** Whether a run's output satisfies `until` (no until: any output). */
export function untilHolds(step: RunbookStep, stdout: string): boolean {
  if (step.until?.stdout !== undefined) return stdout.trim() === step.until.stdout;
  if (step.until?.lines !== undefined) {
    const allowed = step.until.lines;
    const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    return lines.length > 0 && lines.every((l) => allowed.includes(l));
  }
  return true;
}

// ---------------------------------------------------------------- variables

/** --var name=value, checked against the runbook's declarations; defaults fill the rest. */
export function resolveVars(book: RunbookFile, given: readonly string[]): Map<string, string> {
  const declared = book.vars ?? {};
  const values = new Map<string, string>();
  for (const assignment of given) {
    const at = assignment.indexOf('=');
    if (at <= 0) throw new UsageError(`--var ${assignment}: write --var name=value`);
    const name = assignment.slice(0, at);
    const value = assignment.slice(at + 1);
    const spec = declared[name];
    if (spec === undefined) {
      throw new UsageError(`--var ${name}: runbook ${book.runbook} has no variable "${name}"; it has: ${Object.keys(declared).join(', ') || 'none'}`);
    }
    if (spec.enum !== undefined && !spec.enum.includes(value)) throw new UsageError(`--var ${name}=${value}: use one of: ${spec.enum.join(', ')}`);
    if (values.has(name)) throw new UsageError(`--var ${name} is given twice`);
    values.set(name, value);
  }
  for (const [name, spec] of Object.entries(declared)) {
    if (values.has(name)) continue;
    if (spec.default === undefined) throw new UsageError(`runbook ${book.runbook} needs --var ${name}=<value> (${spec.description})`);
    values.set(name, spec.default);
  }
  return values;
}

// ---------------------------------------------------------------- the printed plan

export interface DryRunInput {
  book: RunbookFile;
  ctx: PlanContext;
  vars: ReadonlyMap<string, string>;
  scalars: ReadonlyMap<string, string>;
  lists: ReadonlyMap<string, readonly ListItem[]>;
  /** Extra lines that set up the shell (exported variables). */
  preamble: string[];
  /** The commands an action would run, for the plan. */
  planAction: (step: RunbookStep) => string[];
}

/** Every value a step of the runbook captures or an action sets, and whether it is a list. */
export function pendingCaptures(book: RunbookFile): Map<string, 'scalar' | 'list'> {
  const pending = new Map<string, 'scalar' | 'list'>();
  for (const s of [...book.steps, ...(book.onFailure ?? [])]) {
    for (const [name, spec] of Object.entries(s.capture ?? {})) pending.set(name, spec.lines === true ? 'list' : 'scalar');
    if (s.action === undefined) continue;
    for (const name of ACTIONS_SPEC[s.action].sets.scalars) pending.set(name, 'scalar');
    for (const name of Object.keys(ACTIONS_SPEC[s.action].sets.lists)) pending.set(name, 'list');
  }
  return pending;
}

/**
 * The whole runbook as a shell script: every command pasteable, captured
 * values as shell variables, loops over lists known only at run time as `for`.
 */
export function renderDryRun(input: DryRunInput): string[] {
  const { book, vars } = input;
  const allCaptured = pendingCaptures(book);
  const scalars = new Map(input.scalars);
  for (const [k, v] of vars) scalars.set(`var.${k}`, v);
  const lines: string[] = [`# runbook ${book.runbook}: ${book.title}`, `# dry run: nothing was run; the commands below are what a run would execute, in order`, ...input.preamble];
  const section = (steps: readonly RunbookStep[], label: string): void => {
    steps.forEach((step, index) => {
      const number = `${label}${index + 1}/${steps.length}`;
      lines.push('', `# ${number} ${step.id}: ${fillText(step.title, scalars)}`);
      const verdict = evaluateStatically(step.when, vars);
      if (!verdict.holds) {
        lines.push(`# skipped: ${verdict.reason}`);
        return;
      }
      const runtime = describeCondition({ ...step.when, var: undefined, in: undefined });
      if (runtime !== '') lines.push(`# only if ${runtime}`);
      if (step.confirm === true) lines.push('# destructive: asks for confirmation first (or --yes)');
      const retry = describeRetry(step);
      if (retry !== '') lines.push(`# ${retry}`);
      const scope: Scope = { scalars, lists: input.lists, pending: allCaptured };
      if (step.action !== undefined) {
        lines.push(`# built-in action ${step.action}: ${ACTIONS_SPEC[step.action].summary}`);
        lines.push(...input.planAction(step));
        return;
      }
      const items = step.forEach === undefined ? undefined : input.lists.get(step.forEach);
      if (step.forEach !== undefined && items === undefined) {
        const loopScope: Scope = { ...scope, pending: new Map([...allCaptured, ['item', 'scalar']]) };
        const cmd = stepCommand(step, loopScope, input.ctx);
        if (cmd !== undefined) lines.push(`for ${shellVariable('item')} in \${${shellVariable(step.forEach)}}; do ${renderPlanned(cmd)}; done`);
        return;
      }
      if (items !== undefined && items.length === 0) {
        lines.push(`# nothing to do: ${step.forEach ?? ''} is empty for this stack`);
        return;
      }
      for (const item of items ?? [undefined]) {
        const cmd = stepCommand(step, item === undefined ? scope : { ...scope, item }, input.ctx);
        if (cmd !== undefined) lines.push(renderCapture(step, renderPlanned(cmd)));
      }
    });
  };
  section(book.steps, '');
  if ((book.onFailure ?? []).length > 0) {
    lines.push('', '# ---- if a step above fails: onFailure (rollback), each only when its condition holds');
    section(book.onFailure ?? [], 'onFailure ');
  }
  return lines;
}

function renderCapture(step: RunbookStep, command: string): string {
  const entries = Object.entries(step.capture ?? {});
  if (entries.length === 0) return command;
  const extract = (c: (typeof entries)[number][1]): string => (c.json !== undefined ? ` | jq -r ${shellQuote(`.${c.json}`)}` : '');
  if (entries.length === 1) {
    const [name, spec] = entries[0] ?? ['', { stdout: true as const }];
    return `${shellVariable(name)}="$(${command}${extract(spec)})"`;
  }
  return [`OUTPUT="$(${command})"`, ...entries.map(([name, spec]) => `${shellVariable(name)}="$(printf '%s' "$OUTPUT"${extract(spec)})"`)].join('\n');
}
