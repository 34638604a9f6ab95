import type { BackupMethod } from '../config/types.js';
import type { Model, VolumeKind } from '../config/model.js';
import type { EngineJson } from '../engine/endpoint.js';
import type { ContainerState } from '../engine/inspect.js';
import type { Manifest } from '../backup/set.js';
import { levelOf, usedPercentOf, type DiskUsageReport, type HistorySample, type Level } from '../ops/disk-usage.js';
import type { DriftItem, LiveDrift } from '../ops/live-drift.js';
import type { StoredSet } from '../backup/set-source.js';
import { formatAge, formatMaxAge } from './format.js';
import { dateAfterDays, daysUntilFull, growthPerDay, type Point } from './trend.js';
import type { ReadRecord, VerificationEntry } from '../backup/verification-record.js';

/**
 * status.mjs: everything an operator asks in the morning about one stack, in
 * one document. This module is the pure part: it turns what was read (sets,
 * verification records, measurements, the disk-usage history, containers,
 * drift) into findings. Reading lives in status-collect.ts; printing in
 * status-text.ts, status-html.ts and status-prom.ts.
 */

export type ProblemKind = 'no-backup' | 'stale' | 'verify-failed' | 'disk' | 'drift' | 'unhealthy';

/** A finding that makes status exit 3. */
export interface Problem {
  kind: ProblemKind;
  stack: string;
  /** The volume, service, container, filesystem path or set it is about. */
  subject: string;
  message: string;
  fix: string;
}

/** Worth a look, not a failure: never verified, no growth history yet, a damaged record. */
export interface Note {
  stack: string;
  subject: string;
  message: string;
}

export type Verification = 'verified' | 'failed' | 'unverified';
export type Health = 'ok' | 'attention' | 'problem';

export interface BackupPoint {
  set: string;
  created: string;
  /** Artifact bytes as stored. */
  bytes: number;
  /** The artifact's own duration, else the whole set's (older manifests), else null. */
  durationSeconds: number | null;
  verification: Verification;
}

export interface SizePoint {
  time: string;
  bytes: number;
}

export interface VolumeStatus {
  volume: string;
  name: string;
  kind: VolumeKind;
  method: BackupMethod;
  /** The newest complete backup holding this volume. */
  backup: {
    set: string;
    location: string;
    created: string;
    ageSeconds: number;
    stale: boolean;
    bytes: number;
    durationSeconds: number | null;
    method: BackupMethod;
    file: string;
    encrypted: boolean;
  } | null;
  /** Of that newest backup. */
  verification: { state: Verification; at: string | null; problems: string[]; warnings: string[]; checked: string[] };
  /** Complete sets of this environment that hold the volume. */
  setsKept: number;
  size: { bytes: number; files: number; measured: string; source: 'live' | 'history' } | null;
  growthBytesPerDay: number | null;
  /** The filesystem that holds it (path of its entry in filesystems). */
  filesystem: string | null;
  daysUntilFull: number | null;
  fullOn: string | null;
  drift: DriftItem[];
  health: Health;
  /** Backup sizes and durations, oldest first (charts). */
  backups: BackupPoint[];
  /** Measured sizes from the disk-usage history (and this run), oldest first (charts). */
  sizes: SizePoint[];
}

export interface FilesystemStatus {
  path: string;
  volumes: string[];
  totalBytes: number;
  usedBytes: number;
  availableBytes: number;
  usedPercent: number;
  level: Level;
  growthBytesPerDay: number | null;
  daysUntilFull: number | null;
  fullOn: string | null;
  measured: string;
  /** Used bytes over time, oldest first (charts). */
  used: Array<{ time: string; usedBytes: number; totalBytes: number }>;
}

export interface ServiceStatus {
  service: string;
  container: string;
  /** docker's State.Status (running, exited, restarting, ...), or missing. */
  state: string;
  /** healthy, unhealthy, starting, or none (no healthcheck). */
  health: string;
  drift: DriftItem[];
  level: Health;
}

export interface SetSummary {
  id: string;
  created: string;
  ageSeconds: number;
  durationSeconds: number | null;
  volumes: string[];
  verification: Verification;
  verifiedAt: string | null;
}

export interface StackStatus {
  stack: string;
  app: string;
  env: string;
  project: string;
  stackFile: string;
  /** The engine its live checks (containers, drift, sizes) went to. */
  engine: EngineJson | null;
  /** false: nothing of this environment on this engine and no backup of it (with --all); nothing was checked. */
  deployed: boolean;
  destination: string;
  maxAgeSeconds: number;
  thresholds: { warn: number; crit: number };
  newestSet: SetSummary | null;
  sets: { complete: number; incomplete: number; damaged: number; otherEnvironments: number };
  volumes: VolumeStatus[];
  services: ServiceStatus[];
  filesystems: FilesystemStatus[];
  drift: { state: 'clean' | 'drift' | 'unknown' | 'skipped'; items: DriftItem[]; error?: string };
  disk: { source: 'live' | 'history' | 'none'; measured: string | null; error?: string };
  health: Health | 'not-deployed';
  problems: Problem[];
  notes: Note[];
  /** Checks that could not run (the engine did not answer): exit 1 when nothing else failed. */
  errors: string[];
}

export interface StatusReport {
  format: 1;
  generated: string;
  ok: boolean;
  summary: { stacks: number; checked: number; problems: number; notes: number; errors: number };
  stacks: StackStatus[];
}

/** Everything read for one stack; each source that could not be read says why instead. */
export interface StackInputs {
  model: Model;
  /** The engine the live checks went to, and why they could not run there when it did not answer. */
  engine?: { endpoint: EngineJson; problem?: string | undefined };
  now: Date;
  deployed: boolean;
  destination: string;
  sets: StoredSet[];
  /** By set id, for this environment's complete sets. */
  verifications: Map<string, ReadRecord>;
  disk: { report: DiskUsageReport } | { error: string } | { skipped: true };
  history: { samples: HistorySample[] } | { error: string };
  containers: ContainerState[] | { error: string };
  drift: LiveDrift | { error: string } | { skipped: true };
}

type CompleteSet = StoredSet & { manifest: Manifest };

function isComplete(set: StoredSet): set is CompleteSet {
  return set.state === 'complete' && set.manifest !== undefined;
}

function entryFor(record: ReadRecord | undefined, file: string): VerificationEntry | undefined {
  return record?.record?.artifacts.find((a) => a.file === file);
}

function verificationOf(entry: VerificationEntry | undefined): Verification {
  if (entry === undefined) return 'unverified';
  return entry.ok ? 'verified' : 'failed';
}

function setVerification(set: CompleteSet, record: ReadRecord | undefined): { state: Verification; at: string | null } {
  const entries = set.manifest.artifacts.map((a) => entryFor(record, a.file));
  const times = entries.flatMap((e) => (e === undefined ? [] : [e.verified])).sort();
  const at = times.at(-1) ?? null;
  if (entries.some((e) => e !== undefined && !e.ok)) return { state: 'failed', at };
  if (entries.some((e) => e === undefined)) return { state: 'unverified', at };
  return { state: 'verified', at };
}

const stackName = (model: Model): string => `${model.app}-${model.env}`;

const toPoints = (series: Array<{ time: string; value: number }>): Point[] => series.map((s) => ({ time: Date.parse(s.time), value: s.value }));

/** Filesystems from the live measurement, else from the newest history sample. */
function filesystemsOf(inputs: StackInputs, samples: HistorySample[]): { list: FilesystemStatus[]; source: 'live' | 'history' | 'none'; measured: string | null; volumeFs: Map<string, string> } {
  const { model, now } = inputs;
  const series = (path: string, current: { time: string; usedBytes: number; totalBytes: number } | undefined): FilesystemStatus['used'] => {
    const past = samples.flatMap((s) => {
      const fs = s.filesystems[path];
      return fs === undefined ? [] : [{ time: s.time, usedBytes: fs.usedBytes, totalBytes: fs.totalBytes }];
    });
    return current === undefined || past.some((p) => p.time === current.time) ? past : [...past, current];
  };
  const finish = (path: string, volumes: string[], stat: { usedBytes: number; availableBytes: number; totalBytes: number }, measured: string, used: FilesystemStatus['used']): FilesystemStatus => {
    const usedPercent = usedPercentOf({ ...stat, device: 0, freeBytes: stat.availableBytes });
    const growth = growthPerDay(toPoints(used.map((u) => ({ time: u.time, value: u.usedBytes }))));
    const days = daysUntilFull(stat.availableBytes, growth);
    return {
      path,
      volumes,
      totalBytes: stat.totalBytes,
      usedBytes: stat.usedBytes,
      availableBytes: stat.availableBytes,
      usedPercent,
      level: levelOf(usedPercent, model.disk.warn, model.disk.crit),
      growthBytesPerDay: growth,
      daysUntilFull: days,
      fullOn: dateAfterDays(now, days)?.toISOString() ?? null,
      measured,
      used,
    };
  };
  if ('report' in inputs.disk) {
    const report = inputs.disk.report;
    const volumeFs = new Map(report.volumes.flatMap((v) => (v.filesystem === null ? [] : [[v.volume, v.filesystem] as [string, string]])));
    const list = report.filesystems.map((fs) => finish(fs.path, fs.volumes, fs, report.time, series(fs.path, { time: report.time, usedBytes: fs.usedBytes, totalBytes: fs.totalBytes })));
    return { list, source: 'live', measured: report.time, volumeFs };
  }
  const latest = samples.at(-1);
  if (latest === undefined) return { list: [], source: 'none', measured: null, volumeFs: new Map() };
  const volumeFs = new Map(Object.entries(latest.volumes).flatMap(([key, v]) => (v.filesystem === undefined ? [] : [[key, v.filesystem] as [string, string]])));
  const list = Object.entries(latest.filesystems).map(([path, stat]) =>
    finish(path, [...volumeFs].filter(([, p]) => p === path).map(([key]) => key), stat, latest.time, series(path, undefined)),
  );
  return { list, source: 'history', measured: latest.time, volumeFs };
}

export function evaluateStack(inputs: StackInputs): StackStatus {
  const { model, now } = inputs;
  const stack = stackName(model);
  const nowMs = now.getTime();
  const problems: Problem[] = [];
  const notes: Note[] = [];
  const errors: string[] = [];
  const note = (subject: string, message: string): void => void notes.push({ stack, subject, message });
  const problem = (kind: ProblemKind, subject: string, message: string, fix: string): void => void problems.push({ kind, stack, subject, message, fix });
  const cli = (script: string, rest = ''): string => `npx zx scripts/${script}.mjs --stack ${stack}${rest}`;

  // ------------------------------------------------------------ sets
  const mine = inputs.sets.filter((s) => !isComplete(s) || s.manifest.env === model.env);
  const complete = mine.filter(isComplete).sort((a, b) => a.id.localeCompare(b.id));
  const others = inputs.sets.filter((s) => isComplete(s) && s.manifest.env !== model.env).length;
  for (const set of mine.filter((s) => s.state === 'damaged')) note(set.id, `backup set ${set.location} is damaged and never used: ${set.problem ?? ''}`);
  for (const [id, read] of inputs.verifications) for (const issue of read.issues) note(id, `verification record: ${issue}`);
  const newest = complete.at(-1);
  const ageOf = (set: CompleteSet): number => Math.max(0, (nowMs - Date.parse(set.manifest.created)) / 1000);
  const newestSet: SetSummary | null =
    newest === undefined
      ? null
      : {
          id: newest.id,
          created: newest.manifest.created,
          ageSeconds: ageOf(newest),
          durationSeconds: newest.manifest.durationSeconds ?? null,
          volumes: newest.manifest.artifacts.map((a) => a.volume),
          ...(({ state, at }) => ({ verification: state, verifiedAt: at }))(setVerification(newest, inputs.verifications.get(newest.id))),
        };

  // ------------------------------------------------------------ engine
  const containers = Array.isArray(inputs.containers) ? inputs.containers : [];
  // An engine that does not answer is one error, not one per check that needed it.
  const unreachable = inputs.engine?.problem;
  if (unreachable !== undefined) errors.push(`engine: ${unreachable}`);
  else if (!Array.isArray(inputs.containers)) errors.push(`containers: ${inputs.containers.error}`);
  const drift: StackStatus['drift'] =
    'skipped' in inputs.drift
      ? { state: 'skipped', items: [] }
      : 'error' in inputs.drift
        ? { state: 'unknown', items: [], error: inputs.drift.error }
        : { state: inputs.drift.clean ? 'clean' : 'drift', items: inputs.drift.drift };
  if (drift.error !== undefined && unreachable === undefined) errors.push(`drift: ${drift.error}`);

  // ------------------------------------------------------------ disk
  const samples = 'samples' in inputs.history ? inputs.history.samples : [];
  if ('error' in inputs.history) note('history', inputs.history.error);
  if ('error' in inputs.disk) note('disk', `volumes could not be measured now (${inputs.disk.error}); sizes are the disk-usage history's newest sample`);
  const fs = filesystemsOf(inputs, samples);
  const fsByPath = new Map(fs.list.map((f) => [f.path, f]));

  // ------------------------------------------------------------ volumes
  const volumes: VolumeStatus[] = model.volumes.map((volume): VolumeStatus => {
    const holding = complete.filter((s) => s.manifest.artifacts.some((a) => a.volume === volume.key));
    const backups: BackupPoint[] = holding.map((set) => {
      const artifact = set.manifest.artifacts.find((a) => a.volume === volume.key);
      const record = inputs.verifications.get(set.id);
      return {
        set: set.id,
        created: set.manifest.created,
        bytes: artifact?.bytes ?? 0,
        durationSeconds: artifact?.durationSeconds ?? set.manifest.durationSeconds ?? null,
        verification: verificationOf(artifact === undefined ? undefined : entryFor(record, artifact.file)),
      };
    });
    const last = holding.at(-1);
    const artifact = last?.manifest.artifacts.find((a) => a.volume === volume.key);
    const entry = last === undefined || artifact === undefined ? undefined : entryFor(inputs.verifications.get(last.id), artifact.file);
    const age = last === undefined ? 0 : ageOf(last);
    const backup: VolumeStatus['backup'] =
      last === undefined || artifact === undefined
        ? null
        : {
            set: last.id,
            location: last.location,
            created: last.manifest.created,
            ageSeconds: age,
            stale: age > model.backups.maxAgeSeconds,
            bytes: artifact.bytes,
            durationSeconds: artifact.durationSeconds ?? last.manifest.durationSeconds ?? null,
            method: artifact.method,
            file: artifact.file,
            encrypted: artifact.encrypted === true,
          };
    const verification: VolumeStatus['verification'] = {
      state: verificationOf(entry),
      at: entry?.verified ?? null,
      problems: entry?.problems ?? [],
      warnings: entry?.warnings ?? [],
      checked: entry?.checked ?? [],
    };

    // Sizes: the history, then this run's measurement.
    const measured = 'report' in inputs.disk ? inputs.disk.report.volumes.find((v) => v.volume === volume.key) : undefined;
    const past: SizePoint[] = samples.flatMap((s) => {
      const v = s.volumes[volume.key];
      return v === undefined ? [] : [{ time: s.time, bytes: v.bytes }];
    });
    const live = measured?.bytes !== null && measured?.bytes !== undefined && 'report' in inputs.disk ? { time: inputs.disk.report.time, bytes: measured.bytes } : undefined;
    const sizes = live === undefined || past.some((p) => p.time === live.time) ? past : [...past, live];
    const newestSample = samples.at(-1)?.volumes[volume.key];
    const size: VolumeStatus['size'] =
      live !== undefined && measured !== undefined
        ? { bytes: live.bytes, files: measured.files ?? 0, measured: live.time, source: 'live' }
        : !('report' in inputs.disk) && newestSample !== undefined
          ? { bytes: newestSample.bytes, files: newestSample.files, measured: samples.at(-1)?.time ?? '', source: 'history' }
          : null;
    const fsPath = fs.volumeFs.get(volume.key) ?? null;
    const filesystem = fsPath === null ? undefined : fsByPath.get(fsPath);
    const itemsFor = drift.items.filter((d) => d.object === 'volume' && d.name === volume.name);

    if (inputs.deployed) {
      if (volume.backup.method === 'none') {
        note(volume.key, `not backed up (backup.method none${volume.backup.reason === undefined ? '' : `: ${volume.backup.reason}`})`);
      } else if (backup === null) {
        problem('no-backup', volume.key, `volume ${volume.key} has no complete backup in ${inputs.destination}`, `run ${cli('backup')}, then schedule it (docs/backup-and-restore.md, Scheduling)`);
      } else {
        if (backup.stale) {
          problem(
            'stale',
            volume.key,
            `the newest backup of ${volume.key} (set ${backup.set}) is ${formatAge(backup.ageSeconds)} old, older than backups.maxAge ${formatMaxAge(model.backups.maxAgeSeconds)}`,
            `find out why the scheduled backup did not run (systemctl status stowage-backup@${stack}.timer, or the cron log), then run ${cli('backup')}`,
          );
        }
        if (verification.state === 'failed') {
          problem(
            'verify-failed',
            volume.key,
            `the newest backup of ${volume.key} (set ${backup.set}) failed verification at ${verification.at ?? '?'}: ${verification.problems.join('; ')}`,
            `back up again now (${cli('backup')}), verify it (${cli('verify', ' --backup latest')}), and find out what damaged ${backup.location}/${backup.file}`,
          );
        } else if (verification.state === 'unverified') {
          note(volume.key, `the newest backup of ${volume.key} (set ${backup.set}) has not been verified: ${cli('verify', ' --backup latest')}`);
        }
        for (const warning of verification.warnings) note(volume.key, `verification of set ${backup.set}: ${warning}`);
      }
      if (size === null && measured?.status === 'error') note(volume.key, `could not be measured: ${measured.error ?? ''}`);
    }

    const mineProblems = problems.some((p) => p.subject === volume.key) || itemsFor.length > 0;
    // Not backing up a volume on purpose (method none) is the stack file's decision, not something to look at.
    const mineNotes = volume.backup.method !== 'none' && notes.some((n) => n.subject === volume.key);
    return {
      volume: volume.key,
      name: volume.name,
      kind: volume.kind,
      method: volume.backup.method,
      backup,
      verification,
      setsKept: holding.length,
      size,
      growthBytesPerDay: growthPerDay(toPoints(sizes.map((s) => ({ time: s.time, value: s.bytes })))),
      filesystem: fsPath,
      daysUntilFull: filesystem?.daysUntilFull ?? null,
      fullOn: filesystem?.fullOn ?? null,
      drift: itemsFor,
      health: !inputs.deployed ? 'ok' : mineProblems || (filesystem !== undefined && filesystem.level !== 'ok') ? 'problem' : mineNotes ? 'attention' : 'ok',
      backups,
      sizes,
    };
  });

  // ------------------------------------------------------------ filesystems, services, drift
  if (inputs.deployed) {
    for (const f of fs.list) {
      if (f.level === 'ok') continue;
      const threshold = f.level === 'crit' ? model.disk.crit : model.disk.warn;
      problem(
        'disk',
        f.path,
        `filesystem ${f.path} is ${f.usedPercent.toFixed(1)}% full, over the ${f.level} level of ${threshold}%${f.daysUntilFull === null ? '' : `; full in about ${Math.round(f.daysUntilFull)} days at the current rate`}`,
        `make room (${cli('disk-usage')} lists the largest files and unmanaged volumes) or grow the filesystem`,
      );
    }
    if (fs.source === 'none') note('disk', `no measurement and no disk-usage history: run ${cli('disk-usage')} on a schedule (docs/disk-usage.md)`);
    else if (fs.list.every((f) => f.growthBytesPerDay === null)) note('disk', `not enough disk-usage history for growth yet (it needs samples at least an hour apart): run ${cli('disk-usage')} on a schedule`);
  }

  const services: ServiceStatus[] = model.containers.map((c): ServiceStatus => {
    const state = containers.find((s) => s.Name === c.name);
    const items = drift.items.filter((d) => d.object === 'container' && d.name === c.name);
    const health = state?.State.Health?.Status ?? 'none';
    if (inputs.deployed && health === 'unhealthy') {
      problem('unhealthy', c.service, `container ${c.name} reports unhealthy`, `look at its health log (docker inspect --format '{{json .State.Health}}' ${c.name}) and its output (docker logs ${c.name})`);
    }
    return {
      service: c.service,
      container: c.name,
      state: state === undefined ? (Array.isArray(inputs.containers) ? 'missing' : 'unknown') : state.State.Status,
      health,
      drift: items,
      level: !inputs.deployed ? 'ok' : items.length > 0 || health === 'unhealthy' ? 'problem' : health === 'starting' ? 'attention' : 'ok',
    };
  });
  // Extra containers and volumes the stack file does not declare are drift too.
  if (inputs.deployed) {
    for (const item of drift.items) {
      problem('drift', item.name, `${item.object} ${item.name}: ${item.kind}: ${item.detail}`, item.fix);
    }
  }
  if (others > 0) note('sets', `${others} set(s) of other environments of project ${model.project} are in ${inputs.destination}; they are not counted here`);

  const deployedProblems = inputs.deployed ? problems : [];
  const deployedNotes = inputs.deployed ? notes : [];
  return {
    stack,
    app: model.app,
    env: model.env,
    project: model.project,
    stackFile: model.stackFile,
    engine: inputs.engine?.endpoint ?? null,
    deployed: inputs.deployed,
    destination: inputs.destination,
    maxAgeSeconds: model.backups.maxAgeSeconds,
    thresholds: { ...model.disk },
    newestSet,
    sets: {
      complete: complete.length,
      incomplete: mine.filter((s) => s.state === 'incomplete').length,
      damaged: mine.filter((s) => s.state === 'damaged').length,
      otherEnvironments: others,
    },
    volumes,
    services,
    filesystems: fs.list,
    drift,
    disk: { source: fs.source, measured: fs.measured, ...('error' in inputs.disk ? { error: inputs.disk.error } : {}) },
    health: !inputs.deployed ? (unreachable === undefined ? 'not-deployed' : 'attention') : deployedProblems.length > 0 ? 'problem' : deployedNotes.length > 0 || errors.length > 0 ? 'attention' : 'ok',
    problems: deployedProblems,
    notes: deployedNotes,
    // Not checked because its engine did not answer is not the same as nothing there: the error stays.
    errors: inputs.deployed || unreachable !== undefined ? errors : [],
  };
}

export function statusReport(stacks: StackStatus[], generated: Date): StatusReport {
  const problems = stacks.reduce((n, s) => n + s.problems.length, 0);
  const errors = stacks.reduce((n, s) => n + s.errors.length, 0);
  return {
    format: 1,
    generated: generated.toISOString(),
    ok: problems === 0 && errors === 0,
    summary: { stacks: stacks.length, checked: stacks.filter((s) => s.deployed).length, problems, notes: stacks.reduce((n, s) => n + s.notes.length, 0), errors },
    stacks,
  };
}

/** 3 when a check found a problem, 1 when a check could not run, else 0. */
export function exitCodeOf(report: StatusReport): 0 | 1 | 3 {
  if (report.summary.problems > 0) return 3;
  return report.summary.errors > 0 ? 1 : 0;
}
