#!/usr/bin/env bash
# Starts (or stops) a moto server, the AWS emulator the gavel-aws contract tests run against.
#
#   infra/scripts/moto.sh start    # installs moto into $REPO/.venv/moto if needed, starts it, prints the endpoint
#   infra/scripts/moto.sh stop
#   infra/scripts/moto.sh status
#
# Then: export GAVEL_TEST_AWS_ENDPOINT=http://127.0.0.1:${MOTO_PORT:-5055}
# or in one step (start prints only the endpoint on stdout):
#   export GAVEL_TEST_AWS_ENDPOINT="$(infra/scripts/moto.sh start)"
# The server listens on 127.0.0.1 only; its pid file and log are under target/moto/.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
PORT="${MOTO_PORT:-5055}"
VENV="$REPO/.venv/moto"
STATE="$REPO/target/moto"
PIDFILE="$STATE/moto-$PORT.pid"
LOG="$STATE/moto-$PORT.log"
ENDPOINT="http://127.0.0.1:$PORT"
# Pinned: 5.2.x speaks SQS, S3 (presigned URLs included), DynamoDB (TTL settings) and ECS RunTask.
MOTO_SPEC='moto[server]==5.2.5'

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

answers() {
  python3 - "$ENDPOINT/moto-api/" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2).read()
PY
}

install() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV" >&2
    python3 -m venv "$VENV"
  fi
  # Read the whole answer first: `grep -q` would close the pipe early, and pipefail then says no.
  local installed
  installed="$("$VENV/bin/python" -m pip show moto 2>/dev/null | sed -n 's/^Version: //p' || true)"
  if [ "$installed" != 5.2.5 ] || [ ! -x "$VENV/bin/moto_server" ]; then
    echo "installing $MOTO_SPEC into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$MOTO_SPEC"
  fi
}

start() {
  mkdir -p "$STATE"
  if running && answers; then
    echo "$ENDPOINT"
    return 0
  fi
  if answers; then
    echo "port $PORT already answers but is not our moto (no live $PIDFILE); set MOTO_PORT" >&2
    exit 1
  fi
  install
  # setsid: the server outlives this script and the shell that ran it. moto_server.py is moto's
  # own server with DynamoDB's per-item atomic writes, which the job store's races rely on.
  setsid "$VENV/bin/python" "$REPO/infra/scripts/moto_server.py" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 < /dev/null &
  echo $! >"$PIDFILE"
  local deadline=$((SECONDS + 60))
  until answers; do
    if ! running; then
      echo "moto exited; its log ($LOG):" >&2
      tail -n 50 "$LOG" >&2 || true
      rm -f "$PIDFILE"
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "moto did not answer on $ENDPOINT within 60 s; its log ($LOG):" >&2
      tail -n 50 "$LOG" >&2 || true
      stop
      exit 1
    fi
    sleep 0.2
  done
  echo "moto is up; export GAVEL_TEST_AWS_ENDPOINT=$ENDPOINT" >&2
  echo "$ENDPOINT"
}

stop() {
  if running; then
    local pid
    pid="$(cat "$PIDFILE")"
    kill "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if running && answers; then echo "running: $ENDPOINT"; else echo "not running"; exit 1; fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
