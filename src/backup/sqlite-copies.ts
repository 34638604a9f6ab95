import type { VolumeModel } from '../config/model.js';
import { startStreaming, type Runner } from '../engine/command.js';
import { sqlite } from '../engine/databases.js';
import { docker } from '../engine/docker.js';
import type { ContainerState } from '../engine/inspect.js';
import { uniqueSuffix, volumeMount } from '../session/session.js';

/**
 * SQLite online copies: a running container that has the database open (and
 * sqlite3 in its image) writes a consistent copy into the volume with
 * `VACUUM INTO`, with no downtime; the backup archives the copy in place of
 * the live file and removes it afterwards.
 */

export interface OnlineCopies {
  /** Container that made the copies and the copy paths inside it, per database. */
  container: string;
  copies: Array<{ database: string; copyInVolume: string }>;
}

export const COPY_PREFIX = '.stowage-sqlite-';

/**
 * Online copies of the declared SQLite databases, written into the volume by a
 * running container that mounts it (it has the files open and sqlite3 in its
 * image). Undefined when no such container can do it.
 */
export async function sqliteOnlineCopies(runner: Runner, running: ContainerState[], volume: VolumeModel, log: (line: string) => void): Promise<OnlineCopies | undefined> {
  const candidates = running.filter((c) => c.Mounts.some((m) => m.RW && (volume.kind === 'bind' ? m.Source === volume.hostPath : m.Name === volume.name)));
  for (const container of candidates) {
    const mount = container.Mounts.find((m) => (volume.kind === 'bind' ? m.Source === volume.hostPath : m.Name === volume.name));
    if (mount === undefined) continue;
    const copies: OnlineCopies['copies'] = [];
    let usable = true;
    for (const [index, database] of volume.backup.databases.entries()) {
      const copyName = `${COPY_PREFIX}${uniqueSuffix()}-${index}`;
      const live = `${mount.Destination}/${database}`;
      const copy = `${mount.Destination}/${copyName}`;
      let result = await runner.run(sqlite.onlineBackup(container.Name, live, copy), { allowFailure: true });
      if (result.code !== 0 && /syntax error|near "INTO"/.test(result.stderr)) {
        result = await runner.run(sqlite.onlineBackupLegacy(container.Name, live, copy), { allowFailure: true });
      }
      if (result.code === 126 || result.code === 127 || /executable file not found|not found/.test(result.stderr)) {
        usable = false;
        break;
      }
      if (result.code !== 0) {
        if (/unable to open database/.test(result.stderr)) {
          log(`volume ${volume.key}: ${database} does not exist yet; nothing to copy`);
          continue;
        }
        throw new Error(`online backup of ${database} in ${container.Name} failed: ${result.stderr.trim()}`);
      }
      copies.push({ database, copyInVolume: copyName });
    }
    if (usable) return { container: container.Name, copies };
  }
  return undefined;
}

/**
 * The SQLite copy's one-file archive. It ends with docker cp's own exit: a
 * failing read is reported as docker's error, not as a truncated archive.
 */
export async function* copyOf(helper: string, path: string): AsyncGenerator<unknown> {
  const one = startStreaming(docker.archiveReadPath(helper, path), { stdin: 'ignore', stdout: 'pipe' });
  if (one.child.stdout === null) throw new Error('docker cp produced no stream');
  try {
    for await (const chunk of one.child.stdout) yield chunk;
    await one.done;
  } finally {
    one.done.catch(() => undefined);
    if (one.child.exitCode === null) one.child.kill('SIGKILL');
  }
}

/** Removes this run's copies from the volume; a failure only warns (the next backup leaves them out). */
export async function removeCopies(runner: Runner, volume: VolumeModel, online: OnlineCopies, image: string, labels: Record<string, string>, log: (line: string) => void): Promise<void> {
  const script = 'cd /data && rm -f -- "$@"';
  const result = await runner.run(docker.runHelperScript(image, [volumeMount(volume, '/data', false)], script, online.copies.map((c) => c.copyInVolume), labels), { allowFailure: true });
  if (result.code !== 0) {
    log(`warning: could not remove the temporary SQLite copies ${online.copies.map((c) => c.copyInVolume).join(', ')} from volume ${volume.key}: ${result.stderr.trim()}; remove them by hand`);
  }
}
