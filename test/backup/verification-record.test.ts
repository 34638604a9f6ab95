// verify.mjs records what it proved about a set, so status.mjs can report it
// without verifying again: in the set, or in the state directory when the set
// cannot be written; read back through its JSON Schema.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { writeManifest, type Manifest } from '../../src/backup/set.js';
import { readVerification, recordVerification, stateRecordPath, VERIFICATION_FILE } from '../../src/backup/verification-record.js';
import type { ArtifactCheck, VerifyResult } from '../../src/backup/verify.js';
import { TempDirs } from '../helpers/stacks.js';

const temp = new TempDirs();
const immutable: string[] = [];
afterEach(() => {
  for (const dir of immutable.splice(0)) execFileSync('chattr', ['-i', dir]);
  temp.removeAll();
});

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);
const SET = '20261124T031500Z';

function manifest(shaOfData = SHA_A): Manifest {
  return {
    format: 1,
    project: 'shop',
    env: 'prod',
    created: '2026-11-24T03:15:00.000Z',
    artifacts: [
      { volume: 'data', file: 'data.tar.zst', method: 'tar', bytes: 10, sha256: shaOfData },
      { volume: 'db', file: 'db.pgdump', method: 'pg_dump', bytes: 20, sha256: SHA_B },
    ],
  };
}

function setDir(m: Manifest = manifest()): string {
  const dir = join(temp.make('stowage-vr-'), 'shop', SET);
  mkdirSync(dir, { recursive: true });
  writeManifest(dir, m);
  return dir;
}

function check(volume: string, file: string, ok: boolean): ArtifactCheck {
  return { volume, file, method: 'tar', ok, problems: ok ? [] : [`${file}: sha256 differs`], checked: ok ? ['sha256'] : [], warnings: [] };
}

function result(dir: string, checks: ArtifactCheck[], m: Manifest = manifest()): VerifyResult {
  return { set: dir, manifest: m, ok: checks.every((c) => c.ok), artifacts: checks };
}

describe('recording a verification', () => {
  test('writes verification.json into the set, with what was proven and when', () => {
    const dir = setDir();
    const state = temp.make('stowage-state-');
    const at = new Date('2026-11-24T03:40:00.000Z');
    const recorded = recordVerification(result(dir, [check('data', 'data.tar.zst', true), check('db', 'db.pgdump', false)]), state, at);

    expect(recorded).toEqual({ path: join(dir, VERIFICATION_FILE) });
    const read = readVerification([recorded.path], manifest(), SET);
    expect(read.issues).toEqual([]);
    expect(read.record?.artifacts.map((a) => [a.file, a.ok, a.verified, a.sha256])).toEqual([
      ['data.tar.zst', true, '2026-11-24T03:40:00.000Z', SHA_A],
      ['db.pgdump', false, '2026-11-24T03:40:00.000Z', SHA_B],
    ]);
    expect(readdirSync(state)).toEqual([]);
  });

  test('leaves no temporary file behind in the set', () => {
    const dir = setDir();
    recordVerification(result(dir, [check('data', 'data.tar.zst', true)]), temp.make('stowage-state-'));
    expect(readdirSync(dir).sort()).toEqual(['manifest.json', VERIFICATION_FILE]);
  });

  test('a run that checked one volume keeps what an earlier run recorded for the others', () => {
    const dir = setDir();
    const state = temp.make('stowage-state-');
    recordVerification(result(dir, [check('data', 'data.tar.zst', true), check('db', 'db.pgdump', true)]), state, new Date('2026-11-24T03:40:00Z'));
    recordVerification(result(dir, [check('data', 'data.tar.zst', false)]), state, new Date('2026-11-25T08:00:00Z'));

    const read = readVerification([join(dir, VERIFICATION_FILE)], manifest(), SET);
    expect(read.record?.artifacts.map((a) => [a.file, a.ok, a.verified])).toEqual([
      ['data.tar.zst', false, '2026-11-25T08:00:00.000Z'],
      ['db.pgdump', true, '2026-11-24T03:40:00.000Z'],
    ]);
  });

  test('a set that cannot be written gets its record in the state directory instead', () => {
    const dir = setDir();
    const state = temp.make('stowage-state-');
    execFileSync('chattr', ['+i', dir]);
    immutable.push(dir);

    const recorded = recordVerification(result(dir, [check('data', 'data.tar.zst', true)]), state, new Date('2026-11-24T03:40:00Z'));

    expect(recorded.path).toBe(stateRecordPath(state, 'shop', SET));
    expect(recorded.fellBack).toMatch(/EPERM|EACCES|EROFS|not permitted/);
    expect(existsSync(join(dir, VERIFICATION_FILE))).toBe(false);
    const read = readVerification([join(dir, VERIFICATION_FILE), recorded.path], manifest(), SET);
    expect(read.record?.artifacts.map((a) => [a.file, a.ok])).toEqual([['data.tar.zst', true]]);
  });
});

describe('reading records back', () => {
  test('an entry for an artifact whose sha256 changed since does not count', () => {
    const dir = setDir();
    const recorded = recordVerification(result(dir, [check('data', 'data.tar.zst', true)]), temp.make('stowage-state-'));
    const rewritten = manifest('c'.repeat(64));
    expect(readVerification([recorded.path], rewritten, SET).record?.artifacts).toEqual([]);
  });

  test('the newer of the set\'s record and the state directory\'s wins, per artifact', () => {
    const dir = setDir();
    const state = temp.make('stowage-state-');
    const inState = stateRecordPath(state, 'shop', SET);
    mkdirSync(join(state, 'verifications', 'shop'), { recursive: true });
    const entry = (ok: boolean, verified: string) => ({ volume: 'data', file: 'data.tar.zst', sha256: SHA_A, ok, verified, checked: [], problems: [], warnings: [] });
    writeFileSync(inState, JSON.stringify({ format: 1, project: 'shop', env: 'prod', set: SET, artifacts: [entry(false, '2026-11-26T00:00:00Z')] }));
    writeFileSync(join(dir, VERIFICATION_FILE), JSON.stringify({ format: 1, project: 'shop', env: 'prod', set: SET, artifacts: [entry(true, '2026-11-25T00:00:00Z')] }));

    const read = readVerification([join(dir, VERIFICATION_FILE), inState], manifest(), SET);
    expect(read.record?.artifacts.map((a) => [a.ok, a.verified])).toEqual([[false, '2026-11-26T00:00:00Z']]);
  });

  test.each([
    ['not JSON', '{"format":1,', /not JSON/],
    ['another format', JSON.stringify({ format: 2, project: 'shop', env: 'prod', set: SET, artifacts: [] }), /not a stowage verification record \(\/format must be equal to constant/],
    ['an entry without its sha256', JSON.stringify({ format: 1, project: 'shop', env: 'prod', set: SET, artifacts: [{ volume: 'data', file: 'data.tar.zst', ok: true, verified: '2026-11-24T03:40:00Z', checked: [], problems: [], warnings: [] }] }), /must have required property 'sha256'/],
    ['another set\'s record', JSON.stringify({ format: 1, project: 'shop', env: 'prod', set: '20250101T000000Z', artifacts: [] }), /records set shop\/20250101T000000Z, not shop\/20261124T031500Z/],
  ])('a record that is %s is not used, and the issue names the file', (_name, text, message) => {
    const dir = setDir();
    const path = join(dir, VERIFICATION_FILE);
    writeFileSync(path, text);
    const read = readVerification([path], manifest(), SET);
    expect(read.record).toBeUndefined();
    expect(read.issues).toHaveLength(1);
    expect(read.issues[0]).toContain(path);
    expect(read.issues[0]).toMatch(message);
    expect(read.issues[0]).toContain('run verify.mjs');
  });

  test('a record written by recordVerification passes the shipped schema', () => {
    const dir = setDir();
    const recorded = recordVerification(result(dir, [check('data', 'data.tar.zst', true)]), temp.make('stowage-state-'));
    const parsed: unknown = JSON.parse(readFileSync(recorded.path, 'utf8'));
    expect(parsed).toMatchObject({ format: 1, project: 'shop', env: 'prod', set: SET });
    expect(readVerification([recorded.path], manifest(), SET).issues).toEqual([]);
  });
});
