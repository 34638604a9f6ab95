#!/usr/bin/env bash
# Build the local Docker images used by stowage's tests.
#
# The test machines cannot reach any image registry, so instead of `docker
# pull`/`docker build FROM ...` we assemble each root filesystem from binaries
# installed on the host (Debian packages) and turn it into an image with
# `docker import`.
#
# Images (PREFIX is $STOWAGE_TEST_IMAGE_PREFIX, default stowage-test):
#   PREFIX/busybox:1    busybox-static + applet symlinks, users root/app
#   PREFIX/sqlite:1     busybox rootfs + sqlite3 and its libraries
#   PREFIX/postgres:15  busybox rootfs + PostgreSQL 15 server/client
#
# Usage: test/images/build.sh [--force] [busybox|sqlite|postgres ...]
#   --force   rebuild even if the tag already exists (default: skip it)
#   names     build only these images (default: all)
#
# `npm test` and `npm run bench` call it for the images they need (see
# test/images/ensure.ts), so it is quick and quiet when they all exist, and
# says what to do when it cannot build: no engine, or not root.
#
# Building needs root: it may apt-get install busybox-static, sqlite3,
# postgresql-15, and the rootfs files must be owned by specific uids (0, 999,
# 1000). It never starts an engine (.ci/engine.sh does, in CI).

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Tests build into a prefix of their own to see what a machine that never built
# the images sees, without touching the images everyone else uses.
PREFIX="${STOWAGE_TEST_IMAGE_PREFIX:-stowage-test}"
BUSYBOX_TAG="$PREFIX/busybox:1"
SQLITE_TAG="$PREFIX/sqlite:1"
POSTGRES_TAG="$PREFIX/postgres:15"

PG_VERSION=15
PG_BIN="/usr/lib/postgresql/$PG_VERSION/bin"
PG_LIB="/usr/lib/postgresql/$PG_VERSION/lib"
PG_SHARE="/usr/share/postgresql/$PG_VERSION"

log() { echo "build.sh: $*" >&2; }
die() { echo "build.sh: ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------- arguments

FORCE=0
WANTED=()
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    busybox|sqlite|postgres) WANTED+=("$arg") ;;
    *) die "unknown argument '$arg' (expected --force, busybox, sqlite or postgres)" ;;
  esac
done
[[ ${#WANTED[@]} -gt 0 ]] || WANTED=(busybox sqlite postgres)
[[ "$PREFIX" =~ ^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$ ]] \
  || die "STOWAGE_TEST_IMAGE_PREFIX='$PREFIX' is not a Docker repository name (lower case letters, digits, . _ - and /)"

wanted() { local w; for w in "${WANTED[@]}"; do [[ "$w" == "$1" ]] && return 0; done; return 1; }
tag_of() { case "$1" in busybox) echo "$BUSYBOX_TAG" ;; sqlite) echo "$SQLITE_TAG" ;; postgres) echo "$POSTGRES_TAG" ;; esac; }
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- what is missing

command -v docker >/dev/null 2>&1 \
  || die "the docker command is not installed; on Debian: apt-get install docker.io, start the engine, then run this again"
if ! engine_error="$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null)"; then
  if [[ "$engine_error" == *"permission denied"* ]]; then
    die "cannot talk to the Docker engine (${engine_error##*$'\n'}); run as root, or as a member of the docker group"
  fi
  die "the Docker engine is not reachable (${engine_error##*$'\n'}); start it (systemctl start docker, or bash .ci/engine.sh as root), check with docker info, then run this again"
fi

missing=()
for name in "${WANTED[@]}"; do
  if [[ $FORCE -eq 1 ]] || ! image_exists "$(tag_of "$name")"; then missing+=("$name"); fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  log "present: $(for n in "${WANTED[@]}"; do printf '%s ' "$(tag_of "$n")"; done)(--force rebuilds)"
  exit 0
fi
missing_tags="$(for n in "${missing[@]}"; do printf '%s ' "$(tag_of "$n")"; done)"
missing_tags="${missing_tags% }"

if [[ "$(id -u)" != 0 ]]; then
  again="bash test/images/build.sh ${missing[*]}"
  [[ "$PREFIX" == stowage-test ]] || again="STOWAGE_TEST_IMAGE_PREFIX=$PREFIX $again"
  die "$missing_tags missing, and building needs root (apt-get, and files owned by uids 999/1000 in the images); run once as root: sudo $again, then run the tests again"
fi
WANTED=("${missing[@]}")

# Several test runs may start at once on one machine: one builds, the others
# wait for it and then find the images present.
LOCK="${TMPDIR:-/tmp}/stowage-test-images.${PREFIX//\//_}.lock"
exec 9>"$LOCK"
if ! flock --nonblock 9; then
  log "another build of the $PREFIX images is running; waiting for it"
  flock 9
fi

# ---------------------------------------------------------------- host setup

# Install host packages we copy binaries from, but only when missing, and run
# `apt-get update` at most once (it is slow and usually not needed).
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log "installing missing host packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Another apt run may hold the dpkg lock (e.g. provisioning); wait for it
  # instead of failing immediately.
  local lock=(-o DPkg::Lock::Timeout=600)
  apt-get "${lock[@]}" update -q || die "apt-get update failed"
  apt-get "${lock[@]}" install -y -q --no-install-recommends "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed"
}

packages=(busybox-static)
wanted sqlite && packages+=(sqlite3)
wanted postgres && packages+=("postgresql-$PG_VERSION")
ensure_packages "${packages[@]}"

# busybox-static ships /bin/busybox. Make sure it is really the static one:
# the rootfs has no libc for a dynamically linked busybox.
BUSYBOX=/bin/busybox
[[ -x "$BUSYBOX" ]] || die "$BUSYBOX not found although busybox-static is installed"
if ldd "$BUSYBOX" >/dev/null 2>&1; then
  die "$BUSYBOX is dynamically linked (package 'busybox' instead of 'busybox-static'?)"
fi

# ---------------------------------------------------------------- helpers

WORK="$(mktemp -d "${TMPDIR:-/tmp}/stowage-images.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Copy a host file into the rootfs at the same absolute path, following
# symlinks so the image gets real files (the rootfs is not "usr-merged", so a
# link such as /lib -> usr/lib would not resolve the same way inside it).
copy_file() { # ROOT PATH
  local root="$1" path="$2"
  [[ -e "$path" ]] || die "cannot copy $path: no such file on the host"
  mkdir -p "$root$(dirname "$path")"
  cp -L --preserve=mode,timestamps "$path" "$root$path"
}

# Copy ELF files plus every shared library `ldd` reports for them (ldd already
# resolves the full transitive closure, including the dynamic loader).
copy_with_libs() { # ROOT FILE...
  local root="$1"; shift
  local f out lib
  for f in "$@"; do
    copy_file "$root" "$f"
    # ldd exits non-zero for static binaries / non-ELF files: nothing to add.
    out="$(ldd "$f" 2>/dev/null)" || continue
    if grep -q 'not found' <<<"$out"; then
      die "ldd $f reports missing libraries:"$'\n'"$(grep 'not found' <<<"$out")"
    fi
    # Lines look like "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)"
    # or "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file.
    while read -r lib; do
      [[ -e "$root$lib" ]] || copy_file "$root" "$lib"
    done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$out")
  done
}

# Minimal busybox root filesystem shared by all images.
#   extra_passwd / extra_group: additional lines (e.g. the postgres user)
make_busybox_rootfs() { # ROOT [extra_passwd] [extra_group]
  local root="$1" extra_passwd="${2:-}" extra_group="${3:-}"
  mkdir -p "$root"/{bin,sbin,etc,root,home/app,tmp,var/tmp,usr/bin,usr/sbin,usr/local/bin,dev,proc,sys}
  cp "$BUSYBOX" "$root/bin/busybox"
  # One symlink per applet so `sh`, `tar`, `id`, ... work as plain commands.
  local applet
  while read -r applet; do
    [[ -n "$applet" && "$applet" != busybox ]] || continue
    ln -sf busybox "$root/bin/$applet"
  done < <("$BUSYBOX" --list)
  # Scripts commonly use "#!/usr/bin/env ..."
  ln -sf ../../bin/busybox "$root/usr/bin/env"

  {
    echo 'root:x:0:0:root:/root:/bin/sh'
    echo 'app:x:1000:1000:app:/home/app:/bin/sh'
    [[ -z "$extra_passwd" ]] || echo "$extra_passwd"
  } >"$root/etc/passwd"
  {
    echo 'root:x:0:'
    echo 'app:x:1000:'
    [[ -z "$extra_group" ]] || echo "$extra_group"
  } >"$root/etc/group"
  # Password fields are locked; nobody logs in, but `su` reads shadow-less
  # passwd just fine when run as root.
  echo '/bin/sh' >"$root/etc/shells"
  # glibc-linked programs (sqlite3, postgres) resolve users via NSS; be explicit.
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"

  chmod 1777 "$root/tmp" "$root/var/tmp"
  chmod 700 "$root/root"
  chown 1000:1000 "$root/home/app"
}

# Pack ROOT into an image TAG; remaining args are --change instructions.
import_rootfs() { # ROOT TAG CHANGE...
  local root="$1" tag="$2"; shift 2
  local changes=() c old_id
  for c in "$@"; do changes+=(--change "$c"); done
  old_id="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
  changes+=(--change 'LABEL org.stowage.test-image=1')
  # --numeric-owner: ownership must be by uid/gid, not by host user names.
  tar --numeric-owner -C "$root" -c . \
    | docker import "${changes[@]}" --message "built by test/images/build.sh" - "$tag" >/dev/null \
    || die "docker import of $tag failed"
  # With --force the previous image would linger as a dangling <none> image;
  # drop it unless a container still uses it (then docker refuses: fine).
  if [[ -n "$old_id" && "$old_id" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]]; then
    docker rmi "$old_id" >/dev/null 2>&1 || true
  fi
  log "built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1/1e6}'))"
}

# Returns 0 if TAG must be (re)built.
need_build() { # TAG
  if image_exists "$1" && [[ $FORCE -eq 0 ]]; then
    log "$1 already exists, skipping (use --force to rebuild)"
    return 1
  fi
  log "building $1"
}

BASE_PATH_ENV='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

# ---------------------------------------------------------------- images

build_busybox() {
  need_build "$BUSYBOX_TAG" || return 0
  local root="$WORK/busybox"
  make_busybox_rootfs "$root"
  import_rootfs "$root" "$BUSYBOX_TAG" "$BASE_PATH_ENV" 'CMD ["sh"]'
  rm -rf "$root"
}

build_sqlite() {
  need_build "$SQLITE_TAG" || return 0
  local root="$WORK/sqlite"
  make_busybox_rootfs "$root"
  copy_with_libs "$root" /usr/bin/sqlite3
  import_rootfs "$root" "$SQLITE_TAG" "$BASE_PATH_ENV" 'CMD ["sh"]'
  rm -rf "$root"
}

build_postgres() {
  need_build "$POSTGRES_TAG" || return 0
  local root="$WORK/postgres"
  make_busybox_rootfs "$root" \
    'postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/sh' \
    'postgres:x:999:'

  # All server and client binaries (small, and pg_dumpall/createdb etc. are
  # handy in tests), with their libraries.
  local bins=() f
  for f in "$PG_BIN"/*; do [[ -f "$f" ]] && bins+=("$f"); done
  for f in postgres initdb pg_ctl pg_dump pg_restore psql pg_isready; do
    [[ -x "$PG_BIN/$f" ]] || die "$PG_BIN/$f missing (is postgresql-$PG_VERSION installed?)"
  done
  copy_with_libs "$root" "${bins[@]}"

  # Server modules (plpgsql, encoding conversions, contrib extensions) are
  # dlopen()ed by the server, so ldd of the binaries does not see their
  # dependencies; copy them with their libraries too.
  # Exception: the LLVM JIT provider. It would drag in libLLVM (~100 MB), and
  # if llvmjit.so exists but cannot be loaded the server raises an ERROR,
  # whereas a missing provider just disables JIT silently. So leave it out.
  mkdir -p "$root$PG_LIB"
  (cd "$PG_LIB" && tar --exclude='./llvmjit*' --exclude='./bitcode' -c .) | tar -C "$root$PG_LIB" -x
  local mods=()
  for f in "$root$PG_LIB"/*.so; do mods+=("$PG_LIB/$(basename "$f")"); done
  copy_with_libs "$root" "${mods[@]}"

  # initdb needs postgres.bki, *.sample configs, timezonesets, tsearch data...
  mkdir -p "$root$PG_SHARE"
  cp -a "$PG_SHARE/." "$root$PG_SHARE/"
  rm -rf "$root$PG_SHARE/man"   # docs only
  # Debian builds PostgreSQL against the system tz database; without it the
  # server only knows GMT/UTC offsets and initdb cannot detect a zone.
  if [[ -d /usr/share/zoneinfo ]]; then
    mkdir -p "$root/usr/share/zoneinfo"
    cp -a /usr/share/zoneinfo/. "$root/usr/share/zoneinfo/"
  fi

  mkdir -p "$root/var/lib/postgresql/data"
  chown -R 999:999 "$root/var/lib/postgresql"
  chmod 700 "$root/var/lib/postgresql/data"

  install -m 0755 "$HERE/postgres/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"

  import_rootfs "$root" "$POSTGRES_TAG" \
    "ENV PATH=$PG_BIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    'ENV PGDATA=/var/lib/postgresql/data' \
    'ENV PGHOST=/tmp' \
    'EXPOSE 5432' \
    'CMD ["/usr/local/bin/docker-entrypoint.sh"]'
  rm -rf "$root"
}

start=$SECONDS
wanted busybox && build_busybox
wanted sqlite && build_sqlite
wanted postgres && build_postgres
log "done in $((SECONDS - start))s"
