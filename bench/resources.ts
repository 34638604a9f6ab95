import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { testImageTag } from '../test/images/ensure.js';
import type { RemoteEngine } from '../test/helpers/remote-engine.js';
import { generatorChildren } from './generate.js';
import { run, runningChildren } from './measure.js';

/**
 * Everything the benchmark creates, so it can all be removed at the end, after
 * a failure and on Ctrl-C. Cleanup is synchronous on purpose: it also runs
 * from a signal handler just before the process exits.
 */

/**
 * The project every name derives from. One name on purpose: the lock below
 * keeps benchmarks on one engine one at a time, which a second project name
 * would get around (two runs at once on one machine spoil each other's timings).
 */
export const PROJECT = 'stowagebench';
export const IMAGE = testImageTag('busybox');

/**
 * Two benchmarks on one engine would share the volume and container names
 * (and each would remove the other's as leftovers), and would slow each other
 * down on the machine they share: the first takes this lock,
 * a never-started container whose name the engine lets exist once, and later
 * ones wait for it. Its own project label, so no cleanup takes it for a leftover.
 */
export const LOCK = `${PROJECT}-lock`;
const LOCK_OWNER = 'stowagebench.owner';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, owned by someone else.
    return err instanceof Error && 'code' in err && err.code === 'EPERM';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

export class Resources {
  readonly containers = new Set<string>();
  readonly volumes = new Set<string>();
  readonly dirs = new Set<string>();
  /** The engine of the SSH phase while it runs (it removes itself when the phase ends). */
  private remoteEngine: RemoteEngine | undefined;
  private cleaned = false;
  private locked = false;

  /** Takes the engine's benchmark lock, waiting while another benchmark holds it; a lock whose holder died on this host is taken over. */
  async lock(log: (line: string) => void): Promise<void> {
    const owner = `${hostname()}:${process.pid}`;
    let waitingSince: number | undefined;
    for (;;) {
      const created = await run('docker', ['create', '--name', LOCK, '--label', `stowage.project=${LOCK}`, '--label', `${LOCK_OWNER}=${owner}`, '--network', 'none', IMAGE, 'true']);
      if (created.code === 0) {
        this.locked = true;
        return;
      }
      if (!/already in use|Conflict/i.test(created.stderr)) throw new Error(`cannot create the benchmark's lock (docker create --name ${LOCK}): ${created.stderr.trim()}`);
      const held = (await run('docker', ['container', 'inspect', '--format', `{{index .Config.Labels "${LOCK_OWNER}"}}`, LOCK])).stdout.trim();
      const [host, pid] = held.split(':');
      if (host === hostname() && pid !== undefined && /^\d+$/.test(pid) && !alive(Number(pid))) {
        log(`taking over the benchmark lock of process ${pid}, which is gone`);
        await run('docker', ['rm', '--force', LOCK]);
        continue;
      }
      if (waitingSince === undefined || Date.now() - waitingSince > 60_000) {
        log(`another benchmark (${held || 'owner unknown'}) is running on this engine: waiting for it to finish (its lock: container ${LOCK})`);
        waitingSince = Date.now();
      }
      await sleep(5000);
    }
  }

  remote(engine: RemoteEngine | undefined): void {
    this.remoteEngine = engine;
  }

  container(name: string): string {
    this.containers.add(name);
    return name;
  }

  volume(name: string): string {
    this.volumes.add(name);
    return name;
  }

  dir(path: string): string {
    this.dirs.add(path);
    return path;
  }

  /** Stops children, removes containers (ours and stowage's helpers for the bench project), volumes and directories. Returns what could not be removed. */
  cleanup(log: (line: string) => void): string[] {
    if (this.cleaned) return [];
    this.cleaned = true;
    const problems: string[] = [];
    for (const child of runningChildren) {
      if (child.exitCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    }
    // The SSH phase's engine, its sshd and namespaces, and everything in them.
    this.remoteEngine?.destroySync();
    this.remoteEngine = undefined;
    for (const pid of generatorChildren) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const labelled = (kind: 'ps' | 'volume'): string[] => {
      // Names, not IDs: the same container named twice in one docker rm fails ("removal already in progress").
      const args = kind === 'ps' ? ['ps', '--all', '--format', '{{.Names}}', '--filter', `label=stowage.project=${PROJECT}`] : ['volume', 'ls', '--quiet', '--filter', `label=stowage.project=${PROJECT}`];
      const r = spawnSync('docker', args, { encoding: 'utf8', timeout: 30_000 });
      return r.status === 0 ? r.stdout.split('\n').filter((l) => l.trim() !== '') : [];
    };
    const containers = [...new Set([...this.containers, ...labelled('ps')])];
    if (containers.length > 0) {
      const r = spawnSync('docker', ['rm', '--force', '--volumes', ...containers], { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0 && !/No such container/.test(r.stderr ?? '')) problems.push(`docker rm ${containers.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
    }
    const volumes = [...new Set([...this.volumes, ...labelled('volume')])];
    for (const v of volumes) {
      const r = spawnSync('docker', ['volume', 'rm', '--force', v], { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) problems.push(`docker volume rm ${v}: ${r.error?.message ?? r.stderr.trim()}`);
    }
    for (const dir of [...this.dirs].reverse()) {
      if (!existsSync(dir)) continue;
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch (err) {
        // Files written by containers may not be ours to delete: let a container remove them.
        spawnSync('docker', ['run', '--rm', '--network', 'none', '--user', '0:0', '--mount', `type=bind,source=${dir},target=/x`, IMAGE, 'sh', '-c', 'rm -rf /x/* /x/.[!.]* /x/..?*'], { stdio: 'ignore', timeout: 300_000 });
        try {
          rmSync(dir, { recursive: true, force: true });
        } catch {
          problems.push(`rm -rf ${dir}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
    if (this.locked) {
      const r = spawnSync('docker', ['rm', '--force', LOCK], { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) problems.push(`docker rm ${LOCK} (the benchmark's lock): ${r.error?.message ?? r.stderr.trim()}`);
      this.locked = false;
    }
    if (problems.length > 0) log(`cleanup left things behind:\n  ${problems.join('\n  ')}`);
    return problems;
  }
}
