import { existsSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type SchemaObject, type ValidateFunction } from 'ajv';
import { engineIsLocal } from '../engine/endpoint.js';
import { mapLimited } from '../util/concurrency.js';
import { renderMetrics } from '../util/prometheus.js';
import { UsageError } from '../config/errors.js';
import { loadStackFile } from '../config/load.js';
import { LABEL, resolveModel, type Model, type VolumeKind, type VolumeModel } from '../config/model.js';
import { listStackFiles } from '../config/select.js';
import { CommandFailed, type Runner } from '../engine/command.js';
import { inspectVolumes } from '../engine/inspect.js';
import { parseMeasurement, parseStatfs, usage, type Measurement, type Statfs } from '../engine/usage.js';
import { writeFileAtomic } from '../util/durable-file.js';
import { helperImage } from '../session/session.js';
import { stateDirectory } from '../util/state-dir.js';

/**
 * disk-usage: how big each volume of a stack is, how full the filesystems
 * holding them are, how fast they grow, and which volumes on the engine no
 * stack declares. Read-only towards the engine and the data; the only files it
 * writes are its own history (and a Prometheus textfile when asked).
 */

export interface DiskUsageOptions {
  runner: Runner;
  /** Largest files listed per volume. */
  top: number;
  /** Percent of a filesystem's capacity. */
  warn: number;
  crit: number;
  /** Growth history to compare with and append to; null: neither (status.mjs measures without recording). */
  historyFile: string | null;
  /** Every stack file here counts when deciding which engine volumes are unmanaged. */
  stacksDir: string;
  /** Look for volumes no stack declares (default true). */
  unmanaged?: boolean;
  now?: Date;
  log?: (line: string) => void;
}

export interface Growth {
  since: string;
  seconds: number;
  bytes: number;
  bytesPerDay: number;
}

export interface VolumeUsage {
  volume: string;
  name: string;
  kind: VolumeKind;
  hostPath: string | null;
  status: 'ok' | 'missing' | 'error';
  /** Apparent size of the content, as `du -sb` counts it. */
  bytes: number | null;
  files: number | null;
  /** Symbolic links: counted as links, never followed (a link to / is one link). */
  links: number | null;
  largest: Array<{ path: string; bytes: number }>;
  /** `path` of the filesystem entry that holds it. */
  filesystem: string | null;
  growth: (Growth & { files: number }) | null;
  error?: string;
}

export type Level = 'ok' | 'warn' | 'crit';

export interface FilesystemUsage {
  /** The Docker data root when this filesystem holds it, else the first host path on it. */
  path: string;
  paths: string[];
  holdsDataRoot: boolean;
  volumes: string[];
  device: number;
  totalBytes: number;
  usedBytes: number;
  availableBytes: number;
  /** used / (used + available), as df's Use% (blocks reserved for root do not count as free). */
  usedPercent: number;
  growth: Growth | null;
  /** At the growth rate since the previous run; null when it did not grow (or there is no previous run). */
  daysUntilFull: number | null;
  level: Level;
}

export interface ThresholdCrossing {
  path: string;
  level: 'warn' | 'crit';
  usedPercent: number;
  thresholdPercent: number;
  overByPoints: number;
  availableBytes: number;
}

export interface UnmanagedVolume {
  name: string;
  driver: string;
  /** No container, running or stopped, uses it. */
  dangling: boolean;
  /** stowage.project label of a stack that no longer declares it, if any. */
  project: string | null;
}

export interface DiskUsageReport {
  project: string;
  app: string;
  env: string;
  time: string;
  dockerRootDir: string;
  thresholds: { warn: number; crit: number };
  volumes: VolumeUsage[];
  filesystems: FilesystemUsage[];
  crossed: ThresholdCrossing[];
  unmanaged: { complete: boolean; unreadableStackFiles: string[]; volumes: UnmanagedVolume[] };
  history: { file: string | null; samples: number; previous: string | null };
}

// ---------------------------------------------------------------- history

export interface HistorySample {
  time: string;
  /** `filesystem`: the path of the filesystem entry that holds the volume (absent in samples older than status.mjs). */
  volumes: Record<string, { bytes: number; files: number; filesystem?: string }>;
  filesystems: Record<string, { usedBytes: number; availableBytes: number; totalBytes: number }>;
}

export interface History {
  format: 1;
  project: string;
  samples: HistorySample[];
}

/** Enough for growth since the previous run and a few months of daily samples, while staying a small file. */
export const MAX_SAMPLES = 100;

const count = { type: 'number', minimum: 0 };
const historySchema: SchemaObject = {
  type: 'object',
  required: ['format', 'project', 'samples'],
  additionalProperties: false,
  properties: {
    format: { const: 1 },
    project: { type: 'string' },
    samples: {
      type: 'array',
      items: {
        type: 'object',
        required: ['time', 'volumes', 'filesystems'],
        additionalProperties: false,
        properties: {
          time: { type: 'string', format: 'date-time' },
          volumes: {
            type: 'object',
            additionalProperties: {
              type: 'object',
              required: ['bytes', 'files'],
              additionalProperties: false,
              properties: { bytes: count, files: count, filesystem: { type: 'string' } },
            },
          },
          filesystems: {
            type: 'object',
            additionalProperties: {
              type: 'object',
              required: ['usedBytes', 'availableBytes', 'totalBytes'],
              additionalProperties: false,
              properties: { usedBytes: count, availableBytes: count, totalBytes: count },
            },
          },
        },
      },
    },
  },
};

interface HistoryValidator {
  ajv: Ajv;
  history: ValidateFunction<History>;
}

let compiled: HistoryValidator | undefined;

/** Compiled on first use, not on import (status.mjs imports this module too). */
function historyValidator(): HistoryValidator {
  if (compiled === undefined) {
    const ajv = new Ajv({ allErrors: true, strict: true });
    // ajv without ajv-formats knows no formats; a parseable date is checked below instead.
    ajv.addFormat('date-time', (text: string) => !Number.isNaN(Date.parse(text)));
    compiled = { ajv, history: ajv.compile<History>(historySchema) };
  }
  return compiled;
}

export function defaultHistoryFile(project: string, stateDir: string = stateDirectory()): string {
  return join(stateDir, `disk-usage-${project}.json`);
}

/** The history of earlier runs; an absent file is an empty history, an unreadable one is an error that touches nothing. */
export function readHistory(file: string, project: string): History {
  if (!existsSync(file)) return { format: 1, project, samples: [] };
  const fix = `move it aside (mv ${file} ${file}.bad) and run again to start a new history, or pass another --history FILE`;
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`history file ${file} is not JSON (${err instanceof Error ? err.message : String(err)}); ${fix}`);
  }
  const { ajv, history } = historyValidator();
  if (!history(data)) {
    throw new UsageError(`history file ${file} is not a stowage disk-usage history (${ajv.errorsText(history.errors)}); ${fix}`);
  }
  if (data.project !== project) {
    throw new UsageError(`history file ${file} belongs to project ${data.project}, not ${project}; pass --history with a file of its own for each project`);
  }
  return data;
}

export function appendSample(history: History, sample: HistorySample): History {
  return { ...history, samples: [...history.samples, sample].slice(-MAX_SAMPLES) };
}


export function writeHistory(file: string, history: History): void {
  writeFileAtomic(file, `${JSON.stringify(history, null, 1)}\n`);
}

// ---------------------------------------------------------------- pure rules

export function levelOf(usedPercent: number, warn: number, crit: number): Level {
  if (usedPercent >= crit) return 'crit';
  if (usedPercent >= warn) return 'warn';
  return 'ok';
}

export function crossings(filesystems: FilesystemUsage[], warn: number, crit: number): ThresholdCrossing[] {
  return filesystems
    .filter((fs) => fs.level !== 'ok')
    .map((fs) => {
      const threshold = fs.level === 'crit' ? crit : warn;
      return {
        path: fs.path,
        level: fs.level === 'crit' ? 'crit' : 'warn',
        usedPercent: fs.usedPercent,
        thresholdPercent: threshold,
        overByPoints: fs.usedPercent - threshold,
        availableBytes: fs.availableBytes,
      };
    });
}

export function growthBetween(previous: { time: string; bytes: number }, current: { time: string; bytes: number }): Growth | null {
  const seconds = (Date.parse(current.time) - Date.parse(previous.time)) / 1000;
  if (!(seconds > 0)) return null;
  const bytes = current.bytes - previous.bytes;
  return { since: previous.time, seconds, bytes, bytesPerDay: (bytes / seconds) * 86_400 };
}

export function daysUntilFull(availableBytes: number, growth: Growth | null): number | null {
  if (growth === null || growth.bytesPerDay <= 0) return null;
  return availableBytes / growth.bytesPerDay;
}

export function usedPercentOf(fs: Statfs): number {
  const denominator = fs.usedBytes + fs.availableBytes;
  return denominator === 0 ? 0 : (fs.usedBytes / denominator) * 100;
}

/** Which Docker volume names any environment of any stack file in the directory declares. */
export function declaredVolumeNames(stacksDir: string): { names: Set<string>; unreadable: string[] } {
  const names = new Set<string>();
  const unreadable: string[] = [];
  for (const file of listStackFiles(stacksDir)) {
    try {
      const { stack } = loadStackFile(file);
      for (const env of Object.keys(stack.environments)) {
        for (const volume of resolveModel(stack, env, { stackFile: file }).volumes) if (volume.kind !== 'bind') names.add(volume.name);
      }
    } catch (err) {
      unreadable.push(`${file}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0] ?? ''}`);
    }
  }
  return { names, unreadable };
}

// ---------------------------------------------------------------- measuring

interface Measured {
  volume: VolumeModel;
  status: VolumeUsage['status'];
  measurement?: Measurement;
  error?: string;
}

/** Where a volume's content lives, as a path an operator recognises. */
function volumePath(volume: VolumeModel, dockerRootDir: string): string {
  if (volume.kind === 'host' || volume.kind === 'bind') return volume.hostPath ?? '';
  if (volume.kind === 'nfs') return `${(volume.driverOpts['o'] ?? '').replace(/^addr=([^,]*).*$/, '$1')}${volume.driverOpts['device'] ?? ''}`;
  return dockerRootDir;
}

async function measureVolumes(model: Model, runner: Runner, top: number, image: () => Promise<string>): Promise<Measured[]> {
  const existing = new Set((await inspectVolumes(runner, model.volumes.filter((v) => v.kind !== 'bind').map((v) => v.name))).map((v) => v.Name));
  const labels = { [LABEL.project]: model.project, [LABEL.env]: model.env };
  return mapLimited(model.volumes, 4, async (volume): Promise<Measured> => {
    // Only an engine on this machine shares its paths: elsewhere, the helper's mount says whether the directory exists.
    const present = volume.kind === 'bind' ? !engineIsLocal() || existsSync(volume.hostPath ?? '') : existing.has(volume.name);
    if (!present) return { volume, status: 'missing' };
    const mount = volume.kind === 'bind' ? { type: 'bind' as const, source: volume.hostPath ?? '', readOnly: true } : { type: 'volume' as const, source: volume.name, readOnly: true };
    try {
      const output = await runner.output(usage.measure(await image(), mount, top, labels));
      return { volume, status: 'ok', measurement: parseMeasurement(output) };
    } catch (err) {
      // A remote engine is the only judge of whether a bind source exists there.
      if (err instanceof CommandFailed && /bind source path does not exist|no such file or directory/i.test(err.result.stderr) && volume.kind === 'bind') {
        return { volume, status: 'missing' };
      }
      return { volume, status: 'error', error: err instanceof Error ? err.message : String(err) };
    }
  });
}

/** The data root's filesystem: from a plain named volume already measured, else on this host, else through an anonymous volume. */
async function dataRootStatfs(model: Model, runner: Runner, rootDir: string, measured: Measured[], image: () => Promise<string>): Promise<Statfs> {
  const plain = measured.find((m) => m.measurement !== undefined && m.volume.kind === 'named' && m.volume.driver === 'local' && Object.keys(m.volume.driverOpts).length === 0);
  if (plain?.measurement !== undefined) return plain.measurement;
  if (engineIsLocal() && existsSync(rootDir)) {
    const s = statfsSync(rootDir);
    const total = s.blocks * s.bsize;
    const free = s.bfree * s.bsize;
    return { device: statSync(rootDir).dev, totalBytes: total, freeBytes: free, availableBytes: s.bavail * s.bsize, usedBytes: total - free };
  }
  return parseStatfs(await runner.output(usage.statfsDataRoot(await image(), { [LABEL.project]: model.project, [LABEL.env]: model.env })));
}

async function unmanagedVolumes(runner: Runner, stacksDir: string): Promise<DiskUsageReport['unmanaged']> {
  const { names, unreadable } = declaredVolumeNames(stacksDir);
  const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');
  const all = lines(await runner.output(usage.listAllVolumes()));
  const dangling = new Set(lines(await runner.output(usage.listDanglingVolumes())));
  const unmanaged = all.filter((name) => !names.has(name));
  const states = new Map((await inspectVolumes(runner, unmanaged)).map((v) => [v.Name, v]));
  return {
    complete: unreadable.length === 0,
    unreadableStackFiles: unreadable,
    volumes: unmanaged
      .filter((name) => states.has(name))
      .sort()
      .map((name) => ({ name, driver: states.get(name)?.Driver ?? '', dangling: dangling.has(name), project: states.get(name)?.Labels?.[LABEL.project] ?? null })),
  };
}

export async function diskUsage(model: Model, options: DiskUsageOptions): Promise<DiskUsageReport> {
  const { runner } = options;
  const time = (options.now ?? new Date()).toISOString();
  // Bad input touches nothing: the history is checked before anything runs.
  const history = options.historyFile === null ? { format: 1 as const, project: model.project, samples: [] } : readHistory(options.historyFile, model.project);
  const previous = history.samples.at(-1);

  const rootDir = await runner.output(usage.dockerRootDir());
  let imagePromise: Promise<string> | undefined;
  const image = (): Promise<string> => (imagePromise ??= helperImage(runner, model, undefined));

  const measured = await measureVolumes(model, runner, options.top, image);
  const rootFs = await dataRootStatfs(model, runner, rootDir, measured, image);

  const byDevice = new Map<number, { statfs: Statfs; paths: Set<string>; volumes: string[]; holdsDataRoot: boolean }>();
  const entry = (statfs: Statfs): { statfs: Statfs; paths: Set<string>; volumes: string[]; holdsDataRoot: boolean } => {
    let found = byDevice.get(statfs.device);
    if (found === undefined) {
      found = { statfs, paths: new Set(), volumes: [], holdsDataRoot: false };
      byDevice.set(statfs.device, found);
    }
    return found;
  };
  const root = entry(rootFs);
  root.holdsDataRoot = true;
  root.paths.add(rootDir);
  for (const m of measured) {
    if (m.measurement === undefined) continue;
    const fs = entry(m.measurement);
    fs.paths.add(volumePath(m.volume, rootDir));
    fs.volumes.push(m.volume.key);
  }

  const filesystems: FilesystemUsage[] = [...byDevice.values()].map((fs) => {
    const paths = [...fs.paths];
    const path = fs.holdsDataRoot ? rootDir : (paths.sort()[0] ?? '');
    const usedPercent = usedPercentOf(fs.statfs);
    const before = previous?.filesystems[path];
    const growth = before === undefined || previous === undefined ? null : growthBetween({ time: previous.time, bytes: before.usedBytes }, { time, bytes: fs.statfs.usedBytes });
    return {
      path,
      paths: [path, ...paths.filter((p) => p !== path).sort()],
      holdsDataRoot: fs.holdsDataRoot,
      volumes: fs.volumes,
      device: fs.statfs.device,
      totalBytes: fs.statfs.totalBytes,
      usedBytes: fs.statfs.usedBytes,
      availableBytes: fs.statfs.availableBytes,
      usedPercent,
      growth,
      daysUntilFull: daysUntilFull(fs.statfs.availableBytes, growth),
      level: levelOf(usedPercent, options.warn, options.crit),
    };
  });
  const pathOfDevice = new Map(filesystems.map((fs) => [fs.device, fs.path]));

  const volumes: VolumeUsage[] = measured.map((m) => {
    const base = { volume: m.volume.key, name: m.volume.name, kind: m.volume.kind, hostPath: m.volume.hostPath ?? null };
    if (m.measurement === undefined) {
      return { ...base, status: m.status, bytes: null, files: null, links: null, largest: [], filesystem: null, growth: null, ...(m.error === undefined ? {} : { error: m.error }) };
    }
    const before = previous?.volumes[m.volume.key];
    const growth = before === undefined || previous === undefined ? null : growthBetween({ time: previous.time, bytes: before.bytes }, { time, bytes: m.measurement.bytes });
    return {
      ...base,
      status: 'ok',
      bytes: m.measurement.bytes,
      files: m.measurement.files,
      links: m.measurement.links,
      largest: m.measurement.largest,
      filesystem: pathOfDevice.get(m.measurement.device) ?? null,
      growth: growth === null || before === undefined ? null : { ...growth, files: m.measurement.files - before.files },
    };
  });

  const unmanaged = options.unmanaged === false ? { complete: false, unreadableStackFiles: [], volumes: [] } : await unmanagedVolumes(runner, options.stacksDir);
  for (const line of unmanaged.unreadableStackFiles) options.log?.(`warning: cannot read ${line}; volumes it declares may be listed as unmanaged`);

  const sample: HistorySample = {
    time,
    volumes: Object.fromEntries(
      volumes
        .filter((v) => v.bytes !== null && v.files !== null)
        .map((v) => [v.volume, { bytes: v.bytes ?? 0, files: v.files ?? 0, ...(v.filesystem === null ? {} : { filesystem: v.filesystem }) }]),
    ),
    filesystems: Object.fromEntries(filesystems.map((fs) => [fs.path, { usedBytes: fs.usedBytes, availableBytes: fs.availableBytes, totalBytes: fs.totalBytes }])),
  };
  // A dry run measures (read-only helpers run) and leaves the history as it was.
  const updated = options.runner.dryRun ? history : appendSample(history, sample);
  if (!options.runner.dryRun && options.historyFile !== null) writeHistory(options.historyFile, updated);

  return {
    project: model.project,
    app: model.app,
    env: model.env,
    time,
    dockerRootDir: rootDir,
    thresholds: { warn: options.warn, crit: options.crit },
    volumes,
    filesystems,
    crossed: crossings(filesystems, options.warn, options.crit),
    unmanaged,
    history: { file: options.historyFile, samples: updated.samples.length, previous: previous?.time ?? null },
  };
}

// ---------------------------------------------------------------- Prometheus

/**
 * Prometheus text exposition (node_exporter textfile collector). Every series
 * carries `project`, so one file per stack never collides with another stack's
 * file for the same filesystem.
 */
export function prometheusText(report: DiskUsageReport): string {
  const project = report.project;
  const ok = report.volumes.filter((v) => v.bytes !== null);
  const vol = (v: VolumeUsage): Record<string, string> => ({ project, volume: v.volume });
  const fsl = (fs: FilesystemUsage): Record<string, string> => ({ project, path: fs.path });
  return renderMetrics([
    { name: 'stowage_volume_bytes', help: 'Apparent size of the volume content in bytes (du -sb).', samples: ok.map((v) => ({ labels: vol(v), value: v.bytes ?? 0 })) },
    { name: 'stowage_volume_files', help: 'Regular files in the volume.', samples: ok.map((v) => ({ labels: vol(v), value: v.files ?? 0 })) },
    { name: 'stowage_volume_present', help: '1 when the declared volume exists and was measured, 0 when it is missing or could not be read.', samples: report.volumes.map((v) => ({ labels: vol(v), value: v.status === 'ok' ? 1 : 0 })) },
    {
      name: 'stowage_volume_growth_bytes_per_day',
      help: 'Growth of the volume since the previous run, in bytes per day.',
      samples: ok.filter((v) => v.growth !== null).map((v) => ({ labels: vol(v), value: v.growth?.bytesPerDay ?? 0 })),
    },
    { name: 'stowage_filesystem_size_bytes', help: 'Size of the filesystem holding the path.', samples: report.filesystems.map((fs) => ({ labels: fsl(fs), value: fs.totalBytes })) },
    { name: 'stowage_filesystem_avail_bytes', help: 'Bytes available to unprivileged writers on the filesystem.', samples: report.filesystems.map((fs) => ({ labels: fsl(fs), value: fs.availableBytes })) },
    { name: 'stowage_filesystem_used_ratio', help: 'used / (used + available), as df reports Use%.', samples: report.filesystems.map((fs) => ({ labels: fsl(fs), value: fs.usedPercent / 100 })) },
    {
      name: 'stowage_filesystem_days_until_full',
      help: 'Days until the filesystem is full at its growth rate since the previous run; +Inf when it did not grow.',
      samples: report.filesystems.filter((fs) => fs.growth !== null).map((fs) => ({ labels: fsl(fs), value: fs.daysUntilFull ?? Infinity })),
    },
    {
      name: 'stowage_filesystem_threshold_ratio',
      help: 'The warn and crit thresholds in force, as ratios.',
      samples: report.filesystems.flatMap((fs) => [
        { labels: { ...fsl(fs), level: 'warn' }, value: report.thresholds.warn / 100 },
        { labels: { ...fsl(fs), level: 'crit' }, value: report.thresholds.crit / 100 },
      ]),
    },
    { name: 'stowage_unmanaged_volumes', help: 'Volumes on the engine that no stack file declares (prune candidates).', samples: [{ labels: { project }, value: report.unmanaged.volumes.length }] },
    { name: 'stowage_disk_usage_timestamp_seconds', help: 'When this report was made (Unix time).', samples: [{ labels: { project }, value: Date.parse(report.time) / 1000 }] },
  ]);
}
