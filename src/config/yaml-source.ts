import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isAlias, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, type Document, type Pair, type YAMLMap } from 'yaml';
import { formatKeyPath, type KeyPath, type SourcePosition, type StackIssue } from './errors.js';
import type { IssueAt } from './semantic.js';

/**
 * Reading the YAML files stowage is driven by (stack files, runbooks) in time
 * and memory linear in their size, whatever they hold. A stack file is input
 * from a repository or a shared disk: a 10 MB file, a mapping of 100,000 keys
 * or an alias bomb must end in exit 2 with file:line:column within seconds,
 * not in minutes at 100% CPU.
 *
 * Two parts of the yaml library are quadratic, so stowage does them itself:
 * its duplicate-key check compares every key with every earlier key of the
 * mapping, and its alias resolution scans every anchor and alias of the
 * document for each alias (and its alias-count guard rescans the document).
 */

/** Large enough for any real stack file or runbook (the reference ones are under 10 KB). */
export const MAX_YAML_BYTES = 1024 * 1024;

/**
 * Nodes the data may hold once aliases are expanded. A 1 MiB file holds at most
 * a few hundred thousand nodes; a billion-laughs file asks for 10^9 and more.
 */
export const MAX_EXPANDED_NODES = 1_000_000;

/** What a file is called in messages and what to do when it is too big. */
export interface YamlKind {
  /** "stack file", "runbook". */
  what: string;
  /** Advice when the file cannot be read. */
  unreadableFix: string;
  /** Advice when the file is over the size limit. */
  tooBigFix: string;
}

export type YamlRead = { ok: true; text: string } | { ok: false; issues: StackIssue[] };

/**
 * Reads at most MAX_YAML_BYTES + 1 bytes: a file over the limit (or /dev/zero, or
 * a FIFO that never ends) is refused without being read whole. The position
 * given is where the limit is crossed.
 */
export function readYamlFile(file: string, kind: YamlKind): YamlRead {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    return { ok: false, issues: [documentIssue(file, { line: 1, column: 1 }, `cannot read the ${kind.what}: ${err instanceof Error ? err.message : String(err)}`, kind.unreadableFix)] };
  }
  try {
    const buffer = Buffer.alloc(MAX_YAML_BYTES + 1);
    let filled = 0;
    for (;;) {
      const n = readSync(fd, buffer, filled, buffer.length - filled, null);
      if (n === 0) break;
      filled += n;
      if (filled === buffer.length) {
        const head = buffer.subarray(0, MAX_YAML_BYTES).toString('utf8');
        const size = fstatSync(fd).size;
        const sizeText = size > MAX_YAML_BYTES ? `${size} bytes` : `more than ${MAX_YAML_BYTES} bytes`;
        return {
          ok: false,
          issues: [documentIssue(file, endPosition(head), `the ${kind.what} is ${sizeText}; a ${kind.what} may hold at most ${MAX_YAML_BYTES} bytes (1 MiB), and this is where that limit is crossed`, kind.tooBigFix)],
        };
      }
    }
    return { ok: true, text: buffer.subarray(0, filled).toString('utf8') };
  } catch (err) {
    return { ok: false, issues: [documentIssue(file, { line: 1, column: 1 }, `cannot read the ${kind.what}: ${err instanceof Error ? err.message : String(err)}`, kind.unreadableFix)] };
  } finally {
    closeSync(fd);
  }
}

function documentIssue(file: string, position: SourcePosition, message: string, fix: string): StackIssue {
  return { file, position, keyPath: '', message, fix };
}

/** The line and column just after the last character of `text`. */
function endPosition(text: string): SourcePosition {
  const lastNewline = text.lastIndexOf('\n');
  let lines = 1;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) lines++;
  return { line: lines, column: text.length - lastNewline };
}

// ---------------------------------------------------------------- parsing

export type YamlParse = { ok: true; data: unknown; source: YamlSource } | { ok: false; issues: StackIssue[] };

/**
 * Parses one YAML document into plain data. Syntax errors, duplicate keys,
 * keys that are not plain values, aliases without an anchor before them,
 * aliases inside their own anchor and alias expansion beyond
 * MAX_EXPANDED_NODES are issues with their positions, in document order.
 */
export function parseYaml(text: string, file: string): YamlParse {
  const lines = new LineCounter();
  // uniqueKeys: false because yaml's own check is quadratic; toData checks keys instead.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false, keepSourceTokens: false });
  const source = new YamlSource(doc, lines, file);
  const problems: Problem[] = doc.errors.map((e) => ({
    offset: e.pos[0],
    path: [],
    message: `YAML syntax error: ${e.message.split('\n')[0] ?? e.message}`,
    fix: 'fix the YAML syntax at this position',
  }));
  const converted = toData(doc, MAX_EXPANDED_NODES);
  problems.push(...converted.problems);
  if (problems.length > 0) {
    problems.sort((a, b) => a.offset - b.offset);
    return { ok: false, issues: problems.map((p) => source.issueAtOffset(p)) };
  }
  return { ok: true, data: converted.data, source };
}

interface Problem {
  offset: number;
  path: KeyPath;
  message: string;
  fix: string;
}

/** Where parsed data came from: turns key paths into file:line:column. */
export class YamlSource {
  /** Each mapping's entries by key, built on first use: finding N keys in a mapping of N entries stays linear. */
  private readonly indexes = new WeakMap<YAMLMap, Map<string, Pair>>();

  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    readonly file: string,
  ) {}

  issueAtOffset(problem: Problem): StackIssue {
    const pos = this.lines.linePos(problem.offset);
    return { file: this.file, position: { line: pos.line, column: pos.col }, keyPath: formatKeyPath(problem.path), message: problem.message, fix: problem.fix };
  }

  place(issue: IssueAt): StackIssue {
    return { file: this.file, position: this.locate(issue.path, issue.pointAtKey ?? false), keyPath: formatKeyPath(issue.path), message: issue.message, fix: issue.fix };
  }

  /**
   * Finds where a key path lives. When the path does not exist (a missing
   * key), the deepest existing ancestor is returned, which is where the
   * operator has to add it. `pointAtKey` selects the key of the last map entry
   * rather than its value (unknown keys, bad key names). A path through an
   * alias stops at the alias: that is where the value is written.
   */
  locate(path: KeyPath, pointAtKey = false): SourcePosition {
    let node: unknown = this.doc.contents;
    let offset = rangeStart(node) ?? 0;
    for (let i = 0; i < path.length; i++) {
      const part = path[i];
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = this.entries(node).get(String(part));
        if (pair === undefined) break;
        const keyOffset = rangeStart(pair.key);
        if (last && pointAtKey && keyOffset !== undefined) {
          offset = keyOffset;
          break;
        }
        offset = rangeStart(pair.value) ?? keyOffset ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof part === 'number') {
        const item: unknown = node.items[part];
        if (item === undefined) break;
        offset = rangeStart(item) ?? offset;
        node = item;
      } else {
        break;
      }
    }
    const pos = this.lines.linePos(offset);
    return { line: pos.line, column: pos.col };
  }

  private entries(map: YAMLMap): Map<string, Pair> {
    let index = this.indexes.get(map);
    if (index === undefined) {
      index = new Map();
      for (const pair of map.items) {
        const key = plainKey(pair.key);
        // The first entry wins, like the data: a repeated key is refused before anything is located.
        if (key !== undefined && !index.has(key)) index.set(key, pair);
      }
      this.indexes.set(map, index);
    }
    return index;
  }
}

function rangeStart(node: unknown): number | undefined {
  return isNode(node) ? node.range?.[0] : undefined;
}

/** The data key of a mapping key that is a plain value (as yaml names it: null is ""). */
function plainKey(key: unknown): string | undefined {
  if (!isScalar(key)) return undefined;
  return key.value === null || key.value === undefined ? '' : String(key.value);
}

// ---------------------------------------------------------------- conversion

class AliasBudgetExceeded extends Error {
  constructor(readonly problem: Problem) {
    super(problem.message);
  }
}

interface Anchored {
  value: unknown;
  /** Nodes of the anchored value with its own aliases expanded. */
  size: number;
  /** False while the anchored node is being converted: an alias to it from inside is a cycle. */
  done: boolean;
}

/** A key path built only when a problem needs it: copying paths at every node would cost depth times size. */
type PathLink = { up: PathLink; part: string | number } | undefined;

function keyPath(link: PathLink): KeyPath {
  const parts: Array<string | number> = [];
  for (let at = link; at !== undefined; at = at.up) parts.push(at.part);
  return parts.reverse();
}

/**
 * The document as plain data, in one pass. An alias refers to the last anchor
 * of that name before it and yields the same value (as yaml's toJS does); it
 * costs as many nodes as its anchor expands to, and the whole document may
 * expand to at most `budget` nodes.
 */
function toData(doc: Document, budget: number): { data: unknown; problems: Problem[] } {
  const problems: Problem[] = [];
  const anchors = new Map<string, Anchored>();
  let expanded = 0;

  const convert = (node: unknown, path: PathLink): unknown => {
    const before = expanded;
    expanded += 1;
    if (isAlias(node)) {
      const anchored = anchors.get(node.source);
      const offset = rangeStart(node) ?? 0;
      if (anchored === undefined) {
        problems.push({ offset, path: keyPath(path), message: `alias *${node.source} has no anchor &${node.source} before it`, fix: `define &${node.source} on a value above this line, or write the value here` });
        return null;
      }
      if (!anchored.done) {
        problems.push({ offset, path: keyPath(path), message: `alias *${node.source} is inside the value anchored as &${node.source}, which would contain itself`, fix: 'write the value here instead of the alias' });
        return null;
      }
      expanded += anchored.size - 1;
      if (expanded > budget) {
        throw new AliasBudgetExceeded({
          offset,
          path: keyPath(path),
          message: `alias *${node.source} expands the document beyond ${budget} values (an alias bomb: aliases of aliases multiply)`,
          fix: 'write the values out, or use fewer nested aliases',
        });
      }
      return anchored.value;
    }
    const anchor = isMap(node) || isSeq(node) || isScalar(node) ? node.anchor : undefined;
    const anchored: Anchored | undefined = anchor === undefined ? undefined : { value: undefined, size: 0, done: false };
    if (anchor !== undefined && anchored !== undefined) anchors.set(anchor, anchored);
    let value: unknown;
    if (isMap(node)) {
      const object: Record<string, unknown> = {};
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = convert(pair.key, path);
        const keyOffset = rangeStart(pair.key) ?? rangeStart(node) ?? 0;
        if (key !== null && typeof key === 'object') {
          problems.push({ offset: keyOffset, path: keyPath(path), message: 'a mapping key must be a plain value (a name), not a mapping or a list', fix: 'write the key as a plain name' });
          convert(pair.value, path);
          continue;
        }
        const name = key === null || key === undefined ? '' : String(key);
        const at: PathLink = { up: path, part: name };
        if (seen.has(name)) {
          problems.push({ offset: keyOffset, path: keyPath(at), message: `duplicate key "${name}": a key may appear only once in a mapping`, fix: 'remove or merge the repeated key (YAML would silently keep only one of them)' });
          convert(pair.value, at);
          continue;
        }
        seen.add(name);
        // defineProperty: a key named __proto__ is data, not the object's prototype.
        Object.defineProperty(object, name, { value: convert(pair.value, at), enumerable: true, writable: true, configurable: true });
      }
      value = object;
    } else if (isSeq(node)) {
      value = node.items.map((item, index) => convert(item, { up: path, part: index }));
    } else if (isScalar(node)) {
      value = typeof node.value === 'bigint' ? Number(node.value) : node.value;
    } else {
      // An empty document.
      value = null;
    }
    if (anchored !== undefined) {
      anchored.value = value;
      anchored.size = expanded - before;
      anchored.done = true;
    }
    return value;
  };

  try {
    return { data: convert(doc.contents, undefined), problems };
  } catch (err) {
    if (err instanceof AliasBudgetExceeded) return { data: undefined, problems: [...problems, err.problem] };
    // Nesting deeper than the call stack: yaml reports the same for what it cannot compose.
    if (err instanceof RangeError) return { data: undefined, problems: [...problems, { offset: 0, path: [], message: 'the document nests too deeply to be read', fix: 'nest values only as deep as the schema describes (a few levels)' }] };
    throw err;
  }
}
