#!/usr/bin/env bash
# libFuzzer + AddressSanitizer + UBSan on the native CSV parser (native/fuzz/): csv_rows_fuzz
# (csv_parse_rows against a plain reference parser) and csv_number_fuzz (csv_parse_float against
# std::from_chars, and csv_format_rows → csv_parse_float round trips), one process each, side by
# side, for --seconds each. Builds with clang into build-fuzz/ (installs Debian's clang when it is
# missing and apt-get is there, as scripts/test-slurm.sh does for Slurm), seeds each corpus from
# native/fuzz/corpus/ plus slices of ../shared/data/peer-files made at run time, and prints the
# executions and findings of each; with --json also one JSON object as the last line.
# Exit 1 when a harness found something (its input is saved under build-fuzz/findings/).
#
#   npm run -s fuzz:native -- --seconds 600 [--json] [--no-install]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
json=0
install=1
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --json) json=1; shift ;;
    --no-install) install=0; shift ;;
    *) echo "usage: fuzz-native.sh [--seconds N] [--json] [--no-install]" >&2; exit 2 ;;
  esac
done
log() { if [ "$json" = 1 ]; then echo "$@" >&2; else echo "$@"; fi; }

if ! command -v clang++ >/dev/null 2>&1; then
  if [ "$install" = 1 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "fuzz:native: installing clang (libFuzzer) with apt-get"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang) >&2
  else
    echo "fuzz:native: clang++ not found (libFuzzer needs clang): apt-get install clang" >&2
    exit 3
  fi
fi

build=build-fuzz
generator=$(command -v ninja >/dev/null && echo Ninja || echo 'Unix Makefiles')
# Runs may overlap (npm test's smoke run beside a long one): one builds at a time, and each logs
# to its own folder. A shared folder, emptied by each run, once made a 600 s run report the
# executions of a 4 s one that started while it ran.
mkdir -p "$build"
(
  flock 9
  CXX=clang++ cmake -S native/fuzz -B "$build" -G "$generator" -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build "$build" -j "$(nproc)" >/dev/null
) 9>"$build/.build-lock"

# Each run starts from the committed seeds plus what earlier runs on this machine kept.
mkdir -p "$build/runs" "$build/findings"
runs=$(mktemp -d "$build/runs/run-XXXXXX")
trap 'rm -rf "$runs/seeds"' EXIT
touch "$runs/.start"
node native/fuzz/make-seeds.mjs "$runs/seeds"
cp -r native/fuzz/corpus/. "$runs/seeds/"

declare -A max_len=([csv_rows_fuzz]=8192 [csv_number_fuzz]=512)
declare -A corpus=([csv_rows_fuzz]=csv_rows [csv_number_fuzz]=csv_number)
started=$(date +%s)
for name in csv_rows_fuzz csv_number_fuzz; do
  dir="$build/corpus/${corpus[$name]}"
  mkdir -p "$dir"
  "$build/$name" "$dir" "$runs/seeds/${corpus[$name]}" -dict=native/fuzz/csv.dict \
    -max_total_time="$seconds" -max_len="${max_len[$name]}" -timeout=5 -rss_limit_mb=1024 -malloc_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$build/findings/$name-" >"$runs/$name.log" 2>&1 &
done
wait
elapsed=$(( $(date +%s) - started ))

total=0
parts=()
findings=0
for name in csv_rows_fuzz csv_number_fuzz; do
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$runs/$name.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$runs/$name.log" | tail -1)
  execs=${execs:-0}
  found=$(grep -cE '^(==[0-9]+==ERROR|SUMMARY: |csv_parse_rows differs|csv number harness)' "$runs/$name.log" || true)
  artifacts=$(find "$build/findings" -name "$name-*" -newer "$runs/.start" 2>/dev/null | wc -l)
  n=$(( found > 0 || artifacts > 0 ? (artifacts > 0 ? artifacts : 1) : 0 ))
  findings=$(( findings + n ))
  total=$(( total + execs ))
  log "$name: $execs executions (${rate:-0}/s), $n findings"
  if [ "$n" -gt 0 ]; then
    grep -E 'ERROR|SUMMARY|differs|harness|Test unit written' "$runs/$name.log" | head -8 >&2 || true
  fi
  parts+=("\"$name\":{\"executions\":$execs,\"perSecond\":${rate:-0},\"findings\":$n}")
done
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //' || echo unknown)
log "native CSV parser: $total executions in $elapsed s, $findings findings (clang $(clang++ -dumpversion), $cpu, $(nproc) cores)"
if [ "$json" = 1 ]; then
  printf '{"seconds":%s,"executions":%s,"findings":%s,%s,"machine":{"cpu":"%s","cores":%s,"clang":"%s","loadAverage1m":%s}}\n' \
    "$elapsed" "$total" "$findings" "$(IFS=,; echo "${parts[*]}")" "$cpu" "$(nproc)" "$(clang++ -dumpversion)" "$(cut -d' ' -f1 /proc/loadavg)"
fi
[ "$findings" = 0 ] || exit 1
