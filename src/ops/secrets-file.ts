import { randomBytes } from 'node:crypto';
import { utcStamp } from '../util/timestamps.js';

/**
 * The content of env-format secret files (pim's secrets.env): which keys they
 * must hold, how values are generated, and what counts as weak. Pure: no I/O,
 * so every rule here is unit-tested without Docker. Nothing in this module ever
 * puts a value into a message: reports name keys and line numbers only.
 */

export interface SecretKeySpec {
  name: string;
  /** Random bytes behind a generated value; written as lowercase hex (2 characters per byte). */
  bytes: number;
  /** Shortest value accepted by `check`, in characters, whatever encoding the value uses. */
  minLength: number;
  /** What rotating this key does to users, shown before and after a rotation. */
  rotationEffect: string;
  /** Rotating it destroys data: only with --force-encryption-key, and this says why. */
  guard: string | undefined;
}

/**
 * The one place that says what an env-format secret file must hold. Hex was
 * chosen over base64: it needs no quoting in env files, `docker --env-file`,
 * shells or dotenv loaders, and every language decodes it (Buffer.from(v, 'hex'),
 * bytes.fromhex(v)). 32 bytes = 256 bits = 64 hex characters.
 * minLength is lower than what init writes so that a value the backend generated
 * itself in another encoding (43 base64url characters for 32 bytes) still passes.
 */
export const SECRET_KEYS: readonly SecretKeySpec[] = [
  {
    name: 'JWT_SECRET',
    bytes: 32,
    minLength: 32,
    rotationEffect: 'every user is logged out: sessions and tokens signed with the old secret are rejected, so everyone has to log in again',
    guard: undefined,
  },
  {
    name: 'ENCRYPTION_KEY',
    bytes: 32,
    minLength: 32,
    rotationEffect:
      'data the backend encrypted with the old key (such as stored email account passwords) can no longer be decrypted: users have to enter it again, and anything not re-entered is lost',
    guard:
      'rotating ENCRYPTION_KEY makes everything encrypted with the old key unreadable (the backend does not re-encrypt). ' +
      'Rotate it only when the key has leaked, after taking a stowage backup, and pass --force-encryption-key. ' +
      'To log everyone out without losing data, rotate only the JWT secret: --key JWT_SECRET',
  },
];

export function findKeySpec(name: string): SecretKeySpec | undefined {
  return SECRET_KEYS.find((k) => k.name === name);
}

/** Env-format secret files (`secrets.env`, `.env`, `x.env`) have keys stowage can generate and check; others (PEM keys) are opaque. */
export function isEnvFormat(path: string): boolean {
  const base = path.split('/').pop() ?? path;
  return base === '.env' || base.endsWith('.env');
}

// ---------------------------------------------------------------- parsing

export type EnvLine =
  | { kind: 'blank'; raw: string }
  | { kind: 'comment'; raw: string }
  | { kind: 'entry'; raw: string; key: string; value: string }
  | { kind: 'invalid'; raw: string };

export interface EnvFile {
  lines: EnvLine[];
  /** Whether the text ended with a newline, so a rewrite keeps the file's shape. */
  finalNewline: boolean;
}

const ENTRY = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/;

function unquote(text: string): string {
  const value = text.trim();
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) return value.slice(1, -1);
  return value;
}

export function parseEnvFile(text: string): EnvFile {
  const finalNewline = text.endsWith('\n');
  const body = finalNewline ? text.slice(0, -1) : text;
  const lines = body === '' ? [] : body.split('\n').map((line): EnvLine => {
    const raw = line.replace(/\r$/, '');
    if (raw.trim() === '') return { kind: 'blank', raw };
    if (raw.trimStart().startsWith('#')) return { kind: 'comment', raw };
    const match = ENTRY.exec(raw);
    if (match === null) return { kind: 'invalid', raw };
    return { kind: 'entry', raw, key: match[1] ?? '', value: unquote(match[2] ?? '') };
  });
  return { lines, finalNewline };
}

/** The last assignment of each key wins, as with dotenv loaders and `docker --env-file`. */
export function envValues(file: EnvFile): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of file.lines) if (line.kind === 'entry') values.set(line.key, line.value);
  return values;
}

// ---------------------------------------------------------------- generating

export type RandomSource = (size: number) => Buffer;

export function generateValue(spec: SecretKeySpec, random: RandomSource = randomBytes): string {
  return random(spec.bytes).toString('hex');
}

export function generateValues(keys: readonly SecretKeySpec[], random: RandomSource = randomBytes): Map<string, string> {
  return new Map(keys.map((k) => [k.name, generateValue(k, random)]));
}

/** A new file: a header saying what it is (never what it holds), then one KEY=value line per key. */
export function renderNewFile(values: Map<string, string>, header: string[]): string {
  return [...header.map((h) => `# ${h}`), ...[...values].map(([k, v]) => `${k}=${v}`)].join('\n') + '\n';
}

/**
 * The file with new values for some keys: every other line (comments, keys
 * stowage does not know) is kept byte for byte; keys not yet present are appended.
 */
export function replaceValues(file: EnvFile, values: Map<string, string>): string {
  const written = new Set<string>();
  const lines = file.lines.map((line) => {
    if (line.kind !== 'entry') return line.raw;
    const value = values.get(line.key);
    if (value === undefined) return line.raw;
    written.add(line.key);
    return `${line.key}=${value}`;
  });
  for (const [key, value] of values) if (!written.has(key)) lines.push(`${key}=${value}`);
  return lines.join('\n') + (lines.length > 0 ? '\n' : '');
}

// ---------------------------------------------------------------- checking

export type ProblemCode =
  | 'missing-file'
  | 'not-a-file'
  | 'empty-file'
  | 'invalid-line'
  | 'duplicate-key'
  | 'missing-key'
  | 'empty'
  | 'too-short'
  | 'placeholder'
  | 'low-variety'
  | 'repeated-pattern'
  | 'unsafe-mode'
  | 'wrong-owner';

export interface Problem {
  code: ProblemCode;
  /** Key the problem is about, when it is about one. */
  key?: string;
  /** Names the key or line and says what to do; never contains a value. */
  message: string;
}

/**
 * Lowercased words that mark a value somebody typed as a stand-in. Each has a
 * letter outside a-f or eight digits, so a generated hex value never contains one
 * by chance (and a random base64 value only with a chance below one in 10^7).
 */
export const PLACEHOLDERS: readonly string[] = [
  'changeme', 'change_me', 'change-me', 'secret', 'password', 'passw0rd', 'example', 'default',
  'placeholder', 'replace', 'insecure', 'dummy', 'sample', 'qwerty', 'letmein', '12345678',
];

/** Fewer distinct characters than this in a long value means it was not drawn at random (random hex shows ~16). */
export const MIN_DISTINCT_CHARACTERS = 10;

/** Why a value is weak, without ever echoing it. Empty when it is fine. */
export function weaknesses(spec: Pick<SecretKeySpec, 'name' | 'minLength'>, value: string): Problem[] {
  const key = spec.name;
  if (value === '') return [{ code: 'empty', key, message: `${key} is empty; rotate it: secrets.mjs rotate --key ${key}` }];
  const problems: Problem[] = [];
  const lower = value.toLowerCase();
  // The message is the same whichever word matched: naming it would reveal part of the value.
  if (PLACEHOLDERS.some((p) => lower.includes(p))) {
    problems.push({ code: 'placeholder', key, message: `${key} looks like a placeholder (it contains a well-known word such as "changeme" or "password")` });
  }
  if (value.length < spec.minLength) {
    problems.push({ code: 'too-short', key, message: `${key} is ${value.length} characters long; at least ${spec.minLength} are required` });
  }
  const distinct = new Set(value).size;
  if (distinct < MIN_DISTINCT_CHARACTERS) {
    problems.push({ code: 'low-variety', key, message: `${key} uses only ${distinct} distinct characters; a random value uses more` });
  } else if (/^(.+?)\1+$/s.test(value)) {
    problems.push({ code: 'repeated-pattern', key, message: `${key} repeats the same sequence over and over` });
  }
  return problems;
}

export interface KeyReport {
  name: string;
  present: boolean;
  ok: boolean;
  problems: Problem[];
}

export interface ContentReport {
  keys: KeyReport[];
  /** Problems of the file as a whole (unreadable lines, duplicate keys). */
  problems: Problem[];
}

export function checkContent(file: EnvFile, keys: readonly SecretKeySpec[]): ContentReport {
  const problems: Problem[] = [];
  const seen = new Map<string, number>();
  file.lines.forEach((line, index) => {
    if (line.kind === 'invalid') {
      problems.push({ code: 'invalid-line', message: `line ${index + 1} is not KEY=value (nor a comment); fix or remove it` });
    }
    if (line.kind === 'entry') {
      const first = seen.get(line.key);
      if (first === undefined) seen.set(line.key, index + 1);
      else problems.push({ code: 'duplicate-key', key: line.key, message: `${line.key} is set again on line ${index + 1} (first on line ${first}); keep one` });
    }
  });
  const values = envValues(file);
  const reports = keys.map((spec): KeyReport => {
    const value = values.get(spec.name);
    const keyProblems: Problem[] =
      value === undefined
        ? [{ code: 'missing-key', key: spec.name, message: `${spec.name} is missing; add it with: secrets.mjs rotate --key ${spec.name}` }]
        : weaknesses(spec, value);
    return { name: spec.name, present: value !== undefined, ok: keyProblems.length === 0, problems: keyProblems };
  });
  return { keys: reports, problems };
}

export interface FileFacts {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
}

export interface OwnerSpec {
  uid: number;
  gid: number;
}

export function formatOwner(owner: OwnerSpec): string {
  return `${owner.uid}:${owner.gid}`;
}

export function formatFileMode(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

/** Type, permissions and owner of the file as the archive endpoint reports them. */
export function checkFacts(path: string, facts: FileFacts, expectedOwner: OwnerSpec | undefined, fixCommand = 'npx zx scripts/fix-permissions.mjs'): Problem[] {
  if (facts.type !== 'file') return [{ code: 'not-a-file', message: `${path} is a ${facts.type}, not a regular file; replace it with the real file` }];
  const problems: Problem[] = [];
  if (facts.size === 0) problems.push({ code: 'empty-file', message: `${path} is empty` });
  if ((facts.mode & 0o077) !== 0) {
    problems.push({
      code: 'unsafe-mode',
      message: `${path} has mode ${formatFileMode(facts.mode)}: group or others may access it; make it 0600 (${fixCommand} applies the stack file's mode)`,
    });
  }
  if (expectedOwner !== undefined && (facts.uid !== expectedOwner.uid || facts.gid !== expectedOwner.gid)) {
    problems.push({
      code: 'wrong-owner',
      message: `${path} is owned by ${facts.uid}:${facts.gid}, expected ${formatOwner(expectedOwner)}; the backend may not be able to read it (${fixCommand} applies the stack file's owner)`,
    });
  }
  return problems;
}

// ---------------------------------------------------------------- names

export { utcStamp };

/** `secrets.env.<UTC timestamp>.bak`, next to the file. */
export function backupCopyName(fileName: string, date: Date): string {
  return `${fileName}.${utcStamp(date)}.bak`;
}
