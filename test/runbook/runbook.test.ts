// Runbooks: the YAML contract (schema errors with file:line:column), the printed
// plan of --dry-run, journals, --resume, rollback, confirmation, and the
// generated pages. None of these need the Docker engine: steps run ordinary
// programs (sh, test, cat) against a throwaway stack file.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RunbookFileError, parseRunbookText, listRunbooks, loadRunbook } from '../../src/runbook/load.js';
import { renderRunbookDocs } from '../../src/runbook/docs.js';
import { compareTrees, type EntryFacts } from '../../src/backup/drill.js';
import { resolveVars, untilHolds } from '../../src/runbook/plan.js';
import { expandWord, parseTemplate, renderArg, type Scope } from '../../src/runbook/template.js';
import { readJournal } from '../../src/runbook/run-log.js';
import { runScript, repoRoot, type RunResult } from '../helpers/run.js';
import { TempDirs, yamlText } from '../helpers/stacks.js';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

const show = (r: RunResult): string => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

function issuesOf(text: string, file = 'broken.yaml'): string[] {
  try {
    parseRunbookText(text, file);
  } catch (err) {
    if (err instanceof RunbookFileError) return err.issues.map((i) => `${i.file}:${i.position.line}:${i.position.column}: ${i.keyPath}: ${i.message}`);
    throw err;
  }
  return [];
}

const HEADER = yamlText`
  runbook: broken
  title: A broken runbook
  description: For the tests.
`;

describe('a runbook file that is wrong is refused with file:line:column, the key, and what to do', () => {
  it('names an unknown key in a step where it is written', () => {
    const text = `${HEADER}steps:\n  - id: first\n    title: First\n    run: [echo, hi]\n    retries: 3\n`;
    expect(issuesOf(text)).toEqual(['broken.yaml:8:5: steps[0].retries: unknown key "retries"']);
  });

  it('rejects a variable that does not exist, at the argument that uses it', () => {
    const text = `${HEADER}steps:\n  - id: first\n    title: First\n    run: [echo, "{{stak}}"]\n`;
    expect(issuesOf(text)).toEqual(['broken.yaml:7:17: steps[0].run[1]: {{stak}} is not defined here']);
  });

  it('rejects a value used before the step that captures it', () => {
    const text = `${HEADER}steps:\n  - id: verify\n    title: Verify\n    op: verify\n    args: [--backup, "{{backup}}"]\n  - id: backup\n    title: Back up\n    op: backup\n    args: [--json]\n    capture: { backup: { json: path } }\n`;
    expect(issuesOf(text)).toEqual(['broken.yaml:8:22: steps[0].args[1]: {{backup}} is not defined here']);
  });

  it('requires confirm: true on steps that replace or remove data', () => {
    const text = `${HEADER}steps:\n  - id: restore\n    title: Restore\n    op: restore\n    args: [--yes]\n  - id: wipe\n    title: Wipe\n    compose: [down, -v]\n`;
    expect(issuesOf(text)).toEqual([
      'broken.yaml:7:9: steps[0].op: step "restore" replaces or removes data',
      'broken.yaml:11:14: steps[1].compose: step "wipe" replaces or removes data',
    ]);
  });

  it('rejects two steps with the same id, a step doing two things, and a name that is not the file name', () => {
    const text = yamlText`
      runbook: other
      title: T
      description: D
      steps:
        - id: a
          title: A
          run: [echo]
          compose: [ps]
        - id: a
          title: Again
          run: [echo]
    `;
    expect(issuesOf(text)).toEqual([
      'broken.yaml:1:10: runbook: "other" does not match the file name broken.yaml',
      'broken.yaml:9:9: steps[1].id: step id "a" is used twice',
      'broken.yaml:5:5: steps[0]: step "a" has run and compose: a step does one thing',
    ]);
  });

  it('checks conditions against the variables and steps that exist', () => {
    const text = `${HEADER}vars:\n  mode: { description: M, enum: [a, b], default: a }\nsteps:\n  - id: one\n    title: One\n    when: { var: mode, in: [c] }\n    run: [echo]\n  - id: two\n    title: Two\n    when: { started: nine }\n    run: [echo]\n`;
    expect(issuesOf(text)).toEqual([
      'broken.yaml:9:29: steps[0].when.in[0]: "c" is not a value of mode',
      'broken.yaml:13:22: steps[1].when.started: no step "nine" in steps',
    ]);
  });

  it('reports YAML syntax errors with their position', () => {
    expect(issuesOf(`${HEADER}steps:\n  - id: [\n`)[0]).toMatch(/^broken\.yaml:\d+:\d+: : YAML syntax error/);
  });

  it('exits 2 from the command line and runs nothing', async () => {
    const dir = temp.make('stowage-runbooks-');
    writeFileSync(join(dir, 'broken.yaml'), `${HEADER}steps:\n  - id: first\n    title: First\n    run: [touch, "${join(dir, 'ran')}"]\n    retries: 3\n`);
    const r = await runScript('runbook', ['broken', '--stack', 'pim-dev', '--runbooks-dir', dir]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain(`${join(dir, 'broken.yaml')}:8:5: steps[0].retries: unknown key "retries"`);
    expect(r.stderr).toContain('fix: remove it or correct its spelling; allowed here: id, title');
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });
});

describe('arguments are interpolated word by word, never through a shell', () => {
  const scope: Scope = {
    scalars: new Map([['stack', 'pim-dev'], ['var.mode', 'full']]),
    lists: new Map([['containers', ['pim-backend', 'pim-worker']]]),
    pending: new Map([['backup', 'scalar']]),
  };

  it('leaves Go templates for docker --format alone', () => {
    const word = '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}';
    expect(parseTemplate(word)).toEqual([{ text: word }]);
  });

  it('splices a list given as a whole word into one argument per item', () => {
    expect(expandWord('{{containers}}', scope).map(renderArg)).toEqual(['pim-backend', 'pim-worker']);
  });

  it('keeps a value with spaces or quotes as one argument, quoted when printed', () => {
    const odd: Scope = { ...scope, scalars: new Map([['stack', "it's a stack"]]) };
    expect(expandWord('--name={{stack}}', odd).map(renderArg)).toEqual([`'--name=it'\\''s a stack'`]);
  });

  it('prints a value only known at run time as a shell variable', () => {
    expect(expandWord('{{backup}}', scope).map(renderArg)).toEqual(['"${BACKUP}"']);
  });

  it('checks --var against the declarations', () => {
    const book = loadRunbook(join(repoRoot, 'runbooks', 'restore.yaml')).book;
    expect(resolveVars(book, ['mode=secrets']).get('mode')).toBe('secrets');
    expect(resolveVars(book, []).get('backup')).toBe('latest');
    expect(() => resolveVars(book, ['mode=everything'])).toThrow('--var mode=everything: use one of: full, secrets, database');
    expect(() => resolveVars(book, ['colour=red'])).toThrow('runbook restore has no variable "colour"');
  });

  it('waits until every line shows an allowed state', () => {
    const step = { id: 'w', title: 'W', until: { lines: ['healthy', 'running'] } };
    expect(untilHolds(step, 'healthy\nrunning\n')).toBe(true);
    expect(untilHolds(step, 'healthy\nstarting\n')).toBe(false);
    expect(untilHolds(step, '')).toBe(false);
  });
});

describe('--dry-run prints every step as commands to paste, and runs nothing', () => {
  const env = { STOWAGE_COMPOSE: 'docker-compose' };

  it('safe-update on pim-dev: every step, the rollback, captured values as shell variables', async () => {
    const journal = join(temp.make('stowage-journal-'), 'j');
    const r = await runScript('runbook', ['safe-update', '--stack', 'pim-dev', '--dry-run', '--to', '/srv/backups', '--journal-dir', journal], { env });
    expect(r.code, show(r)).toBe(0);
    const book = loadRunbook(join(repoRoot, 'runbooks', 'safe-update.yaml')).book;
    for (const step of [...book.steps, ...(book.onFailure ?? [])]) expect(r.stdout).toContain(` ${step.id}: `);
    expect(r.stdout).toContain('BACKUP="$(node scripts/backup.mjs --stack pim-dev --to /srv/backups --json | jq -r .path)"');
    expect(r.stdout).toContain('node scripts/verify.mjs --stack pim-dev --backup "${BACKUP}"');
    expect(r.stdout).toContain('docker tag "$(docker container inspect --format \'{{.Image}}\' pim-backend)" stowage-rollback/pim-backend:previous');
    expect(r.stdout).toContain('docker-compose -p pim -f compose/pim.yml -f compose/pim.dev.yml down');
    expect(r.stdout).toContain("docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' pim-backend");
    expect(r.stdout).toContain('# skipped: update is pull, not build');
    expect(r.stdout).toContain('node scripts/restore.mjs --stack pim-dev --backup "${BACKUP}" --yes');
    expect(existsSync(journal), 'a dry run writes no journal').toBe(false);
  });

  it('restore --var mode=database on digidig-prod restores each database volume', async () => {
    const r = await runScript('runbook', ['restore', '--stack', 'digidig-prod', '--dry-run', '--var', 'mode=database'], { env });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('node scripts/restore.mjs --stack digidig-prod --backup "${BACKUP}" --volume postgres_data --yes');
    expect(r.stdout).toContain('node scripts/restore.mjs --stack digidig-prod --backup "${BACKUP}" --volume mongo_data --yes');
    expect(r.stdout).toContain('# skipped: mode is database, not secrets');
  });

  it('restore --var mode=secrets on pim-dev restores secrets.env only', async () => {
    const r = await runScript('runbook', ['restore', '--stack', 'pim-dev', '--dry-run', '--var', 'mode=secrets'], { env });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('node scripts/restore.mjs --stack pim-dev --backup "${BACKUP}" --volume data --path secrets.env --yes');
  });

  it('missing-volumes loops over a list that is only known at run time', async () => {
    const r = await runScript('runbook', ['missing-volumes', '--stack', 'digidig-dev', '--dry-run'], { env });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('for ITEM in ${MISSING}; do node scripts/restore.mjs --stack digidig-dev --backup "${BACKUP}" --volume "${ITEM}" --yes; done');
  });

  it("a stack on another host: the plan first points DOCKER_HOST at its engine, so pasted Compose steps go there", async () => {
    const stacks = temp.stacksDir({ 'pim.yaml': readFileSync(join(repoRoot, 'stacks', 'pim.yaml'), 'utf8').replace('  prod:\n', '  prod:\n    engine: ssh://deploy@pim.example.org\n') });
    const r = await runScript('runbook', ['safe-update', '--stack', 'pim-prod', '--stacks-dir', stacks, '--dry-run'], { env });
    expect(r.code, show(r)).toBe(0);
    const lines = r.stdout.split('\n');
    const exported = lines.indexOf('export DOCKER_HOST=ssh://deploy@pim.example.org');
    const compose = lines.findIndex((l) => l.includes('docker-compose -p pim -f compose/pim.yml -f compose/pim.prod.yml down'));
    expect(lines).toContain(`# engine: ssh://deploy@pim.example.org (${join(stacks, 'pim.yaml')} environments.prod.engine)`);
    expect(exported).toBeGreaterThan(-1);
    expect(compose).toBeGreaterThan(exported);
  });

  it('--engine is passed on to the operations the runbook runs, which would otherwise go to the stack file\'s engine', async () => {
    const r = await runScript('runbook', ['restore', '--stack', 'digidig-prod', '--dry-run', '--var', 'mode=database', '--engine', 'ssh://root@standby.example.org'], { env });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('export DOCKER_HOST=ssh://root@standby.example.org');
    expect(r.stdout).toContain('node scripts/restore.mjs --stack digidig-prod --backup "${BACKUP}" --volume postgres_data --yes --engine ssh://root@standby.example.org');
  });

  it('every shipped runbook plans on both reference stacks', async () => {
    for (const file of listRunbooks(join(repoRoot, 'runbooks'))) {
      const name = file.replace(/^.*\//, '').replace(/\.yaml$/, '');
      for (const stack of ['pim-prod', 'digidig-prod']) {
        const r = await runScript('runbook', [name, '--stack', stack, '--dry-run', '--json'], { env });
        expect(r.code, `${name} ${stack}\n${show(r)}`).toBe(0);
        const doc: unknown = JSON.parse(r.stdout);
        expect(doc).toMatchObject({ status: 'dry-run', runbook: name, stack });
      }
    }
  });
});

// ---------------------------------------------------------------- running

interface World {
  dir: string;
  stacksDir: string;
  runbooksDir: string;
  journalDir: string;
  args: (name: string, ...more: string[]) => string[];
}

function world(runbooks: Record<string, string>): World {
  const dir = temp.make('stowage-runbook-run-');
  const stacksDir = join(dir, 'stacks');
  const runbooksDir = join(dir, 'runbooks');
  mkdirSync(stacksDir);
  mkdirSync(runbooksDir);
  writeFileSync(join(stacksDir, 'rbk.yaml'), 'app: rbk\nvolumes:\n  data: {}\nservices:\n  app:\n    image: example/app:1\n    mounts: [data:/data]\nenvironments:\n  dev: {}\n');
  for (const [name, text] of Object.entries(runbooks)) writeFileSync(join(runbooksDir, `${name}.yaml`), text);
  const journalDir = join(dir, 'journal');
  return { dir, stacksDir, runbooksDir, journalDir, args: (name, ...more) => [name, '--stack', 'rbk-dev', '--stacks-dir', stacksDir, '--runbooks-dir', runbooksDir, '--journal-dir', journalDir, ...more] };
}

function journals(w: World): string[] {
  const dir = join(w.journalDir, 'rbk');
  return existsSync(dir) ? readdirSync(dir).sort().map((n) => join(dir, n)) : [];
}

/** A step that appends a line to a file: how often it ran is the number of lines. */
const count = (file: string): number => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').length : 0);

const FLAKY = yamlText`
  runbook: flaky
  title: A step fails until a marker file exists
  description: For the tests.
  vars:
    dir: { description: where the marker and the counters are }
  steps:
    - id: first
      title: Count the runs of the first step
      run: [sh, -c, 'echo run >> "$1"', sh, "{{var.dir}}/first-runs"]
    - id: gate
      title: Fail until the marker exists
      run: [sh, -c, 'echo run >> "$1/gate-runs"; test -e "$1/marker" || { echo "no marker in $1" >&2; exit 4; }', sh, "{{var.dir}}"]
    - id: last
      title: Read the marker
      run: [cat, "{{var.dir}}/marker"]
      capture:
        content: { stdout: true }
`;

describe('a failing step stops the run and --resume continues from it', () => {
  const w = world({ flaky: FLAKY });
  let failed: RunResult;
  let resumed: RunResult;

  it('stops at the failing step and says what failed and how to resume', async () => {
    failed = await runScript('runbook', w.args('flaky', '--var', `dir=${w.dir}`));
    expect(failed.code, show(failed)).toBe(1);
    expect(failed.stdout).toContain('step 2/3 "gate" (Fail until the marker exists) failed: exit code 4');
    expect(failed.stdout).toContain(`no marker in ${w.dir}`);
    expect(failed.stdout).toMatch(/fix the cause, then continue from step gate: npx zx scripts\/runbook\.mjs flaky --stack rbk-dev .*--resume/);
    expect(count(join(w.dir, 'first-runs'))).toBe(1);
  });

  it('journals every step: command, times, exit code, the last error lines', () => {
    const [path] = journals(w);
    expect(path).toMatch(/flaky-\d{8}T\d{6}Z\.jsonl$/);
    const { header, lines } = readJournal(path ?? '');
    expect(header).toMatchObject({ runbook: 'flaky', stack: 'rbk-dev', project: 'rbk', vars: { dir: w.dir } });
    const gate = lines.find((l) => l.type === 'step' && l.id === 'gate' && l.status === 'failed');
    expect(gate).toMatchObject({ exitCode: 4, attempts: 1, stderr: [`no marker in ${w.dir}`], command: ['sh', '-c', expect.stringContaining('marker'), 'sh', w.dir] });
    expect(lines[lines.length - 1]).toMatchObject({ type: 'end', status: 'failed', exitCode: 1 });
  });

  it('continues from the failed step once the cause is fixed, with the same variables', async () => {
    writeFileSync(join(w.dir, 'marker'), 'present\n');
    resumed = await runScript('runbook', w.args('flaky', '--resume', '--json'));
    expect(resumed.code, show(resumed)).toBe(0);
    expect(count(join(w.dir, 'first-runs'))).toBe(1);
    expect(count(join(w.dir, 'gate-runs'))).toBe(2);
    const doc: unknown = JSON.parse(resumed.stdout);
    expect(doc).toMatchObject({
      status: 'ok',
      steps: [
        { id: 'first', status: 'done-before' },
        { id: 'gate', status: 'ok' },
        { id: 'last', status: 'ok' },
      ],
    });
    expect(journals(w)).toHaveLength(1);
    const { lines } = readJournal(journals(w)[0] ?? '');
    expect(lines.filter((l) => l.type === 'resume')).toHaveLength(1);
    expect(lines.find((l) => l.type === 'step' && l.id === 'last' && l.status === 'ok')).toMatchObject({ captured: { content: 'present' } });
  });

  it('refuses to resume a run that finished', async () => {
    const again = await runScript('runbook', w.args('flaky', '--resume'));
    expect(again.code, show(again)).toBe(2);
    expect(again.stderr).toContain('finished; nothing to resume');
  });

  it('refuses a journal that is not valid, naming the line', async () => {
    const path = journals(w)[0] ?? '';
    writeFileSync(path, readFileSync(path, 'utf8').replace('"status":"failed"', '"status":"exploded"'));
    const r = await runScript('runbook', w.args('flaky', '--resume'));
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`${path.replace(/[.]/g, '\\.')}:\\d+: not a valid journal line`));
  });
});

describe('waits, rollback and confirmation', () => {
  it('retries a step until its output shows the state it waits for', async () => {
    const w = world({
      wait: yamlText`
        runbook: wait
        title: Wait
        description: For the tests.
        vars:
          dir: { description: counter directory }
        steps:
          - id: poll
            title: Healthy on the third look
            run: [sh, -c, 'echo x >> "$1/polls"; if [ "$(wc -l < "$1/polls")" -ge 3 ]; then echo healthy; else echo starting; fi', sh, "{{var.dir}}"]
            retry: { attempts: 5, delaySeconds: 0.1 }
            until: { lines: [healthy] }
      `,
    });
    const r = await runScript('runbook', w.args('wait', '--var', `dir=${w.dir}`));
    expect(r.code, show(r)).toBe(0);
    expect(count(join(w.dir, 'polls'))).toBe(3);
    expect(r.stdout).toContain('attempt 1/5: exit 0, starting; next in 0.1 s');
    expect(r.stdout).toContain('ok in');
  });

  it('gives up after the last attempt and says what it saw', async () => {
    const w = world({
      never: yamlText`
        runbook: never
        title: Never healthy
        description: For the tests.
        steps:
          - id: poll
            title: Never healthy
            run: [echo, starting]
            retry: { attempts: 3, delaySeconds: 0 }
            until: { lines: [healthy] }
      `,
    });
    const r = await runScript('runbook', w.args('never'));
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout).toContain('failed: the output never showed only healthy (last: starting) after 3 attempt(s)');
  });

  const ROLLBACK = yamlText`
    runbook: rollback
    title: Roll back when the change fails
    description: For the tests.
    vars:
      dir: { description: where the steps leave traces }
    steps:
      - id: prepare
        title: Prepare
        run: [touch, "{{var.dir}}/prepared"]
      - id: change
        title: Change something
        run: [touch, "{{var.dir}}/changed"]
      - id: check
        title: Fails
        run: [sh, -c, 'echo "check failed" >&2; exit 3']
    onFailure:
      - id: undo-change
        title: Undo the change
        when: { started: change }
        run: [rm, "{{var.dir}}/changed"]
      - id: never
        title: Only when prepare fails
        when: { failed: prepare }
        run: [touch, "{{var.dir}}/never"]
  `;

  it('runs the onFailure steps whose conditions hold, and exits 3 when the failed step found a problem', async () => {
    const w = world({ rollback: ROLLBACK });
    const r = await runScript('runbook', w.args('rollback', '--var', `dir=${w.dir}`, '--json'));
    expect(r.code, show(r)).toBe(3);
    expect(existsSync(join(w.dir, 'changed'))).toBe(false);
    expect(existsSync(join(w.dir, 'never'))).toBe(false);
    const doc: unknown = JSON.parse(r.stdout);
    expect(doc).toMatchObject({
      status: 'rolled-back',
      failure: { step: 'check', exitCode: 3, stderr: ['check failed'] },
      steps: [
        { id: 'prepare', status: 'ok' },
        { id: 'change', status: 'ok' },
        { id: 'check', status: 'failed' },
        { id: 'undo-change', phase: 'onFailure', status: 'ok' },
        { id: 'never', phase: 'onFailure', status: 'skipped', reason: 'step prepare did not fail' },
      ],
    });
    const resumed = await runScript('runbook', w.args('rollback', '--resume'));
    expect(resumed.code, show(resumed)).toBe(2);
    expect(resumed.stderr).toContain('was rolled back');
  });

  it('refuses destructive steps without a terminal and without --yes, before running anything', async () => {
    const w = world({
      wipe: yamlText`
        runbook: wipe
        title: Wipe
        description: For the tests.
        vars:
          dir: { description: d }
        steps:
          - id: harmless
            title: Harmless
            run: [touch, "{{var.dir}}/harmless"]
          - id: wipe
            title: Wipe
            confirm: true
            run: [touch, "{{var.dir}}/wiped"]
      `,
    });
    const refused = await runScript('runbook', w.args('wipe', '--var', `dir=${w.dir}`));
    expect(refused.code, show(refused)).toBe(2);
    expect(refused.stderr).toContain('has destructive steps (wipe): refusing without a terminal to confirm; pass --yes');
    expect(existsSync(join(w.dir, 'harmless'))).toBe(false);
    expect(journals(w)).toEqual([]);
    const confirmed = await runScript('runbook', w.args('wipe', '--var', `dir=${w.dir}`, '--yes'));
    expect(confirmed.code, show(confirmed)).toBe(0);
    expect(existsSync(join(w.dir, 'wiped'))).toBe(true);
  });
});

describe('docs/runbooks/*.md are generated from the YAML', () => {
  it('are current', () => {
    for (const doc of renderRunbookDocs(join(repoRoot, 'runbooks'))) {
      const path = join(repoRoot, 'docs', 'runbooks', doc.name);
      expect(existsSync(path), `${path} is missing: run npx zx scripts/runbook.mjs --render-docs`).toBe(true);
      expect(readFileSync(path, 'utf8'), `${doc.name} is stale: run npx zx scripts/runbook.mjs --render-docs`).toBe(doc.content);
    }
  });

  it('render the same bytes every time', () => {
    expect(renderRunbookDocs(join(repoRoot, 'runbooks'))).toEqual(renderRunbookDocs(join(repoRoot, 'runbooks')));
  });

  it('--check exits 0 when current and 3 with a diff when a page was edited', async () => {
    const docs = temp.make('stowage-docs-');
    cpSync(join(repoRoot, 'docs', 'runbooks'), docs, { recursive: true });
    const current = await runScript('runbook', ['--render-docs', '--check', '--docs-dir', docs]);
    expect(current.code, show(current)).toBe(0);
    writeFileSync(join(docs, 'restore.md'), `${readFileSync(join(docs, 'restore.md'), 'utf8')}\nedited by hand\n`);
    const stale = await runScript('runbook', ['--render-docs', '--check', '--docs-dir', docs]);
    expect(stale.code, show(stale)).toBe(3);
    expect(stale.stdout).toContain('\n-edited by hand\n');
    expect(stale.stdout).toContain('1 page(s) are not current: run npx zx scripts/runbook.mjs --render-docs');
  });
});

describe('a restore drill compares every entry of the restored volume with the backup', () => {
  const file = (sha: string, extra: Partial<EntryFacts> = {}): EntryFacts => ({ type: 'file', mode: 0o640, uid: 1000, gid: 1000, size: 3, sha256: sha, link: undefined, mtime: 100, ...extra });
  const root: EntryFacts = { type: 'directory', mode: 0o750, uid: 1000, gid: 1000, size: 0, sha256: undefined, link: undefined, mtime: undefined };
  const backup = new Map([['', root], ['a.txt', file('aaa')], ['link', { ...file('x'), type: 'symlink', sha256: undefined, link: 'a.txt' }]]);

  it('finds nothing when the trees are the same', () => {
    expect(compareTrees(backup, new Map(backup), { partial: false })).toEqual([]);
  });

  it('names content, owner, mode, link and missing or extra entries', () => {
    const restored = new Map(backup);
    restored.set('', { ...root, mode: 0o755 });
    restored.set('a.txt', file('bbb', { uid: 0 }));
    restored.delete('link');
    restored.set('extra', file('eee'));
    expect(compareTrees(backup, restored, { partial: false })).toEqual([
      '(volume root): backup has directory, 1000:1000 0750; restored directory, 1000:1000 0755',
      'a.txt: backup has file 3 B sha256 aaa, 1000:1000 0640, mtime 100; restored file 3 B sha256 bbb, 0:1000 0640, mtime 100',
      'link: missing after the restore (backup has symlink -> a.txt, 1000:1000 0640, mtime 100)',
      'extra: restored but not in the backup',
    ]);
  });
});
