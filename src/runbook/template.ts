import { shellQuote } from '../engine/command.js';

/**
 * `{{name}}` interpolation in runbook arguments. Pure: a word becomes one or
 * more arguments, never a shell string. Go templates meant for docker --format
 * (`{{.State.Status}}`, `{{json .}}`, `{{else}}`) pass through untouched: a
 * stowage reference is a bare lower-case name, optionally `.field`.
 */

export type Segment = { text: string; ref?: undefined } | { ref: string; text?: undefined };

const REFERENCE = /\{\{\s*([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)?)\s*\}\}/g;
/** Bare words that are Go template actions, not stowage variables. */
const GO_TEMPLATE_WORDS: ReadonlySet<string> = new Set(['else', 'end', 'break', 'continue', 'nil']);

export function parseTemplate(word: string): Segment[] {
  const segments: Segment[] = [];
  let last = 0;
  for (const match of word.matchAll(REFERENCE)) {
    const name = match[1] ?? '';
    if (GO_TEMPLATE_WORDS.has(name)) continue;
    if (match.index > last) segments.push({ text: word.slice(last, match.index) });
    segments.push({ ref: name });
    last = match.index + match[0].length;
  }
  if (last < word.length) segments.push({ text: word.slice(last) });
  return mergeText(segments);
}

export function references(word: string): string[] {
  return parseTemplate(word).flatMap((s) => (s.ref === undefined ? [] : [s.ref]));
}

function mergeText(segments: Segment[]): Segment[] {
  const merged: Segment[] = [];
  for (const s of segments) {
    const prev = merged[merged.length - 1];
    if (s.text !== undefined && prev !== undefined && prev.text !== undefined) merged[merged.length - 1] = { text: prev.text + s.text };
    else merged.push(s);
  }
  return merged;
}

export type ListItem = string | Readonly<Record<string, string>>;

/**
 * What `{{...}}` can refer to. `pending` holds captured variables a step has
 * not set yet: a dry run prints them as shell variables, a real run refuses.
 */
export interface Scope {
  scalars: ReadonlyMap<string, string>;
  lists: ReadonlyMap<string, readonly ListItem[]>;
  /** Captured names without a value yet, and whether each is a list. */
  pending: ReadonlyMap<string, 'scalar' | 'list'>;
  item?: ListItem;
}

/** One argument: resolved text, or (dry run) text with references to values not known yet. */
export interface Arg {
  parts: Segment[];
  /** An unresolved list spliced here: printed unquoted so the shell splits it. */
  list?: boolean;
}

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/** Expands one word: a word that is exactly `{{list}}` becomes one argument per item. */
export function expandWord(word: string, scope: Scope): Arg[] {
  const segments = parseTemplate(word);
  const only = segments.length === 1 ? segments[0] : undefined;
  if (only?.ref !== undefined && (scope.lists.has(only.ref) || (scope.pending.get(only.ref) === 'list' && !scope.scalars.has(only.ref)))) {
    const list = scope.lists.get(only.ref);
    if (list === undefined) return [{ parts: [{ ref: only.ref }], list: true }];
    return list.map((item) => {
      if (typeof item !== 'string') throw new TemplateError(`{{${only.ref}}} is a list of records; use forEach: ${only.ref} and {{item.<field>}}`);
      return { parts: [{ text: item }] };
    });
  }
  return [{ parts: mergeText(segments.map((s) => (s.ref === undefined ? s : resolveScalar(s.ref, scope)))) }];
}

function resolveScalar(name: string, scope: Scope): Segment {
  if (name === 'item' || name.startsWith('item.')) {
    const item = scope.item;
    if (item === undefined) {
      // A dry run loops over a list that is only known at run time: the shell variable stands for the item.
      if (scope.pending.has('item')) return { ref: name };
      throw new TemplateError(`{{${name}}} is only defined in a step with forEach`);
    }
    if (name === 'item') {
      if (typeof item !== 'string') throw new TemplateError(`{{item}} is a record here; use {{item.<field>}} (fields: ${Object.keys(item).join(', ')})`);
      return { text: item };
    }
    const field = name.slice('item.'.length);
    const value = typeof item === 'string' ? undefined : item[field];
    if (value === undefined) throw new TemplateError(`{{${name}}}: the items of this list have no field "${field}"`);
    return { text: value };
  }
  const value = scope.scalars.get(name);
  if (value !== undefined) return { text: value };
  if (scope.pending.has(name)) return { ref: name };
  if (scope.lists.has(name)) throw new TemplateError(`{{${name}}} is a list: write it as a whole argument ("{{${name}}}") or use forEach: ${name}`);
  throw new TemplateError(`{{${name}}} is not defined`);
}

export function expandWords(words: readonly string[], scope: Scope): Arg[] {
  return words.flatMap((w) => expandWord(w, scope));
}

export function isResolved(arg: Arg): boolean {
  return arg.parts.every((p) => p.text !== undefined);
}

/** The text of a resolved argument; throws naming the unset variable otherwise. */
export function argText(arg: Arg, explain: (name: string) => string): string {
  return arg.parts
    .map((p) => {
      if (p.text !== undefined) return p.text;
      throw new TemplateError(explain(p.ref));
    })
    .join('');
}

/** Shell variable standing for a captured value in a printed plan. */
export function shellVariable(name: string): string {
  return name.toUpperCase();
}

/** Renders an argument so that the printed line pastes into a POSIX shell. */
export function renderArg(arg: Arg): string {
  if (arg.list === true) return arg.parts.map((p) => (p.ref === undefined ? shellQuote(p.text) : `\${${shellVariable(p.ref)}}`)).join('');
  if (isResolved(arg)) return shellQuote(arg.parts.map((p) => p.text ?? '').join(''));
  return arg.parts.map((p) => (p.ref === undefined ? (p.text === '' ? '' : shellQuote(p.text)) : `"\${${shellVariable(p.ref)}}"`)).join('');
}

/** For titles shown to people: known values filled in, anything else left as written. */
export function fillText(text: string, scalars: ReadonlyMap<string, string>): string {
  return parseTemplate(text)
    .map((s) => (s.ref === undefined ? s.text : scalars.get(s.ref) ?? `{{${s.ref}}}`))
    .join('');
}
