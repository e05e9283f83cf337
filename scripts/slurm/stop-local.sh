#!/usr/bin/env bash
# Stops the daemons start-local.sh started (listed with their pids in $dir/started), newest
# first, and nothing else.
set -uo pipefail
dir=${ASTROSPEC_SLURM_DIR:-/tmp/astrospec-slurm}
[[ -f $dir/started ]] || exit 0
tac "$dir/started" | while read -r name pid; do
  [[ -n ${pid:-} ]] || continue
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "stop-local: stopped $name ($pid)" >&2
  fi
done
: >"$dir/started"
