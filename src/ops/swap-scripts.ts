/**
 * POSIX shell run by a helper container that mounts the volume at /v. The new
 * content is complete in /v/<staging> before any of these run; they only move
 * directory entries (renames within one filesystem), and put everything back
 * if a move fails, so the volume holds either the old or the new content.
 */

const EACH = (dir: string): string => `"${dir}"/* "${dir}"/.[!.]* "${dir}"/..?*`;
const EXISTS = '[ -e "$f" ] || [ -L "$f" ] || continue';

/** Refuses when an earlier swap was interrupted (its old content must not be lost), clears stale staging, creates a new one. */
export const PREPARE = `set -u
cd /v || exit 1
for f in /v/.stowage-old-*; do
  ${EXISTS}
  echo "stowage: $f holds the content an interrupted restore moved aside; inspect it and move it back or remove it, then restore again" >&2
  exit 17
done
for f in /v/.stowage-restore-*; do
  ${EXISTS}
  rm -rf -- "$f" || exit 1
done
mkdir -m 0700 -- "/v/$1"
`;

/**
 * Replaces the whole volume: everything moves aside, the staged tree moves in.
 * The archive endpoint does not apply the archive's root entry to the
 * destination, so the root's owner ($3), mode ($4) and mtime ($5, @epoch) come
 * as arguments, read from the archive during verification.
 */
export const SWAP_ALL = `set -u
staging="$1"; old="$2"; owner="$3"; mode="$4"; mtime="$5"
cd /v || exit 1
fail() {
  echo "stowage: $1; putting the previous content back" >&2
  for f in ${EACH('/v')}; do
    ${EXISTS}
    case "\${f#/v/}" in "$staging"|"$old") continue;; esac
    mv -f -- "$f" "/v/$staging/"
  done
  for f in ${EACH('/v/$old')}; do
    ${EXISTS}
    mv -f -- "$f" /v/
  done
  rmdir -- "/v/$old"
  exit 1
}
mkdir -m 0700 -- "/v/$old" || exit 1
for f in ${EACH('/v')}; do
  ${EXISTS}
  case "\${f#/v/}" in "$staging"|"$old") continue;; esac
  mv -- "$f" "/v/$old/" || fail "cannot move $f aside"
done
for f in ${EACH('/v/$staging')}; do
  ${EXISTS}
  mv -- "$f" /v/ || fail "cannot move $f into place"
done
rmdir -- "/v/$staging" || fail "staging directory not empty"
rm -rf -- "/v/$old" || { echo "stowage: could not remove the previous content in /v/$old; remove it by hand" >&2; exit 1; }
chown "$owner" /v && chmod "$mode" /v && touch -d "$mtime" /v
`;

/**
 * Replaces only the given paths ($4...), keeping the rest of the volume as it
 * is. The first $3 of them are only moved aside, never replaced: a restored
 * SQLite database must not meet the live database's -wal and -shm files,
 * which SQLite would replay onto it.
 */
export const SWAP_PATHS = `set -u
staging="$1"; old="$2"; drop_count="$3"; shift 3
cd /v || exit 1
mkdir -m 0700 -- "/v/$old" || exit 1
done_count=0
fail() {
  echo "stowage: $1; putting the previous content back" >&2
  shift
  i=0
  for p in "$@"; do
    [ "$i" -gt "$done_count" ] && break
    i=$((i + 1))
    if [ -e "/v/$p" ] || [ -L "/v/$p" ]; then mkdir -p -- "$(dirname -- "/v/$staging/$p")"; mv -f -- "/v/$p" "/v/$staging/$p"; fi
    if [ -e "/v/$old/$p" ] || [ -L "/v/$old/$p" ]; then mv -f -- "/v/$old/$p" "/v/$p"; fi
  done
  # Only directories made for the move remain: remove them, or every later restore would refuse to run.
  if [ -z "$(find "/v/$old" ! -type d | head -n 1)" ]; then rm -rf -- "/v/$old"; fi
  exit 1
}
n=0
for p in "$@"; do
  n=$((n + 1))
  if [ -e "/v/$p" ] || [ -L "/v/$p" ]; then
    mkdir -p -- "$(dirname -- "/v/$old/$p")" && mv -- "/v/$p" "/v/$old/$p" || fail "cannot move $p aside" "$@"
  fi
  if [ "$n" -gt "$drop_count" ]; then
    [ -e "/v/$staging/$p" ] || [ -L "/v/$staging/$p" ] || fail "$p is not in the backup" "$@"
    mkdir -p -- "$(dirname -- "/v/$p")" && mv -- "/v/$staging/$p" "/v/$p" || fail "cannot move $p into place" "$@"
  fi
  done_count=$((done_count + 1))
done
rm -rf -- "/v/$staging" "/v/$old"
`;
