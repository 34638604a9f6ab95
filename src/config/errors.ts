// Errors about a stack file carry where (file:line:column), which key, what is
// wrong and what to do, so an operator can fix the file without reading code.

export interface SourcePosition {
  line: number;
  column: number;
}

export interface StackIssue {
  file: string;
  position: SourcePosition;
  /** Key path in the stack file, e.g. `services.backend.mounts[0]`. */
  keyPath: string;
  message: string;
  fix: string;
}

export function formatIssue(issue: StackIssue): string {
  const where = `${issue.file}:${issue.position.line}:${issue.position.column}`;
  const key = issue.keyPath === '' ? '(document)' : issue.keyPath;
  return `${where}: ${key}: ${issue.message}\n  fix: ${issue.fix}`;
}

/** Issues printed in one message; a file with thousands of the same mistake needs the first few, not megabytes. */
export const PRINTED_ISSUES = 50;

/** Every issue when there are few, else the first PRINTED_ISSUES and how many more there are. */
export function formatIssues(issues: readonly StackIssue[]): string {
  const shown = issues.slice(0, PRINTED_ISSUES).map(formatIssue);
  if (issues.length > PRINTED_ISSUES) shown.push(`... and ${issues.length - PRINTED_ISSUES} more problems; fix the ones above and run again`);
  return shown.join('\n');
}

export class StackFileError extends Error {
  readonly issues: StackIssue[];

  constructor(issues: StackIssue[]) {
    super(formatIssues(issues));
    this.name = 'StackFileError';
    this.issues = issues;
  }
}

/** Bad usage (unknown flag, unknown stack or environment): exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A check found a problem (drift, verification mismatch, threshold): exit code 3. */
export class CheckFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckFailed';
  }
}

export type KeyPath = ReadonlyArray<string | number>;

export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

/** Names for a message: all of them when few, else the first 20 (and how many there are, when that is known without walking them all). */
export function nameList(names: Iterable<string>, none: string): string {
  const shown: string[] = [];
  let more = false;
  for (const name of names) {
    if (shown.length === 20) {
      more = true;
      break;
    }
    shown.push(name);
  }
  if (shown.length === 0) return none;
  if (!more) return shown.join(', ');
  const total = Array.isArray(names) ? names.length : names instanceof Set ? names.size : undefined;
  return `${shown.join(', ')}, ...${total === undefined ? '' : ` (${total} in all)`}`;
}
