import { StackFileError } from './errors.js';
import { stackFileValidator } from './schema.js';
import { schemaIssues } from './schema-issues.js';
import { semanticIssues, type IssueAt } from './semantic.js';
import type { StackFile } from './types.js';
import { parseYaml, readYamlFile, type YamlKind } from './yaml-source.js';

/**
 * Loading a stack file: YAML with positions, the schema (ajv), then semantic
 * checks; every problem is reported as file:line:column with the key and a fix.
 */

export interface LoadedStack {
  file: string;
  stack: StackFile;
}

const STACK_FILE: YamlKind = {
  what: 'stack file',
  unreadableFix: 'check the path, or pass --stacks-dir (or STOWAGE_STACKS_DIR) pointing at the directory that holds <app>.yaml',
  tooBigFix: 'a stack file declares one application; split unrelated applications into stack files of their own (<app>.yaml), or point --stacks-dir at the right directory',
};

/** Reads, parses, validates and checks a stack file; throws StackFileError listing every problem. */
export function loadStackFile(file: string): LoadedStack {
  const read = readYamlFile(file, STACK_FILE);
  if (!read.ok) throw new StackFileError(read.issues);
  return { file, stack: parseStackText(read.text, file) };
}

export function parseStackText(text: string, file: string): StackFile {
  const parsed = parseYaml(text, file);
  if (!parsed.ok) throw new StackFileError(parsed.issues);
  const { data, source } = parsed;
  const validate = stackFileValidator();
  if (!validate(data)) {
    const issues = schemaIssues(validate.errors ?? [], { oneOfFix: 'write a string, a number, a boolean, or {secret: <name of a declared secret>}' });
    throw new StackFileError(issues.map((issue) => source.place(issue)));
  }
  const semantic = semanticIssues(data);
  if (semantic.length > 0) throw new StackFileError(semantic.map((issue) => source.place(issue)));
  return data;
}

/**
 * Places problems found after loading (a command-line choice that conflicts
 * with what the file says) at their file:line:column, as a StackFileError.
 */
export function stackFileErrorAt(file: string, issues: IssueAt[]): StackFileError {
  const read = readYamlFile(file, STACK_FILE);
  if (!read.ok) return new StackFileError(read.issues);
  const parsed = parseYaml(read.text, file);
  if (!parsed.ok) return new StackFileError(parsed.issues);
  return new StackFileError(issues.map((issue) => parsed.source.place(issue)));
}
