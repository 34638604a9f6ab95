import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { formatKeyPath, StackFileError, type KeyPath, type StackIssue } from './errors.js';
import { keyPathAt, locate } from './positions.js';
import { stackFileValidator, type ErrorObject } from './schema.js';
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
    throw new StackFileError(schemaIssues(validate.errors ?? [], doc, lines, file));
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

function pointerToPath(pointer: string): Array<string | number> {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => raw.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

/** Turns ajv's errors into issues an operator can act on, one per problem. */
function schemaIssues(errors: ErrorObject[], doc: Document, lines: LineCounter, file: string): StackIssue[] {
  // oneOf failures report every branch; the oneOf error alone says it best.
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  const issues: IssueAt[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    if (error.keyword !== 'oneOf' && [...oneOfPaths].some((p) => error.instancePath.startsWith(p) && error.schemaPath.includes('/oneOf/'))) continue;
    if (error.keyword === 'propertyNames' || error.keyword === 'if') continue; // reported through the nested pattern error
    const issue = describe(error);
    const key = `${formatKeyPath(issue.path)}|${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  return issues.map((issue) => place(issue, doc, lines, file));
}

function describe(error: ErrorObject): IssueAt {
  const path: KeyPath = pointerToPath(error.instancePath);
  const params: Record<string, unknown> = error.params;
  const parent = error.parentSchema;
  const description = parent !== undefined && typeof parent.description === 'string' ? ` (${parent.description})` : '';
  switch (error.keyword) {
    case 'additionalProperties': {
      const extra = String(params['additionalProperty']);
      const allowed = parent !== undefined && isRecord(parent.properties) ? Object.keys(parent.properties) : [];
      return {
        path: [...path, extra],
        pointAtKey: true,
        message: `unknown key "${extra}"`,
        fix: allowed.length > 0 ? `remove it or correct its spelling; allowed here: ${allowed.join(', ')}` : 'remove it',
      };
    }
    case 'required':
      return {
        path,
        message: `missing required key "${String(params['missingProperty'])}"`,
        fix: `add "${String(params['missingProperty'])}"${description}`,
      };
    case 'pattern': {
      const propertyName = error.propertyName;
      if (propertyName !== undefined) {
        return {
          path: [...path, propertyName],
          pointAtKey: true,
          message: `invalid name "${propertyName}": must match ${String(params['pattern'])}`,
          fix: `rename it so that it matches ${String(params['pattern'])}`,
        };
      }
      return {
        path,
        message: `${JSON.stringify(error.data)} must match ${String(params['pattern'])}`,
        fix: `write a value of the expected form${description}`,
      };
    }
    case 'enum':
      return {
        path,
        message: `${JSON.stringify(error.data)} is not allowed`,
        fix: `use one of: ${(Array.isArray(params['allowedValues']) ? params['allowedValues'] : []).map(String).join(', ')}`,
      };
    case 'const':
      return { path, message: `must be ${JSON.stringify(params['allowedValue'])}`, fix: `write ${JSON.stringify(params['allowedValue'])}` };
    case 'type':
      return { path, message: `must be ${article(String(params['type']))}, not ${jsonType(error.data)}`, fix: `write ${article(String(params['type']))}${description}` };
    case 'oneOf':
      return {
        path,
        message: `${JSON.stringify(error.data)} is not a valid value`,
        fix: 'write a string, a number, a boolean, or {secret: <name of a declared secret>}',
      };
    case 'minProperties':
    case 'maxProperties':
      if (parent !== undefined && isRecord(parent.properties) && parent.maxProperties === 1) {
        return { path, message: 'must set exactly one key', fix: `choose one of: ${Object.keys(parent.properties).join(', ')}` };
      }
      return { path, message: `must have ${error.keyword === 'minProperties' ? 'at least' : 'at most'} ${String(params['limit'])} entries`, fix: 'add or remove entries' };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path, message: `${JSON.stringify(error.data)} ${error.message ?? 'is out of range'}`, fix: `use a value ${(error.message ?? 'in range').replace(/^must be /, '')}` };
    default:
      return { path, message: `${error.message ?? 'is invalid'}`, fix: `correct the value${description}` };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}
