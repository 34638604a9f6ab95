import { spawn, type ChildProcess } from 'node:child_process';
import { Readable } from 'node:stream';
import { currentEngine, describeEngine, dockerEnvironment, type EngineEndpoint } from './endpoint.js';
import { prepareTransport, tunnelEnded } from './ssh-tunnel.js';
import { traceCommand } from '../util/trace.js';

/**
 * A command is data: program and argument array, never a shell string. Builders
 * in this folder return Commands; `Runner` executes them or, for --dry-run,
 * prints them. `mutates` says whether running it changes anything, so a dry run
 * can still ask the engine read-only questions.
 */
export interface Command {
  program: string;
  args: string[];
  mutates: boolean;
  /** What this step is for, shown in dry-run plans and errors. */
  purpose: string;
  /** Exit codes besides 0 that mean success (GNU tar's 1: a file changed while it was read). */
  okExitCodes?: number[];
  /**
   * Variables set for this command only, on top of this process's environment
   * (a restic repository and its password). They are never printed: a plan
   * shows `shownEnv` instead, which names what a person sets (a password file's
   * path, a repository without its credentials) and never a secret.
   */
  env?: Record<string, string>;
  /** Variables removed from the inherited environment (an ambient RESTIC_PASSWORD that must not override ours). */
  unsetEnv?: string[];
  /** What a printed plan puts before the command: `NAME=value` pairs that are safe to show. */
  shownEnv?: Record<string, string>;
  /** Working directory (a directory restic backs up as `.`). */
  cwd?: string;
  /**
   * Output on stderr after which waiting cannot help (restic retries a full
   * disk for minutes): the command is stopped at once and fails with what it
   * printed.
   */
  giveUpOn?: RegExp;
}

export function command(program: string, args: string[], purpose: string, mutates = true): Command {
  return { program, args, mutates, purpose };
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** POSIX shell quoting, so a printed plan can be pasted into a shell as is. */
export function shellQuote(word: string): string {
  if (word !== '' && SAFE_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function renderCommand(cmd: Command): string {
  const env = Object.entries(cmd.shownEnv ?? {}).map(([k, v]) => `${k}=${shellQuote(v)}`);
  const line = [...env, ...[cmd.program, ...cmd.args].map(shellQuote)].join(' ');
  return cmd.cwd === undefined ? line : `(cd ${shellQuote(cmd.cwd)} && ${line})`;
}

/** The environment a command runs with: ours, minus what it unsets, plus its own variables. */
/** The environment a command runs in: the engine's (DOCKER_HOST and friends), then the command's own. */
export function environmentOf(cmd: Command, engine: EngineEndpoint = currentEngine()): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = dockerEnvironment(engine);
  for (const name of cmd.unsetEnv ?? []) delete env[name];
  return { ...env, ...cmd.env };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** What the docker CLI says when it cannot reach the engine at all. */
const ENGINE_UNREACHABLE = /Cannot connect to the Docker daemon|error during connect|Is the docker daemon running/;

/** Whether a docker command failed because no engine answered (not because of what it asked). */
export function engineUnreachable(result: CommandResult): boolean {
  return result.code !== 0 && ENGINE_UNREACHABLE.test(result.stderr);
}

/**
 * The command for an error message: a helper's script is replaced by a
 * placeholder (its own `stowage: ...` lines in stderr say which step failed),
 * so an operator reads the failing step, not a page of shell.
 */
export function summarizeCommand(cmd: Command): string {
  return renderCommand({ ...cmd, args: cmd.args.map((a) => (a.length > 120 || a.includes('\n') ? '<script>' : a)) });
}

/**
 * Why the docker CLI could not reach an engine over SSH, from what ssh said:
 * each needs a different fix, and a wrong host key must never read as a
 * network hiccup to retry.
 */
export function sshProblem(stderr: string, engine: EngineEndpoint): string | undefined {
  const host = engine.url.replace(/^ssh:\/\/(?:[^@/]*@)?/, '').replace(/:\d+$/, '');
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|host key for .* has changed/i.test(stderr)) {
    return (
      `the SSH host key of ${host} does not match the one in known_hosts: nothing was changed. ` +
      `Someone may be intercepting the connection; if the server was reinstalled, check its new key out of band, then replace the entry (ssh-keygen -R ${host}; ssh ${host} once)`
    );
  }
  if (/No (?:ED25519|RSA|ECDSA)? ?host key is known|Host key .* not known|authenticity of host/i.test(stderr)) {
    return `${host} is not in known_hosts: nothing was changed. Check its host key out of band and add it (ssh ${host} once, answering yes after comparing the fingerprint)`;
  }
  if (/Permission denied \(/.test(stderr)) return `the SSH login to ${engine.url} was refused: add your public key to that user's ~/.ssh/authorized_keys (ssh-copy-id), or load it into ssh-agent`;
  if (/docker: (?:command )?not found|No such file or directory.*docker/.test(stderr)) return `docker is not on the PATH of the SSH login on ${host}: install it there, or put it on that user's PATH for non-interactive logins`;
  return undefined;
}

export class CommandFailed extends Error {
  readonly result: CommandResult;
  readonly cmd: Command;

  /** `engine`: the one the command went to (default: the engine in effect). */
  constructor(cmd: Command, result: CommandResult, engine: EngineEndpoint = currentEngine()) {
    const detail = result.stderr.trim() || result.stdout.trim() || `exit code ${result.code}`;
    const lost = cmd.program === 'docker' && ENGINE_UNREACHABLE.test(result.stderr) && !/stowage: /.test(result.stderr);
    const lines = detail.split('\n');
    const ours = lines.filter((l) => l.startsWith('stowage: '));
    const shown = (ours.length > 0 ? ours : lines).slice(-5);
    const ssh = lost && engine.url.startsWith('ssh://') ? (sshProblem(result.stderr, engine) ?? tunnelEnded(engine)) : undefined;
    super(
      ssh !== undefined
        ? `cannot reach the Docker engine ${describeEngine(engine)} while trying to ${cmd.purpose}: ${ssh}`
        : lost
          ? `cannot reach the Docker engine ${describeEngine(engine)} (it stopped answering, or never answered) while trying to ${cmd.purpose}: ${lastMeaningful(lines)}; check that it runs (docker info) and run the command again`
          : `${cmd.purpose} failed: ${summarizeCommand(cmd)}\n  ${shown.join('\n  ')}`,
    );
    this.name = 'CommandFailed';
    this.result = result;
    this.cmd = cmd;
  }
}

/**
 * What to quote of a lost engine's error: the docker CLI ends an SSH failure
 * with ssh's own stderr (`... stderr=ssh: connect to host ...: Connection
 * refused`), whose last line says what happened.
 */
function lastMeaningful(lines: string[]): string {
  const last = [...lines].reverse().find((l) => l.trim() !== '') ?? '';
  const ssh = /stderr=(.*)$/.exec(last)?.[1]?.trim();
  return ssh !== undefined && ssh !== '' ? ssh : last;
}

export interface RunOptions {
  /** Resolve with the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  input?: string | Buffer;
  /** The engine to run it against; default: the engine in effect (endpoint.ts). */
  engine?: EngineEndpoint;
}

/**
 * Executes commands. In dry-run mode mutating commands are printed (to the
 * plan sink) and reported as successful without running; read-only ones run.
 */
export class Runner {
  readonly dryRun: boolean;
  readonly planned: Command[] = [];
  private readonly printPlan: (line: string) => void;

  constructor(options: { dryRun?: boolean; printPlan?: (line: string) => void } = {}) {
    this.dryRun = options.dryRun ?? false;
    this.printPlan = options.printPlan ?? ((line) => process.stdout.write(`${line}\n`));
  }

  /** Records a step that is not a single command (a streamed pipeline) in the dry-run plan. */
  plan(line: string): void {
    this.printPlan(line);
  }

  async run(cmd: Command, options: RunOptions = {}): Promise<CommandResult> {
    if (this.dryRun && cmd.mutates) {
      this.planned.push(cmd);
      this.printPlan(renderCommand(cmd));
      return { code: 0, stdout: '', stderr: '' };
    }
    const engine = options.engine ?? currentEngine();
    // An ssh:// engine gets its tunnel before its first command (once per run).
    await prepareTransport(engine);
    const result = await execute(cmd, options.input, engine);
    if (result.code !== 0 && options.allowFailure !== true) throw new CommandFailed(cmd, result, engine);
    return result;
  }

  /** Runs and returns trimmed stdout. */
  async output(cmd: Command): Promise<string> {
    return (await this.run(cmd)).stdout.trim();
  }
}

/**
 * Children run in their own process group: a Ctrl-C in the terminal reaches
 * only stowage, which decides what to finish (a volume swap) and what to undo
 * (restart stopped containers) before it exits.
 */
const ISOLATED = { detached: true } as const;

function execute(cmd: Command, input: string | Buffer | undefined, engine: EngineEndpoint): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const traced = traceCommand(cmd.program, cmd.purpose);
    const child = spawn(cmd.program, cmd.args, { ...ISOLATED, env: environmentOf(cmd, engine), cwd: cmd.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    child.once('close', traced);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    giveUpWhen(cmd, child, stderr);
    child.on('error', (err) => reject(new Error(`${cmd.purpose}: cannot run ${cmd.program}: ${err.message}; is it installed and on PATH?`)));
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? (signal === null ? 1 : 128),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      }),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** Stops `child` (SIGTERM, so restic still removes its lock) once its stderr so far matches `cmd.giveUpOn`. */
function giveUpWhen(cmd: Command, child: ChildProcess, stderr: Buffer[]): void {
  const pattern = cmd.giveUpOn;
  if (pattern === undefined) return;
  const check = (): void => {
    if (pattern.test(Buffer.concat(stderr).toString('utf8'))) {
      child.stderr?.off('data', check);
      child.kill('SIGTERM');
    }
  };
  child.stderr?.on('data', check);
}

/** Starts a command whose stdin/stdout carry a stream; the caller wires the pipes and awaits `done`. */
export interface StreamingProcess {
  child: ChildProcess;
  done: Promise<void>;
  /** Order in which this process was seen to exit, among all streams of this process. */
  exitSeq?: number;
}

let exitsSeen = 0;

/**
 * Streams still running. A `docker cp` whose reader went away blocks in the
 * engine and holds the container, so `docker rm --force` of its helper would
 * wait forever: such streams are killed before their helper is removed.
 */
const liveStreams = new Map<ChildProcess, Command>();

function killAndWait(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      done();
      return;
    }
    child.once('close', () => done());
    child.kill('SIGKILL');
  });
}

/** Kills the streams whose arguments mention `word` (a helper container's name) and waits until they are gone. */
export async function stopStreamsMentioning(word: string): Promise<void> {
  const victims = [...liveStreams].filter(([, cmd]) => cmd.args.some((a) => a.includes(word))).map(([child]) => child);
  await Promise.all(victims.map(killAndWait));
}

/** Synchronous last resort for signal handlers. */
export function killAllStreams(): void {
  for (const child of liveStreams.keys()) child.kill('SIGKILL');
}

/**
 * stdin may also be another child's stdout or an open file descriptor: the
 * bytes then go from process to process (or file to process) without passing
 * through this one.
 */
export type StdinSource = 'pipe' | 'ignore' | Readable | number;

/** `engine`: where a docker command goes (default: the engine in effect, see endpoint.ts). */
export function startStreaming(cmd: Command, stdio: { stdin: StdinSource; stdout: 'pipe' | 'ignore' }, engine: EngineEndpoint = currentEngine()): StreamingProcess {
  const traced = traceCommand(cmd.program, cmd.purpose);
  const child = spawn(cmd.program, cmd.args, { ...ISOLATED, env: environmentOf(cmd, engine), cwd: cmd.cwd, stdio: [stdio.stdin, stdio.stdout, 'pipe'] });
  child.once('close', traced);
  // Our copy of a handed-over stdout must go, or the producer would not see its reader exit.
  if (stdio.stdin instanceof Readable) stdio.stdin.destroy();
  liveStreams.set(child, cmd);
  child.once('close', () => liveStreams.delete(child));
  const stderr: Buffer[] = [];
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr.push(chunk);
  });
  giveUpWhen(cmd, child, stderr);
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(new Error(`${cmd.purpose}: cannot run ${cmd.program}: ${err.message}; is it installed and on PATH?`)));
    child.on('close', (code, signal) => {
      if (code === 0 || (code !== null && cmd.okExitCodes?.includes(code) === true)) resolve();
      else {
        const result = { code: code ?? 128, stdout: '', stderr: Buffer.concat(stderr).toString('utf8') + (signal === null ? '' : ` (killed by ${signal})`) };
        reject(new CommandFailed(cmd, result, engine));
      }
    });
  });
  const proc: StreamingProcess = { child, done };
  child.once('exit', () => {
    proc.exitSeq = ++exitsSeen;
  });
  return proc;
}
