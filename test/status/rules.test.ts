// The rules of status.mjs, without an engine: what counts as stale, failed,
// missing, full, unhealthy or drift; what is only worth a note; and the exit
// code. Inputs are what the collector reads (sets, records, history,
// containers, drift), written out here.
import { describe, expect, test } from 'vitest';
import { parseStackText } from '../../src/config/load.js';
import { resolveModel, type Model } from '../../src/config/model.js';
import type { ContainerState } from '../../src/engine/inspect.js';
import type { Manifest } from '../../src/backup/set.js';
import type { HistorySample } from '../../src/ops/disk-usage.js';
import type { StoredSet } from '../../src/backup/set-source.js';
import { evaluateStack, exitCodeOf, statusReport, type StackInputs } from '../../src/status/status.js';
import { lineChart, niceCeiling } from '../../src/status/charts.js';
import { renderStatusPage } from '../../src/status/html.js';
import { daysUntilFull, growthPerDay } from '../../src/status/trend.js';
import type { ReadRecord } from '../../src/backup/verification-record.js';
import { yamlText } from '../helpers/stacks.js';

const NOW = new Date('2026-11-30T09:00:00.000Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function model(extra = ''): Model {
  const stack = parseStackText(
    yamlText`
      app: shop
      ${extra}
      volumes:
        data: {}
        db: {}
        cache: { backup: { method: none, reason: rebuilt on start } }
      services:
        web: { image: shop/web:1, mounts: [data:/data, db:/db, cache:/cache] }
      environments:
        prod: {}
        dev: {}
    `,
    '/srv/stowage/stacks/shop.yaml',
  );
  return resolveModel(stack, 'prod', { stackFile: '/srv/stowage/stacks/shop.yaml' });
}

const sha = (c: string): string => c.repeat(64);

function set(ageMs: number, volumes: string[], env = 'prod'): StoredSet & { manifest: Manifest } {
  const created = new Date(NOW.getTime() - ageMs);
  const id = created.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return {
    id,
    location: `/backups/shop/${id}`,
    state: 'complete',
    manifest: {
      format: 1,
      project: 'shop',
      env,
      created: created.toISOString(),
      durationSeconds: 12,
      artifacts: volumes.map((volume, i) => ({ volume, file: `${volume}.tar.zst`, method: 'tar', bytes: 1000 * (i + 1), sha256: sha('a'), durationSeconds: 3 })),
    },
  };
}

function verified(s: StoredSet & { manifest: Manifest }, ok: Record<string, boolean>, at = NOW): [string, ReadRecord] {
  return [
    s.id,
    {
      issues: [],
      record: {
        format: 1,
        project: 'shop',
        env: 'prod',
        set: s.id,
        artifacts: s.manifest.artifacts
          .filter((a) => ok[a.volume] !== undefined)
          .map((a) => ({ volume: a.volume, file: a.file, sha256: a.sha256, ok: ok[a.volume] ?? false, verified: at.toISOString(), checked: [], problems: ok[a.volume] === true ? [] : ['broken'], warnings: [] })),
      },
    },
  ];
}

function running(name: string, health?: string): ContainerState {
  return {
    Id: name,
    Name: name,
    State: { Running: true, Status: 'running', ...(health === undefined ? {} : { Health: { Status: health } }) },
    Config: { Image: 'shop/web:1', Labels: {}, User: '', Env: [] },
    Mounts: [],
  };
}

function inputs(overrides: Partial<StackInputs> = {}): StackInputs {
  const fresh = set(2 * HOUR, ['data', 'db']);
  return {
    model: model(),
    now: NOW,
    deployed: true,
    destination: '/backups/shop',
    sets: [fresh],
    verifications: new Map([verified(fresh, { data: true, db: true })]),
    disk: { skipped: true },
    history: { samples: [] },
    containers: [running('shop-web')],
    drift: { stack: 'shop-prod', project: 'shop', env: 'prod', clean: true, checked: { containers: 1, volumes: 3 }, drift: [] },
    ...overrides,
  };
}

const kinds = (i: StackInputs): string[][] => evaluateStack(i).problems.map((p) => [p.kind, p.subject]);

describe('backups', () => {
  test('fresh, verified backups of every volume: no problem, and the volume not backed up on purpose is only a note', () => {
    const s = evaluateStack(inputs());
    expect(s.problems).toEqual([]);
    expect(s.health).toBe('attention');
    expect(s.notes.map((n) => n.subject)).toEqual(['cache', 'disk']);
    expect(s.volumes.map((v) => [v.volume, v.health])).toEqual([
      ['data', 'ok'],
      ['db', 'ok'],
      ['cache', 'ok'],
    ]);
  });

  test('a backup exactly backups.maxAge old is not stale; one second older is', () => {
    const at = (age: number): StackInputs => {
      const s = set(age, ['data', 'db']);
      return inputs({ sets: [s], verifications: new Map([verified(s, { data: true, db: true })]) });
    };
    expect(kinds(at(26 * HOUR))).toEqual([]);
    expect(kinds(at(26 * HOUR + 1000))).toEqual([
      ['stale', 'data'],
      ['stale', 'db'],
    ]);
  });

  test('backups.maxAge from the stack file decides', () => {
    const s = set(3 * HOUR, ['data', 'db']);
    expect(kinds(inputs({ model: model('backups: { maxAge: 2h }'), sets: [s], verifications: new Map([verified(s, { data: true, db: true })]) }))).toEqual([
      ['stale', 'data'],
      ['stale', 'db'],
    ]);
  });

  test('each volume\'s newest backup counts: a newer set without a volume does not make it fresh', () => {
    const old = set(3 * DAY, ['data', 'db']);
    const recent = set(HOUR, ['data']);
    const s = evaluateStack(inputs({ sets: [old, recent], verifications: new Map([verified(old, { data: true, db: true }), verified(recent, { data: true })]) }));
    expect(s.problems.map((p) => [p.kind, p.subject])).toEqual([['stale', 'db']]);
    expect(s.volumes.find((v) => v.volume === 'db')?.backup?.set).toBe(old.id);
    expect(s.volumes.find((v) => v.volume === 'data')?.setsKept).toBe(2);
  });

  test('a volume without any backup is a problem; one with backup.method none is not', () => {
    const s = set(HOUR, ['data']);
    expect(kinds(inputs({ sets: [s], verifications: new Map([verified(s, { data: true })]) }))).toEqual([['no-backup', 'db']]);
  });

  test('sets of another environment of the same project do not count, and a note says they are there', () => {
    const other = set(HOUR, ['data', 'db'], 'dev');
    const s = evaluateStack(inputs({ sets: [other], verifications: new Map() }));
    expect(s.problems.map((p) => p.kind)).toEqual(['no-backup', 'no-backup']);
    expect(s.sets.otherEnvironments).toBe(1);
    expect(s.notes.map((n) => n.message).join('\n')).toContain('1 set(s) of other environments');
  });

  test('incomplete and damaged sets are never the newest backup', () => {
    const good = set(2 * HOUR, ['data', 'db']);
    const s = evaluateStack(
      inputs({
        sets: [good, { id: '20261130T085900Z', location: '/b/x', state: 'incomplete', manifest: undefined }, { id: '20261130T085959Z', location: '/b/y', state: 'damaged', manifest: undefined, problem: 'bad json' }],
        verifications: new Map([verified(good, { data: true, db: true })]),
      }),
    );
    expect(s.volumes[0]?.backup?.set).toBe(good.id);
    expect(s.sets).toMatchObject({ complete: 1, incomplete: 1, damaged: 1 });
    expect(s.notes.some((n) => n.message.includes('/b/y is damaged'))).toBe(true);
  });
});

describe('verification', () => {
  test('a failed verification of a volume\'s newest backup is a problem naming the set', () => {
    const s = set(HOUR, ['data', 'db']);
    const result = evaluateStack(inputs({ sets: [s], verifications: new Map([verified(s, { data: true, db: false })]) }));
    expect(result.problems.map((p) => [p.kind, p.subject])).toEqual([['verify-failed', 'db']]);
    expect(result.problems[0]?.message).toContain(s.id);
    expect(result.newestSet?.verification).toBe('failed');
  });

  test('a failure of an older set no longer matters once a newer backup verified', () => {
    const old = set(DAY, ['data', 'db']);
    const recent = set(HOUR, ['data', 'db']);
    expect(kinds(inputs({ sets: [old, recent], verifications: new Map([verified(old, { data: false, db: false }), verified(recent, { data: true, db: true })]) }))).toEqual([]);
  });

  test('a newest backup never verified is a note that says how to verify it, not a problem', () => {
    const s = set(HOUR, ['data', 'db']);
    const result = evaluateStack(inputs({ sets: [s], verifications: new Map() }));
    expect(result.problems).toEqual([]);
    expect(result.volumes[0]?.verification.state).toBe('unverified');
    expect(result.volumes[0]?.health).toBe('attention');
    expect(result.notes.find((n) => n.subject === 'data')?.message).toContain('npx zx scripts/verify.mjs --stack shop-prod --backup latest');
  });
});

describe('disk', () => {
  const sample = (daysAgo: number, used: number, volumeBytes: number): HistorySample => ({
    time: new Date(NOW.getTime() - daysAgo * DAY).toISOString(),
    volumes: { data: { bytes: volumeBytes, files: 1, filesystem: '/srv' } },
    filesystems: { '/srv': { usedBytes: used, availableBytes: 1000 - used, totalBytes: 1000 } },
  });

  test('from the history alone (--no-measure): level, growth and the day the filesystem fills', () => {
    const samples = [sample(4, 400, 100), sample(3, 420, 110), sample(2, 440, 120), sample(1, 460, 130), sample(0, 480, 140)];
    const s = evaluateStack(inputs({ history: { samples } }));
    const fs = s.filesystems[0];
    expect(fs).toMatchObject({ path: '/srv', usedBytes: 480, level: 'ok', volumes: ['data'] });
    expect(fs?.growthBytesPerDay).toBeCloseTo(20, 9);
    expect(fs?.daysUntilFull).toBeCloseTo(520 / 20, 9);
    expect(fs?.fullOn).toBe(new Date(NOW.getTime() + 26 * DAY).toISOString());
    const data = s.volumes.find((v) => v.volume === 'data');
    expect(data).toMatchObject({ size: { bytes: 140, source: 'history' }, filesystem: '/srv', fullOn: fs?.fullOn });
    expect(data?.growthBytesPerDay).toBeCloseTo(10, 9);
  });

  test('a filesystem over disk.warn is a problem, and the volumes on it are marked', () => {
    const s = evaluateStack(inputs({ model: model('disk: { warn: 40, crit: 90 }'), history: { samples: [sample(1, 400, 100), sample(0, 410, 100)] } }));
    expect(s.problems.map((p) => [p.kind, p.subject])).toEqual([['disk', '/srv']]);
    expect(s.problems[0]?.message).toMatch(/^filesystem \/srv is 41\.0% full, over the warn level of 40%/);
    expect(s.volumes.find((v) => v.volume === 'data')?.health).toBe('problem');
  });

  test('a history that cannot be read is a note, and the rest of the report stands', () => {
    const s = evaluateStack(inputs({ history: { error: 'history file x is not JSON' } }));
    expect(s.problems).toEqual([]);
    expect(s.notes.map((n) => n.message)).toContain('history file x is not JSON');
  });
});

describe('services, drift and the engine', () => {
  test('an unhealthy container is a problem; one still starting is not', () => {
    expect(kinds(inputs({ containers: [running('shop-web', 'unhealthy')] }))).toEqual([['unhealthy', 'web']]);
    const starting = evaluateStack(inputs({ containers: [running('shop-web', 'starting')] }));
    expect(starting.problems).toEqual([]);
    expect(starting.services[0]).toMatchObject({ health: 'starting', level: 'attention' });
  });

  test('every drift item is a problem with its fix, on the row of its container', () => {
    const drift = { object: 'container' as const, name: 'shop-web', kind: 'image' as const, detail: 'runs shop/web:0.9; the stack file says shop/web:1', fix: 'recreate it' };
    const s = evaluateStack(inputs({ drift: { stack: 'shop-prod', project: 'shop', env: 'prod', clean: false, checked: { containers: 1, volumes: 3 }, drift: [drift] } }));
    expect(s.problems).toEqual([{ kind: 'drift', stack: 'shop-prod', subject: 'shop-web', message: `container shop-web: image: ${drift.detail}`, fix: 'recreate it' }]);
    expect(s.services[0]?.drift).toEqual([drift]);
  });

  test('an engine that does not answer is an error (exit 1), not a clean bill of health', () => {
    const s = evaluateStack(inputs({ containers: { error: 'Cannot connect to the Docker daemon' }, drift: { error: 'Cannot connect to the Docker daemon' } }));
    expect(s.errors).toEqual(['containers: Cannot connect to the Docker daemon', 'drift: Cannot connect to the Docker daemon']);
    expect(s.services[0]?.state).toBe('unknown');
    expect(exitCodeOf(statusReport([s], NOW))).toBe(1);
  });

  test('an environment that is not deployed here is listed, and nothing about it counts', () => {
    const s = evaluateStack(inputs({ deployed: false, sets: [], verifications: new Map(), containers: [], drift: { skipped: true } }));
    expect(s).toMatchObject({ health: 'not-deployed', problems: [], notes: [], errors: [] });
    expect(exitCodeOf(statusReport([s], NOW))).toBe(0);
  });

  test('exit 3 when anything is a problem, whatever else could not be checked', () => {
    const problem = evaluateStack(inputs({ sets: [], verifications: new Map() }));
    const broken = evaluateStack(inputs({ drift: { error: 'timeout' } }));
    expect(exitCodeOf(statusReport([broken, problem], NOW))).toBe(3);
    expect(exitCodeOf(statusReport([evaluateStack(inputs())], NOW))).toBe(0);
  });
});

describe('growth', () => {
  test('a straight line gives its slope per day', () => {
    const points = [0, 1, 2, 3].map((d) => ({ time: d * DAY, value: 100 + 5 * d }));
    expect(growthPerDay(points)).toBeCloseTo(5, 9);
  });

  test('only the last two weeks count', () => {
    const points = [
      { time: 0, value: 1e9 },
      { time: 20 * DAY, value: 0 },
      { time: 21 * DAY, value: 10 },
    ];
    expect(growthPerDay(points)).toBeCloseTo(10, 9);
  });

  test('two measurements minutes apart are not a trend', () => {
    expect(growthPerDay([{ time: 0, value: 0 }, { time: 10 * 60_000, value: 1e6 }])).toBeNull();
    expect(growthPerDay([{ time: 0, value: 0 }])).toBeNull();
  });

  test('a filesystem that does not grow is never full', () => {
    expect(daysUntilFull(100, 0)).toBeNull();
    expect(daysUntilFull(100, -3)).toBeNull();
    expect(daysUntilFull(100, null)).toBeNull();
    expect(daysUntilFull(100, 4)).toBe(25);
  });
});

describe('the page', () => {
  test('axis tops are round numbers', () => {
    expect([0.3, 1, 7, 11, 240, 2600].map(niceCeiling)).toEqual([0.5, 1, 10, 20, 250, 5000]);
  });

  test('a chart is an image with a title and a description a screen reader reads', () => {
    const svg = lineChart({ id: 'c1', title: 'Backup size', description: '3 sets', series: [{ name: 's', points: [{ t: 0, v: 1 }, { t: DAY, v: 2, mark: 'failed' }], line: 'solid', markers: true }], format: String }, false);
    expect(svg).toMatch(/^<svg class="chart" viewBox="0 0 \d+ \d+" role="img" aria-labelledby="c1-title c1-desc"/);
    expect(svg).toContain('<title id="c1-title">Backup size</title><desc id="c1-desc">3 sets</desc>');
    expect(svg.match(/class="mark-failed"/g)).toHaveLength(1);
  });

  test('text from the stack file and the file system is escaped, never markup', () => {
    const s = evaluateStack(inputs({ destination: '/backups/<script>alert(1)</script>' }));
    const html = renderStatusPage(statusReport([s], NOW));
    expect(html).not.toContain('<script>');
    expect(html).toContain('/backups/&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});
