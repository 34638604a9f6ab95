import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processAlive, processStartTime } from './process-owner.js';

/**
 * Private scratch space for copies that must not outlive a run (decoded
 * SQLite databases and pg dumps made by verify, dumps on their way into a
 * container). Everything lives below one directory per user, mode 0700, and
 * each run's directory names its pid and start time: whatever a killed run
 * left is removed by the next run of any command.
 */

function root(): string {
  const uid = process.getuid?.() ?? 0;
  const dir = join(tmpdir(), `stowage-${uid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  // Another user could have made it first in a shared /tmp: never put private copies there.
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new Error(`${dir} is not a private directory of this user (owner ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}); remove it or set TMPDIR elsewhere`);
  }
  return dir;
}

/** A new private directory for this run (0700), e.g. for verify's decoded copies. */
export function privateScratch(purpose: string): string {
  return mkdtempSync(join(root(), `${purpose}-${process.pid}-${processStartTime(process.pid) ?? '0'}-`));
}

/** Removes the scratch directories of runs that are gone. Returns what it removed. */
export function sweepScratch(): string[] {
  let dir: string;
  try {
    dir = root();
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = /-(\d+)-(\d+)-[^-]+$/.exec(name);
    if (m === null) continue;
    const pid = Number(m[1]);
    const alive = processAlive(pid) && (processStartTime(pid) ?? m[2]) === m[2];
    if (alive) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(join(dir, name));
  }
  return removed;
}
