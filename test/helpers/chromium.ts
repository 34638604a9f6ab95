// Headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a
// pipe (--remote-debugging-pipe: fd 3 carries commands in, fd 4 replies and
// events out, each message JSON ending in a NUL byte). No browser download and
// no npm dependency: the protocol calls the tests need fit on a page.
//
// Every page records what a person would notice or a careful reviewer would
// check: console errors, uncaught exceptions, browser log errors (CSP
// violations land there), and every request the page made, failed or not.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const CHROMIUM = process.env['STOWAGE_CHROMIUM'] ?? '/usr/bin/chromium';

/** The flags the project's brief requires: no network side channels, a fresh profile. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--hide-scrollbars',
  '--mute-audio',
];

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

type Listener = (params: Record<string, unknown>, sessionId: string | undefined) => void;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export class Browser {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void; method: string }>();
  private readonly listeners = new Map<string, Listener[]>();
  private buffer = Buffer.alloc(0);
  private exited = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly input: Writable,
    output: Readable,
    private readonly profile: string,
    readonly log: string[],
  ) {
    output.on('data', (chunk: Buffer) => this.receive(chunk));
    child.on('exit', () => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error(`chromium exited while waiting for ${p.method}; its output:\n${this.log.join('').slice(-2000)}`));
      this.pending.clear();
    });
  }

  static async launch(): Promise<Browser> {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is not installed: apt-get install chromium (or set STOWAGE_CHROMIUM)`);
    const profile = mkdtempSync(join(tmpdir(), 'stowage-chromium-'));
    const child = spawn(CHROMIUM, [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank'], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      // Its own process group: closing it ends the renderers and helpers it started, and only those.
      detached: true,
    });
    const log: string[] = [];
    child.stdout?.on('data', (c: Buffer) => log.push(c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => log.push(c.toString('utf8')));
    const input = child.stdio[3];
    const output = child.stdio[4];
    if (input === null || input === undefined || output === null || output === undefined || !('write' in input) || !('read' in output)) {
      throw new Error('chromium did not get its DevTools pipes');
    }
    const browser = new Browser(child, input, output, profile, log);
    await browser.send('Browser.getVersion');
    return browser;
  }

  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (let end = this.buffer.indexOf(0); end !== -1; end = this.buffer.indexOf(0)) {
      const text = this.buffer.subarray(0, end).toString('utf8');
      this.buffer = this.buffer.subarray(end + 1);
      const parsed: unknown = JSON.parse(text);
      if (!isRecord(parsed)) continue;
      const message: Message = parsed;
      if (typeof message.id === 'number') {
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (waiter === undefined) continue;
        if (message.error !== undefined) waiter.reject(new Error(`${waiter.method}: ${message.error.message}`));
        else waiter.resolve(message);
      } else if (typeof message.method === 'string') {
        for (const listener of this.listeners.get(message.method) ?? []) listener(message.params ?? {}, message.sessionId);
      }
    }
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(new Error(`chromium is not running (${method})`));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: (m) => resolve(m.result ?? {}), reject, method });
      this.input.write(`${JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) })}\0`);
    });
  }

  on(method: string, listener: Listener): void {
    this.listeners.set(method, [...(this.listeners.get(method) ?? []), listener]);
  }

  /** A new tab with the given viewport, recording everything that goes wrong on it. */
  async newPage(viewport: { width: number; height: number; mobile?: boolean; deviceScaleFactor?: number }): Promise<Page> {
    const created = await this.send('Target.createTarget', { url: 'about:blank' });
    const attached = await this.send('Target.attachToTarget', { targetId: str(created['targetId']), flatten: true });
    const page = new Page(this, str(attached['sessionId']), str(created['targetId']));
    await page.init(viewport);
    return page;
  }

  async close(): Promise<void> {
    if (!this.exited) {
      const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      await this.send('Browser.close').catch(() => undefined);
      const timer = setTimeout(() => this.kill(), 10_000);
      await gone;
      clearTimeout(timer);
    }
    // Anything of its group still running (a crashed renderer's helpers) goes too.
    this.kill();
    rmSync(this.profile, { recursive: true, force: true });
  }

  private kill(): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  }
}

export interface PageFindings {
  /** console.error / console.assert, uncaught exceptions, and browser log entries at level error. */
  errors: string[];
  /** Requests that failed or were blocked (CSP, mixed content, no such file), and HTTP errors. */
  failedRequests: string[];
  /** Every URL the page requested, the document included. */
  requests: string[];
}

export class Page {
  readonly findings: PageFindings = { errors: [], failedRequests: [], requests: [] };
  private loaded: (() => void) | undefined;

  constructor(
    private readonly browser: Browser,
    private readonly session: string,
    private readonly target: string,
  ) {
    const mine = (handler: (params: Record<string, unknown>) => void): Listener => (params, sessionId) => {
      if (sessionId === this.session) handler(params);
    };
    browser.on('Runtime.consoleAPICalled', mine((p) => {
      if (p['type'] === 'error' || p['type'] === 'assert') {
        const args = Array.isArray(p['args']) ? p['args'] : [];
        this.findings.errors.push(`console.${str(p['type'])}: ${args.map((a) => (isRecord(a) ? str(a['value'] ?? a['description']) : str(a))).join(' ')}`);
      }
    }));
    browser.on('Runtime.exceptionThrown', mine((p) => {
      const details = isRecord(p['exceptionDetails']) ? p['exceptionDetails'] : {};
      const exception = isRecord(details['exception']) ? details['exception'] : {};
      this.findings.errors.push(`uncaught: ${str(exception['description'] ?? details['text'])}`);
    }));
    browser.on('Log.entryAdded', mine((p) => {
      const entry = isRecord(p['entry']) ? p['entry'] : {};
      if (entry['level'] === 'error') this.findings.errors.push(`log (${str(entry['source'])}): ${str(entry['text'])}${entry['url'] === undefined ? '' : ` ${str(entry['url'])}`}`);
    }));
    browser.on('Network.requestWillBeSent', mine((p) => {
      const request = isRecord(p['request']) ? p['request'] : {};
      this.findings.requests.push(str(request['url']));
    }));
    browser.on('Network.loadingFailed', mine((p) => {
      this.findings.failedRequests.push(`${str(p['type'])} ${str(p['errorText'])}${p['blockedReason'] === undefined ? '' : ` (blocked: ${str(p['blockedReason'])})`}`);
    }));
    browser.on('Network.responseReceived', mine((p) => {
      const response = isRecord(p['response']) ? p['response'] : {};
      const status = response['status'];
      if (typeof status === 'number' && status >= 400) this.findings.failedRequests.push(`${str(response['url'])}: HTTP ${status}`);
    }));
    browser.on('Page.loadEventFired', mine(() => this.loaded?.()));
  }

  async init(viewport: { width: number; height: number; mobile?: boolean; deviceScaleFactor?: number }): Promise<void> {
    for (const domain of ['Runtime', 'Log', 'Network', 'Page']) await this.send(`${domain}.enable`);
    await this.send('Emulation.setDeviceMetricsOverride', { width: viewport.width, height: viewport.height, deviceScaleFactor: viewport.deviceScaleFactor ?? 1, mobile: viewport.mobile ?? false });
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.browser.send(method, params, this.session);
  }

  /** Navigates and waits for the load event. */
  async goto(url: string): Promise<void> {
    const loaded = new Promise<void>((resolve) => (this.loaded = resolve));
    const result = await this.send('Page.navigate', { url });
    if (typeof result['errorText'] === 'string') throw new Error(`cannot open ${url}: ${result['errorText']}`);
    await loaded;
  }

  /** Runs an expression in the page and returns its (JSON) value. */
  async evaluate(expression: string): Promise<unknown> {
    const result = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (isRecord(result['exceptionDetails'])) throw new Error(`evaluation failed: ${str(result['exceptionDetails']['text'])}\n${expression}`);
    const value = isRecord(result['result']) ? result['result']['value'] : undefined;
    return value;
  }

  async close(): Promise<void> {
    await this.browser.send('Target.closeTarget', { targetId: this.target }).catch(() => undefined);
  }

  /** A PNG of the whole page (not only the viewport). */
  async screenshot(file: string): Promise<void> {
    const metrics = await this.send('Page.getLayoutMetrics');
    const size = isRecord(metrics['cssContentSize']) ? metrics['cssContentSize'] : {};
    const width = typeof size['width'] === 'number' ? size['width'] : 800;
    const height = typeof size['height'] === 'number' ? size['height'] : 600;
    const shot = await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true, clip: { x: 0, y: 0, width, height, scale: 1 } });
    writeFileSync(file, Buffer.from(str(shot['data']), 'base64'));
  }
}
