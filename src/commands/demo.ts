// npm run demo: the main job end to end on a stack of its own (deploy, backup, clean start, restore, check).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../config/errors.js';
import { EXIT, flag, stringValue, type CommandSpec, type Handler, type Output } from '../cli/cli.js';
import { command, Runner, type Command, type CommandResult } from '../engine/command.js';
import { formatBytes } from '../cli/progress.js';
import { checkHostTools, importCommand, rootfsEntries, rootfsTar } from './demo-image.js';

/**
 * `npm run demo`: the whole promise of stowage on the local engine in under a
 * minute. Builds a small image without a registry, deploys a demo stack from
 * its generated Compose file, checks that the deployment is exactly what the
 * stack file declares (drift), writes data, backs up, verifies, clean-starts
 * (containers and volumes gone), restores, proves the data is back (row
 * counts, a logical dump checksum, file checksums), runs a restore drill,
 * prints a report, and removes everything it created. It installs nothing and
 * starts no engine: it says what is missing instead.
 */

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export const spec: CommandSpec = {
  name: 'demo',
  summary: 'deploy a demo stack on the local engine, back it up, wipe it, restore it and prove the data is back',
  usage: '[--app NAME] [--keep] [--json]',
  options: {
    app: { type: 'string', value: 'NAME', description: 'project name of the demo stack (default: stowage-demo)' },
    keep: { type: 'boolean', description: 'leave the demo stack, image and files in place to look around (the report says how to remove them)' },
  },
  details: 'Needs a running Docker engine, Compose (docker compose or docker-compose), and on the host busybox-static, sqlite3 and zstd.\nRun it as: npm run demo',
};

export interface DemoStep {
  name: string;
  seconds: number;
  ok: boolean;
  detail: string;
}

export interface DemoReport {
  project: string;
  ok: boolean;
  seconds: number;
  steps: DemoStep[];
  kept: string[] | undefined;
}

interface Expected {
  contacts: number;
  events: number;
  dump: string;
  files: Map<string, string>;
}

const WRITE_DATA = `set -e
cd /data
sqlite3 app.sqlite "
PRAGMA journal_mode=WAL;
CREATE TABLE contacts(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);
CREATE TABLE events(id INTEGER PRIMARY KEY, title TEXT NOT NULL, starts TEXT NOT NULL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
  INSERT INTO contacts(name, email) SELECT 'Contact ' || i, 'contact' || i || '@example.org' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
  INSERT INTO events(title, starts) SELECT 'Event ' || i, date('2025-01-01', '+' || i || ' days') FROM n;
" >/dev/null
chmod 0640 app.sqlite
umask 077
printf 'JWT_SECRET=%s\\nENCRYPTION_KEY=%s\\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n')" "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n')" > secrets.env
umask 027
mkdir -p /uploads/photos /uploads/documents
i=1
while [ "$i" -le 40 ]; do
  head -c $((i * 2048)) /dev/urandom > "/uploads/photos/photo-$i.jpg"
  i=$((i + 1))
done
printf 'minutes of the meeting\\n' > /uploads/documents/minutes.txt
`;

/** Row counts, a checksum of the logical dump (the file's bytes may differ after an online copy), and sha256 of every other file. */
const FACTS = `set -e
sqlite3 /data/app.sqlite "SELECT count(*) FROM contacts; SELECT count(*) FROM events;"
sqlite3 /data/app.sqlite .dump | sha256sum | cut -d' ' -f1
cd / && find data uploads -type f ! -name 'app.sqlite*' | sort | while IFS= read -r f; do sha256sum "$f"; done
`;

function parseFacts(stdout: string): Expected {
  const [contacts, events, dump, ...rest] = stdout.trim().split('\n');
  const files = new Map<string, string>();
  for (const line of rest) {
    const match = /^([0-9a-f]{64})\s+(.+)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) files.set(match[2], match[1]);
  }
  return { contacts: Number(contacts), events: Number(events), dump: dump ?? '', files };
}

class Demo {
  readonly steps: DemoStep[] = [];
  readonly runner = new Runner();

  constructor(private readonly out: Output) {}

  async step<T>(name: string, work: () => Promise<{ value: T; detail: string }>): Promise<T> {
    const started = Date.now();
    this.out.warn(`... ${name}`);
    try {
      const { value, detail } = await work();
      this.steps.push({ name, seconds: (Date.now() - started) / 1000, ok: true, detail });
      return value;
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      this.steps.push({ name, seconds: (Date.now() - started) / 1000, ok: false, detail: detail.split('\n').slice(0, 6).join(' | ') });
      throw err;
    }
  }

  run(cmd: Command, input?: Buffer): Promise<CommandResult> {
    return this.runner.run(cmd, input === undefined ? {} : { input });
  }

  async tryRun(cmd: Command): Promise<CommandResult> {
    try {
      return await this.runner.run(cmd, { allowFailure: true });
    } catch (err) {
      return { code: 127, stdout: '', stderr: err instanceof Error ? err.message : String(err) };
    }
  }

  /** `node scripts/<name>.mjs ...`: the demo uses stowage the way operators do. */
  script(name: string, args: string[]): Command {
    return command(process.execPath, [join(repoRoot, 'scripts', `${name}.mjs`), ...args], `${name}.mjs`);
  }
}

/** Nothing is installed or started: a missing prerequisite is explained and the demo stops before it changes anything. */
async function preflight(demo: Demo): Promise<{ compose: string[]; engine: string }> {
  const docker = await demo.tryRun(command('docker', ['version', '--format', '{{.Client.Version}}'], 'docker client', false));
  if (docker.code === 127) {
    throw new Error('the docker command is not installed. On Debian or Ubuntu: sudo apt-get install docker.io docker-compose; then run npm run demo again');
  }
  const info = await demo.tryRun(command('docker', ['info', '--format', '{{.ServerVersion}}'], 'docker engine', false));
  if (info.code !== 0 || info.stdout.trim() === '') {
    const why = info.stderr.trim().split('\n').slice(-1)[0] ?? '';
    const permission = /permission denied/i.test(info.stderr);
    throw new Error(
      permission
        ? `cannot talk to the Docker engine (${why}). Add yourself to the docker group (sudo usermod -aG docker "$USER", then log in again) or run the demo with sudo.`
        : `the Docker engine is not running (${why}). Start it, e.g. sudo systemctl start docker (or sudo service docker start), check with docker info, then run npm run demo again. The demo starts nothing itself.`,
    );
  }
  const missing: string[] = [];
  const packages: string[] = [];
  let compose: string[] | undefined;
  if ((await demo.tryRun(command('docker', ['compose', 'version'], 'compose v2', false))).code === 0) compose = ['docker', 'compose'];
  else if ((await demo.tryRun(command('docker-compose', ['version'], 'compose v1', false))).code === 0) compose = ['docker-compose'];
  else {
    missing.push('Compose: neither docker compose nor docker-compose works');
    packages.push('docker-compose');
  }
  if ((await demo.tryRun(command('zstd', ['--version'], 'zstd', false))).code === 127) {
    missing.push('zstd: backups are compressed with it');
    packages.push('zstd');
  }
  const tools = checkHostTools();
  missing.push(...tools.problems);
  packages.push(...tools.packages);
  if (missing.length > 0 || compose === undefined) {
    throw new Error(`missing on this machine:\n  ${missing.join('\n  ')}\nInstall with: sudo apt-get install ${[...new Set(packages)].join(' ')}\nthen run npm run demo again. The demo installs nothing itself.`);
  }
  return { compose, engine: info.stdout.trim() };
}

async function leftovers(demo: Demo, project: string): Promise<string[]> {
  const label = `label=stowage.project=${project}`;
  const containers = (await demo.run(command('docker', ['ps', '--all', '--format', '{{.Names}}', '--filter', label], 'list demo containers', false))).stdout;
  const volumes = (await demo.run(command('docker', ['volume', 'ls', '--quiet', '--filter', label], 'list demo volumes', false))).stdout;
  return [...containers.split('\n'), ...volumes.split('\n')].filter((n) => n !== '');
}

function composeCommand(compose: string[], project: string, files: string[], args: string[]): Command {
  const [program, ...prefix] = compose;
  return command(program ?? 'docker-compose', [...prefix, '-p', project, ...files.flatMap((f) => ['-f', f]), ...args], `${compose.join(' ')} ${args[0] ?? ''}`);
}

function compareFacts(before: Expected, after: Expected): string[] {
  const problems: string[] = [];
  if (after.contacts !== before.contacts) problems.push(`contacts: ${after.contacts} rows, expected ${before.contacts}`);
  if (after.events !== before.events) problems.push(`events: ${after.events} rows, expected ${before.events}`);
  if (after.dump !== before.dump) problems.push('the database content (sqlite3 .dump) differs');
  for (const [file, sum] of before.files) {
    const got = after.files.get(file);
    if (got !== sum) problems.push(`${file}: ${got === undefined ? 'missing' : 'checksum differs'}`);
  }
  for (const file of after.files.keys()) if (!before.files.has(file)) problems.push(`${file}: not there before`);
  return problems;
}

export async function runDemo(out: Output, options: { project: string; keep: boolean }): Promise<DemoReport> {
  const started = Date.now();
  const demo = new Demo(out);
  const { project } = options;
  const stack = `${project}-demo`;
  const image = `${project}/app:1`;
  const container = `${project}-app`;
  const work = mkdtempSync(join(tmpdir(), `${project}-`));
  const stacksDir = join(work, 'stacks');
  const composeDir = join(work, 'compose');
  const backups = join(work, 'backups');
  let ok = false;
  let imageCreated = false;
  let deployed: { compose: string[]; files: string[] } | undefined;
  try {
    const { compose } = await demo.step('check the machine', async () => {
      const found = await preflight(demo);
      const left = await leftovers(demo, project);
      if (left.length > 0) {
        throw new Error(`an earlier demo left ${left.join(', ')} behind (or one is running now). Remove them: docker rm -f ${container}; docker volume rm ${project}_data ${project}_uploads`);
      }
      return { value: found, detail: `engine ${found.engine}, ${found.compose.join(' ')}` };
    });

    await demo.step(`build image ${image}`, async () => {
      if ((await demo.tryRun(command('docker', ['image', 'inspect', image], 'look up image', false))).code === 0) {
        return { value: undefined, detail: 'already there, reused' };
      }
      const archive = await rootfsTar(rootfsEntries());
      await demo.run(importCommand(image), archive);
      imageCreated = true;
      return { value: undefined, detail: `docker import of busybox + sqlite3 (${formatBytes(archive.length)}), no registry` };
    });

    const files = await demo.step('render the Compose files', async () => {
      mkdirSync(stacksDir);
      const reference = readFileSync(join(repoRoot, 'demo', 'stacks', 'stowage-demo.yaml'), 'utf8');
      writeFileSync(join(stacksDir, `${project}.yaml`), reference.replace(/stowage-demo/g, project));
      await demo.run(demo.script('compose', ['--stacks-dir', stacksDir, '--out', composeDir]));
      const rendered = [join(composeDir, `${project}.yml`), join(composeDir, `${project}.demo.yml`)];
      for (const f of rendered) if (!existsSync(f)) throw new Error(`compose.mjs did not write ${f}`);
      return { value: rendered, detail: `scripts/compose.mjs -> ${rendered.map((f) => f.replace(`${work}/`, '')).join(', ')}` };
    });

    await demo.step('deploy the stack', async () => {
      deployed = { compose, files };
      await demo.run(composeCommand(compose, project, files, ['up', '-d']));
      return { value: undefined, detail: `${compose.join(' ')} -p ${project} up -d: container ${container}, volumes ${project}_data, ${project}_uploads` };
    });

    await demo.step('check the deployment against its stack file', async () => {
      await demo.run(demo.script('drift', ['--stack', stack, '--stacks-dir', stacksDir]));
      return { value: undefined, detail: `drift.mjs --stack ${stack}: containers, volumes, images, mounts and labels as declared` };
    });

    const before = await demo.step('write data', async () => {
      await demo.run(command('docker', ['exec', container, 'sh', '-c', WRITE_DATA], 'write demo data'));
      const facts = parseFacts((await demo.run(command('docker', ['exec', container, 'sh', '-c', FACTS], 'read demo data', false))).stdout);
      return { value: facts, detail: `${facts.contacts} contacts, ${facts.events} events in SQLite (WAL), secrets.env, ${facts.files.size - 1} uploads` };
    });

    const set = await demo.step('back up', async () => {
      const result = await demo.run(demo.script('backup', ['--stack', stack, '--stacks-dir', stacksDir, '--to', backups, '--json']));
      const parsed: unknown = JSON.parse(result.stdout);
      const path = parsed !== null && typeof parsed === 'object' && 'path' in parsed && typeof parsed.path === 'string' ? parsed.path : undefined;
      const artifacts = parsed !== null && typeof parsed === 'object' && 'artifacts' in parsed && Array.isArray(parsed.artifacts) ? parsed.artifacts : [];
      if (path === undefined) throw new Error(`backup.mjs --json printed no path: ${result.stdout.slice(0, 200)}`);
      const sizes = artifacts.map((a: unknown) =>
        a !== null && typeof a === 'object' && 'file' in a && 'bytes' in a && typeof a.file === 'string' && typeof a.bytes === 'number' ? `${a.file} ${formatBytes(a.bytes)}` : '?',
      );
      return { value: path, detail: `${sizes.join(', ')} (SQLite copied online, no downtime)` };
    });

    await demo.step('verify the backup', async () => {
      await demo.run(demo.script('verify', ['--stack', stack, '--stacks-dir', stacksDir, '--backup', set]));
      return { value: undefined, detail: 'checksums, archives read to the end, PRAGMA integrity_check' };
    });

    await demo.step('clean start (remove containers and volumes)', async () => {
      await demo.run(demo.script('clean-start', ['--stack', stack, '--stacks-dir', stacksDir, '--no-backup', '--yes']));
      const left = await leftovers(demo, project);
      if (left.length > 0) throw new Error(`still there after the clean start: ${left.join(', ')}`);
      return { value: undefined, detail: 'the container and both volumes are gone' };
    });

    await demo.step('redeploy and restore', async () => {
      await demo.run(composeCommand(compose, project, files, ['up', '-d']));
      await demo.run(demo.script('restore', ['--stack', stack, '--stacks-dir', stacksDir, '--backup', set, '--yes']));
      return { value: undefined, detail: 'fresh empty volumes, then restore.mjs (verified first, swapped in, app restarted)' };
    });

    await demo.step('check the data is back', async () => {
      const after = parseFacts((await demo.run(command('docker', ['exec', container, 'sh', '-c', FACTS], 'read demo data', false))).stdout);
      const problems = compareFacts(before, after);
      if (problems.length > 0) throw new Error(problems.join('; '));
      return { value: undefined, detail: `${after.contacts} contacts, ${after.events} events, same dump checksum; ${after.files.size} files, same sha256` };
    });

    await demo.step('restore drill (runbook)', async () => {
      await demo.run(
        demo.script('runbook', ['restore-drill', '--stack', stack, '--stacks-dir', stacksDir, '--to', backups, '--compose-dir', composeDir, '--journal-dir', join(work, 'journal'), '--var', `backup=${set}`]),
      );
      return { value: undefined, detail: `restored into scratch volumes of ${project}-drill, compared entry by entry, removed` };
    });
    ok = true;
  } catch {
    ok = false;
  } finally {
    if (!options.keep) {
      await demo
        .step('remove everything the demo created', async () => {
          const removed: string[] = [];
          if (deployed !== undefined) {
            await demo.tryRun(composeCommand(deployed.compose, project, deployed.files, ['down', '--volumes', '--remove-orphans']));
            removed.push('containers', 'volumes', 'network');
          }
          const left = await leftovers(demo, project);
          if (left.length > 0) await demo.tryRun(command('docker', ['rm', '--force', ...left], 'remove leftovers'));
          const stillLeft = await leftovers(demo, project);
          if (stillLeft.length > 0) await demo.tryRun(command('docker', ['volume', 'rm', '--force', ...stillLeft], 'remove leftover volumes'));
          if (imageCreated) {
            await demo.tryRun(command('docker', ['image', 'rm', image], 'remove the demo image'));
            removed.push(`image ${image}`);
          }
          rmSync(work, { recursive: true, force: true });
          removed.push('temporary files and backups');
          const remaining = await leftovers(demo, project);
          if (remaining.length > 0) throw new Error(`could not remove ${remaining.join(', ')}`);
          return { value: undefined, detail: `removed ${removed.join(', ')}` };
        })
        .catch(() => {
          ok = false;
        });
    }
  }
  const kept = options.keep
    ? [`files: ${work}`, `remove with: ${[...(deployed?.compose ?? ['docker-compose']), '-p', project, ...(deployed?.files ?? []).flatMap((f) => ['-f', f]), 'down', '--volumes'].join(' ')}; docker image rm ${image}; rm -rf ${work}`]
    : undefined;
  return { project, ok: ok && demo.steps.every((s) => s.ok), seconds: (Date.now() - started) / 1000, steps: demo.steps, kept };
}

export function renderReport(report: DemoReport): string {
  const width = Math.max(...report.steps.map((s) => s.name.length), 10);
  return [
    '',
    `stowage demo (project ${report.project})`,
    '',
    `  ${'step'.padEnd(width)}   ${'time'.padStart(6)}  result`,
    ...report.steps.map((s) => `  ${s.name.padEnd(width)}   ${`${s.seconds.toFixed(1)} s`.padStart(6)}  ${s.ok ? 'PASS' : 'FAIL'}  ${s.detail}`),
    '',
    report.ok
      ? `PASS: the data survived a clean start: backed up, verified, wiped, restored and checked in ${report.seconds.toFixed(1)} s.`
      : `FAIL after ${report.seconds.toFixed(1)} s: see the failed step above.`,
    ...(report.kept ?? []),
    report.ok ? 'Next: README.md, docs/backup-and-restore.md and docs/runbooks/.' : '',
  ]
    .filter((l, i, all) => !(l === '' && i === all.length - 1))
    .join('\n');
}

export const handler: Handler = async ({ values, out }) => {
  const project = stringValue(values, 'app') ?? 'stowage-demo';
  if (!/^[a-z][a-z0-9-]*$/.test(project)) throw new UsageError(`--app ${project}: use lower case letters, digits and -`);
  const report = await runDemo(out, { project, keep: flag(values, 'keep') });
  out.result(report, () => renderReport(report));
  return report.ok ? EXIT.ok : EXIT.failed;
};
