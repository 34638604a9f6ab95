// A deployed stack with every state status.mjs reports, made the way an
// operator's machine gets into it: real backups (re-dated to spread them over
// the past week), real verifications (one of them of a damaged artifact), a
// real disk-usage measurement extended with the history earlier runs would
// have written, and a running service with a healthcheck.
//
//   mail         backed up 2 hours ago, verified            -> ok
//   attachments  backed up 2 hours ago, verification failed -> problem
//   calendar     last backed up 4 days ago                  -> problem (stale)
//   contacts     never backed up                            -> problem (no backup)
//   cache        backup.method none                         -> not backed up, by design
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUSYBOX, Sandbox, createVolume, docker, exec, inVolume, labelArgs, parseJsonDocument, readManifestFile, setDirName, show, uniqueProject, waitFor, writeManifestFile, CLI_HANG_MS,
  type RunResult,
} from '../helpers/engine.js';

export const APP = 'shop';
export const ENV = 'prod';
export const STACK = `${APP}-${ENV}`;
export const BACKED_UP = ['mail', 'attachments', 'calendar', 'contacts'] as const;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export function stackYaml(project: string, disk = '{ warn: 80, crit: 90 }'): string {
  return `app: ${APP}
helper: { image: ${BUSYBOX} }
backups:
  maxAge: 26h
disk: ${disk}
volumes:
  mail: {}
  attachments: {}
  calendar: {}
  contacts: {}
  cache:
    backup: { method: none, reason: rebuilt from mail on start }
services:
  app:
    image: ${BUSYBOX}
    mounts: [mail:/mail, attachments:/attachments, calendar:/calendar, contacts:/contacts, cache:/cache]
    healthcheck: { test: [CMD, "true"], interval: 1s }
environments:
  ${ENV}:
    project: ${project}
`;
}

export class Scenario {
  readonly sb = new Sandbox(uniqueProject('status'));
  /** When the sets are dated from: the start of the scenario (ages are relative to it, never asserted against the clock). */
  readonly start = new Date();

  get project(): string {
    return this.sb.project;
  }

  get stateDir(): string {
    return join(this.sb.root, 'state');
  }

  get historyFile(): string {
    return join(this.stateDir, `disk-usage-${this.project}.json`);
  }

  cli(script: string, args: string[], stacksDir: string = this.sb.stacksDir): Promise<RunResult> {
    return exec('npx', ['zx', `scripts/${script}.mjs`, '--stack', STACK, '--stacks-dir', stacksDir, ...args], {
      hangAfterMs: CLI_HANG_MS,
      env: { NO_COLOR: '1', STOWAGE_STATE_DIR: this.stateDir },
    });
  }

  async must(script: string, args: string[]): Promise<string> {
    const r = await this.cli(script, args);
    if (r.code !== 0) throw new Error(`${script} ${args.join(' ')}: ${show(r)}`);
    return r.stdout;
  }

  /** Runs status.mjs with the scenario's backups and state. */
  status(args: string[], stacksDir: string = this.sb.stacksDir): Promise<RunResult> {
    return this.cli('status', ['--to', this.sb.to, '--state-dir', this.stateDir, ...args], stacksDir);
  }

  async build(): Promise<void> {
    writeFileSync(join(this.sb.stacksDir, `${APP}.yaml`), stackYaml(this.project));
    for (const key of [...BACKED_UP, 'cache']) await createVolume(this.project, key, ENV);
    await docker(
      'run', '-d', '--name', this.sb.container('app'),
      ...labelArgs({ 'stowage.project': this.project, 'stowage.env': ENV, 'stowage.service': 'app' }),
      ...[...BACKED_UP, 'cache'].flatMap((key) => ['-v', `${this.project}_${key}:/${key}`]),
      '--health-cmd', 'true', '--health-interval', '1s',
      BUSYBOX, 'sh', '-c', "trap 'exit 0' TERM; while :; do sleep 1; done",
    );
    await inVolume(this.sb.volume('contacts'), 'printf "BEGIN:VCARD\\nEND:VCARD\\n" > /d/alice.vcf');
    await inVolume(this.sb.volume('cache'), 'head -c 20000 /dev/urandom > /d/index.bin');

    // Six nightly-ish sets; calendar only in the first three, so its newest backup is four days old.
    const ages = [8 * DAY, 6 * DAY, 4 * DAY, 2 * DAY, 1 * DAY, 2 * HOUR];
    for (const [i, age] of ages.entries()) {
      await inVolume(this.sb.volume('mail'), `mkdir -p /d/cur && head -c ${40_000 + i * 25_000} /dev/urandom > /d/cur/msg${i}`);
      await inVolume(this.sb.volume('attachments'), `head -c ${60_000 + i * 10_000} /dev/urandom > /d/a${i}.pdf`);
      await inVolume(this.sb.volume('calendar'), `echo "event ${i}" >> /d/calendar.ics`);
      const volumes = i < 3 ? ['mail', 'attachments', 'calendar'] : ['mail', 'attachments'];
      const printed = parseJsonDocument<{ path: string }>(await this.must('backup', ['--to', this.sb.to, ...volumes.flatMap((v) => ['--volume', v]), '--json']));
      this.redate(printed.path, new Date(this.start.getTime() - age));
    }
    const sets = this.sb.sets();
    const newest = sets.at(-1);
    if (newest === undefined) throw new Error('no sets were made');
    this.damage(newest, 'attachments');
    for (const set of sets) {
      const r = await this.cli('verify', ['--to', this.sb.to, '--backup', set]);
      const expected = set === newest ? 3 : 0;
      if (r.code !== expected) throw new Error(`verify of ${set} exited ${r.code}, expected ${expected}: ${show(r)}`);
    }
    await waitFor('the service to report healthy', async () => (await docker('inspect', '--format', '{{.State.Health.Status}}', this.sb.container('app'))).trim() === 'healthy');
    await this.history();
  }

  /** Renames a set to the UTC timestamp of `when` and rewrites its manifest's time, as if it had been made then. */
  private redate(path: string, when: Date): void {
    const target = join(this.sb.setsDir, setDirName(when));
    renameSync(path, target);
    const manifest = readManifestFile(target);
    writeManifestFile(target, { ...manifest, created: when.toISOString(), id: setDirName(when) });
  }

  /** Flips one byte in the middle of a volume's artifact: the set stays complete, its checksum no longer matches. */
  private damage(set: string, volume: string): void {
    const artifact = readManifestFile(set).artifacts.find((a) => a.volume === volume);
    if (artifact === undefined) throw new Error(`no ${volume} artifact in ${set}`);
    const file = join(set, artifact.file);
    const bytes = readFileSync(file);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] ?? 0) ^ 0xff;
    writeFileSync(file, bytes);
  }

  /**
   * One real disk-usage run, and the two weeks of daily samples before it that
   * a scheduled disk-usage would have written: volumes growing, and the
   * filesystem filling at a rate that fills it about two months after the real sample.
   */
  private async history(): Promise<void> {
    await this.must('disk-usage', ['--history', this.historyFile, '--warn', '99.99', '--crit', '100', '--json']);
    const real = parseJsonDocument<HistoryFile>(readFileSync(this.historyFile, 'utf8'));
    const sample = real.samples[0];
    if (sample === undefined) throw new Error('disk-usage wrote no sample');
    const t0 = Date.parse(sample.time);
    const older = Array.from({ length: 14 }, (_, k) => 14 - k).map((days) => ({
      time: new Date(t0 - days * DAY).toISOString(),
      volumes: Object.fromEntries(
        Object.entries(sample.volumes).map(([key, v]) => [key, { ...v, bytes: Math.round(v.bytes * (1 - days * 0.045)), files: v.files }]),
      ),
      filesystems: Object.fromEntries(
        Object.entries(sample.filesystems).map(([path, fs]) => {
          // Full two months after the real sample, unless that would need more than 80% of today's use two weeks ago.
          const perDay = Math.round(Math.min(fs.availableBytes / 60, (fs.usedBytes * 0.8) / 14));
          return [path, { totalBytes: fs.totalBytes, usedBytes: fs.usedBytes - days * perDay, availableBytes: fs.availableBytes + days * perDay }];
        }),
      ),
    }));
    writeFileSync(this.historyFile, `${JSON.stringify({ ...real, samples: [...older, sample] }, null, 1)}\n`);
  }

  async cleanup(): Promise<void> {
    await this.sb.cleanup();
  }
}

interface HistoryFile {
  format: 1;
  project: string;
  samples: Array<{
    time: string;
    volumes: Record<string, { bytes: number; files: number; filesystem?: string }>;
    filesystems: Record<string, { usedBytes: number; availableBytes: number; totalBytes: number }>;
  }>;
}
