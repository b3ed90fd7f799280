#!/usr/bin/env bash
# Side-by-side benchmark of django-helpdesk (a peer helpdesk) on this machine:
# pinned install, minimal Django site on SQLite, N generated tickets, gunicorn
# with 2 sync workers on loopback, and a concurrent client measuring ticket
# creation, the ticket list, keyword search and the ticket page.
#
#   bench/peer/django_helpdesk/run.sh [--tickets N] [--requests N] [--concurrency N]
#                                     [--page-size N] [--seed N] [--out FILE]
#
# Everything generated goes under target/peer/ (virtualenv, database, logs);
# the result is written to target/bench/peer-django-helpdesk.json.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
STATE="$REPO/target/peer"
VENV="$STATE/venv"
PY="$VENV/bin/python"
export PYTHONDONTWRITEBYTECODE=1  # keep the source tree free of __pycache__

TICKETS=100000
REQUESTS=500
CONCURRENCY=8
PAGE_SIZE=50
SEED=20261201
WORKERS=2
OUT="$REPO/target/bench/peer-django-helpdesk.json"
ADMIN_USER=admin
ADMIN_PASSWORD=peer-bench

COMMAND="bench/peer/django_helpdesk/run.sh${*:+ $*}"

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
posint() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: $1 needs a positive integer" >&2; exit 2; }; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --tickets)     posint "$1" "${2:-}"; TICKETS="$2"; shift 2 ;;
    --requests)    posint "$1" "${2:-}"; REQUESTS="$2"; shift 2 ;;
    --concurrency) posint "$1" "${2:-}"; CONCURRENCY="$2"; shift 2 ;;
    --page-size)   posint "$1" "${2:-}"; PAGE_SIZE="$2"; shift 2 ;;
    --seed)        posint "$1" "${2:-}"; SEED="$2"; shift 2 ;;
    --out)         OUT="$(realpath -m "${2:?--out needs a file}")"; shift 2 ;;
    -h|--help)     usage 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

T_START="$(now)"
STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
mkdir -p "$STATE" "$(dirname "$OUT")"

GUNICORN_PID=""
cleanup() {
  local rc=$?
  if [[ -n "$GUNICORN_PID" ]] && kill -0 "$GUNICORN_PID" 2>/dev/null; then
    kill -TERM "$GUNICORN_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$GUNICORN_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$GUNICORN_PID" 2>/dev/null || true
    wait "$GUNICORN_PID" 2>/dev/null || true
    log "gunicorn stopped"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. Virtualenv with the pinned packages ---------------------------------
T0="$(now)"
if [[ ! -x "$PY" ]]; then
  log "creating virtualenv $VENV"
  python3 -m venv "$VENV"
fi
log "installing pinned requirements"
"$PY" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
"$PY" -m pip check --disable-pip-version-check >/dev/null
T_INSTALL="$(since "$T0")"

# 2. Fresh site: database, migrations, staff user and queue --------------
export PEER_STATE_DIR="$STATE"
export PEER_DB="$STATE/helpdesk.sqlite3"
export DJANGO_SETTINGS_MODULE=peersite.settings
T0="$(now)"
rm -f "$PEER_DB" "$PEER_DB-wal" "$PEER_DB-shm" "$PEER_DB-journal"
log "migrating a fresh database at ${PEER_DB#"$REPO"/}"
(cd "$HERE/site" && "$PY" manage.py migrate --noinput -v 0)
T_MIGRATE="$(since "$T0")"

# 3. Tickets --------------------------------------------------------------
T0="$(now)"
log "loading $TICKETS tickets (seed $SEED)"
"$PY" "$HERE/load_tickets.py" --tickets "$TICKETS" --seed "$SEED" \
  --admin-user "$ADMIN_USER" --admin-password "$ADMIN_PASSWORD" \
  --stats-out "$STATE/load-stats.json"
T_LOAD="$(since "$T0")"

# 4. gunicorn on a free loopback port --------------------------------------
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log "starting gunicorn ($WORKERS sync workers) on 127.0.0.1:$PORT"
"$VENV/bin/gunicorn" --chdir "$HERE/site" peersite.wsgi:application \
  --workers "$WORKERS" --worker-class sync --bind "127.0.0.1:$PORT" \
  --timeout 300 --log-level warning \
  --error-logfile "$STATE/gunicorn.log" >>"$STATE/gunicorn.log" 2>&1 &
GUNICORN_PID=$!
for i in $(seq 1 100); do
  if "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
       "http://127.0.0.1:$PORT/helpdesk/login/" 2>/dev/null; then
    break
  fi
  kill -0 "$GUNICORN_PID" 2>/dev/null || { echo "gunicorn exited; see $STATE/gunicorn.log" >&2; exit 1; }
  [[ $i -eq 100 ]] && { echo "gunicorn did not answer within 20 s" >&2; exit 1; }
  sleep 0.2
done

# 5. Measure --------------------------------------------------------------
T0="$(now)"
log "measuring: concurrency $CONCURRENCY, $REQUESTS requests per operation"
MEASURE_RC=0
"$PY" "$HERE/loadgen.py" --url "http://127.0.0.1:$PORT" \
  --user "$ADMIN_USER" --password "$ADMIN_PASSWORD" \
  --concurrency "$CONCURRENCY" --requests "$REQUESTS" --page-size "$PAGE_SIZE" \
  --seed "$SEED" --stats "$STATE/load-stats.json" --master-pid "$GUNICORN_PID" \
  --out "$STATE/measure.json" || MEASURE_RC=$?
T_MEASURE="$(since "$T0")"
[[ -s "$STATE/measure.json" ]] || { echo "load client wrote no results" >&2; exit 1; }

# 6. Result ---------------------------------------------------------------
T_TOTAL="$(since "$T_START")"
TIMINGS="{\"install\": $T_INSTALL, \"migrate\": $T_MIGRATE, \"load\": $T_LOAD, \"measure\": $T_MEASURE, \"total\": $T_TOTAL}"
CONFIG="{\"concurrency\": $CONCURRENCY, \"requests\": $REQUESTS, \"page_size\": $PAGE_SIZE, \"seed\": $SEED, \"gunicorn_workers\": $WORKERS, \"gunicorn_worker_class\": \"sync\", \"database\": \"sqlite (WAL, synchronous=FULL)\", \"bind\": \"127.0.0.1\"}"
"$PY" "$HERE/report.py" --stats "$STATE/load-stats.json" --measure "$STATE/measure.json" \
  --out "$OUT" --command "$COMMAND" --started "$STARTED" \
  --timings "$TIMINGS" --config "$CONFIG" || MEASURE_RC=$?
exit "$MEASURE_RC"
