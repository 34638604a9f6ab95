#!/bin/sh
# Entrypoint of stowage-test/postgres:15 (a stand-in for the official
# postgres image, built by test/images/build.sh without any registry).
#
# Honours the same basic variables as the official image:
#   POSTGRES_USER      superuser name          (default: postgres)
#   POSTGRES_PASSWORD  superuser password      (default: none)
#   POSTGRES_DB        database to create      (default: $POSTGRES_USER)
#   POSTGRES_HOST_AUTH_METHOD  auth for TCP    (default: scram-sha-256)
#   PGDATA             data directory          (default: /var/lib/postgresql/data)
# Extra arguments are passed on to `postgres` (e.g. `-c fsync=off`).
#
# Only busybox is available: no gosu/chpst/runuser, and busybox `setpriv`
# cannot change uid, so we drop root with busybox `su` (which execs the shell
# directly; no PAM, no extra process). Note busybox su keeps parsing options
# after USER, hence the `--` before it (else it eats "--username=..." itself).
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_PASSWORD:=}"
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
export PGDATA

log() { echo "docker-entrypoint: $*" >&2; }

# Run a command as the postgres user (or directly if we already are not root,
# e.g. `docker run --user 999`).
as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    su -s /bin/sh -c 'exec "$0" "$@"' -- postgres "$@"
  else
    "$@"
  fi
}

init_cluster() {
  log "initialising database cluster in $PGDATA"
  if [ "$(id -u)" = 0 ]; then
    # A freshly created volume or bind mount is usually owned by root.
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
  fi

  pwfile=""
  if [ -n "$POSTGRES_PASSWORD" ]; then
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    [ "$(id -u)" != 0 ] || chown postgres "$pwfile"
  elif [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    log "WARNING: no POSTGRES_PASSWORD; TCP logins will fail (local socket uses trust)"
  fi

  # --locale=C/--encoding=UTF8: the image ships no locale data, and a fixed
  # locale keeps dumps reproducible regardless of the host.
  as_postgres initdb \
    --username="$POSTGRES_USER" \
    --auth-local=trust \
    --auth-host="$POSTGRES_HOST_AUTH_METHOD" \
    --locale=C --encoding=UTF8 \
    ${pwfile:+--pwfile="$pwfile"} \
    >/dev/null
  [ -z "$pwfile" ] || rm -f "$pwfile"

  # initdb's --auth-host only covers 127.0.0.1 and ::1; allow other
  # containers too, since the server listens on all interfaces.
  printf '\n# added by docker-entrypoint.sh\nhost all all all %s\n' \
    "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"

  if [ "$POSTGRES_DB" != postgres ]; then
    # Temporary server on a private socket only, so nobody can connect before
    # initialisation is complete.
    sockdir="$(mktemp -d)"
    [ "$(id -u)" != 0 ] || chown postgres "$sockdir"
    as_postgres pg_ctl -D "$PGDATA" -w -s \
      -o "-c listen_addresses='' -k $sockdir" start
    # psql's :"db" quotes the identifier safely.
    echo 'CREATE DATABASE :"db";' | as_postgres psql -X -q -v ON_ERROR_STOP=1 \
      -h "$sockdir" -U "$POSTGRES_USER" -d postgres -v db="$POSTGRES_DB"
    as_postgres pg_ctl -D "$PGDATA" -w -s -m fast stop
    rm -rf "$sockdir"
  fi
  log "initialisation complete"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  init_cluster
fi

# `docker import` cannot set STOPSIGNAL, so `docker stop` sends SIGTERM, which
# postgres treats as "smart" shutdown: it waits for every client to disconnect
# and an idle session would make docker SIGKILL it after the timeout. We stay
# as a tiny PID 1 that turns SIGTERM into SIGINT ("fast" shutdown: aborts
# sessions, checkpoints, exits cleanly), like the official image's
# STOPSIGNAL SIGINT.
# Started as a plain command (not via the as_postgres function) so the
# background job is su -> exec sh -> exec postgres, i.e. $! is postgres itself.
set -- postgres -D "$PGDATA" -c listen_addresses='*' -k /tmp "$@"
if [ "$(id -u)" = 0 ]; then
  set -- su -s /bin/sh -c 'exec "$0" "$@"' -- postgres "$@"
fi
"$@" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || true' TERM INT
trap 'kill -QUIT "$pid" 2>/dev/null || true' QUIT
trap 'kill -HUP "$pid" 2>/dev/null || true' HUP

# `wait` returns early when a trapped signal arrives; keep waiting until the
# server process is really gone, then exit with its status.
status=0
while :; do
  if wait "$pid"; then status=0; else status=$?; fi
  kill -0 "$pid" 2>/dev/null || break
done
exit "$status"
