import type { Owner } from '../config/syntax.js';
import type { Command } from './command.js';
import { docker, type HelperMount } from './docker.js';

/**
 * Helper-container scripts that read and set file metadata inside a volume
 * (owners, modes, directory listings, usage), and the parsers for what they
 * print. The volume is mounted at /v. Scripts are POSIX sh using only find,
 * stat, xargs, chown, chmod, realpath, readlink, awk and du, in forms busybox
 * and GNU coreutils share. Output is NUL-separated fields so that any file
 * name (tabs, newlines) survives; every script ends with an `end` record, so a
 * helper that died half-way is detected instead of read as "no differences".
 */

export const VOLUME_TARGET = '/v';
export const ANCESTOR_TARGET = '/h';

/** `docker run --rm` of a helper script; `mutates` tells the dry-run runner whether to run or print it. */
function helperScript(image: string, mounts: HelperMount[], script: string, args: string[], labels: Record<string, string>, purpose: string, mutates: boolean): Command {
  return { ...docker.runHelperScript(image, mounts, script, args, labels), purpose, mutates };
}

function octal(mode: number | undefined): string {
  // stat -c %a prints no leading zero ("750", "2775"): the script compares strings.
  return mode === undefined ? '-' : (mode & 0o7777).toString(8);
}

function ownerText(owner: Owner | undefined): string {
  return owner === undefined ? '-' : `${owner.uid}:${owner.gid}`;
}

// ---------------------------------------------------------------- owners and modes

export interface PermissionRule {
  /** Relative to the volume root, normalized (no `./`, no trailing `/`); `.` is the root. */
  path: string;
  owner: Owner | undefined;
  /** Mode to set when the path is not a directory. */
  fileMode: number | undefined;
  /** Mode to set when the path is a directory. */
  dirMode: number | undefined;
}

export interface PermissionTarget {
  /** Owner of the root and of the whole tree, except rule paths with an owner of their own. */
  owner: Owner | undefined;
  /** Mode of the root only: the tree's modes are the application's business. */
  rootMode: number | undefined;
  rules: PermissionRule[];
}

/** find -path patterns are globs: a rule path holding `*`, `?` or `[` must match only itself. */
export function findPattern(path: string): string {
  const absolute = path === '.' ? VOLUME_TARGET : `${VOLUME_TARGET}/${path}`;
  return absolute.replace(/[\\*?[]/g, (c) => `\\${c}`);
}

/**
 * $1 check|fix, $2 examples per batch, $3 tree owner, $4 root mode, then five
 * words per rule: path, find pattern, owner, file mode, directory mode ("-":
 * not declared). Prints, NUL-separated: `owner CUR WANT PATH` and `mode CUR
 * WANT PATH` (examples), `count owner|mode N`, `missing PATH`, `skip REASON
 * PATH`, then `end`. In fix mode each difference is fixed right after it is
 * reported. Nothing follows a symbolic link: find walks the tree without
 * following (-P), chown -h changes a link's own owner, never its target's; no
 * chmod touches the tree, only the root and rule paths, and a rule path that
 * is a link or goes through one is refused (skip), whatever the link points
 * to. What is left is the race every chown -R has: an entry swapped for a
 * link between the walk and the change. Inside the helper such a link can
 * only reach the volume itself or the helper's own throwaway filesystem.
 */
export const PERMISSIONS_SCRIPT = `set -u
# pipefail where the shell has it (busybox, bash); dash lacks it and would exit on the attempt.
(set -o pipefail) 2>/dev/null && set -o pipefail
action="$1"; limit="$2"; owner="$3"; rootmode="$4"; shift 4
rec() { printf '%s\\0' "$@"; }
n=0
while [ $# -ge 5 ]; do
  eval "rp_$n=\\$1 rf_$n=\\$2 ro_$n=\\$3 rm_$n=\\$4 rd_$n=\\$5"
  n=$((n+1)); shift 5
done
if [ "$owner" != - ]; then
  set -- /v
  i=0
  while [ $i -lt $n ]; do
    eval "o=\\$ro_$i pat=\\$rf_$i"
    [ "$o" = - ] || set -- "$@" ! -path "$pat"
    i=$((i+1))
  done
  # Batches from xargs report their own counts and examples; the caller sums and trims them.
  find "$@" \\( ! -user "\${owner%%:*}" -o ! -group "\${owner#*:}" \\) -print0 | xargs -0 -r sh -c '
    action="$1"; limit="$2"; want="$3"; shift 3
    i=0
    for f; do
      if [ $i -lt "$limit" ]; then
        r="\${f#/v}"; r="\${r#/}"; [ -n "$r" ] || r=.
        printf "owner\\0%s\\0%s\\0%s\\0" "$(stat -c %u:%g "$f")" "$want" "$r"
      fi
      i=$((i+1))
    done
    printf "count\\0owner\\0%s\\0" $#
    if [ "$action" = fix ]; then chown -h "$want" "$@" || exit 1; fi
  ' batch "$action" "$limit" "$owner" || { echo "stowage: setting the owner of the tree to $owner failed" >&2; exit 1; }
fi
if [ "$rootmode" != - ]; then
  cur=$(stat -c %a /v) || exit 1
  if [ "$cur" != "$rootmode" ]; then
    rec mode "$cur" "$rootmode" . count mode 1
    if [ "$action" = fix ]; then chmod "$rootmode" /v || exit 1; fi
  fi
fi
i=0
while [ $i -lt $n ]; do
  eval "p=\\$rp_$i o=\\$ro_$i fm=\\$rm_$i dm=\\$rd_$i"
  i=$((i+1))
  # Component by component: a link anywhere on the path refuses the rule, wherever it points.
  f=/v; rest="$p"; walked=; link=
  [ "$p" != . ] || rest=
  while [ -n "$rest" ]; do
    case "$rest" in */*) part="\${rest%%/*}"; rest="\${rest#*/}";; *) part="$rest"; rest=;; esac
    f="$f/$part"; walked="\${walked:+$walked/}$part"
    if [ -L "$f" ]; then link="$walked"; break; fi
    [ -z "$rest" ] || [ -d "$f" ] || break
  done
  if [ -n "$link" ]; then
    if [ "$link" = "$p" ]; then rec skip "is a symbolic link to $(readlink "$f"); stowage never follows links, so neither the link nor its target was changed" "$p"
    else rec skip "goes through $link, a symbolic link to $(readlink "$f"); stowage never follows links, so nothing was changed" "$p"; fi
    continue
  fi
  if [ -n "$rest" ] || [ ! -e "$f" ]; then rec missing "$p"; continue; fi
  if [ "$o" != - ]; then
    cur=$(stat -c %u:%g "$f") || exit 1
    if [ "$cur" != "$o" ]; then
      rec owner "$cur" "$o" "$p" count owner 1
      if [ "$action" = fix ]; then chown -h "$o" "$f" || exit 1; fi
    fi
  fi
  if [ -d "$f" ]; then m="$dm"; else m="$fm"; fi
  if [ "$m" != - ]; then
    cur=$(stat -c %a "$f") || exit 1
    if [ "$cur" != "$m" ]; then
      rec mode "$cur" "$m" "$p" count mode 1
      # chmod has no -h: it would change a link's target. Checked again right before, not followed.
      if [ "$action" = fix ]; then { [ ! -L "$f" ] && chmod "$m" "$f"; } || exit 1; fi
    fi
  fi
done
rec end
`;

export function permissionArguments(action: 'check' | 'fix', examples: number, target: PermissionTarget): string[] {
  return [
    action,
    String(examples),
    ownerText(target.owner),
    octal(target.rootMode),
    ...target.rules.flatMap((r) => [r.path, findPattern(r.path), ownerText(r.owner), octal(r.fileMode), octal(r.dirMode)]),
  ];
}

/** check mounts the volume read-only and changes nothing; fix sets what differs. */
export function permissionsCommand(
  action: 'check' | 'fix',
  image: string,
  mount: HelperMount,
  target: PermissionTarget,
  labels: Record<string, string>,
  examples: number,
): Command {
  const volumeMount = { ...mount, target: VOLUME_TARGET, readOnly: action === 'check' };
  return helperScript(
    image,
    [volumeMount],
    PERMISSIONS_SCRIPT,
    permissionArguments(action, examples, target),
    labels,
    `${action === 'check' ? 'compare' : 'set'} owners and modes in ${mount.source}`,
    action === 'fix',
  );
}

export type PermissionRecord =
  | { kind: 'owner' | 'mode'; current: string; wanted: string; path: string }
  | { kind: 'count'; of: 'owner' | 'mode'; n: number }
  | { kind: 'missing'; path: string }
  | { kind: 'skip'; reason: string; path: string };

const OWNER = /^\d+:\d+$/;
const MODE = /^[0-7]{1,4}$/;
const COUNT = /^\d+$/;

/**
 * Splits NUL-separated output into fields and hands them out one record at a
 * time; anything malformed or a missing `end` throws, naming the helper.
 */
class FieldReader {
  private readonly fields: string[];
  private at = 0;

  constructor(
    stdout: string,
    private readonly what: string,
  ) {
    this.fields = stdout.split('\0');
    if (this.fields.pop() !== '') this.fail('output does not end with a NUL separator (cut short?)');
  }

  fail(problem: string): never {
    throw new Error(`unexpected output from the ${this.what} helper (field ${this.at}): ${problem}; does the helper image have busybox or GNU find/stat? Set helper.image or STOWAGE_HELPER_IMAGE to a busybox image`);
  }

  done(): boolean {
    return this.at >= this.fields.length;
  }

  next(pattern?: RegExp): string {
    const value = this.fields[this.at];
    if (value === undefined) this.fail('the output ended without an "end" record (the helper stopped early)');
    if (pattern !== undefined && !pattern.test(value)) this.fail(`"${value}" does not match ${String(pattern)}`);
    this.at++;
    return value;
  }
}

export function parsePermissionRecords(stdout: string): PermissionRecord[] {
  const reader = new FieldReader(stdout, 'permissions');
  const records: PermissionRecord[] = [];
  for (;;) {
    const kind = reader.next();
    switch (kind) {
      case 'owner':
        records.push({ kind, current: reader.next(OWNER), wanted: reader.next(OWNER), path: reader.next() });
        break;
      case 'mode':
        records.push({ kind, current: reader.next(MODE), wanted: reader.next(MODE), path: reader.next() });
        break;
      case 'count': {
        const of = reader.next(/^(owner|mode)$/) === 'owner' ? 'owner' : 'mode';
        records.push({ kind, of, n: Number(reader.next(COUNT)) });
        break;
      }
      case 'missing':
        records.push({ kind, path: reader.next() });
        break;
      case 'skip':
        records.push({ kind, reason: reader.next(), path: reader.next() });
        break;
      case 'end':
        if (!reader.done()) reader.fail('output continues after "end"');
        return records;
      default:
        reader.fail(`unknown record kind "${kind}"`);
    }
  }
}

// ---------------------------------------------------------------- host directories

/** Fails (exit 1) with "bind source path does not exist" when `path` is missing on the engine's host. */
export function probeHostPath(image: string, path: string, labels: Record<string, string>): Command {
  return helperScript(
    image,
    [{ type: 'bind', source: path, target: ANCESTOR_TARGET, readOnly: true }],
    '[ -d /h ] || { echo "stowage: $1 exists but is not a directory" >&2; exit 7; }',
    [path],
    labels,
    `check whether ${path} exists on the engine's host`,
    false,
  );
}

export const MISSING_BIND_SOURCE = 'bind source path does not exist';

/**
 * $1 path below the mounted ancestor, $2 owner or -, $3 mode or -. Parents are
 * created as mkdir -p does (root, 0755); only the volume's own directory gets
 * the declared owner and mode.
 */
export const PREPARE_HOST_PATH_SCRIPT = `set -eu
# A symbolic link below the mounted ancestor would be resolved inside this helper, not on the host:
# mkdir -p would create the directory in the helper's own filesystem and report success.
d=/h; rest="$1"
while [ -n "$rest" ]; do
  case "$rest" in */*) part="\${rest%%/*}"; rest="\${rest#*/}";; *) part="$rest"; rest=;; esac
  [ -n "$part" ] || continue
  d="$d/$part"
  if [ -L "$d" ]; then echo "stowage: \${d#/h/} below the host directory that exists is a symbolic link to $(readlink "$d"); stowage never follows links: create the directory by hand, or declare the link's target as the path" >&2; exit 8; fi
done
mkdir -p "/h/$1"
[ "$2" = - ] || chown -h "$2" "/h/$1"
[ "$3" = - ] || chmod "$3" "/h/$1"
`;

export function prepareHostPathCommand(
  image: string,
  ancestor: string,
  below: string,
  owner: Owner | undefined,
  mode: number | undefined,
  labels: Record<string, string>,
): Command {
  return helperScript(
    image,
    [{ type: 'bind', source: ancestor, target: ANCESTOR_TARGET, readOnly: false }],
    PREPARE_HOST_PATH_SCRIPT,
    [below, ownerText(owner), octal(mode)],
    labels,
    `create ${ancestor.replace(/\/+$/, '')}/${below} on the engine's host`,
    true,
  );
}

// ---------------------------------------------------------------- listing and usage

/**
 * $1 path relative to the root (`.` for the root). Prints `missing`, or
 * `through LINK TARGET` (a directory on the way is a symbolic link: LINK is
 * the path up to it), or `dir`/`file` followed by one `entry HEXMODE SIZE UID
 * GID MTIME`, NAME, LINK-TARGET triple per entry, then `end`. Symlinks are
 * shown, never followed: not as the last component (the link is listed), not
 * on the way (refused, whether the link stays in the volume or not), because
 * a link's target is resolved in the application's container, not here.
 */
export const LIST_SCRIPT = `set -u
f=/v
if [ "$1" != . ]; then
  rest="$1"; walked=
  while :; do
    case "$rest" in */*) part="\${rest%%/*}"; rest="\${rest#*/}";; *) part="$rest"; rest=;; esac
    f="$f/$part"; walked="\${walked:+$walked/}$part"
    [ -n "$rest" ] || break
    if [ -L "$f" ]; then printf 'through\\0%s\\0%s\\0' "$walked" "$(readlink "$f")"; exit 0; fi
    [ -d "$f" ] || { printf 'missing\\0'; exit 0; }
  done
fi
if [ ! -e "$f" ] && [ ! -L "$f" ]; then printf 'missing\\0'; exit 0; fi
entry() {
  meta=$(stat -c '%f %s %u %g %Y' "$1") || return 0
  target=
  if [ -L "$1" ]; then target=$(readlink "$1"); fi
  printf 'entry\\0%s\\0%s\\0%s\\0' "$meta" "$2" "$target"
}
if [ -d "$f" ] && [ ! -L "$f" ]; then
  printf 'dir\\0'
  for e in "$f"/* "$f"/.[!.]* "$f"/..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    entry "$e" "\${e##*/}"
  done
else
  printf 'file\\0'
  entry "$f" "\${f##*/}"
fi
printf 'end\\0'
`;

export function listCommand(image: string, mount: HelperMount, path: string, labels: Record<string, string>): Command {
  return helperScript(image, [{ ...mount, target: VOLUME_TARGET, readOnly: true }], LIST_SCRIPT, [path], labels, `list ${path} in ${mount.source}`, false);
}

export type FileType = 'file' | 'directory' | 'symlink' | 'fifo' | 'socket' | 'char-device' | 'block-device' | 'unknown';

export interface ListedEntry {
  name: string;
  type: FileType;
  size: number;
  uid: number;
  gid: number;
  /** Permission bits including setuid/setgid/sticky. */
  mode: number;
  mtime: Date;
  /** Symlink target as stored, undefined for other types. */
  target: string | undefined;
}

export type Listing =
  | { state: 'missing' }
  /** A directory on the way is a symbolic link: `link` is the path up to it (relative to the root), `target` what it points to. */
  | { state: 'through'; link: string; target: string }
  | { state: 'dir' | 'file'; entries: ListedEntry[] };

export function fileType(rawMode: number): FileType {
  switch (rawMode & 0o170000) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'directory';
    case 0o120000:
      return 'symlink';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    case 0o020000:
      return 'char-device';
    case 0o060000:
      return 'block-device';
    default:
      return 'unknown';
  }
}

const META = /^([0-9a-f]+) (\d+) (\d+) (\d+) (\d+)$/;

export function parseListing(stdout: string): Listing {
  const reader = new FieldReader(stdout, 'listing');
  const state = reader.next(/^(missing|through|dir|file)$/);
  if (state === 'missing') {
    if (!reader.done()) reader.fail('output continues after "missing"');
    return { state };
  }
  if (state === 'through') {
    const link = reader.next();
    const target = reader.next();
    if (!reader.done()) reader.fail('output continues after "through"');
    return { state, link, target };
  }
  const entries: ListedEntry[] = [];
  for (;;) {
    const kind = reader.next(/^(entry|end)$/);
    if (kind === 'end') break;
    const meta = META.exec(reader.next(META));
    const name = reader.next();
    const target = reader.next();
    if (meta === null) return reader.fail('entry metadata');
    const raw = Number.parseInt(meta[1] ?? '', 16);
    const type = fileType(raw);
    entries.push({
      name,
      type,
      size: Number(meta[2]),
      uid: Number(meta[3]),
      gid: Number(meta[4]),
      mode: raw & 0o7777,
      mtime: new Date(Number(meta[5]) * 1000),
      target: type === 'symlink' ? target : undefined,
    });
  }
  if (!reader.done()) reader.fail('output continues after "end"');
  return { state: state === 'dir' ? 'dir' : 'file', entries };
}

/**
 * One line: regular files, directories, symbolic links, other entries,
 * apparent bytes of regular files, disk usage in KiB. Nothing is followed:
 * find and du walk the tree as it is (-P, their default), stat describes the
 * link itself, so a link to / counts as one link of a few bytes.
 */
export const USAGE_SCRIPT = `set -u
# pipefail where the shell has it (busybox, bash); dash lacks it and would exit on the attempt.
(set -o pipefail) 2>/dev/null && set -o pipefail
counts=$(find /v -mindepth 1 -exec stat -c '%s %F' {} + | awk '$2 == "directory" { d++; next } $2 == "regular" { f++; b += $1; next } $2 == "symbolic" { l++; next } { o++ } END { printf "%.0f %.0f %.0f %.0f %.0f", f, d, l, o, b }') || exit 1
disk=$(du -sk /v | awk '{ print $1 }') || exit 1
printf '%s %s\\n' "$counts" "$disk"
`;

export function usageCommand(image: string, mount: HelperMount, labels: Record<string, string>): Command {
  return helperScript(image, [{ ...mount, target: VOLUME_TARGET, readOnly: true }], USAGE_SCRIPT, [], labels, `measure ${mount.source}`, false);
}

export interface Usage {
  files: number;
  directories: number;
  /** Symbolic links, counted as links (never followed). */
  links: number;
  other: number;
  /** Sum of the regular files' sizes. */
  bytes: number;
  /** Space taken on disk (du). */
  diskBytes: number;
}

export function parseUsage(stdout: string): Usage {
  const match = /^(\d+) (\d+) (\d+) (\d+) (\d+) (\d+)\n?$/.exec(stdout);
  if (match === null) throw new Error(`unexpected output from the usage helper: "${stdout.trim()}"; does the helper image have busybox or GNU find/stat/du?`);
  return {
    files: Number(match[1]),
    directories: Number(match[2]),
    links: Number(match[3]),
    other: Number(match[4]),
    bytes: Number(match[5]),
    diskBytes: Number(match[6]) * 1024,
  };
}
