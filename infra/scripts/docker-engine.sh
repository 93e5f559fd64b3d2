#!/usr/bin/env bash
# Makes a Docker engine answer on this host: installs Debian's docker.io if there is no dockerd,
# starts the daemon if nothing answers, and waits for it. Needs root (or sudo).
#
#   infra/scripts/docker-engine.sh start   # prints "started" or "running"
#   infra/scripts/docker-engine.sh stop    # stops the daemon only if `start` started it
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
STATE="$REPO/target/docker-engine"
PIDFILE="$STATE/dockerd.pid"
LOG="$STATE/dockerd.log"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

answers() { docker info >/dev/null 2>&1; }

start() {
  if answers; then
    echo running
    return 0
  fi
  if ! command -v dockerd >/dev/null; then
    echo "installing Debian's docker.io" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >&2
  fi
  mkdir -p "$STATE"
  # setsid: the daemon outlives this script. Our copy of its pid file says we own it.
  as_root setsid dockerd --pidfile "$STATE/dockerd.own.pid" >"$LOG" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    if answers; then
      cp "$STATE/dockerd.own.pid" "$PIDFILE"
      echo started
      return 0
    fi
    sleep 1
  done
  echo "dockerd did not answer within 60 s; its log ($LOG) ends with:" >&2
  tail -n 20 "$LOG" >&2
  exit 1
}

stop() {
  [ -f "$PIDFILE" ] || return 0
  local pid
  pid="$(cat "$PIDFILE")"
  rm -f "$PIDFILE"
  as_root kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 1
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
