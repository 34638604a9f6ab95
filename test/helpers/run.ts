// Runs the project's entry points the way users do, and captures what they print.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** `node` starts the script directly (fast); `zx` goes through `npx zx` as the docs say. */
  via?: 'node' | 'zx';
  cwd?: string;
  env?: Record<string, string | undefined>;
  /**
   * Hang detector, not a timing assertion: after this long the program is
   * SIGKILLed and the result has code -1 and a note in stderr.
   */
  hangAfterMs?: number;
}

/** Runs `scripts/<name>.mjs` with arguments and resolves with its exit code and output (never rejects on a non-zero exit). */
export function runScript(name: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const script = `${repoRoot}scripts/${name}.mjs`;
  const [command, argv] = options.via === 'zx' ? ['npx', ['zx', script, ...args]] : [process.execPath, [script, ...args]];
  return runCommand(command, argv, options);
}

/** Runs any program without a shell; arguments are passed as they are. */
export function runCommand(command: string, args: readonly string[], options: Omit<RunOptions, 'via'> = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let hung = false;
    const timer =
      options.hangAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            hung = true;
            child.kill('SIGKILL');
          }, options.hangAfterMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (hung) resolve({ code: -1, stdout, stderr: `${stderr}\n[test harness: ${command} still running after ${options.hangAfterMs ?? 0} ms: hung; killed it]\n` });
      else resolve({ code: code ?? (signal === null ? -1 : 128), stdout, stderr });
    });
  });
}
