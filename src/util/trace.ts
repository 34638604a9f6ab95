import { performance } from 'node:perf_hooks';

/**
 * `STOWAGE_TRACE=1` prints every command stowage starts and how long it took,
 * against the time since the process started, on stderr: where a run's time
 * goes (start-up, engine round trips, restic's key derivation) without a
 * profiler. Off by default; never on stdout, so --json stays parseable.
 */
const enabled = process.env['STOWAGE_TRACE'] === '1';

function stamp(): string {
  return `[${(performance.now() / 1000).toFixed(3)}s]`;
}

/** Marks a command's start; the returned function marks its end. */
export function traceCommand(program: string, purpose: string): (code: number | null) => void {
  if (!enabled) return () => undefined;
  const began = performance.now();
  process.stderr.write(`${stamp()} start ${program}: ${purpose}\n`);
  return (code) => process.stderr.write(`${stamp()} end   ${program} (${((performance.now() - began) / 1000).toFixed(3)} s, exit ${String(code)}): ${purpose}\n`);
}

export function traceMark(what: string): void {
  if (enabled) process.stderr.write(`${stamp()} ${what}\n`);
}
