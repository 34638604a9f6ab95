// How violations read on a terminal: rule, severity, object, what is wrong, fix.

import { relative } from 'node:path';
import type { LintSummary, StackLint } from './lint.js';
import type { Violation } from './types.js';

export function formatViolation(v: Violation): string {
  return [`  ${v.severity.toUpperCase().padEnd(9)} ${v.rule}  ${v.object.kind} ${v.object.name}`, `    ${v.message}`, `    fix: ${v.fix}`].join('\n');
}

function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') || rel === '' ? file : rel;
}

function formatStack(s: StackLint): string {
  if (s.violations.length === 0) return `${s.stack}: clean`;
  const mandatory = s.violations.filter((v) => v.severity === 'mandatory').length;
  const counts = [mandatory > 0 ? `${mandatory} mandatory` : '', s.violations.length - mandatory > 0 ? `${s.violations.length - mandatory} advisory` : '']
    .filter((part) => part !== '')
    .join(', ');
  return [`${s.stack} (${displayPath(s.file)}): ${counts}`, ...s.violations.map(formatViolation)].join('\n');
}

export function formatLint(summary: LintSummary): string {
  const verdict = summary.passed
    ? `policies: passed (${summary.advisory} advisory violation(s) to consider)`
    : `policies: ${summary.mandatory} mandatory violation(s) in ${summary.stacks.filter((s) => s.violations.some((v) => v.severity === 'mandatory')).length} stack environment(s): fix them before deploying`;
  return [...summary.stacks.map(formatStack), verdict].join('\n');
}
