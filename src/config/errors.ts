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

export class StackFileError extends Error {
  readonly issues: StackIssue[];

  constructor(issues: StackIssue[]) {
    super(issues.map(formatIssue).join('\n'));
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
