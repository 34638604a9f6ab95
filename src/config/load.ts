import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { formatKeyPath, StackFileError, type StackIssue } from './errors.js';
import { keyPathAt, locate } from './positions.js';
import { stackFileValidator } from './schema.js';
import { schemaIssues } from './schema-issues.js';
import { semanticIssues, type IssueAt } from './semantic.js';
import type { StackFile } from './types.js';

export interface LoadedStack {
  file: string;
  stack: StackFile;
}

/** Reads, parses, validates and checks a stack file; throws StackFileError listing every problem. */
export function loadStackFile(file: string): LoadedStack {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new StackFileError([
      {
        file,
        position: { line: 1, column: 1 },
        keyPath: '',
        message: `cannot read the stack file: ${err instanceof Error ? err.message : String(err)}`,
        fix: 'check the path, or pass --stacks-dir (or STOWAGE_STACKS_DIR) pointing at the directory that holds <app>.yaml',
      },
    ]);
  }
  return { file, stack: parseStackText(text, file) };
}

export function parseStackText(text: string, file: string): StackFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, keepSourceTokens: false });

  const syntax = doc.errors.map((e): StackIssue => {
    const offset = e.pos[0];
    const pos = lines.linePos(offset);
    const duplicate = e.code === 'DUPLICATE_KEY';
    const keyPath = duplicate ? keyPathAt(doc, offset) : undefined;
    const key = keyPath === undefined ? '' : ` "${String(keyPath[keyPath.length - 1])}"`;
    return {
      file,
      position: { line: pos.line, column: pos.col },
      keyPath: keyPath === undefined ? '' : formatKeyPath(keyPath),
      message: duplicate ? `duplicate key${key}: a key may appear only once in a mapping` : `YAML syntax error: ${firstLine(e.message)}`,
      fix: duplicate ? 'remove or merge the repeated key (YAML would silently keep only one of them)' : 'fix the YAML syntax at this position',
    };
  });
  if (syntax.length > 0) throw new StackFileError(syntax);

  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  const validate = stackFileValidator();
  if (!validate(data)) {
    const issues = schemaIssues(validate.errors ?? [], { oneOfFix: 'write a string, a number, a boolean, or {secret: <name of a declared secret>}' });
    throw new StackFileError(issues.map((issue) => place(issue, doc, lines, file)));
  }
  const semantic = semanticIssues(data);
  if (semantic.length > 0) {
    throw new StackFileError(semantic.map((issue) => place(issue, doc, lines, file)));
  }
  return data;
}

function place(issue: IssueAt, doc: Document, lines: LineCounter, file: string): StackIssue {
  return {
    file,
    position: locate(doc, lines, issue.path, issue.pointAtKey ?? false),
    keyPath: formatKeyPath(issue.path),
    message: issue.message,
    fix: issue.fix,
  };
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}
