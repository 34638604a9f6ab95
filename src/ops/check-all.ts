// `drift.mjs --all`, the CI gate: everything committed agrees with what it is
// generated from, and the stack files pass the policies. Each check runs even
// when another fails, so one CI run lists every problem.

import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { StackFileError, UsageError } from '../config/errors.js';
import { loadStackFile } from '../config/load.js';
import { listStackFiles } from '../config/select.js';
import type { RenderedFile } from '../compose/render.js';
import { lintStackFile, summarize } from '../policy/lint.js';
import { formatViolation } from '../policy/report.js';
import { composeDrift, renderStackFile } from './compose-files.js';
import { docsDrift, renderRunbookDocs, type RenderedDoc } from '../runbook/docs.js';

export type CheckName = 'stack-files' | 'compose' | 'docs' | 'policies';
export type CheckStatus = 'passed' | 'failed';

export interface CheckResult {
  check: CheckName;
  status: CheckStatus;
  summary: string;
  /** What to look at: diffs, file:line:column issues, violations. */
  details: string[];
}

export interface CheckAllOptions {
  stacksDir: string;
  composeDir: string;
  /** runbooks/*.yaml, which docs/runbooks/*.md are generated from. */
  runbooksDir: string;
  docsDir: string;
}

export interface CheckAllReport {
  passed: boolean;
  checks: CheckResult[];
}

function display(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') ? path : rel;
}

function stackFilesCheck(files: string[], invalid: Map<string, StackFileError>): CheckResult {
  if (invalid.size === 0) {
    return { check: 'stack-files', status: 'passed', summary: `${files.length} stack file(s) valid`, details: [] };
  }
  return {
    check: 'stack-files',
    status: 'failed',
    summary: `${invalid.size} of ${files.length} stack file(s) invalid: fix them (every issue below names file:line:column)`,
    details: [...invalid.values()].map((err) => err.message),
  };
}

function composeCheck(valid: string[], allValid: boolean, composeDir: string): CheckResult {
  const rendered: RenderedFile[] = [];
  const failures: string[] = [];
  for (const file of valid) {
    try {
      rendered.push(...renderStackFile(file, composeDir));
    } catch (err) {
      failures.push(`${display(file)}: cannot render Compose files: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  // Leftover files count as stale only when every stack file rendered: otherwise
  // the files of a broken stack would be reported as leftovers.
  const drift = composeDrift(rendered, composeDir, allValid && failures.length === 0);
  if (drift.length === 0 && failures.length === 0) {
    return { check: 'compose', status: 'passed', summary: `${rendered.length} file(s) in ${display(composeDir)} are current`, details: [] };
  }
  return {
    check: 'compose',
    status: 'failed',
    summary: `${drift.length} Compose file(s) differ from the stack files${failures.length > 0 ? `, ${failures.length} stack file(s) cannot be rendered` : ''}: run npx zx scripts/compose.mjs and commit the result`,
    details: [...failures, ...drift.map((d) => d.diff)],
  };
}

/**
 * docs/runbooks/ is generated from runbooks/ (src/runbook/docs.ts): the
 * committed pages must be what a fresh render gives. No runbooks directory means
 * no pages should exist.
 */
export function generatedDocsCheck(runbooksDir: string, docsDir: string): CheckResult {
  let docs: RenderedDoc[];
  try {
    docs = existsSync(runbooksDir) ? renderRunbookDocs(runbooksDir) : [];
  } catch (err) {
    // RunbookFileError is a UsageError: its message names file:line:column.
    if (!(err instanceof UsageError)) throw err;
    return { check: 'docs', status: 'failed', summary: `cannot render the runbook pages: fix the runbook (${display(runbooksDir)})`, details: [err.message] };
  }
  const drift = docsDrift(docs, docsDir);
  if (drift.length === 0) {
    return { check: 'docs', status: 'passed', summary: `${docs.length} generated page(s) in ${display(docsDir)} are current`, details: [] };
  }
  return {
    check: 'docs',
    status: 'failed',
    summary: `${drift.length} generated page(s) in ${display(docsDir)} differ from ${display(runbooksDir)}: run npx zx scripts/runbook.mjs --render-docs and commit the result`,
    details: drift.map((d) => d.diff),
  };
}

function policiesCheck(valid: string[]): CheckResult {
  const summary = summarize(valid.flatMap(lintStackFile));
  const environments = summary.stacks.length;
  if (summary.passed) {
    return {
      check: 'policies',
      status: 'passed',
      summary: `no mandatory violation in ${environments} stack environment(s) (${summary.advisory} advisory: npx zx scripts/lint.mjs lists them)`,
      details: [],
    };
  }
  return {
    check: 'policies',
    status: 'failed',
    summary: `${summary.mandatory} mandatory policy violation(s): fix them (docs/policies.md explains each rule)`,
    details: summary.stacks.flatMap((s) => s.violations.filter((v) => v.severity === 'mandatory').map((v) => `${s.stack}:\n${formatViolation(v)}`)),
  };
}

export function checkAll(options: CheckAllOptions): CheckAllReport {
  const files = listStackFiles(options.stacksDir);
  const invalid = new Map<string, StackFileError>();
  const valid: string[] = [];
  for (const file of files) {
    try {
      loadStackFile(file);
      valid.push(file);
    } catch (err) {
      if (!(err instanceof StackFileError)) throw err;
      invalid.set(file, err);
    }
  }
  const checks = [
    stackFilesCheck(files, invalid),
    composeCheck(valid, invalid.size === 0, options.composeDir),
    generatedDocsCheck(options.runbooksDir, options.docsDir),
    policiesCheck(valid),
  ];
  return { passed: checks.every((c) => c.status === 'passed'), checks };
}

const STATUS_TEXT: Record<CheckStatus, string> = { passed: 'PASSED', failed: 'FAILED' };

export function formatCheckAll(report: CheckAllReport): string {
  const lines = report.checks.flatMap((c) => [
    `${STATUS_TEXT[c.status].padEnd(7)} ${c.check}: ${c.summary}`,
    ...c.details.map((d) => d.replace(/\n$/, '').replace(/^/gm, '    ')),
  ]);
  const failed = report.checks.filter((c) => c.status === 'failed').map((c) => c.check);
  lines.push(failed.length === 0 ? 'all checks passed' : `${failed.length} check(s) failed: ${failed.join(', ')}`);
  return lines.join('\n');
}
