import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDumpMethod, LABEL, type ContainerModel, type Model, type VolumeModel } from '../config/model.js';
import { privateScratch } from '../session/scratch.js';
import { CheckFailed } from '../config/errors.js';
import { normalizeEntryName, scanArchive, type Chunks, type TarEntry } from '../engine/archive.js';
import { command, startStreaming, type Command, type Runner } from '../engine/command.js';
import { docker } from '../engine/docker.js';
import { inspectContainers } from '../engine/inspect.js';
import { readArtifact } from '../engine/pipeline.js';
import { readManifest, type ArtifactRecord } from './set.js';
import { helperImage, volumeMount, withReadingHelper } from '../session/session.js';
import { formatBytes } from '../cli/progress.js';
import { restore } from './restore.js';
import { drillProject } from '../runbook/scope.js';
import { decodeSteps } from './verify.js';

/**
 * Restore drills: a backup set restored into scratch volumes of a scratch
 * project (`<project>-drill`), compared entry by entry with its artifacts,
 * then removed. Live volumes and containers are never touched: every name the
 * restore code sees is a scratch name, and bind mounts become named volumes.
 */

/** Scratch resources carry this label (value: the live project), and only those are removed. */
export const DRILL_LABEL = 'stowage.drill';

/**
 * The model the restore code runs against. `project` stays the live one:
 * the set's manifest names it and restore checks that; everything the engine
 * sees (volume and container names, labels) is the scratch project's.
 */
export function drillModel(model: Model): Model {
  const scratch = drillProject(model);
  const labels = (base: Record<string, string>): Record<string, string> => ({ ...base, [LABEL.project]: scratch, [DRILL_LABEL]: model.project });
  const volumeName = (key: string): string => `${scratch}_${key}`;
  const volumes = model.volumes.map(
    (v): VolumeModel => ({ ...v, name: volumeName(v.key), kind: 'named', hostPath: undefined, declaredPath: undefined, driver: 'local', driverOpts: {}, labels: labels(v.labels) }),
  );
  const containers = model.containers.map(
    (c): ContainerModel => ({
      ...c,
      name: `${scratch}${c.name.slice(model.project.length)}`,
      mounts: c.mounts.map((m) => ({ ...m, type: 'volume', source: volumeName(m.volume) })),
      labels: labels(c.labels),
      ports: [],
      network: 'none',
    }),
  );
  return { ...model, volumes, containers, network: { name: `${scratch}_default`, labels: labels(model.network.labels) } };
}

const hasDrillLabels = (labels: Record<string, string> | null, model: Model): boolean =>
  labels !== null && labels[DRILL_LABEL] === model.project && labels[LABEL.project] === drillProject(model);

/** Scratch containers and volumes on the engine: those with both labels of this drill. */
export async function drillResources(runner: Runner, model: Model): Promise<{ containers: string[]; volumes: string[] }> {
  const filters = [`label=${DRILL_LABEL}=${model.project}`, `label=${LABEL.project}=${drillProject(model)}`];
  const containers = (await runner.output(command('docker', ['ps', '--all', '--format', '{{.Names}}', ...filters.flatMap((f) => ['--filter', f])], 'list drill containers', false)))
    .split('\n')
    .filter((n) => n !== '');
  const volumes = (await runner.output(docker.listVolumes(filters))).split('\n').filter((n) => n !== '');
  return { containers: containers.sort(), volumes: volumes.sort() };
}

export function removeDrillCommands(found: { containers: string[]; volumes: string[] }): Command[] {
  return [
    ...(found.containers.length > 0 ? [command('docker', ['rm', '--force', '--volumes', ...found.containers], `remove drill containers ${found.containers.join(', ')}`)] : []),
    ...(found.volumes.length > 0 ? [command('docker', ['volume', 'rm', ...found.volumes], `remove drill volumes ${found.volumes.join(', ')}`)] : []),
  ];
}

export async function removeDrill(runner: Runner, model: Model, log: (line: string) => void): Promise<{ containers: string[]; volumes: string[] }> {
  const found = await drillResources(runner, model);
  for (const cmd of removeDrillCommands(found)) await runner.run(cmd);
  const left = await drillResources(runner, model);
  if (left.containers.length + left.volumes.length > 0) {
    throw new Error(`drill resources are still there after removal: ${[...left.containers, ...left.volumes].join(', ')}; remove them with docker rm -f / docker volume rm`);
  }
  if (found.containers.length + found.volumes.length > 0) log(`removed ${[...found.containers, ...found.volumes].join(', ')}`);
  return found;
}

/** Refuses when a scratch name is taken by something that is not this project's drill (a real project named <project>-drill). */
async function refuseForeign(runner: Runner, model: Model, scratch: Model): Promise<void> {
  const volumes = scratch.volumes.map((v) => v.name);
  const inspected = await runner.run(docker.inspectVolumes(volumes), { allowFailure: true });
  const parsed: unknown = inspected.stdout.trim() === '' ? [] : JSON.parse(inspected.stdout);
  const taken = Array.isArray(parsed) ? parsed : [];
  for (const entry of taken) {
    const record: Record<string, unknown> = entry !== null && typeof entry === 'object' ? Object.fromEntries(Object.entries(entry)) : {};
    const labels = record['Labels'];
    const labelMap: Record<string, string> | null =
      labels !== null && typeof labels === 'object' ? Object.fromEntries(Object.entries(labels).filter((e): e is [string, string] => typeof e[1] === 'string')) : null;
    if (!hasDrillLabels(labelMap, model)) {
      throw new Error(`volume ${String(record['Name'])} exists and is not a scratch volume of a ${model.project} drill (no ${DRILL_LABEL}=${model.project} label); the drill will not touch it. Remove or rename it, or drill another stack.`);
    }
  }
  const states = await inspectContainers(runner, scratch.containers.map((c) => c.name));
  for (const state of states) {
    if (!hasDrillLabels(state.Config.Labels, model)) throw new Error(`container ${state.Name} exists and is not part of a ${model.project} drill; the drill will not touch it`);
  }
}

export interface DrillRestoreResult {
  set: string;
  project: string;
  volumes: string[];
  databases: string[];
}

/**
 * Restores every artifact of the set into scratch volumes. Database dumps need
 * their server: a scratch container of the database service runs on the
 * scratch volume (no network, throwaway passwords) and receives the dump.
 */
export async function drillRestore(model: Model, setDir: string, options: { runner: Runner; identity: string | undefined; log: (line: string) => void }): Promise<DrillRestoreResult> {
  const { runner, log } = options;
  const scratch = drillModel(model);
  await refuseForeign(runner, model, scratch);
  const leftovers = await drillResources(runner, model);
  if (leftovers.containers.length + leftovers.volumes.length > 0) {
    log(`an earlier drill left ${[...leftovers.containers, ...leftovers.volumes].join(', ')}: removing them first`);
    await removeDrill(runner, model, log);
  }
  const manifest = readManifest(setDir);
  const databases: string[] = [];
  for (const artifact of manifest.artifacts) {
    if (artifact.method !== 'pg_dump' && artifact.method !== 'mongodump') continue;
    const volume = scratch.volumes.find((v) => v.key === artifact.volume);
    const container = scratch.containers.find((c) => c.service === volume?.backup.service);
    if (volume === undefined || container === undefined) throw new Error(`${artifact.file}: the stack has no service running the ${artifact.method} of volume ${artifact.volume}`);
    await runner.run(docker.createVolume(volume.name, 'local', {}, volume.labels));
    await startScratchDatabase(runner, container, log);
    await waitForDatabase(runner, artifact, volume, container);
    databases.push(container.name);
  }
  await restore(scratch, setDir, { runner, volumes: [], paths: [], identity: options.identity, log, confirm: async () => undefined });
  return { set: setDir, project: drillProject(model), volumes: scratch.volumes.filter((v) => manifest.artifacts.some((a) => a.volume === v.key)).map((v) => v.name), databases };
}

async function startScratchDatabase(runner: Runner, container: ContainerModel, log: (line: string) => void): Promise<void> {
  // Secrets of the live stack are not needed: a throwaway value serves the scratch server. An env file keeps values out of `ps`.
  const dir = privateScratch('drill');
  const envFile = join(dir, 'env');
  try {
    writeFileSync(envFile, container.environment.map((e) => `${e.name}=${e.secret !== undefined ? randomBytes(18).toString('hex') : (e.value ?? '').replace(/\n/g, ' ')}`).join('\n') + '\n', { mode: 0o600 });
    await runner.run(
      command(
        'docker',
        [
          'run', '--detach',
          '--name', container.name,
          '--network', 'none',
          ...Object.entries(container.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
          '--env-file', envFile,
          ...(container.user === undefined ? [] : ['--user', container.user]),
          ...container.mounts.map((m) => ['--mount', `type=volume,source=${m.source},target=${m.target}`]).flat(),
          container.image,
          ...(container.command ?? []),
        ],
        `start scratch database ${container.name}`,
      ),
    );
    log(`started scratch database ${container.name} (${container.image})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function probeCommand(artifact: ArtifactRecord, volume: VolumeModel, container: ContainerModel): Command {
  if (artifact.method === 'pg_dump') {
    const user = volume.backup.user ?? container.environment.find((e) => e.name === 'POSTGRES_USER')?.value ?? 'postgres';
    return command('docker', ['exec', container.name, 'pg_isready', '-U', user], `ask ${container.name} whether PostgreSQL accepts connections`, false);
  }
  return command('docker', ['exec', container.name, 'mongosh', '--quiet', '--eval', 'db.adminCommand({ ping: 1 }).ok'], `ping MongoDB in ${container.name}`, false);
}

async function waitForDatabase(runner: Runner, artifact: ArtifactRecord, volume: VolumeModel, container: ContainerModel, attempts = 120): Promise<void> {
  const probe = probeCommand(artifact, volume, container);
  for (let i = 0; i < attempts; i++) {
    if ((await runner.run(probe, { allowFailure: true })).code === 0) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`scratch database ${container.name} did not accept connections within ${attempts} s; see docker logs ${container.name}`);
}

// ---------------------------------------------------------------- comparing trees

/** What is compared of one entry. Directory times are left out: moving entries into place changes them. */
export interface EntryFacts {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  sha256: string | undefined;
  link: string | undefined;
  mtime: number | undefined;
}

export async function treeOf(source: Chunks): Promise<Map<string, EntryFacts>> {
  const tree = new Map<string, EntryFacts>();
  const hardLinks: Array<[string, string]> = [];
  await scanArchive(source, (name: string, entry: TarEntry) => {
    const facts: EntryFacts = {
      type: entry.kind,
      mode: entry.mode & 0o7777,
      uid: entry.uid,
      gid: entry.gid,
      size: entry.size,
      sha256: undefined,
      link: entry.kind === 'symlink' ? entry.linkname : undefined,
      mtime: entry.kind === 'directory' ? undefined : Math.floor(entry.mtime),
    };
    tree.set(name, facts);
    if (entry.kind === 'link') hardLinks.push([name, normalizeEntryName(entry.linkname)]);
    if (facts.type !== 'file') return undefined;
    const hash = createHash('sha256');
    return {
      write(chunk) {
        hash.update(chunk);
      },
      end() {
        facts.sha256 = hash.digest('hex');
        return Promise.resolve();
      },
    };
  });
  // Which name of a set of hard links comes first depends on the walk: compare them all as the file they share.
  for (const [name, target] of hardLinks) {
    const file = tree.get(target);
    const link = tree.get(name);
    if (file !== undefined && link !== undefined) tree.set(name, { ...file, mode: link.mode, uid: link.uid, gid: link.gid, mtime: file.mtime });
  }
  return tree;
}

function describeFacts(f: EntryFacts): string {
  const what = f.type === 'file' ? `file ${f.size} B sha256 ${f.sha256?.slice(0, 12) ?? '?'}` : f.type === 'symlink' ? `symlink -> ${f.link ?? ''}` : f.type;
  return `${what}, ${f.uid}:${f.gid} ${f.mode.toString(8).padStart(4, '0')}${f.mtime === undefined ? '' : `, mtime ${f.mtime}`}`;
}

/** Differences between what the artifact holds and what the scratch volume holds, as readable lines. */
export function compareTrees(expected: Map<string, EntryFacts>, actual: Map<string, EntryFacts>, options: { partial: boolean }): string[] {
  const problems: string[] = [];
  const label = (name: string): string => (name === '' ? '(volume root)' : name);
  for (const [name, want] of expected) {
    if (name === '' && options.partial) continue;
    const got = actual.get(name);
    if (got === undefined) {
      problems.push(`${label(name)}: missing after the restore (backup has ${describeFacts(want)})`);
      continue;
    }
    const same =
      got.type === want.type &&
      got.mode === want.mode &&
      got.uid === want.uid &&
      got.gid === want.gid &&
      (want.type !== 'file' || (got.size === want.size && got.sha256 === want.sha256)) &&
      got.link === want.link &&
      (want.mtime === undefined || got.mtime === want.mtime);
    if (!same) problems.push(`${label(name)}: backup has ${describeFacts(want)}; restored ${describeFacts(got)}`);
  }
  const ancestors = new Set([...expected.keys()].flatMap((n) => n.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'))));
  for (const name of actual.keys()) {
    if (expected.has(name) || (name === '' && options.partial) || (options.partial && ancestors.has(name))) continue;
    problems.push(`${label(name)}: restored but not in the backup`);
  }
  return problems;
}

export interface VolumeCheck {
  volume: string;
  file: string;
  method: string;
  entries: number;
  files: number;
  bytes: number;
  ok: boolean;
  problems: string[];
  detail: string;
}

async function checkTree(model: Model, scratch: Model, setDir: string, artifact: ArtifactRecord, options: { runner: Runner; identity: string | undefined }): Promise<VolumeCheck> {
  const volume = scratch.volumes.find((v) => v.key === artifact.volume);
  if (volume === undefined) throw new Error(`the stack has no volume ${artifact.volume} (in ${artifact.file})`);
  const reader = readArtifact(join(setDir, artifact.file), decodeSteps(artifact, options.identity));
  const [expected] = await Promise.all([treeOf(reader.content), reader.done]);
  const image = await helperImage(options.runner, model, artifact.volume);
  const actual = await withReadingHelper(options.runner, scratch, image, [volumeMount(volume, '/v', true)], async (helper) => {
    const read = startStreaming(docker.archiveRead(helper, '/v'), { stdin: 'ignore', stdout: 'pipe' });
    if (read.child.stdout === null) throw new Error('docker cp produced no stream');
    const [tree] = await Promise.all([treeOf(read.child.stdout), read.done]);
    return tree;
  });
  const problems = compareTrees(expected, actual, { partial: (artifact.paths ?? []).length > 0 });
  const files = [...expected.values()].filter((f) => f.type === 'file');
  return {
    volume: artifact.volume,
    file: artifact.file,
    method: artifact.method,
    entries: expected.size,
    files: files.length,
    bytes: files.reduce((sum, f) => sum + f.size, 0),
    ok: problems.length === 0,
    problems,
    detail: problems.length === 0 ? 'identical: type, owner, mode, size, sha256 and time of every entry' : `${problems.length} difference(s)`,
  };
}

async function checkDatabase(scratch: Model, artifact: ArtifactRecord, runner: Runner): Promise<VolumeCheck> {
  const volume = scratch.volumes.find((v) => v.key === artifact.volume);
  const container = scratch.containers.find((c) => c.service === volume?.backup.service);
  const base = { volume: artifact.volume, file: artifact.file, method: artifact.method, entries: 0, files: 0, bytes: artifact.bytes };
  if (volume === undefined || container === undefined) return { ...base, ok: false, problems: [`no scratch database for ${artifact.volume}`], detail: 'not restored' };
  const query: Command =
    artifact.method === 'pg_dump'
      ? command(
          'docker',
          ['exec', container.name, 'psql', '-U', volume.backup.user ?? container.environment.find((e) => e.name === 'POSTGRES_USER')?.value ?? 'postgres', '-d', volume.backup.database ?? container.environment.find((e) => e.name === 'POSTGRES_DB')?.value ?? 'postgres', '-Atc', "select count(*) from pg_catalog.pg_tables where schemaname not in ('pg_catalog', 'information_schema')"],
          `count the tables restored into ${container.name}`,
          false,
        )
      : command('docker', ['exec', container.name, 'mongosh', '--quiet', '--eval', 'db.adminCommand({ listDatabases: 1 }).databases.length'], `count the databases restored into ${container.name}`, false);
  const result = await runner.run(query, { allowFailure: true });
  const count = Number(result.stdout.trim());
  if (result.code !== 0 || !Number.isInteger(count)) {
    return { ...base, ok: false, problems: [`cannot query the restored database in ${container.name}: ${result.stderr.trim().split('\n').slice(-2).join(' ')}`], detail: 'query failed' };
  }
  return { ...base, entries: count, ok: true, problems: [], detail: `restored and answering: ${count} ${artifact.method === 'pg_dump' ? 'table(s)' : 'database(s)'}` };
}

export interface DrillCheckResult {
  set: string;
  ok: boolean;
  volumes: VolumeCheck[];
}

/** Compares each scratch volume with its artifact; CheckFailed (exit 3) when anything differs. */
export async function drillCheck(model: Model, setDir: string, options: { runner: Runner; identity: string | undefined }): Promise<DrillCheckResult> {
  const scratch = drillModel(model);
  const manifest = readManifest(setDir);
  const volumes: VolumeCheck[] = [];
  for (const artifact of manifest.artifacts) {
    volumes.push(isDumpMethod(artifact.method) ? await checkDatabase(scratch, artifact, options.runner) : await checkTree(model, scratch, setDir, artifact, options));
  }
  return { set: setDir, ok: volumes.every((v) => v.ok), volumes };
}

export function drillReport(result: DrillCheckResult, project: string): string[] {
  return [
    `restore drill of ${result.set} into project ${project}:`,
    ...result.volumes.flatMap((v) => [
      `  ${v.ok ? 'PASS' : 'FAIL'}  ${v.volume.padEnd(16)} ${v.method.padEnd(9)} ${String(v.entries).padStart(6)} entries ${String(v.files).padStart(6)} files ${formatBytes(v.bytes).padStart(10)}  ${v.detail}`,
      ...v.problems.slice(0, 10).map((p) => `        ${p}`),
      ...(v.problems.length > 10 ? [`        ... and ${v.problems.length - 10} more`] : []),
    ]),
    result.ok ? 'PASS: every restored volume matches its backup' : 'FAIL: the restored data differs from the backup',
  ];
}

export function assertDrill(result: DrillCheckResult, project: string): void {
  if (!result.ok) throw new CheckFailed(drillReport(result, project).join('\n'));
}
