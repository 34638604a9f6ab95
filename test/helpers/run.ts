// Runs the project's entry points the way users do, and captures what they print.
// Built on the one process runner of the test helpers (engine.ts): one repoRoot, one RunResult.
import { exec, repoRoot, type RunResult } from './engine.js';

export { repoRoot, type RunResult };

export interface RunOptions {
  /** `node` starts the script directly (fast); `zx` goes through `npx zx` as the docs say. */
  via?: 'node' | 'zx';
  cwd?: string;
  env?: Record<string, string | undefined>;
  /**
   * Hang detector, not a timing assertion: after this long the program (and
   * its descendants) is SIGKILLed and the result has code -1 and a note in stderr.
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
  return exec(command, args, options);
}
