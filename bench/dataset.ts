import { createCipheriv, createHash } from 'node:crypto';
import { chownSync, closeSync, mkdirSync, openSync, utimesSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * A deterministic (seeded) volume-like tree: about 60% log-like text, 40%
 * incompressible bytes, ~20,000 small files per GiB plus larger log files and
 * blobs. The same seed and size always give the same names, bytes, owners and
 * times.
 */

export interface DatasetSpec {
  /** Total content bytes to write (file contents, not counting metadata). */
  bytes: number;
  seed: number;
  /** Share of text bytes (the rest is random). */
  textShare?: number;
}

export interface DatasetSummary {
  files: number;
  directories: number;
  bytes: number;
  textBytes: number;
  randomBytes: number;
  smallFiles: number;
  largeFiles: number;
  seconds: number;
}

const GIB = 1024 ** 3;
const KIB = 1024;
const MIB = 1024 * 1024;
/** 2024-01-01T00:00:00Z: every timestamp in the data and every mtime starts here. */
const EPOCH = Date.UTC(2024, 0, 1) / 1000;

/** sfc32: small, fast, good enough for synthetic data, and seedable. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.next();
  }

  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.next() / 4294967296) * n);
  }

  float(): number {
    return this.next() / 4294967296;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  hex(chars: number): string {
    let s = '';
    while (s.length < chars) s += this.next().toString(16).padStart(8, '0');
    return s.slice(0, chars);
  }

  /** Roughly log-normal size between min and max, centred on median. */
  size(min: number, median: number, max: number): number {
    const g = (this.float() + this.float() + this.float() + this.float() - 2) * 1.2; // ~N(0, 0.69)
    return Math.max(min, Math.min(max, Math.round(median * Math.exp(g))));
  }
}

/** Incompressible, deterministic bytes: AES-256-CTR keystream keyed by the seed and a stream name. */
export class RandomBytes {
  private readonly cipher;
  private readonly zeros = Buffer.alloc(4 * MIB);

  constructor(seed: number, stream: string) {
    const key = createHash('sha256').update(`stowagebench:${seed}:${stream}`).digest();
    this.cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }

  take(n: number): Buffer {
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const chunk = Math.min(left, this.zeros.length);
      parts.push(this.cipher.update(chunk === this.zeros.length ? this.zeros : this.zeros.subarray(0, chunk)));
      left -= chunk;
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }
}

const LEVELS = ['INFO', 'INFO', 'INFO', 'INFO', 'INFO', 'INFO', 'DEBUG', 'DEBUG', 'DEBUG', 'WARN', 'ERROR'] as const;
const SERVICES = ['identity', 'smtp', 'imap', 'storage', 'client', 'admin', 'apidocs', 'backend'] as const;
const METHODS = ['GET', 'GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;
const ROUTES = [
  '/api/v1/calendar/events', '/api/v1/calendar/events/{id}', '/api/v1/contacts', '/api/v1/contacts/{id}', '/api/v1/mail/folders',
  '/api/v1/mail/messages/{id}', '/api/v1/mail/messages/{id}/attachments/{n}', '/api/v1/auth/login', '/api/v1/auth/refresh',
  '/api/v1/users/{id}/settings', '/api/v1/search', '/healthz', '/metrics', '/api/v1/admin/smtp/config', '/api/v1/storage/blobs/{id}',
] as const;
const STATUSES = [200, 200, 200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 422, 500, 502, 503] as const;
const AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36',
  'Thunderbird/115.9.0', 'okhttp/4.12.0', 'curl/8.5.0', 'python-requests/2.31.0', 'DAVx5/4.3.16-ose (2024/03/01; dav4jvm; okhttp/4.12.0) Android/14',
] as const;
const MESSAGES = [
  'request completed', 'cache miss, loading from database', 'token refreshed', 'session created', 'mail delivered to mailbox',
  'IMAP IDLE renewed', 'contact sync finished', 'slow query detected', 'retrying upstream connection', 'rate limit applied',
  'TLS handshake completed', 'queued message for delivery', 'attachment scanned, clean', 'calendar invitation parsed',
  'connection reset by peer', 'deadline exceeded while waiting for storage', 'SMTP 250 2.0.0 OK queued', 'config reloaded from /app/data/smtp_config.json',
] as const;
const STACK = [
  '    at Storage.read (/app/src/storage/blob.js:214:17)',
  '    at async MailboxService.fetchMessage (/app/src/imap/mailbox.js:88:21)',
  '    at async Router.handle (/app/node_modules/express/lib/router/index.js:284:7)',
  '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
] as const;
const WORDS = (
  'the of and to in is for on that with as by this from at be are or an it not was your have which we can will more all ' +
  'meeting invoice project update review schedule report account password calendar contact message attachment draft ' +
  'tomorrow today monday friday please thanks regards team deadline budget server backup restore volume release'
).split(' ');

const LEVEL_TEXT = LEVELS.map((l) => l.padEnd(5));
const LEVEL_JSON = LEVELS.map((l) => l.toLowerCase());
const ROUTE_PARTS = ROUTES.map((r) => r.split(/\{id\}|\{n\}/));
const PAD3 = Array.from({ length: 1000 }, (_, i) => i.toString().padStart(3, '0'));
const PAD2 = Array.from({ length: 100 }, (_, i) => i.toString().padStart(2, '0'));
const STACK_TEXT = `${STACK.join('\n')}\n`;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Users and client addresses shared by every file of one data set. */
export class Population {
  readonly users: string[];
  readonly ips: string[];

  constructor(seed: number) {
    const rng = new Rng(seed ^ 0x7a11);
    this.users = Array.from({ length: 5000 }, (_, i) => `u${(100000 + i * 7919) % 1000000}`);
    this.ips = Array.from({ length: 3000 }, () => `10.${rng.int(256)}.${rng.int(256)}.${1 + rng.int(254)}`);
  }
}

/** Log text: access lines, application lines, JSON lines and the odd stack trace; written straight into buffers. */
export class LogText {
  private readonly rng: Rng;
  private t: number;
  private second = -1;
  private secondPrefix = '';
  private readonly people: Population;

  constructor(seed: number, people: Population, startMs: number) {
    this.rng = new Rng(seed);
    this.people = people;
    this.t = startMs;
  }

  private hex16(): string {
    const a = this.rng.next();
    const b = this.rng.next();
    return HEX[a >>> 24]! + HEX[(a >>> 16) & 255]! + HEX[(a >>> 8) & 255]! + HEX[a & 255]! + HEX[b >>> 24]! + HEX[(b >>> 16) & 255]! + HEX[(b >>> 8) & 255]! + HEX[b & 255]!;
  }

  private timestamp(): string {
    const sec = Math.floor(this.t / 1000);
    if (sec !== this.second) {
      this.second = sec;
      this.secondPrefix = new Date(sec * 1000).toISOString().slice(0, 20);
    }
    return `${this.secondPrefix}${PAD3[this.t - sec * 1000]!}Z`;
  }

  private route(): string {
    const parts = ROUTE_PARTS[this.rng.int(ROUTE_PARTS.length)]!;
    if (parts.length === 1) return parts[0]!;
    if (parts.length === 2) return `${parts[0]!}${this.rng.int(900000) + 1000}${parts[1]!}`;
    return `${parts[0]!}${this.rng.int(900000) + 1000}${parts[1]!}${this.rng.int(8)}${parts[2]!}`;
  }

  line(): string {
    const r = this.rng;
    this.t += r.int(40);
    const ts = this.timestamp();
    const li = r.int(LEVELS.length);
    const svc = r.pick(SERVICES);
    const req = this.hex16();
    const kind = r.int(10);
    if (kind < 5) {
      const dur = r.int(250000);
      return `${ts} ${LEVEL_TEXT[li]!} [${svc}] req=${req} user=${r.pick(this.people.users)} ip=${r.pick(this.people.ips)} method=${r.pick(METHODS)} path=${this.route()} status=${r.pick(STATUSES)} bytes=${r.int(60000)} dur_ms=${Math.floor(dur / 100)}.${PAD2[dur % 100]!} ua="${r.pick(AGENTS)}"\n`;
    }
    if (kind < 8) {
      const base = `${ts} ${LEVEL_TEXT[li]!} [${svc}] req=${req} ${r.pick(MESSAGES)} worker=${r.int(16)} attempt=${1 + r.int(3)}\n`;
      return li === LEVELS.length - 1 ? `${base}Error: ${r.pick(MESSAGES)}\n${STACK_TEXT}` : base;
    }
    return `{"time":"${ts}","level":"${LEVEL_JSON[li]!}","service":"${svc}","request_id":"${req}","user":"${r.pick(this.people.users)}","event":"${r.pick(MESSAGES)}","latency_ms":${r.int(5000)},"queue_depth":${r.int(300)}}\n`;
  }

  /** Exactly n bytes of log lines (the last one cut). */
  take(n: number): Buffer {
    const buf = Buffer.allocUnsafe(n + 4096);
    let off = 0;
    while (off < n) off += buf.write(this.line(), off, 'latin1');
    return buf.subarray(0, n);
  }

  /** A small text document of n bytes: a mail message, a JSON record or a note. */
  document(n: number, kind: DocumentKind): Buffer {
    const r = this.rng;
    const users = this.people.users;
    let head: string;
    if (kind === 'mail') {
      head = `From: ${r.pick(users)}@example.org\nTo: ${r.pick(users)}@example.org\nDate: ${new Date(this.t).toUTCString()}\nMessage-ID: <${this.hex16()}${this.hex16()}@example.org>\nSubject: ${r.pick(WORDS)} ${r.pick(WORDS)} ${r.pick(WORDS)}\nContent-Type: text/plain; charset=utf-8\n\n`;
    } else if (kind === 'json') {
      head = `{"id":"${this.hex16()}${this.hex16()}","owner":"${r.pick(users)}","created":"${new Date(this.t).toISOString()}","tags":["${r.pick(WORDS)}","${r.pick(WORDS)}"],"body":"`;
    } else head = `# notes ${this.hex16()}\n`;
    const buf = Buffer.allocUnsafe(n + 4096);
    let off = buf.write(head, 0, 'latin1');
    while (off < n) {
      const w = r.int(14) === 0 ? (r.int(2) === 0 ? '\n' : '. ') : `${r.pick(WORDS)} `;
      off += buf.write(w, off, 'latin1');
    }
    return buf.subarray(0, n);
  }
}

export type FileKind = 'log' | 'doc' | 'bin';
export type DocumentKind = 'mail' | 'json' | 'note';

/** What kind of text document a small text file of the data set holds, from its name. */
export function documentKind(path: string): DocumentKind {
  return path.endsWith('.eml') ? 'mail' : path.endsWith('.json') ? 'json' : 'note';
}

export interface FileJob {
  index: number;
  path: string;
  kind: FileKind;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
}

export interface DatasetPlan {
  files: FileJob[];
  directories: string[];
  textBytes: number;
  randomBytes: number;
  smallFiles: number;
}

/** Owner of everything the data set holds (the reference systems' runtime user). */
export const DATA_OWNER: [number, number] = [1000, 1000];

/**
 * Names, kinds, sizes and times of every file, from the seed alone (cheap, so
 * every worker process computes it and takes its share). Small files: ~20,000
 * per GiB, 60% text documents and 40% binary (thumbnails, attachments); large
 * files fill the rest: rotated logs (text, 8-48 MiB) and blobs (random, 4-64 MiB).
 */
export function planDataset(spec: DatasetSpec): DatasetPlan {
  const textShare = spec.textShare ?? 0.6;
  const rng = new Rng(spec.seed);
  const files: FileJob[] = [];
  const textTarget = Math.round(spec.bytes * textShare);
  const randomTarget = spec.bytes - textTarget;
  const smallCount = Math.max(200, Math.round((20000 * spec.bytes) / GIB));
  let textBytes = 0;
  let randomBytes = 0;
  let mtime = EPOCH;
  const add = (path: string, kind: FileKind, size: number): void => {
    files.push({ index: files.length, path, kind, size, mtime });
    if (kind === 'bin') randomBytes += size;
    else textBytes += size;
  };
  for (let i = 0; i < smallCount; i++) {
    mtime += 1 + rng.int(120);
    const bucket = PAD2[i % 100]!;
    if (rng.float() < textShare) {
      const size = Math.min(rng.size(300, 3500, 64 * KIB), Math.max(0, textTarget - textBytes));
      const k = rng.int(3);
      add(k === 0 ? `mail/u${bucket}/cur/${i}.eml` : k === 1 ? `records/${bucket}/${i}-${rng.hex(12)}.json` : `notes/${bucket}/${i}.md`, 'doc', size);
    } else {
      const size = Math.min(rng.size(512, 4500, 96 * KIB), Math.max(0, randomTarget - randomBytes));
      add(rng.int(2) === 0 ? `uploads/${bucket}/${i}-${rng.hex(16)}.jpg` : `cache/thumbs/${bucket}/${i}.webp`, 'bin', size);
    }
  }
  const smallFiles = files.length;
  let logIndex = 0;
  let blobIndex = 0;
  while (textBytes < textTarget || randomBytes < randomTarget) {
    mtime += 3600;
    const textLeft = textTarget - textBytes;
    const randomLeft = randomTarget - randomBytes;
    if (textLeft > 0 && textLeft / textTarget >= randomLeft / randomTarget) {
      const day = new Date((EPOCH + logIndex * 86400) * 1000).toISOString().slice(0, 10);
      add(`logs/${rng.pick(SERVICES)}-${day}.log`, 'log', Math.min(textLeft, rng.size(8 * MIB, 24 * MIB, 48 * MIB)));
      logIndex++;
    } else {
      add(`blobs/${blobIndex % 4}/${blobIndex}-${rng.hex(20)}.bin`, 'bin', Math.min(randomLeft, rng.size(4 * MIB, 16 * MIB, 64 * MIB)));
      blobIndex++;
    }
  }
  const directories = new Set<string>();
  for (const f of files) {
    for (let d = dirname(f.path); d !== '.' && !directories.has(d); d = dirname(d)) directories.add(d);
  }
  return { files, directories: [...directories].sort(), textBytes, randomBytes, smallFiles };
}

/** Which files worker `k` of `n` writes: greedy by size, so the shares are even and fixed by the plan. */
export function shareOf(plan: DatasetPlan, k: number, n: number): FileJob[] {
  const load = new Array<number>(n).fill(0);
  const mine: FileJob[] = [];
  const bySize = [...plan.files].sort((a, b) => b.size - a.size || a.index - b.index);
  for (const job of bySize) {
    let best = 0;
    for (let w = 1; w < n; w++) if ((load[w] ?? 0) < (load[best] ?? 0)) best = w;
    load[best] = (load[best] ?? 0) + job.size + 4096;
    if (best === k) mine.push(job);
  }
  return mine;
}

/** Writes the given files under root (directories must exist); content depends only on the seed and the file. */
export function writeFiles(root: string, seed: number, jobs: FileJob[]): number {
  const people = new Population(seed);
  const asRoot = process.getuid?.() === 0;
  let bytes = 0;
  for (const job of jobs) {
    const fileSeed = (Math.imul(seed ^ 0x51ed270b, 0x9e3779b1) + Math.imul(job.index + 1, 0x85ebca6b)) >>> 0;
    let content: Buffer;
    if (job.kind === 'bin') content = new RandomBytes(seed, `f${job.index}`).take(job.size);
    else {
      const text = new LogText(fileSeed, people, (job.mtime - (job.kind === 'log' ? 86400 : 60)) * 1000);
      content = job.kind === 'log' ? text.take(job.size) : text.document(job.size, documentKind(job.path));
    }
    const full = join(root, job.path);
    const fd = openSync(full, 'w', 0o640);
    try {
      let off = 0;
      while (off < content.length) off += writeSync(fd, content, off, content.length - off);
    } finally {
      closeSync(fd);
    }
    if (asRoot) chownSync(full, DATA_OWNER[0], DATA_OWNER[1]);
    utimesSync(full, job.mtime, job.mtime);
    bytes += content.length;
  }
  return bytes;
}

/** Creates the plan's directories under root (owned like the files when running as root). */
export function makeDirectories(root: string, plan: DatasetPlan): void {
  const asRoot = process.getuid?.() === 0;
  for (const d of plan.directories) {
    mkdirSync(join(root, d), { recursive: true, mode: 0o750 });
    if (asRoot) chownSync(join(root, d), DATA_OWNER[0], DATA_OWNER[1]);
  }
}

/** Directory times last: writing files changed them. */
export function stampDirectories(root: string, plan: DatasetPlan): void {
  const last = plan.files.reduce((m, f) => Math.max(m, f.mtime), EPOCH);
  for (const d of plan.directories) utimesSync(join(root, d), last, last);
}

export function summaryOf(plan: DatasetPlan, seconds: number): DatasetSummary {
  return {
    files: plan.files.length,
    directories: plan.directories.length,
    bytes: plan.textBytes + plan.randomBytes,
    textBytes: plan.textBytes,
    randomBytes: plan.randomBytes,
    smallFiles: plan.smallFiles,
    largeFiles: plan.files.length - plan.smallFiles,
    seconds,
  };
}
