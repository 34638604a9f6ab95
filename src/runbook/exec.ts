import { spawn, type ChildProcess } from 'node:child_process';
import type { Command } from '../engine/command.js';
import { dockerEnvironment } from '../engine/endpoint.js';

/**
 * Runs a step's command: output streams to the operator as it comes (a
 * backup takes minutes) and is kept for captures and error reports. The child
 * stays in our process group, so a Ctrl-C in the terminal reaches the
 * operation too and it cleans up (restarts what it stopped) by itself.
 */

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  signal: NodeJS.Signals | undefined;
}

export interface ExecOptions {
  env: Record<string, string>;
  cwd: string;
  timeoutSeconds: number | undefined;
  /** Receives output as it arrives (already split into lines). */
  echo: ((line: string, stream: 'stdout' | 'stderr') => void) | undefined;
}

export type Exec = (cmd: Command, options: ExecOptions) => Promise<ExecResult>;

/** Enough for a JSON document; a step that prints more keeps its last part. */
const MAX_KEPT = 8 * 1024 * 1024;

let current: ChildProcess | undefined;

/** Forwards a signal to the command in progress (a SIGTERM sent to stowage alone must reach it too). */
export function forwardSignal(signal: NodeJS.Signals): boolean {
  if (current === undefined || current.exitCode !== null) return false;
  current.kill(signal);
  return true;
}

export const spawnExec: Exec = (cmd, options) =>
  new Promise((resolve, reject) => {
    // Compose, docker and stowage's own scripts go to the run's engine (DOCKER_HOST), whatever the shell had.
    const child = spawn(cmd.program, cmd.args, { cwd: options.cwd, env: dockerEnvironment(undefined, { ...process.env, ...options.env }), stdio: ['ignore', 'pipe', 'pipe'] });
    current = child;
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const partial = { stdout: '', stderr: '' };
    const onData = (stream: 'stdout' | 'stderr') => (chunk: string) => {
      if (stream === 'stdout') stdout = keep(stdout + chunk);
      else stderr = keep(stderr + chunk);
      if (options.echo === undefined) return;
      const lines = (partial[stream] + chunk).split('\n');
      partial[stream] = lines.pop() ?? '';
      for (const line of lines) options.echo(line, stream);
    };
    child.stdout.setEncoding('utf8').on('data', onData('stdout'));
    child.stderr.setEncoding('utf8').on('data', onData('stderr'));
    const timer =
      options.timeoutSeconds === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
          }, options.timeoutSeconds * 1000);
    child.on('error', (err) => {
      if (timer !== undefined) clearTimeout(timer);
      current = undefined;
      reject(new Error(`cannot run ${cmd.program}: ${err.message}; is it installed and on PATH?`));
    });
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      current = undefined;
      for (const stream of ['stdout', 'stderr'] as const) if (partial[stream] !== '') options.echo?.(partial[stream], stream);
      resolve({ code: code ?? (signal === 'SIGINT' ? 130 : 143), stdout, stderr, timedOut, signal: signal ?? undefined });
    });
  });

function keep(text: string): string {
  return text.length > MAX_KEPT ? text.slice(text.length - MAX_KEPT) : text;
}

/** The last non-empty lines of an output, for error reports. */
export function lastLines(text: string, count: number): string[] {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '')
    .slice(-count);
}
