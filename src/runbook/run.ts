import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EngineSession } from '../session/session.js';
import { CheckFailed, UsageError } from '../config/errors.js';
import type { Model } from '../config/model.js';
import { command, renderCommand, type Command, type Runner } from '../engine/command.js';
import { enginePlanLines, type EngineEndpoint } from '../engine/endpoint.js';
import { refuseOtherEnvironment } from '../session/environment-guard.js';
import { planAction, runAction } from './actions.js';
import { forwardSignal, lastLines, type Exec, type ExecResult } from './exec.js';
import { RunLog, now, runOwner, type Captured, type EndStatus, type StepLine } from './run-log.js';
import { doneKey, findResumable, type ResumeState } from './resume.js';
import type { LoadedRunbook } from './load.js';
import { evaluate, evaluateStatically, pendingCaptures, renderDryRun, stepCommand, untilHolds, type ComposeInvocation, type History, type PlanContext } from './plan.js';
import { ACTIONS_SPEC, builtinLists, builtinScalars, type RunSettings } from './scope.js';
import { argText, expandWords, fillText, type ListItem, type Scope } from './template.js';
import type { Phase, RunbookFile, RunbookStep } from './types.js';

/**
 * Runs a runbook: steps in order, each journaled before and after it runs;
 * the first failure stops the run, runs the onFailure steps whose conditions
 * hold, and says how to go on. --resume continues from where a journal ended.
 */

export interface RunbookOptions {
  loaded: LoadedRunbook;
  model: Model;
  settings: RunSettings;
  /** --var assignments as given (checked against the runbook's declarations). */
  vars: ReadonlyMap<string, string>;
  /** Whether --var was given at all: a resumed run keeps the journal's values. */
  varsGiven: boolean;
  dryRun: boolean;
  yes: boolean;
  resume: boolean;
  journalRoot: string;
  scriptsDir: string;
  cwd: string;
  identity: string | undefined;
  exec: Exec;
  /** Runs the built-in actions' docker commands. */
  runner: Runner;
  /** The engine of this run: Compose and every step's docker commands go there. */
  engine: EngineEndpoint;
  compose: () => Promise<ComposeInvocation>;
  /** A terminal that can answer a confirmation prompt. */
  interactive: boolean;
  confirm: (what: string) => Promise<void>;
  say: (line: string) => void;
  /** The command line that resumes this run, shown when it stops. */
  resumeCommand: string;
  rerunCommand: string;
}

export type StepOutcome = 'ok' | 'failed' | 'skipped' | 'done-before';

export interface StepRecord {
  phase: Phase;
  id: string;
  title: string;
  item: string | null;
  status: StepOutcome;
  command?: string;
  exitCode?: number;
  attempts?: number;
  seconds?: number;
  reason?: string;
}

export interface Failure {
  phase: Phase;
  step: string;
  title: string;
  position: string;
  command: string | undefined;
  exitCode: number;
  attempts: number;
  stderr: string[];
  message: string;
}

export type RunStatus = EndStatus | 'dry-run';

export interface RunbookResult {
  runbook: string;
  stack: string;
  project: string;
  status: RunStatus;
  exitCode: number;
  journal: string | undefined;
  seconds: number;
  steps: StepRecord[];
  failure: Failure | undefined;
  /** What to do next, when the run did not finish. */
  next: string | undefined;
  plan: string[] | undefined;
}

class StepFailed extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

class Refused extends Error {}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function itemKey(item: ListItem): string {
  return typeof item === 'string' ? item : Object.entries(item).map(([k, v]) => `${k}=${v}`).join(',');
}


function usesCompose(book: RunbookFile): boolean {
  return [...book.steps, ...(book.onFailure ?? [])].some((s) => s.compose !== undefined);
}


function jsonField(stdout: string, path: string, step: RunbookStep): string {
  let data: unknown;
  try {
    data = JSON.parse(stdout);
  } catch {
    throw new Error(`step ${step.id} should print a JSON document to capture .${path}, but its output is not JSON (did the command get --json?)`);
  }
  let value: unknown = data;
  for (const part of path.split('.')) {
    value = value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.entries(value).find(([k]) => k === part)?.[1] : undefined;
  }
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`step ${step.id}: the JSON it printed has no string at .${path}`);
}

export function captureValues(step: RunbookStep, stdout: string): Captured {
  const captured: Captured = {};
  for (const [name, spec] of Object.entries(step.capture ?? {})) {
    if (spec.json !== undefined) captured[name] = jsonField(stdout, spec.json, step);
    else if (spec.stdout === true) captured[name] = stdout.trim();
    else captured[name] = stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  }
  return captured;
}

export async function runRunbook(o: RunbookOptions): Promise<RunbookResult> {
  const started = Date.now();
  const book = o.loaded.book;
  const base = { runbook: book.runbook, stack: o.settings.stack, project: o.model.project };
  const state = o.resume && !o.dryRun ? findResumable({ journalRoot: o.journalRoot, project: o.model.project, runbook: o.loaded.book.runbook, stack: o.settings.stack }) : undefined;
  if (state !== undefined && o.varsGiven) {
    throw new UsageError('--resume continues with the variables of the interrupted run (they are in its journal); leave out --var');
  }
  const vars = state === undefined ? o.vars : new Map(Object.entries(state.header.vars));
  // A runbook that runs Compose deploys: refuse before anything runs when the volumes or
  // containers it is about to use are another environment's (dev and prod on one engine).
  if (!o.dryRun && usesCompose(book)) await refuseOtherEnvironment(o.model, o.runner);
  const compose = usesCompose(book) ? await o.compose() : { program: 'docker', prefix: ['compose'] };
  const ctx: PlanContext = { model: o.model, scriptsDir: o.scriptsDir, cwd: o.cwd, composeDir: o.settings.composeDir, compose, engineFlag: o.engine.source === 'flag' ? o.engine.url : undefined };
  const scalars = builtinScalars(o.model, o.settings);
  const lists = builtinLists(o.model);

  if (o.dryRun) {
    const plan = renderDryRun({
      book,
      ctx,
      vars,
      scalars,
      lists,
      preamble: [
        ...enginePlanLines(o.engine),
        ...(o.settings.stacksDir === resolve(o.cwd, 'stacks') ? [] : [`export STOWAGE_STACKS_DIR=${renderCommand(command(o.settings.stacksDir, [], ''))}`]),
      ],
      planAction: (step) => (step.action === undefined ? [] : planAction(step.action, o.model, actionParams(step, { scalars, lists, pending: pendingCaptures(book) }, vars))),
    });
    return { ...base, status: 'dry-run', exitCode: 0, journal: undefined, seconds: 0, steps: [], failure: undefined, next: undefined, plan };
  }

  const destructive = [...book.steps, ...(book.onFailure ?? [])].filter((s) => s.confirm === true && evaluateStatically(s.when, vars).holds);
  if (destructive.length > 0 && !o.yes && !o.interactive) {
    throw new UsageError(`runbook ${book.runbook} has destructive steps (${destructive.map((s) => s.id).join(', ')}): refusing without a terminal to confirm; pass --yes to proceed. Nothing was run.`);
  }

  const fileHash = sha256(o.loaded.text);
  let journal: RunLog;
  if (state === undefined) {
    journal = RunLog.create(o.journalRoot, o.model.project, book.runbook, new Date());
    journal.append({ type: 'run', version: 1, runbook: book.runbook, file: resolve(o.loaded.file), sha256: fileHash, stack: o.settings.stack, project: o.model.project, vars: Object.fromEntries(vars), at: now(), ...runOwner() });
  } else {
    journal = RunLog.reopen(state.path);
    journal.append({ type: 'resume', at: now(), ...runOwner(), sha256: fileHash });
    if (state.header.sha256 !== fileHash) o.say(`note: ${o.loaded.file} changed since the run started; steps are matched by id`);
  }

  // The whole runbook holds the project lock; the commands its steps run join it (STOWAGE_LOCK_RUN).
  const session = await EngineSession.open(o.runner, o.model, `runbook ${book.runbook}`, (line) => o.say(line));
  const run = new Run(o, book, journal, ctx, vars, scalars, lists, state, session.childEnvironment());
  o.say(`runbook ${book.runbook} on ${o.settings.stack} (project ${o.model.project})${state === undefined ? '' : ', resuming'}; journal ${journal.path}`);
  const outcome = await run.execute().finally(() => session.close());
  journal.append({ type: 'end', status: outcome.status, at: now(), exitCode: outcome.exitCode });
  return { ...base, ...outcome, journal: journal.path, seconds: (Date.now() - started) / 1000, steps: run.records, plan: undefined };
}

function actionParams(step: RunbookStep, scope: Scope, vars: ReadonlyMap<string, string>): Record<string, string> {
  if (step.action === undefined) return {};
  const params: Record<string, string> = {};
  const withVars: Scope = { ...scope, scalars: new Map([...scope.scalars, ...[...vars].map(([k, v]): [string, string] => [`var.${k}`, v])]) };
  for (const [key, fallback] of Object.entries(ACTIONS_SPEC[step.action].params)) {
    const given = step.with?.[key];
    if (given !== undefined) {
      const [arg] = expandWords([given], withVars);
      params[key] = arg === undefined ? '' : arg.parts.map((p) => p.text ?? `{{${p.ref}}}`).join('');
    } else if (fallback !== null) params[key] = fallback;
  }
  return params;
}

class Run {
  readonly records: StepRecord[] = [];
  private readonly captured: Map<string, string | string[]>;
  private readonly started = new Set<string>();
  private readonly succeeded = new Set<string>();
  private failed: string | undefined;
  private interrupted: NodeJS.Signals | undefined;

  constructor(
    private readonly o: RunbookOptions,
    private readonly book: RunbookFile,
    private readonly journal: RunLog,
    private readonly ctx: PlanContext,
    private readonly vars: ReadonlyMap<string, string>,
    private readonly scalars: ReadonlyMap<string, string>,
    private readonly lists: ReadonlyMap<string, readonly ListItem[]>,
    private readonly state: ResumeState | undefined,
    /** Hands the runbook's lock to the stowage commands its steps run. */
    private readonly lockEnvironment: Record<string, string>,
  ) {
    this.captured = new Map(state?.captured ?? []);
    for (const id of state?.started ?? []) this.started.add(id);
    for (const id of state?.succeeded ?? []) this.succeeded.add(id);
  }

  async execute(): Promise<{ status: EndStatus; exitCode: number; failure: Failure | undefined; next: string | undefined }> {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (this.interrupted === undefined) this.o.say(`\n${signal}: letting the current command finish its cleanup, then stopping (resume with --resume)`);
      this.interrupted = signal;
      forwardSignal(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      return await this.phases();
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }

  private async phases(): Promise<{ status: EndStatus; exitCode: number; failure: Failure | undefined; next: string | undefined }> {
    const inRollback = this.state?.rollbackStarted === true;
    let failure: Failure | undefined;
    if (!inRollback) {
      try {
        await this.phase('steps', this.book.steps);
        return { status: 'ok', exitCode: 0, failure: undefined, next: undefined };
      } catch (err) {
        if (err instanceof Refused) return { status: 'refused', exitCode: 2, failure: undefined, next: `nothing more was run; to continue later: ${this.o.resumeCommand}` };
        if (!(err instanceof StepFailed)) throw err;
        failure = err.failure;
        this.failed = failure.step;
        this.o.say(describeFailure(failure));
      }
      if (this.interrupted !== undefined) {
        return { status: 'interrupted', exitCode: this.interrupted === 'SIGINT' ? 130 : 143, failure, next: `to continue from step ${failure.step}: ${this.o.resumeCommand}` };
      }
    } else {
      this.failed = this.state?.failed;
      this.o.say(`continuing the rollback after step ${this.failed ?? '?'} failed`);
    }
    const exitCode = failure?.exitCode === 3 || (inRollback && this.state?.end?.exitCode === 3) ? 3 : 1;
    const rollback = this.book.onFailure ?? [];
    const ranBefore = this.records.length;
    try {
      await this.phase('onFailure', rollback);
    } catch (err) {
      if (err instanceof Refused) return { status: 'refused', exitCode: 2, failure, next: `the rollback was not confirmed; to continue it: ${this.o.resumeCommand}` };
      if (!(err instanceof StepFailed)) throw err;
      this.o.say(describeFailure(err.failure));
      return {
        status: 'rollback-failed',
        exitCode,
        failure: failure ?? err.failure,
        next: `the rollback stopped at ${err.failure.step}; fix the cause, then continue the rollback: ${this.o.resumeCommand}`,
      };
    }
    const rolledBack = inRollback || this.records.slice(ranBefore).some((r) => r.phase === 'onFailure' && r.status === 'ok');
    if (rolledBack) {
      return { status: 'rolled-back', exitCode, failure, next: `rolled back; fix the cause, then run it again: ${this.o.rerunCommand}` };
    }
    return { status: 'failed', exitCode, failure, next: `fix the cause, then continue from step ${failure?.step ?? '?'}: ${this.o.resumeCommand}` };
  }

  private async phase(phase: Phase, steps: readonly RunbookStep[]): Promise<void> {
    for (const [index, step] of steps.entries()) {
      if (this.interrupted !== undefined) {
        throw new StepFailed({ phase, step: step.id, title: step.title, position: `${index + 1}/${steps.length}`, command: undefined, exitCode: 130, attempts: 0, stderr: [], message: `interrupted before step ${step.id}` });
      }
      await this.step(phase, step, `${phase === 'onFailure' ? 'onFailure ' : ''}${index + 1}/${steps.length}`);
    }
  }

  private history(): History {
    return { started: this.started, succeeded: this.succeeded, failed: this.failed };
  }

  private scope(item: ListItem | undefined): Scope {
    const scalars = new Map(this.scalars);
    for (const [k, v] of this.vars) scalars.set(`var.${k}`, v);
    const lists = new Map(this.lists);
    for (const [k, v] of this.captured) {
      if (typeof v === 'string') scalars.set(k, v);
      else lists.set(k, v);
    }
    return { scalars, lists, pending: new Map(), ...(item === undefined ? {} : { item }) };
  }

  private record(r: StepRecord, line: Omit<StepLine, 'type' | 'at' | 'phase' | 'id' | 'item' | 'status'> = {}): void {
    this.records.push(r);
    if (r.status === 'done-before') return;
    this.journal.append({ type: 'step', phase: r.phase, id: r.id, item: r.item, status: r.status, at: now(), ...line });
  }

  private async step(phase: Phase, step: RunbookStep, position: string): Promise<void> {
    const { say } = this.o;
    const base = { phase, id: step.id, title: fillText(step.title, this.scalars) };
    say(`[${position}] ${step.id}: ${base.title}`);
    if (this.state?.done.has(doneKey(phase, step.id, null)) === true) {
      say('      done in an earlier attempt (journal)');
      this.record({ ...base, item: null, status: 'done-before' });
      return;
    }
    const verdict = evaluate(step.when, this.vars, this.history(), new Set(this.captured.keys()));
    if (!verdict.holds) {
      say(`      skipped: ${verdict.reason}`);
      this.record({ ...base, item: null, status: 'skipped', reason: verdict.reason }, { reason: verdict.reason });
      return;
    }
    if (phase === 'steps') this.started.add(step.id);
    let items: readonly ListItem[] | undefined;
    if (step.forEach !== undefined) {
      items = this.scope(undefined).lists.get(step.forEach);
      if (items === undefined) this.fail(base, position, undefined, { code: 1, stdout: '', stderr: '', timedOut: false, signal: undefined }, 0, `{{${step.forEach}}} has no value: the step that sets it did not run`);
      if (items.length === 0) {
        const reason = `${step.forEach} is empty`;
        say(`      nothing to do: ${reason}`);
        this.record({ ...base, item: null, status: 'skipped', reason }, { reason });
        return;
      }
    }
    for (const item of items ?? [undefined]) {
      const key = item === undefined ? null : itemKey(item);
      if (key !== null && this.state?.done.has(doneKey(phase, step.id, key)) === true) {
        say(`      ${key}: done in an earlier attempt (journal)`);
        this.record({ ...base, item: key, status: 'done-before' });
        continue;
      }
      await this.attempt(step, base, position, item, key);
    }
    if (items !== undefined) this.record({ ...base, item: null, status: 'ok' });
    if (phase === 'steps') this.succeeded.add(step.id);
  }

  private resolveCommand(step: RunbookStep, item: ListItem | undefined): Command | undefined {
    const planned = stepCommand(step, this.scope(item), this.ctx);
    if (planned === undefined) return undefined;
    const explain = (name: string): string => `{{${name}}} has no value: the step that captures it did not run or did not succeed`;
    return command(planned.program, planned.args.map((a) => argText(a, explain)), step.title, true);
  }

  private fail(base: { phase: Phase; id: string; title: string }, position: string, cmd: Command | undefined, result: ExecResult, attempts: number, message: string): never {
    throw new StepFailed({
      phase: base.phase,
      step: base.id,
      title: base.title,
      position,
      command: cmd === undefined ? undefined : renderCommand(cmd),
      exitCode: result.code,
      attempts,
      stderr: lastLines(result.stderr, 8),
      message,
    });
  }

  private async attempt(step: RunbookStep, base: { phase: Phase; id: string; title: string }, position: string, item: ListItem | undefined, key: string | null): Promise<void> {
    const { say } = this.o;
    const began = Date.now();
    const seconds = (): number => Math.round((Date.now() - began) / 100) / 10;
    let cmd: Command | undefined;
    try {
      cmd = this.resolveCommand(step, item);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.record({ ...base, item: key, status: 'failed', reason: message }, { reason: message });
      this.fail(base, position, undefined, { code: 1, stdout: '', stderr: '', timedOut: false, signal: undefined }, 0, message);
    }
    if (cmd !== undefined) say(`      $ ${renderCommand(cmd)}`);
    if (step.confirm === true && !this.o.yes) {
      try {
        await this.o.confirm(`step ${step.id}: ${step.title}${cmd === undefined ? '' : `\n  ${renderCommand(cmd)}`}`);
      } catch (err) {
        say(`      not confirmed: ${err instanceof Error ? err.message : String(err)}`);
        throw new Refused();
      }
    }
    this.journal.append({ type: 'step', phase: base.phase, id: base.id, item: key, status: 'started', at: now(), ...(cmd === undefined ? {} : { command: [cmd.program, ...cmd.args] }) });

    if (step.action !== undefined) {
      await this.action(step, base, position, item, key, began);
      return;
    }
    if (cmd === undefined) return;
    if (step.op !== undefined && !existsSync(join(this.o.scriptsDir, `${step.op}.mjs`))) {
      const message = `scripts/${step.op}.mjs is not installed in this checkout (${this.o.scriptsDir}); update stowage`;
      this.record({ ...base, item: key, status: 'failed', reason: message }, { reason: message, command: [cmd.program, ...cmd.args] });
      this.fail(base, position, cmd, { code: 127, stdout: '', stderr: '', timedOut: false, signal: undefined }, 0, message);
    }

    const attempts = step.retry?.attempts ?? 1;
    const accepted = step.expectExit ?? [0];
    const quiet = attempts > 1;
    const echoStdout = step.capture === undefined;
    let result: ExecResult = { code: 1, stdout: '', stderr: '', timedOut: false, signal: undefined };
    let passed = false;
    let made = 0;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      made = attempt;
      try {
        result = await this.o.exec(cmd, {
          env: { STOWAGE_STACKS_DIR: this.o.settings.stacksDir, ...this.lockEnvironment },
          cwd: this.o.cwd,
          timeoutSeconds: step.timeoutSeconds,
          echo: quiet ? undefined : (line, stream) => (stream === 'stderr' || echoStdout ? say(`      | ${line}`) : undefined),
        });
      } catch (err) {
        result = { code: 127, stdout: '', stderr: err instanceof Error ? err.message : String(err), timedOut: false, signal: undefined };
      }
      passed = accepted.includes(result.code) && untilHolds(step, result.stdout);
      if (passed || this.interrupted !== undefined || result.code === 127) break;
      if (attempt < attempts) {
        const seen = lastLines(result.stdout, 3).join(' ') || lastLines(result.stderr, 1).join(' ') || '(no output)';
        say(`      attempt ${attempt}/${attempts}: exit ${result.code}, ${seen.slice(0, 160)}; next in ${step.retry?.delaySeconds ?? 0} s`);
        await sleep((step.retry?.delaySeconds ?? 0) * 1000, () => this.interrupted !== undefined);
        if (this.interrupted !== undefined) break;
      }
    }
    const argv = [cmd.program, ...cmd.args];
    if (!passed) {
      const why = result.timedOut
        ? `killed after ${step.timeoutSeconds ?? 0} s`
        : !accepted.includes(result.code)
          ? `exit code ${result.code}${accepted.length === 1 && accepted[0] === 0 ? '' : ` (expected ${accepted.join(' or ')})`}`
          : `the output never showed ${step.until?.lines !== undefined ? `only ${step.until.lines.join(' or ')}` : JSON.stringify(step.until?.stdout ?? '')} (last: ${lastLines(result.stdout, 3).join(' | ') || 'nothing'})`;
      const message = `${why}${attempts > 1 ? ` after ${made} attempt(s)` : ''}`;
      this.record({ ...base, item: key, status: 'failed', command: renderCommand(cmd), exitCode: result.code, attempts: made, seconds: seconds(), reason: message }, { command: argv, exitCode: result.code, attempts: made, seconds: seconds(), stderr: lastLines(result.stderr, 20), reason: message });
      this.fail(base, position, cmd, result, made, message);
    }
    let captured: Captured;
    try {
      captured = captureValues(step, result.stdout);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.record({ ...base, item: key, status: 'failed', command: renderCommand(cmd), exitCode: result.code, reason: message }, { command: argv, exitCode: result.code, reason: message });
      this.fail(base, position, cmd, result, made, message);
    }
    for (const [k, v] of Object.entries(captured)) {
      this.captured.set(k, v);
      say(`      ${k} = ${Array.isArray(v) ? v.join(' ') || '(empty list)' : v}`);
    }
    say(`      ok in ${seconds()} s${made > 1 ? ` (attempt ${made}/${attempts})` : ''}`);
    this.record(
      { ...base, item: key, status: 'ok', command: renderCommand(cmd), exitCode: result.code, attempts: made, seconds: seconds() },
      { command: argv, exitCode: result.code, attempts: made, seconds: seconds(), ...(Object.keys(captured).length > 0 ? { captured } : {}) },
    );
  }

  private async action(step: RunbookStep, base: { phase: Phase; id: string; title: string }, position: string, item: ListItem | undefined, key: string | null, began: number): Promise<void> {
    if (step.action === undefined) return;
    const seconds = (): number => Math.round((Date.now() - began) / 100) / 10;
    const { say } = this.o;
    try {
      const outcome = await runAction(step.action, {
        model: this.o.model,
        runner: this.o.runner,
        params: actionParams(step, this.scope(item), this.vars),
        backups: this.o.settings.backups,
        identity: this.o.identity,
        log: (line) => say(`      | ${line}`),
      });
      for (const line of outcome.report) say(`      ${line}`);
      for (const [k, v] of Object.entries(outcome.captured)) this.captured.set(k, v);
      say(`      ok in ${seconds()} s`);
      this.record(
        { ...base, item: key, status: 'ok', seconds: seconds(), command: `(built-in ${step.action})` },
        { seconds: seconds(), ...(Object.keys(outcome.captured).length > 0 ? { captured: outcome.captured } : {}) },
      );
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const code = err instanceof CheckFailed ? 3 : err instanceof UsageError ? 2 : 1;
      this.record({ ...base, item: key, status: 'failed', seconds: seconds(), exitCode: code, reason: message.split('\n')[0] ?? message }, { seconds: seconds(), exitCode: code, stderr: lastLines(message, 20), reason: message.split('\n')[0] ?? message });
      this.fail(base, position, undefined, { code, stdout: '', stderr: message, timedOut: false, signal: undefined }, 1, `built-in ${step.action} failed`);
    }
  }
}

function sleep(ms: number, stop: () => boolean): Promise<void> {
  return new Promise((done) => {
    const started = Date.now();
    const tick = (): void => {
      if (stop() || Date.now() - started >= ms) done();
      else setTimeout(tick, Math.min(200, ms));
    };
    tick();
  });
}

export function describeFailure(f: Failure): string {
  return [
    `step ${f.position} "${f.step}" (${f.title}) failed: ${f.message}`,
    ...(f.command === undefined ? [] : [`  command:   ${f.command}`]),
    ...(f.message.startsWith('exit code') ? [] : [`  exit code: ${f.exitCode}${f.attempts > 1 ? ` (after ${f.attempts} attempts)` : ''}`]),
    ...(f.stderr.length > 0 ? ['  last lines of its error output:', ...f.stderr.map((l) => `    ${l}`)] : []),
  ].join('\n');
}

