import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Which process owns something (a lock, a runbook run): host, pid and the
 * process's start time, so that a reused pid is never taken for the owner.
 */
export interface ProcessOwner {
  host: string;
  pid: number;
  /** Start time in clock ticks since boot (Linux /proc/<pid>/stat field 22); '' where unknown. */
  started: string;
}

/** The start time of a process, or undefined when it does not exist (or /proc is not there). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields count from its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

export function currentProcess(): ProcessOwner {
  return { host: hostname(), pid: process.pid, started: processStartTime(process.pid) ?? '' };
}

/** Whether a process of this host is alive (EPERM counts: it exists but is not ours to signal). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err instanceof Error && 'code' in err && err.code === 'EPERM';
  }
}

/**
 * Whether the owner is certainly gone: same host, and its pid is dead or now
 * belongs to a process that started at another time. Owners on other hosts
 * cannot be checked this way.
 */
export function ownerGone(owner: ProcessOwner): boolean {
  if (owner.host !== hostname()) return false;
  if (!processAlive(owner.pid)) return true;
  const started = processStartTime(owner.pid);
  return owner.started !== '' && started !== undefined && started !== owner.started;
}
