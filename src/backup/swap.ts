import { compileSchema, type ValidateFunction } from '../config/schema.js';
import type { Command } from '../engine/command.js';
import { docker, type HelperMount } from '../engine/docker.js';

/**
 * Swapping staged content into a volume, journaled inside the volume.
 *
 * A restore extracts the new content into `.stowage-restore-<id>`, then
 * writes `.stowage-swap.json` (the marker: what to swap, how) beside it, and
 * only then moves entries: the live ones aside into `.stowage-old-<id>`, the
 * staged ones into place. The scripts below are idempotent: whatever kills a
 * swap (a signal, an OOM kill, the engine going away), running the same
 * script again with the marker's arguments finishes it. A move that fails
 * while the script runs (a mount point that cannot be renamed) rolls the
 * volume back to its old content and removes the marker (exit 4).
 *
 * All run in a helper that mounts the volume at /v.
 */

export const SWAP_MARKER = '.stowage-swap.json';
/** Present from the moment every live entry was moved aside: the staged ones are moving in. */
export const SWAP_PHASE_IN = '.stowage-swap.in';
/** Exit code of a swap that failed and put the previous content back. */
export const ROLLED_BACK = 4;

export interface SwapMarker {
  format: 1;
  /** `all`: replace the whole volume; `paths`: replace the given paths only. */
  mode: 'all' | 'paths';
  staging: string;
  old: string;
  /** all: owner, mode and `@mtime` of the root. paths: the count of paths only moved aside, then the paths. */
  args: string[];
}


/** schemas/swap-marker.schema.json, compiled on first use: only a restore, or a run that finds a marker, reads one. */
let markerValidator: ValidateFunction<SwapMarker> | undefined;
function validMarker(data: unknown): data is SwapMarker {
  markerValidator ??= compileSchema<SwapMarker>('swap-marker.schema.json');
  return markerValidator(data);
}

/** A path a swap may touch: relative, no `.` or `..` segments, no empty segment. */
export function isSwapPath(p: string): boolean {
  if (p === '' || p.startsWith('/') || p.includes('\0')) return false;
  return p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/**
 * A marker read back from a volume is untrusted input (the volume may hold
 * anything): only a marker that names stowage's own directories and safe
 * arguments is ever acted on.
 */
export function parseMarker(text: string, where: string): SwapMarker {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`${where}: the swap marker is not JSON`);
  }
  if (!validMarker(data)) throw new Error(`${where}: not a stowage swap marker (${markerValidator?.errors?.map((e) => `${e.instancePath} ${e.message ?? ''}`).join('; ') ?? ''})`);
  if (data.mode === 'all') {
    const [owner, mode, mtime] = data.args;
    if (data.args.length !== 3 || !/^\d+:\d+$/.test(owner ?? '') || !/^[0-7]{1,4}$/.test(mode ?? '') || !/^@\d+$/.test(mtime ?? '')) throw new Error(`${where}: bad root arguments in the swap marker`);
  } else {
    const [count, ...paths] = data.args;
    if (!/^\d+$/.test(count ?? '') || Number(count) > paths.length || paths.length === 0 || !paths.every(isSwapPath)) throw new Error(`${where}: bad paths in the swap marker`);
  }
  return data;
}

export function markerText(marker: SwapMarker): string {
  return `${JSON.stringify(marker)}\n`;
}

const EACH = (dir: string): string => `"${dir}"/* "${dir}"/.[!.]* "${dir}"/..?*`;
const EXISTS = '[ -e "$f" ] || [ -L "$f" ] || continue';
const OURS = `"$staging"|"$staging.time"|"$old"|${SWAP_MARKER}|${SWAP_PHASE_IN}`;
/**
 * Creating and removing stowage's own entries changes the volume root's
 * mtime: PREPARE keeps the original in \`<staging>.time\` (touch -r, to the
 * nanosecond) and whatever ends a restore without replacing the root's
 * metadata puts it back from there.
 */
const ROOT_TIME_BACK = `for t in /v/.stowage-restore-*.time; do
  [ -e "$t" ] || continue
  touch -r "$t" /tmp/stowage-root-time
done
rm -f -- /v/.stowage-restore-*.time
[ -e /tmp/stowage-root-time ] && touch -r /tmp/stowage-root-time /v
true`;

/** Refuses when an earlier swap left old content without a marker, clears stale staging, creates a new one. */
export const PREPARE = `set -u
cd /v || exit 1
for f in /v/.stowage-old-*; do
  ${EXISTS}
  echo "stowage: $f holds content an interrupted restore moved aside, and no swap marker says what to do with it; inspect it and move it back or remove it, then restore again" >&2
  exit 17
done
touch -r /v /tmp/stowage-root-time
for t in /v/.stowage-restore-*.time; do
  [ -e "$t" ] && touch -r "$t" /tmp/stowage-root-time
done
for f in /v/.stowage-restore-*; do
  ${EXISTS}
  rm -rf -- "$f" || exit 1
done
: > "/v/$1.time" && touch -r /tmp/stowage-root-time "/v/$1.time" || exit 1
mkdir -m 0700 -- "/v/$1" || exit 1
# The device and inode of the volume root: the proof a local path needs.
printf 'id:%s\n' "$(stat -c '%d %i' /v)"
`;

/**
 * Replaces the whole volume. Phase 1 moves every live entry aside, then
 * creates the phase file; phase 2 moves the staged entries in. Re-run after
 * an interruption, it continues where it stopped. The archive endpoint does
 * not apply the archive's root entry to the destination, so the root's owner
 * ($3), mode ($4) and mtime ($5, @epoch) come as arguments.
 */
export const SWAP_ALL = `set -u
staging="$1"; old="$2"; owner="$3"; mode="$4"; mtime="$5"
cd /v || exit 1
fail() {
  echo "stowage: $1; putting the previous content back" >&2
  if [ -e /v/${SWAP_PHASE_IN} ]; then
    mkdir -p -- "/v/$staging"
    for f in ${EACH('/v')}; do
      ${EXISTS}
      case "\${f#/v/}" in ${OURS}) continue;; esac
      mv -f -- "$f" "/v/$staging/"
    done
  fi
  if [ -d "/v/$old" ]; then
    for f in ${EACH('/v/$old')}; do
      ${EXISTS}
      mv -f -- "$f" /v/
    done
    rmdir -- "/v/$old"
  fi
  rm -f -- /v/${SWAP_PHASE_IN} /v/${SWAP_MARKER}
  exit ${ROLLED_BACK}
}
if [ ! -e /v/${SWAP_PHASE_IN} ]; then
  [ -d "/v/$staging" ] || { echo "stowage: the staged content /v/$staging is missing" >&2; exit 1; }
  mkdir -p -m 0700 -- "/v/$old" || exit 1
  for f in ${EACH('/v')}; do
    ${EXISTS}
    case "\${f#/v/}" in ${OURS}) continue;; esac
    mv -- "$f" "/v/$old/" || fail "cannot move $f aside"
  done
  : > /v/${SWAP_PHASE_IN} || fail "cannot write /v/${SWAP_PHASE_IN}"
fi
if [ -d "/v/$staging" ]; then
  for f in ${EACH('/v/$staging')}; do
    ${EXISTS}
    mv -- "$f" /v/ || fail "cannot move $f into place"
  done
  rmdir -- "/v/$staging" || fail "the staging directory is not empty"
fi
chown "$owner" /v && chmod "$mode" /v || { echo "stowage: cannot set the owner and mode of the volume root" >&2; exit 1; }
rm -rf -- "/v/$old" || { echo "stowage: could not remove the previous content in /v/$old; remove it by hand" >&2; exit 1; }
rm -f -- /v/${SWAP_PHASE_IN} /v/${SWAP_MARKER} "/v/$staging.time" || exit 1
touch -d "$mtime" /v
`;

/**
 * Replaces only the given paths ($4...), keeping the rest of the volume. The
 * first $3 of them are only moved aside, never replaced: a restored SQLite
 * database must not meet the live database's -wal and -shm files, which
 * SQLite would replay onto it. A path is done once its staged copy is gone,
 * so a re-run continues where it stopped. A path that leads through a
 * symlink in the live volume is refused: a swap never follows one.
 */
export const SWAP_PATHS = `set -u
staging="$1"; old="$2"; drop_count="$3"; shift 3
cd /v || exit 1
through_link() {
  rest="$1"; at=/v
  while :; do
    case "$rest" in */*) part="\${rest%%/*}"; rest="\${rest#*/}";; *) return 1;; esac
    at="$at/$part"
    [ -L "$at" ] && return 0
  done
}
fail() {
  echo "stowage: $1; putting the previous content back" >&2
  shift
  for p in "$@"; do
    if [ -e "/v/$old/$p" ] || [ -L "/v/$old/$p" ]; then
      if [ -e "/v/$p" ] || [ -L "/v/$p" ]; then mkdir -p -- "$(dirname -- "/v/$staging/$p")"; mv -f -- "/v/$p" "/v/$staging/$p"; fi
      mv -f -- "/v/$old/$p" "/v/$p"
    fi
  done
  rm -rf -- "/v/$old"
  rm -f -- /v/${SWAP_MARKER}
  exit ${ROLLED_BACK}
}
for p in "$@"; do
  case "/$p/" in */../*|*/./*|//*) echo "stowage: refusing the path $p" >&2; rm -f -- /v/${SWAP_MARKER}; exit ${ROLLED_BACK};; esac
  if through_link "$p" || through_link "$staging/$p"; then echo "stowage: $p leads through a symlink; a restore never follows one" >&2; rm -f -- /v/${SWAP_MARKER}; exit ${ROLLED_BACK}; fi
done
mkdir -p -m 0700 -- "/v/$old" || exit 1
n=0
for p in "$@"; do
  n=$((n + 1))
  if [ "$n" -le "$drop_count" ]; then
    if [ -e "/v/$p" ] || [ -L "/v/$p" ]; then
      mkdir -p -- "$(dirname -- "/v/$old/$p")" && mv -- "/v/$p" "/v/$old/$p" || fail "cannot move $p aside" "$@"
    fi
    continue
  fi
  [ -e "/v/$staging/$p" ] || [ -L "/v/$staging/$p" ] || continue
  if [ -e "/v/$p" ] || [ -L "/v/$p" ]; then
    mkdir -p -- "$(dirname -- "/v/$old/$p")" && mv -- "/v/$p" "/v/$old/$p" || fail "cannot move $p aside" "$@"
  fi
  mkdir -p -- "$(dirname -- "/v/$p")" && mv -- "/v/$staging/$p" "/v/$p" || fail "cannot move $p into place" "$@"
done
rm -rf -- "/v/$staging" "/v/$old" || exit 1
rm -f -- /v/${SWAP_MARKER}
${ROOT_TIME_BACK}
`;

/** Before the marker is written: every replaced path must be in the staged content. */
export const CHECK_STAGED = `set -u
staging="$1"; drop_count="$2"; shift 2
n=0
for p in "$@"; do
  n=$((n + 1))
  [ "$n" -le "$drop_count" ] && continue
  [ -e "/v/$staging/$p" ] || [ -L "/v/$staging/$p" ] || { echo "stowage: $p is not in the backup" >&2; exit 3; }
done
`;

/** Removes what a restore left when it never began to swap: staging directories (and a stray phase file); refuses when old content lies aside. */
export const CLEAN_STAGING = `set -u
cd /v || exit 1
# Content moved aside with no marker left to say how: never guess, never remove the staged copy.
for f in /v/.stowage-old-*; do
  ${EXISTS}
  echo "stowage: $f holds content a swap moved aside, and no swap marker says how to finish; inspect it and move it back or remove it" >&2
  exit 17
done
for f in /v/.stowage-restore-*; do
  ${EXISTS}
  case "$f" in *.time) continue;; esac
  rm -rf -- "$f" || exit 1
done
rm -f -- /v/${SWAP_PHASE_IN}
${ROOT_TIME_BACK}
`;

export function swapCommand(image: string, mount: HelperMount, marker: SwapMarker, labels: Record<string, string>): Command {
  const script = marker.mode === 'all' ? SWAP_ALL : SWAP_PATHS;
  const cmd = docker.runHelperScript(image, [mount], script, [marker.staging, marker.old, ...marker.args], labels);
  return { ...cmd, purpose: `swap the restored content into place (${marker.mode === 'all' ? 'whole volume' : 'some paths'})` };
}
