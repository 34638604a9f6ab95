import { posix } from 'node:path';
import { containersMounting, findVolume, LABEL, type FileRule, type Model, type VolumeModel } from '../config/model.js';
import { UsageError } from '../config/errors.js';
import { isSafeRelativePath } from '../config/syntax.js';
import { renderCommand, type Runner } from '../engine/command.js';
import { docker } from '../engine/docker.js';
import { inspectContainers, inspectVolumes } from '../engine/inspect.js';
import { restartContainers } from '../engine/restart.js';
import { readSmallFile, writeSmallFile, type SmallFileRead } from '../engine/small-file.js';
import { helperImage, uniqueSuffix, volumeMount, withLockedHelper, withReadingHelper } from '../session/session.js';
import {
  SECRET_KEYS,
  backupCopyName,
  checkContent,
  checkFacts,
  findKeySpec,
  formatFileMode,
  formatOwner,
  generateValues,
  isEnvFormat,
  parseEnvFile,
  renderNewFile,
  replaceValues,
  type KeyReport,
  type OwnerSpec,
  type Problem,
  type RandomSource,
  type SecretKeySpec,
} from './secrets-file.js';

/**
 * secrets init | rotate | check: the secret files a stack declares (file rules
 * with `secret: true`), read and written inside their volume through the
 * engine's archive endpoint, so named, host-backed and bind volumes and remote
 * engines all work the same. Values exist only in this process's memory and in
 * the volume; results and messages name keys, never values.
 */

const MOUNT = '/data';
/** A secrets file is a few hundred bytes; anything past this is not one. */
const SIZE_LIMIT = 64 * 1024;
const DEFAULT_MODE = 0o600;
/** Exit status of INSTALL_SCRIPT when the target appeared between the check and the write. */
const EXISTS_STATUS = 17;

export interface SecretTarget {
  volume: VolumeModel;
  rule: FileRule;
  /** `data/secrets.env`: how messages name the file. */
  label: string;
  /** Env format: keys stowage generates and checks; otherwise only presence, mode and owner are checked. */
  env: boolean;
}

function stackName(model: Model): string {
  return `${model.app}-${model.env}`;
}

function describeTargets(targets: SecretTarget[]): string {
  return targets.map((t) => `--volume ${t.volume.key} --file ${t.rule.path}`).join('; ');
}

/** The secret file rules of the stack, narrowed by --volume and --file; exactly one or a usage error. */
export function selectSecretTarget(model: Model, selection: { volume?: string | undefined; file?: string | undefined }): SecretTarget {
  const all = model.volumes.flatMap((volume) =>
    volume.files.filter((rule) => rule.secret).map((rule): SecretTarget => ({ volume, rule, label: `${volume.key}/${rule.path}`, env: isEnvFormat(rule.path) })),
  );
  if (all.length === 0) {
    throw new UsageError(
      `stack ${stackName(model)} (${model.stackFile}) declares no secret file. ` +
        'Mark the file with secret: true in a file rule, e.g. volumes.data.files: [{ path: secrets.env, mode: "0600", owner: "1000:1000", secret: true }]',
    );
  }
  if (selection.volume !== undefined) findVolume(model, selection.volume);
  const chosen = all.filter(
    (t) => (selection.volume === undefined || t.volume.key === selection.volume) && (selection.file === undefined || t.rule.path === selection.file.replace(/^\.\//, '')),
  );
  const wanted = [selection.volume === undefined ? '' : `--volume ${selection.volume}`, selection.file === undefined ? '' : `--file ${selection.file}`].filter((s) => s !== '').join(' ');
  if (chosen.length === 0) throw new UsageError(`stack ${stackName(model)} has no secret file matching ${wanted}; its secret files: ${describeTargets(all)}`);
  const [only, ...rest] = chosen;
  if (only === undefined || rest.length > 0) {
    throw new UsageError(`stack ${stackName(model)} has ${chosen.length} secret files; choose one with ${describeTargets(chosen)}`);
  }
  if (!isSafeRelativePath(only.rule.path)) throw new UsageError(`${model.stackFile}: secret file path "${only.rule.path}" must be relative to the volume, without ".."`);
  return only;
}

export interface ExpectedOwner {
  owner: OwnerSpec;
  /** Where it comes from, for messages: `file rule`, `volume owner`, `user of service backend`. */
  source: string;
}

const NUMERIC_USER = /^(\d+)(?::(\d+))?$/;

/** The rule's owner, else the volume's owner, else the numeric user of the one service that mounts the volume. */
export function expectedOwner(model: Model, target: SecretTarget): ExpectedOwner | undefined {
  if (target.rule.owner !== undefined) return { owner: target.rule.owner, source: 'file rule' };
  if (target.volume.owner !== undefined) return { owner: target.volume.owner, source: 'volume owner' };
  const users = new Map<string, string>();
  for (const { container } of containersMounting(model, target.volume.key)) users.set(container.user ?? '', container.service);
  const [only, ...rest] = [...users];
  const match = only === undefined || rest.length > 0 ? null : NUMERIC_USER.exec(only[0]);
  if (only === undefined || match === null) return undefined;
  // A uid without a group: the process runs with that uid's group when the image knows it; the same number is the usual convention.
  const uid = Number(match[1]);
  return { owner: { uid, gid: match[2] === undefined ? uid : Number(match[2]) }, source: `user of service ${only[1]}` };
}

export interface SecretsOptions {
  runner: Runner;
  log?: (line: string) => void;
  now?: () => Date;
  random?: RandomSource;
}

function paths(target: SecretTarget): { dir: string; name: string; full: string } {
  const full = posix.join(MOUNT, target.rule.path);
  return { dir: posix.dirname(full), name: posix.basename(full), full };
}

function tempName(name: string): string {
  return `.${name}.stowage-${uniqueSuffix()}.tmp`;
}

function labels(model: Model): Record<string, string> {
  return { [LABEL.project]: model.project, [LABEL.env]: model.env };
}

/** Docker-managed volumes must exist: creating a helper would otherwise create an empty, unlabelled one. */
async function volumeMissing(runner: Runner, volume: VolumeModel): Promise<boolean> {
  if (volume.kind === 'bind') return false;
  return (await inspectVolumes(runner, [volume.name])).length === 0;
}

function volumeMissingMessage(model: Model, volume: VolumeModel): string {
  return `volume ${volume.name} does not exist on the engine; create the stack first (pulumi up --stack ${stackName(model)}, or docker compose up)`;
}

// ---------------------------------------------------------------- helper scripts

/**
 * Links the new file into place: link() fails when the target exists, so a
 * file that appeared meanwhile (the backend generating its own) is never overwritten.
 */
export const INSTALL_SCRIPT = `set -u
cd -- "$1" || exit 1
if err=$(ln -- "$2" "$3" 2>&1); then rm -f -- "$2"; sync; exit 0; fi
rm -f -- "$2"
if [ -e "$3" ] || [ -L "$3" ]; then exit ${EXISTS_STATUS}; fi
echo "cannot link $2 to $3 in $1: $err" >&2
exit 1
`;

/** Keeps a copy of the current file (mode 0600, same owner), then renames the new file over it: readers see the old or the new file, never a mix. */
export const SWAP_SCRIPT = `set -u
cd -- "$1" || exit 1
fail() { rm -f -- "$2"; echo "$3" >&2; exit 1; }
[ -f "$2" ] || fail "$2" "the new file $2 is missing in $1"
{ [ -f "$3" ] && [ ! -L "$3" ]; } || fail "$2" "$3 in $1 is no longer a regular file; nothing was changed"
{ [ ! -e "$4" ] && [ ! -L "$4" ]; } || fail "$2" "$4 exists already in $1; nothing was changed"
cp -p -- "$3" "$4" || { rm -f -- "$4"; fail "$2" "cannot copy $3 to $4 in $1; nothing was changed"; }
chmod 0600 -- "$4" || fail "$2" "cannot chmod $4 in $1; nothing was changed"
cmp -s -- "$3" "$4" || fail "$2" "the copy $4 differs from $3; nothing was changed"
sync
mv -f -- "$2" "$3" || fail "$2" "cannot rename $2 to $3 in $1; the old file is unchanged"
sync
`;

const CLEANUP_SCRIPT = 'rm -f -- "$1/$2"';

function helperScript(image: string, volume: VolumeModel, model: Model, script: string, args: string[]) {
  return docker.runHelperScript(image, [volumeMount(volume, MOUNT, false)], script, args, labels(model));
}

async function removeTemp(runner: Runner, image: string, volume: VolumeModel, model: Model, dir: string, temp: string): Promise<void> {
  await runner.run(helperScript(image, volume, model, CLEANUP_SCRIPT, [dir, temp]), { allowFailure: true });
}

// ---------------------------------------------------------------- init

export interface InitResult {
  stack: string;
  volume: string;
  file: string;
  /** created: written now. exists: was there, untouched. appeared: created by someone else between the check and the write, untouched. */
  outcome: 'created' | 'exists' | 'appeared';
  mode: string | undefined;
  owner: string | undefined;
  keys: string[];
}

function requireEnv(target: SecretTarget, action: string): void {
  if (!target.env) {
    throw new UsageError(
      `${target.label} is not an env-format file (KEY=value); stowage can only ${action} env files (*.env). ` +
        'It can check its presence, mode and owner: secrets.mjs check. Generate it with the tool of the service that reads it.',
    );
  }
}

function initOwner(model: Model, target: SecretTarget): ExpectedOwner {
  const owner = expectedOwner(model, target);
  if (owner === undefined) {
    throw new UsageError(
      `cannot tell who should own ${target.label}: no owner on its file rule or on volume ${target.volume.key}, and no single numeric service user; ` +
        `add owner: "UID:GID" to the file rule in ${model.stackFile}`,
    );
  }
  return owner;
}

function header(model: Model, date: Date): string[] {
  return [
    `Secrets of ${model.project}, generated by stowage (secrets.mjs init) on ${date.toISOString()}.`,
    'Never commit, print or share this file; it must be in every backup. Rotate with secrets.mjs rotate.',
  ];
}

export async function initSecrets(model: Model, target: SecretTarget, options: SecretsOptions): Promise<InitResult> {
  requireEnv(target, 'generate');
  const owner = initOwner(model, target);
  const mode = target.rule.mode ?? DEFAULT_MODE;
  const { runner } = options;
  const base = { stack: stackName(model), volume: target.volume.key, file: target.rule.path, keys: SECRET_KEYS.map((k) => k.name) };
  if (runner.dryRun) {
    if (await volumeMissing(runner, target.volume)) runner.plan(`# ${volumeMissingMessage(model, target.volume)}: init would fail`);
    planInit(runner, model, target, await helperImage(runner, model, target.volume.key), owner, mode);
    return { ...base, outcome: 'created', mode: formatFileMode(mode), owner: formatOwner(owner.owner) };
  }
  if (await volumeMissing(runner, target.volume)) throw new Error(volumeMissingMessage(model, target.volume));
  const image = await helperImage(runner, model, target.volume.key);
  const { dir, name, full } = paths(target);
  return withLockedHelper(runner, model, 'secrets init', image, [volumeMount(target.volume, MOUNT, false)], async (helper) => {
    const current = await readSmallFile(helper, full, SIZE_LIMIT);
    if (current.state === 'present') {
      if (current.type !== 'file') throw new Error(`${target.label} exists but is a ${current.type}, not a regular file; nothing was changed. Look at it by hand.`);
      return { ...base, outcome: 'exists', mode: formatFileMode(current.mode), owner: `${current.uid}:${current.gid}` };
    }
    const now = options.now?.() ?? new Date();
    const content = renderNewFile(generateValues(SECRET_KEYS, options.random), header(model, now));
    const temp = tempName(name);
    // The install script removes the temporary file itself whatever happens; only a failure before it runs leaves one to clean up.
    let scriptRan = false;
    try {
      await writeSmallFile(runner, helper, dir, temp, Buffer.from(content, 'utf8'), mode, owner.owner);
      const result = await runner.run(helperScript(image, target.volume, model, INSTALL_SCRIPT, [dir, temp, name]), { allowFailure: true });
      scriptRan = true;
      if (result.code === EXISTS_STATUS) {
        options.log?.(`${target.label} appeared while stowage was writing it (the backend created it?); it was left untouched`);
        const theirs = await readSmallFile(helper, full, SIZE_LIMIT);
        return { ...base, outcome: 'appeared', ...(theirs.state === 'present' ? { mode: formatFileMode(theirs.mode), owner: `${theirs.uid}:${theirs.gid}` } : { mode: undefined, owner: undefined }) };
      }
      if (result.code !== 0) {
        throw new Error(`installing ${target.label} in ${target.volume.name} failed, nothing was created: ${result.stderr.trim() || `exit code ${result.code}`}; fix the cause and run init again`);
      }
    } finally {
      if (!scriptRan) await removeTemp(runner, image, target.volume, model, dir, temp);
    }
    const written = await readSmallFile(helper, full, SIZE_LIMIT);
    if (written.state !== 'present' || !written.content.equals(Buffer.from(content, 'utf8'))) {
      throw new Error(`${target.label} was written but reading it back gave different content; check the volume (secrets.mjs check) before starting the backend`);
    }
    return { ...base, outcome: 'created', mode: formatFileMode(written.mode), owner: `${written.uid}:${written.gid}` };
  });
}

const PLAN_HELPER = 'XXXX';

function planInit(runner: Runner, model: Model, target: SecretTarget, image: string, owner: ExpectedOwner, mode: number): void {
  const say = (line: string): void => runner.plan(line);
  const { dir, name, full } = paths(target);
  const helper = `${model.project}-stowage-helper-${PLAN_HELPER}`;
  const temp = `.${name}.stowage-${PLAN_HELPER}.tmp`;
  say(`# secrets init of ${stackName(model)}: creates ${target.label} only if it is missing; an existing file is never overwritten`);
  say(renderCommand(docker.createHelper(helper, image, [volumeMount(target.volume, MOUNT, false)], labels(model))));
  say(`# does ${target.label} exist? If this lists it, stop here: nothing is written`);
  say(`${renderCommand(docker.archiveReadPath(helper, full))} | tar -tv`);
  say(`# stdin: a one-file tar holding ${temp} (mode ${formatFileMode(mode)}, owner ${formatOwner(owner.owner)} from the ${owner.source}) with new random ${SECRET_KEYS.map((k) => k.name).join(', ')}`);
  say(renderCommand(docker.archiveWrite(helper, dir)));
  say(`# hard-link it into place (link fails if ${name} appeared meanwhile), remove the temporary name`);
  say(renderCommand(helperScript(image, target.volume, model, INSTALL_SCRIPT, [dir, temp, name])));
  say(renderCommand(docker.removeContainer(helper)));
}

// ---------------------------------------------------------------- rotate

export interface RotateOptions extends SecretsOptions {
  /** Keys to rotate; all of SECRET_KEYS when empty. */
  keys: string[];
  forceEncryptionKey: boolean;
  restart: boolean;
  /** Asks the operator (or refuses without a terminal); throws to cancel. */
  confirm: (description: string) => Promise<void>;
}

export interface RotateResult {
  stack: string;
  volume: string;
  file: string;
  rotated: string[];
  /** Path of the copy of the previous file, inside the volume. */
  backupCopy: string;
  mode: string;
  owner: string;
  effects: Array<{ key: string; effect: string }>;
  restarted: string[];
  /** Running containers that still use the old values until restarted. */
  restartNeeded: string[];
}

/** Which keys a rotation changes; refuses unknown keys and, without force, keys whose rotation loses data. */
export function keysToRotate(requested: string[], forceEncryptionKey: boolean): SecretKeySpec[] {
  const specs = requested.length === 0 ? [...SECRET_KEYS] : requested.map((name) => {
    const spec = findKeySpec(name);
    if (spec === undefined) throw new UsageError(`--key ${name}: unknown key; stowage manages ${SECRET_KEYS.map((k) => k.name).join(', ')}`);
    return spec;
  });
  const unique = [...new Map(specs.map((s) => [s.name, s])).values()];
  const guarded = unique.filter((s) => s.guard !== undefined);
  if (!forceEncryptionKey && guarded.length > 0) {
    throw new UsageError(`refusing to rotate ${guarded.map((s) => s.name).join(', ')}: ${guarded.map((s) => s.guard).join(' ')}. Nothing was changed.`);
  }
  return unique;
}

export function describeRotation(model: Model, target: SecretTarget, keys: SecretKeySpec[], backupCopy: string): string {
  return [
    `rotate ${keys.map((k) => k.name).join(', ')} in ${target.label} of ${stackName(model)}:`,
    ...keys.map((k) => `  ${k.name}: ${k.rotationEffect}`),
    `  the current file is kept as ${target.volume.key}/${backupCopy} (mode 0600) inside the volume`,
  ].join('\n');
}

export async function rotateSecrets(model: Model, target: SecretTarget, options: RotateOptions): Promise<RotateResult> {
  requireEnv(target, 'rotate');
  const keys = keysToRotate(options.keys, options.forceEncryptionKey);
  const { runner } = options;
  const { dir, name, full } = paths(target);
  const now = options.now?.() ?? new Date();
  const copyName = backupCopyName(name, now);
  const backupCopy = posix.join(posix.dirname(target.rule.path), copyName);
  const mounting = containersMounting(model, target.volume.key).map((c) => c.container.name);
  const effects = keys.map((k) => ({ key: k.name, effect: k.rotationEffect }));
  const mode = target.rule.mode ?? DEFAULT_MODE;
  const wanted = expectedOwner(model, target);
  if (runner.dryRun) {
    const image = await helperImage(runner, model, target.volume.key);
    planRotate(runner, model, target, image, keys, copyName, wanted, mode, options.restart ? mounting : []);
    return { stack: stackName(model), volume: target.volume.key, file: target.rule.path, rotated: keys.map((k) => k.name), backupCopy, mode: formatFileMode(mode), owner: wanted === undefined ? 'unchanged' : formatOwner(wanted.owner), effects, restarted: [], restartNeeded: mounting };
  }
  if (await volumeMissing(runner, target.volume)) throw new Error(volumeMissingMessage(model, target.volume));
  const image = await helperImage(runner, model, target.volume.key);
  const swapped = await withLockedHelper(runner, model, 'secrets rotate', image, [volumeMount(target.volume, MOUNT, false)], async (helper) => {
    const current = await readSmallFile(helper, full, SIZE_LIMIT);
    if (current.state === 'missing') {
      throw new Error(`${target.label} does not exist in ${target.volume.name}: there is nothing to rotate; create it with secrets.mjs init --stack ${stackName(model)}`);
    }
    if (current.type !== 'file') throw new Error(`${target.label} is a ${current.type}, not a regular file; nothing was changed. Look at it by hand.`);
    const owner = wanted?.owner ?? { uid: current.uid, gid: current.gid };
    const fresh = generateValues(keys, options.random);
    const next = Buffer.from(replaceValues(parseEnvFile(current.content.toString('utf8')), fresh), 'utf8');
    await options.confirm(describeRotation(model, target, keys, copyName));
    const temp = tempName(name);
    let attempted = false;
    try {
      await writeSmallFile(runner, helper, dir, temp, next, mode, owner);
      attempted = true;
      // The swap script removes the temporary file itself on every failure.
      await runner.run(helperScript(image, target.volume, model, SWAP_SCRIPT, [dir, temp, name, copyName]));
    } finally {
      if (!attempted) await removeTemp(runner, image, target.volume, model, dir, temp);
    }
    const written = await readSmallFile(helper, full, SIZE_LIMIT);
    if (written.state !== 'present' || !written.content.equals(next)) {
      throw new Error(`${target.label} was replaced but reading it back gave different content; run secrets.mjs check, and restore ${backupCopy} if needed`);
    }
    const copy = await readSmallFile(helper, posix.join(dir, copyName), SIZE_LIMIT);
    if (copy.state !== 'present' || !copy.content.equals(current.content)) {
      throw new Error(`the copy ${backupCopy} does not hold the previous content; take a stowage backup now and check the volume`);
    }
    return written;
  });
  const running = (await inspectContainers(runner, mounting)).filter((c) => c.State.Running).map((c) => c.Name);
  let restarted: string[] = [];
  if (options.restart && running.length > 0) {
    await runner.run(restartContainers(running));
    restarted = running;
  }
  return {
    stack: stackName(model),
    volume: target.volume.key,
    file: target.rule.path,
    rotated: keys.map((k) => k.name),
    backupCopy,
    mode: formatFileMode(swapped.state === 'present' ? swapped.mode : mode),
    owner: swapped.state === 'present' ? `${swapped.uid}:${swapped.gid}` : 'unknown',
    effects,
    restarted,
    restartNeeded: running.filter((n) => !restarted.includes(n)),
  };
}

function planRotate(
  runner: Runner,
  model: Model,
  target: SecretTarget,
  image: string,
  keys: SecretKeySpec[],
  copyName: string,
  wanted: ExpectedOwner | undefined,
  mode: number,
  restart: string[],
): void {
  const say = (line: string): void => runner.plan(line);
  const { dir, name, full } = paths(target);
  const helper = `${model.project}-stowage-helper-${PLAN_HELPER}`;
  const temp = `.${name}.stowage-${PLAN_HELPER}.tmp`;
  say(`# secrets rotate of ${stackName(model)}: new ${keys.map((k) => k.name).join(', ')} in ${target.label}; every other line is kept`);
  say(renderCommand(docker.createHelper(helper, image, [volumeMount(target.volume, MOUNT, false)], labels(model))));
  say(`# read the current file (its content stays in memory, it is not printed)`);
  say(`${renderCommand(docker.archiveReadPath(helper, full))} | tar -tv`);
  say(`# stdin: a one-file tar holding ${temp} (mode ${formatFileMode(mode)}, owner ${wanted === undefined ? "the current file's" : formatOwner(wanted.owner)}) with the new content`);
  say(renderCommand(docker.archiveWrite(helper, dir)));
  say(`# copy ${name} to ${copyName} (mode 0600), then rename ${temp} over ${name}`);
  say(renderCommand(helperScript(image, target.volume, model, SWAP_SCRIPT, [dir, temp, name, copyName])));
  say(renderCommand(docker.removeContainer(helper)));
  if (restart.length > 0) say(`${renderCommand(restartContainers(restart))}   # those of them that are running`);
}

// ---------------------------------------------------------------- check

export interface CheckReport {
  stack: string;
  volume: string;
  file: string;
  format: 'env' | 'opaque';
  exists: boolean;
  ok: boolean;
  mode: string | undefined;
  owner: string | undefined;
  expectedOwner: string | undefined;
  keys: KeyReport[];
  /** Every problem, file-level and per key, in the order found. */
  problems: Problem[];
}

/** The report on what was read; pure, so every verdict is unit-tested without an engine. */
export function reportOn(model: Model, target: SecretTarget, read: SmallFileRead | { state: 'no-volume' }): CheckReport {
  const wanted = expectedOwner(model, target);
  const base = {
    stack: stackName(model),
    volume: target.volume.key,
    file: target.rule.path,
    format: target.env ? ('env' as const) : ('opaque' as const),
    expectedOwner: wanted === undefined ? undefined : formatOwner(wanted.owner),
  };
  if (read.state !== 'present') {
    const message =
      read.state === 'no-volume'
        ? `${volumeMissingMessage(model, target.volume)}; so ${target.label} is missing`
        : `${target.label} is missing; create it with secrets.mjs init --stack ${stackName(model)}, or restore it from a backup`;
    return { ...base, exists: false, ok: false, mode: undefined, owner: undefined, keys: [], problems: [{ code: 'missing-file', message }] };
  }
  const fix = `npx zx scripts/fix-permissions.mjs --stack ${stackName(model)} --volume ${target.volume.key}`;
  const problems = checkFacts(target.label, { type: read.type, mode: read.mode, uid: read.uid, gid: read.gid, size: read.size }, wanted?.owner, fix);
  let keys: KeyReport[] = [];
  if (target.env && read.type === 'file') {
    const content = checkContent(parseEnvFile(read.content.toString('utf8')), SECRET_KEYS);
    keys = content.keys;
    problems.push(...content.problems, ...content.keys.flatMap((k) => k.problems));
  }
  return { ...base, exists: true, ok: problems.length === 0, mode: formatFileMode(read.mode), owner: `${read.uid}:${read.gid}`, keys, problems };
}

export async function checkSecrets(model: Model, target: SecretTarget, options: SecretsOptions): Promise<CheckReport> {
  const { runner } = options;
  if (await volumeMissing(runner, target.volume)) return reportOn(model, target, { state: 'no-volume' });
  const image = await helperImage(runner, model, target.volume.key);
  const read = await withReadingHelper(runner, model, image, [volumeMount(target.volume, MOUNT, true)], (helper) => readSmallFile(helper, paths(target).full, SIZE_LIMIT));
  return reportOn(model, target, read);
}
