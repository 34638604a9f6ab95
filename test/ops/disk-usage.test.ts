// disk-usage: sizes, largest files, filesystems, unmanaged volumes, thresholds,
// growth history and the Prometheus textfile, measured on the real engine.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/config/errors.js';
import { selectStack } from '../../src/config/select.js';
import { Runner } from '../../src/engine/command.js';
import { parseMeasurement, usage } from '../../src/engine/usage.js';
import {
  MAX_SAMPLES,
  appendSample,
  crossings,
  daysUntilFull,
  diskUsage,
  growthBetween,
  levelOf,
  prometheusText,
  readHistory,
  type DiskUsageReport,
  type FilesystemUsage,
  type History,
} from '../../src/ops/disk-usage.js';
import { renderReport } from '../../src/commands/disk-usage.js';
import { runCommand, runScript } from '../helpers/run.js';
import { TempDirs, yamlText } from '../helpers/stacks.js';

// Random per run: other engineers may run this file at the same time on the same engine.
const PROJECT = `stwdu${randomBytes(3).toString('hex')}`;
const OTHER = `${PROJECT}other`;
const STRAY = `${PROJECT}-stray_cache`;
const IMAGE = 'stowage-test/busybox:1';

const temp = new TempDirs();
let root: string;
let stacksDir: string;
let filesDir: string;

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function seed(volume: string, script: string): void {
  docker('run', '--rm', '--network', 'none', '--mount', `type=volume,source=${volume},target=/d`, IMAGE, 'sh', '-c', script);
}

/** GNU du on the host, reading the volume's directory directly: an independent implementation of the same count. */
function hostDu(path: string): number {
  return Number(execFileSync('du', ['-sb', path], { encoding: 'utf8' }).split('\t')[0]);
}

function mountpoint(volume: string): string {
  return docker('volume', 'inspect', '--format', '{{.Mountpoint}}', volume);
}

function removeByLabel(project: string): void {
  const containers = docker('ps', '-aq', '--filter', `label=stowage.project=${project}`).split('\n').filter(Boolean);
  if (containers.length > 0) docker('rm', '--force', ...containers);
  const volumes = docker('volume', 'ls', '-q', '--filter', `label=stowage.project=${project}`).split('\n').filter(Boolean);
  if (volumes.length > 0) docker('volume', 'rm', '--force', ...volumes);
}

function model() {
  return selectStack(`${PROJECT}-dev`, stacksDir).model;
}

async function measure(historyFile: string, now?: Date, top = 5): Promise<DiskUsageReport> {
  return diskUsage(model(), { runner: new Runner(), top, warn: 99.99, crit: 100, historyFile, stacksDir, ...(now === undefined ? {} : { now }) });
}

function volumeOf(report: DiskUsageReport, key: string) {
  const found = report.volumes.find((v) => v.volume === key);
  if (found === undefined) throw new Error(`no volume ${key} in the report`);
  return found;
}

beforeAll(() => {
  for (const p of [PROJECT, OTHER, `${OTHER}-prod`]) removeByLabel(p);
  root = temp.make('stowage-du-');
  filesDir = join(root, 'files');
  mkdirSync(filesDir);
  stacksDir = temp.stacksDir({
    [`${PROJECT}.yaml`]: yamlText`
      app: ${PROJECT}
      helper: { image: ${IMAGE} }
      volumes:
        data: {}
        logs: {}
        files: {}
        ghost: {}
      services:
        app:
          image: ${IMAGE}
          mounts: [data:/data, logs:/logs, files:/files, ghost:/ghost]
      environments:
        dev:
          volumes:
            files: { bind: ${filesDir} }
    `,
    // Declares its volume only in prod, under another project name: still not "unmanaged".
    [`${OTHER}.yaml`]: yamlText`
      app: ${OTHER}
      volumes:
        data: {}
      services:
        app:
          image: ${IMAGE}
          mounts: [data:/data]
      environments:
        dev: {}
        prod: { project: ${OTHER}-prod }
    `,
  });
  const labels = (project: string, volume: string): string[] => ['--label', `stowage.project=${project}`, '--label', 'stowage.env=dev', '--label', `stowage.volume=${volume}`];
  docker('volume', 'create', ...labels(PROJECT, 'data'), `${PROJECT}_data`);
  docker('volume', 'create', ...labels(PROJECT, 'logs'), `${PROJECT}_logs`);
  docker('volume', 'create', ...labels(`${OTHER}-prod`, 'data'), `${OTHER}-prod_data`);
  docker('volume', 'create', '--label', `stowage.project=${PROJECT}`, STRAY);
  // Random content (so nothing is sparse or deduplicated), nested directories, a hard link, an empty file.
  seed(
    `${PROJECT}_data`,
    'mkdir -p /d/mail/2024/inbox /d/empty-dir && head -c 300000 /dev/urandom > /d/big.bin && head -c 200000 /dev/urandom > /d/mail/2024/inbox/mid.bin && ' +
      'for i in $(seq 1 40); do head -c $((i * 97)) /dev/urandom > /d/mail/2024/inbox/m$i.eml; done && ln /d/big.bin /d/mail/big-link.bin && : > /d/zero && echo SECRET=x > /d/secrets.env && ' +
      // Links of every kind: their targets are data of the application's container, never measured here.
      'ln -s / /d/root && ln -s /etc /d/etcdir && ln -s /etc/hostname /d/abs && ln -s /nonexistent /d/dangling && ln -s ../../etc/x /d/mail/up',
  );
  seed(`${PROJECT}_logs`, 'for i in $(seq 1 5); do head -c 1000 /dev/urandom > /d/app.$i.log; done');
  docker('run', '--rm', '--mount', `type=bind,source=${filesDir},target=/d`, IMAGE, 'sh', '-c', 'mkdir /d/uploads && head -c 55555 /dev/urandom > /d/uploads/a.pdf && chown -R 1000:1000 /d');
});

afterAll(() => {
  for (const p of [PROJECT, OTHER, `${OTHER}-prod`]) removeByLabel(p);
  temp.removeAll();
});

describe('volume sizes', () => {
  it('measures a named volume within 1% of GNU du -sb on the host', async () => {
    const report = await measure(join(temp.make(), 'h.json'));
    const expected = hostDu(mountpoint(`${PROJECT}_data`));
    const data = volumeOf(report, 'data');
    expect(data.status).toBe('ok');
    expect(Math.abs((data.bytes ?? 0) - expected) / expected).toBeLessThan(0.01);
  });

  it('measures a bind-mounted directory within 1% of GNU du -sb on the host', async () => {
    const report = await measure(join(temp.make(), 'h.json'));
    const expected = hostDu(filesDir);
    const files = volumeOf(report, 'files');
    expect(Math.abs((files.bytes ?? 0) - expected) / expected).toBeLessThan(0.01);
  });

  it('counts regular files (a hard link is a second name, so a second file)', async () => {
    const report = await measure(join(temp.make(), 'h.json'));
    // big.bin, big-link.bin, mid.bin, 40 mails, zero, secrets.env
    expect(volumeOf(report, 'data').files).toBe(45);
    expect(volumeOf(report, 'logs').files).toBe(5);
  });

  it('counts symbolic links as links and never measures what they point to (a link to / adds a few bytes)', async () => {
    const data = volumeOf(await measure(join(temp.make(), 'h.json')), 'data');
    expect(data.links).toBe(5);
    expect(data.files).toBe(45);
    // 300 KB + 200 KB + 40 mails + directories; following root -> / would add the whole filesystem.
    expect(data.bytes).toBeLessThan(1_000_000);
    expect(data.largest.map((f) => f.path)).not.toContain('etcdir/hostname');
  });

  it('lists the largest files first, as many as --top asks for', async () => {
    const report = await measure(join(temp.make(), 'h.json'), undefined, 2);
    expect(volumeOf(report, 'data').largest).toEqual([
      { path: expect.stringMatching(/^(big\.bin|mail\/big-link\.bin)$/), bytes: 300000 },
      { path: expect.stringMatching(/^(big\.bin|mail\/big-link\.bin)$/), bytes: 300000 },
    ]);
    const three = await measure(join(temp.make(), 'h.json'), undefined, 3);
    expect(volumeOf(three, 'data').largest[2]).toEqual({ path: 'mail/2024/inbox/mid.bin', bytes: 200000 });
  });

  it('reports a declared volume that does not exist as missing, without failing', async () => {
    const report = await measure(join(temp.make(), 'h.json'));
    expect(volumeOf(report, 'ghost')).toMatchObject({ status: 'missing', bytes: null, files: null });
    expect(docker('volume', 'ls', '-q', '--filter', `name=^${PROJECT}_ghost$`)).toBe('');
  });
});

describe('filesystems', () => {
  it('reports the filesystem holding the Docker data root, with the named volumes on it', async () => {
    const report = await measure(join(temp.make(), 'h.json'));
    const rootDir = docker('info', '--format', '{{.DockerRootDir}}');
    const fs = report.filesystems.find((f) => f.holdsDataRoot);
    expect(fs?.path).toBe(rootDir);
    expect(fs?.volumes).toEqual(expect.arrayContaining(['data', 'logs']));
    expect(fs?.totalBytes).toBeGreaterThan(0);
    expect(fs?.usedPercent).toBeGreaterThan(0);
    expect(fs?.usedPercent).toBeLessThan(100);
  });

  it('matches df for the data root within a percentage point', async () => {
    const report = await measure(join(temp.make(), 'h.json'));
    const fs = report.filesystems.find((f) => f.holdsDataRoot);
    const line = execFileSync('df', ['-P', fs?.path ?? '/'], { encoding: 'utf8' }).trim().split('\n').at(-1) ?? '';
    const dfPercent = Number(/(\d+)%/.exec(line)?.[1]);
    expect(Math.abs((fs?.usedPercent ?? 0) - dfPercent)).toBeLessThanOrEqual(1);
  });

  it('reports the filesystem of a bind-mounted directory under its host path', async () => {
    const report = await measure(join(temp.make(), 'h.json'));
    const files = volumeOf(report, 'files');
    const fs = report.filesystems.find((f) => f.path === files.filesystem);
    expect(fs?.paths).toContain(filesDir);
    expect(fs?.volumes).toContain('files');
  });
});

describe('unmanaged volumes', () => {
  it('lists a volume no stack file declares, and leaves it in place', async () => {
    const report = await measure(join(temp.make(), 'h.json'));
    expect(report.unmanaged.volumes.find((v) => v.name === STRAY)).toEqual({ name: STRAY, driver: 'local', dangling: true, project: PROJECT });
    expect(docker('volume', 'ls', '-q', '--filter', `name=^${STRAY}$`)).toBe(STRAY);
  });

  it('does not list volumes that any environment of any stack file declares', async () => {
    const report = await measure(join(temp.make(), 'h.json'));
    const names = report.unmanaged.volumes.map((v) => v.name);
    expect(names).not.toContain(`${PROJECT}_data`);
    expect(names).not.toContain(`${OTHER}-prod_data`);
  });
});

describe('history and growth', () => {
  it('has no growth on the first run, and the growth of a volume since the previous run on the next', async () => {
    const history = join(temp.make(), 'h.json');
    const first = await measure(history, new Date('2030-01-01T00:00:00Z'));
    expect(volumeOf(first, 'logs').growth).toBeNull();
    seed(`${PROJECT}_logs`, 'head -c 250000 /dev/urandom > /d/grown.log');
    try {
      const second = await measure(history, new Date('2030-01-02T00:00:00Z'));
      const growth = volumeOf(second, 'logs').growth;
      expect(growth?.since).toBe('2030-01-01T00:00:00.000Z');
      expect(growth?.files).toBe(1);
      expect(Math.abs((growth?.bytes ?? 0) - 250000)).toBeLessThan(2500);
      expect(growth?.bytesPerDay).toBeCloseTo(growth?.bytes ?? 0, 6);
      const fs = second.filesystems.find((f) => f.holdsDataRoot);
      expect(fs?.growth?.since).toBe('2030-01-01T00:00:00.000Z');
      expect(fs?.daysUntilFull === null || (fs?.daysUntilFull ?? 0) > 0).toBe(true);
      expect(second.history).toEqual({ file: history, samples: 2, previous: '2030-01-01T00:00:00.000Z' });
    } finally {
      seed(`${PROJECT}_logs`, 'rm -f /d/grown.log');
    }
  });

  it('refuses a history file that is not a stowage history, and leaves it as it was', async () => {
    const history = join(temp.make(), 'h.json');
    const damaged = JSON.stringify({ format: 1, project: PROJECT, samples: [{ time: 'yesterday' }] });
    writeFileSync(history, damaged);
    await expect(measure(history)).rejects.toThrow(UsageError);
    await expect(measure(history)).rejects.toThrow(/is not a stowage disk-usage history.*mv /s);
    expect(readFileSync(history, 'utf8')).toBe(damaged);
  });

  it('refuses the history file of another project', () => {
    const history = join(temp.make(), 'h.json');
    writeFileSync(history, JSON.stringify({ format: 1, project: 'other', samples: [] }));
    expect(() => readHistory(history, PROJECT)).toThrow(/belongs to project other/);
  });

  it(`keeps the last ${MAX_SAMPLES} samples`, () => {
    let history: History = { format: 1, project: PROJECT, samples: [] };
    for (let i = 0; i < MAX_SAMPLES + 20; i++) history = appendSample(history, { time: new Date(Date.UTC(2030, 0, 1, 0, i)).toISOString(), volumes: {}, filesystems: {} });
    expect(history.samples).toHaveLength(MAX_SAMPLES);
    expect(history.samples[0]?.time).toBe('2030-01-01T00:20:00.000Z');
  });

  it('writes the history file where it is told, atomically (no temp file left behind)', async () => {
    const dir = temp.make();
    await measure(join(dir, 'sub', 'h.json'));
    expect(readdirSync(join(dir, 'sub'))).toEqual(['h.json']);
  });
});

function filesystem(fields: Partial<FilesystemUsage>): FilesystemUsage {
  return {
    path: '/srv',
    paths: [fields.path ?? '/srv'],
    holdsDataRoot: false,
    volumes: [],
    device: 1,
    totalBytes: 100,
    usedBytes: 50,
    availableBytes: 50,
    usedPercent: 50,
    growth: null,
    daysUntilFull: null,
    level: 'ok',
    ...fields,
  };
}

describe('rules (pure)', () => {
  it('grades a filesystem against warn and crit', () => {
    expect(levelOf(79.9, 80, 90)).toBe('ok');
    expect(levelOf(80, 80, 90)).toBe('warn');
    expect(levelOf(95, 80, 90)).toBe('crit');
  });

  it('says by how many points a threshold is crossed', () => {
    const fs = filesystem({ path: '/srv', level: 'warn', usedPercent: 85.5, availableBytes: 10 });
    expect(crossings([fs], 80, 90)).toEqual([{ path: '/srv', level: 'warn', usedPercent: 85.5, thresholdPercent: 80, overByPoints: 5.5, availableBytes: 10 }]);
  });

  it('computes days until full from the growth rate, and none when it does not grow', () => {
    const growth = growthBetween({ time: '2030-01-01T00:00:00Z', bytes: 1000 }, { time: '2030-01-03T00:00:00Z', bytes: 3000 });
    expect(growth?.bytesPerDay).toBe(1000);
    expect(daysUntilFull(5000, growth)).toBe(5);
    expect(daysUntilFull(5000, growthBetween({ time: '2030-01-01T00:00:00Z', bytes: 3000 }, { time: '2030-01-02T00:00:00Z', bytes: 3000 }))).toBeNull();
  });

  it('parses the helper output, keeping paths with spaces', () => {
    const m = parseMeasurement('dev 42\nstatfs 4096 100 40 30\ndu 9000\nfiles 2\nlinks 3\nfilebytes 8000\ntop 7000 ./a b/c\ntop 1000 ./d\n');
    expect(m).toEqual({ device: 42, totalBytes: 409600, freeBytes: 163840, availableBytes: 122880, usedBytes: 245760, bytes: 9000, files: 2, links: 3, fileBytes: 8000, largest: [{ path: 'a b/c', bytes: 7000 }, { path: 'd', bytes: 1000 }] });
  });

  it('measures through a read-only mount, as a command that changes nothing', () => {
    const cmd = usage.measure('busybox:1.36', { type: 'volume', source: 'pim_data', readOnly: false }, 5, { 'stowage.project': 'pim' });
    expect(cmd.mutates).toBe(false);
    expect(cmd.args.slice(0, 2)).toEqual(['run', '--rm']);
    expect(cmd.args).toContain('type=volume,source=pim_data,target=/d,readonly');
    expect(cmd.args).toContain('--network');
    expect(cmd.args.slice(-2)).toEqual(['stowage', '5']);
  });

  it('says what the helper image lacks when its output is not figures', () => {
    expect(() => parseMeasurement('dev 1\nstatfs 4096 1 1 1\ndu \n')).toThrow(/du -sb.*busybox/s);
  });
});

// ---------------------------------------------------------------- Prometheus text format

interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict reader of the text exposition format 0.0.4: throws on anything node_exporter would reject. */
function parsePrometheus(text: string): PromSample[] {
  if (!text.endsWith('\n')) throw new Error('the text must end with a newline');
  const samples: PromSample[] = [];
  const typed = new Map<string, string>();
  const finished = new Set<string>();
  const series = new Set<string>();
  let current: string | undefined;
  for (const [index, line] of text.slice(0, -1).split('\n').entries()) {
    const where = `line ${index + 1}: ${line}`;
    if (line.startsWith('#')) {
      const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (meta?.[1] === 'TYPE') {
        if (!/^(counter|gauge|histogram|summary|untyped)$/.test(meta[3] ?? '')) throw new Error(`bad type, ${where}`);
        if (typed.has(meta[2] ?? '')) throw new Error(`second TYPE, ${where}`);
        typed.set(meta[2] ?? '', meta[3] ?? '');
      }
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (match === null) throw new Error(`not a sample, ${where}`);
    const name = match[1] ?? '';
    if (name !== current) {
      if (finished.has(name)) throw new Error(`samples of ${name} are not grouped, ${where}`);
      if (current !== undefined) finished.add(current);
      current = name;
    }
    const labels: Record<string, string> = {};
    let rest = match[3] ?? '';
    while (rest !== '') {
      const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
      if (label === null) throw new Error(`bad labels, ${where}`);
      labels[label[1] ?? ''] = (label[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(label[0].length);
    }
    const raw = match[4] ?? '';
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : raw === 'NaN' ? NaN : Number(raw);
    if (!/^(\+Inf|-Inf|NaN|[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)$/.test(raw)) throw new Error(`bad value, ${where}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) throw new Error(`duplicate series, ${where}`);
    series.add(key);
    samples.push({ name, labels, value });
  }
  return samples;
}

describe('command line', () => {
  it('writes a --prom file that parses as Prometheus text, with the volume and filesystem metrics', async () => {
    const dir = temp.make();
    const prom = join(dir, 'stowage.prom');
    const result = await runScript('disk-usage', ['--stack', `${PROJECT}-dev`, '--stacks-dir', stacksDir, '--history', join(dir, 'h.json'), '--prom', prom, '--warn', '99.99', '--crit', '100']);
    expect(result.code).toBe(0);
    const samples = parsePrometheus(readFileSync(prom, 'utf8'));
    const data = samples.find((s) => s.name === 'stowage_volume_bytes' && s.labels['volume'] === 'data');
    expect(data?.labels).toEqual({ project: PROJECT, volume: 'data' });
    expect(data?.value).toBe(hostDu(mountpoint(`${PROJECT}_data`)));
    expect(samples.find((s) => s.name === 'stowage_volume_files' && s.labels['volume'] === 'logs')?.value).toBe(5);
    expect(samples.find((s) => s.name === 'stowage_volume_present' && s.labels['volume'] === 'ghost')?.value).toBe(0);
    const ratio = samples.find((s) => s.name === 'stowage_filesystem_used_ratio');
    expect(ratio?.value).toBeGreaterThan(0);
    expect(ratio?.value).toBeLessThan(1);
    expect(readdirSync(dir).sort()).toEqual(['h.json', 'stowage.prom']);
  });

  it('writes days until full after a second run, +Inf when the filesystem did not grow', () => {
    const report: DiskUsageReport = {
      project: 'p',
      app: 'p',
      env: 'dev',
      time: '2030-01-01T00:00:00Z',
      dockerRootDir: '/var/lib/docker',
      thresholds: { warn: 80, crit: 90 },
      volumes: [],
      filesystems: [filesystem({ path: '/a"b', growth: { since: '2029-12-31T00:00:00Z', seconds: 86400, bytes: 0, bytesPerDay: 0 }, daysUntilFull: null })],
      crossed: [],
      unmanaged: { complete: true, unreadableStackFiles: [], volumes: [] },
      history: { file: 'h.json', samples: 2, previous: '2029-12-31T00:00:00Z' },
    };
    const samples = parsePrometheus(prometheusText(report));
    expect(samples.find((s) => s.name === 'stowage_filesystem_days_until_full')).toEqual({ name: 'stowage_filesystem_days_until_full', labels: { project: 'p', path: '/a"b' }, value: Infinity });
  });

  it('exits 3 when a filesystem crosses --warn, naming it and by how much', async () => {
    const dir = temp.make();
    const result = await runScript('disk-usage', ['--stack', `${PROJECT}-dev`, '--stacks-dir', stacksDir, '--history', join(dir, 'h.json'), '--warn', '0.001']);
    expect(result.code).toBe(3);
    const rootDir = docker('info', '--format', '{{.DockerRootDir}}');
    expect(result.stderr).toMatch(new RegExp(`(WARNING|CRITICAL): filesystem ${rootDir} is [\\d.]+% full, [\\d.]+ points over the (warn|crit) level`));
  });

  it('prints one JSON document with --json, also when a threshold is crossed', async () => {
    const dir = temp.make();
    const result = await runScript('disk-usage', ['--stack', `${PROJECT}-dev`, '--stacks-dir', stacksDir, '--history', join(dir, 'h.json'), '--warn', '0.001', '--json']);
    expect(result.code).toBe(3);
    const doc: unknown = JSON.parse(result.stdout);
    expect(doc).toMatchObject({
      project: PROJECT,
      crossed: expect.arrayContaining([expect.objectContaining({ level: expect.stringMatching(/^(warn|crit)$/) })]),
      volumes: [{ volume: 'data' }, { volume: 'logs' }, { volume: 'files' }, { volume: 'ghost', status: 'missing' }],
    });
  });

  it('renders a table that fits one screen', async () => {
    const report = await measure(join(temp.make(), 'h.json'));
    const text = renderReport(report, 120);
    expect(text.split('\n').length).toBeLessThan(40);
    expect(text).toMatch(/^VOLUME +KIND +SIZE +FILES +LINKS +GROWTH +FILESYSTEM$/m);
    expect(text).toMatch(/^ghost +named +missing/m);
  });

  it('exits 2 on a --warn that is not a percentage, and writes no history', async () => {
    const dir = temp.make();
    const result = await runScript('disk-usage', ['--stack', `${PROJECT}-dev`, '--stacks-dir', stacksDir, '--history', join(dir, 'h.json'), '--warn', 'lots']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--warn lots: expected a percentage');
    expect(existsSync(join(dir, 'h.json'))).toBe(false);
  });

  it('exits 2 on a damaged history file and leaves it alone', async () => {
    const dir = temp.make();
    writeFileSync(join(dir, 'h.json'), 'not json');
    const result = await runCommand(process.execPath, ['scripts/disk-usage.mjs', '--stack', `${PROJECT}-dev`, '--stacks-dir', stacksDir, '--history', join(dir, 'h.json')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`history file ${join(dir, 'h.json')} is not JSON`);
    expect(readFileSync(join(dir, 'h.json'), 'utf8')).toBe('not json');
  });
});
