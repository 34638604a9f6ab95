#!/usr/bin/env bash
# Make sure a Docker engine is usable on this machine.
#
# CI / sandbox machines here have no init system that manages dockerd, so we
# start it ourselves. Safe to run (or source) repeatedly: when `docker info`
# already answers, nothing is done.
#
# Usage:  .ci/engine.sh            (or: source .ci/engine.sh)
# Env:    ENGINE_TIMEOUT  seconds to wait for the daemon (default 60)
#         DOCKERD_LOG     daemon log file (default /tmp/dockerd.log)

# When sourced, re-run as a child bash so `set -e`/`exit` do not leak into the
# caller's shell; the caller still gets our exit status.
if [[ "${BASH_SOURCE[0]}" != "${0}" ]]; then
  bash "${BASH_SOURCE[0]}" "$@"
  return $?
fi

set -euo pipefail

ENGINE_TIMEOUT="${ENGINE_TIMEOUT:-60}"
DOCKERD_LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"

log() { echo "engine.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

engine_up() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_up; then
  exit 0   # already usable: idempotent no-op
fi

# Starting a daemon and installing packages both need root.
[[ "$(id -u)" == 0 ]] || die "docker engine not reachable and we are not root; cannot start dockerd"

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  log "dockerd/docker missing, installing docker.io with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  # Only refresh the package index when apt does not know the package yet;
  # `apt-get update` is slow and may be unnecessary.
  if ! apt-cache show docker.io >/dev/null 2>&1; then
    apt-get update -q || die "apt-get update failed"
  fi
  apt-get install -y -q --no-install-recommends docker.io \
    || die "apt-get install docker.io failed"
  command -v dockerd >/dev/null 2>&1 || die "docker.io installed but dockerd still not on PATH"
fi

# A daemon may already be starting (e.g. a concurrent invocation); only launch
# a new one if no dockerd process exists, otherwise just wait for it.
dockerd_pid=""
if pgrep -x dockerd >/dev/null 2>&1; then
  log "dockerd process already running, waiting for it to answer"
else
  log "starting dockerd (log: $DOCKERD_LOG)"
  # --iptables=false: the sandbox kernel/netns typically does not allow
  # iptables manipulation; containers then have no outbound NAT, which the
  # tests do not need. setsid+nohup so the daemon outlives this shell/job.
  setsid nohup dockerd --iptables=false --ip6tables=false \
    >>"$DOCKERD_LOG" 2>&1 </dev/null &
  dockerd_pid=$!
fi

for ((i = 0; i < ENGINE_TIMEOUT; i++)); do
  if engine_up; then
    log "docker engine is up (after ${i}s)"
    exit 0
  fi
  # Fail fast instead of waiting out the timeout when our daemon already died
  # (bad flags, no permission for cgroups/overlayfs, ...).
  if [[ -n "$dockerd_pid" ]] && ! kill -0 "$dockerd_pid" 2>/dev/null; then
    log "last lines of $DOCKERD_LOG:"
    tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
    die "dockerd exited right after start (see $DOCKERD_LOG)"
  fi
  sleep 1
done

log "last lines of $DOCKERD_LOG:"
tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
die "docker engine did not answer 'docker info' within ${ENGINE_TIMEOUT}s"
