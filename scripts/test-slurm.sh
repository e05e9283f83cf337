#!/usr/bin/env bash
# End-to-end check of the Slurm scale-out on a one-node cluster started here:
#  1. installs Debian's slurm-wlm and munge if missing, starts munged, slurmctld and slurmd
#     (scripts/slurm/start-local.sh) and stops them on exit, whatever happens;
#  2. runs a trivial 4-task array job and checks each task saw its index and the task count;
#  3. classifies a small synthetic survey as a folder of Arrow chunks and as a CSV, each as a job
#     array (scripts/slurm/submit.sh --wait, which also merges), and checks each merged file is
#     identical to a single-process classify; then removes one shard, cuts another, and checks
#     submit.sh --resume reruns only those two and the merge is identical again; and that --resume
#     refuses, naming the file, once the CSV has changed since it was listed.
# Not part of `npm test` (needs root, apt and a few minutes). DAEMONS_ONLY=1 stops after step 2.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rows=${ROWS:-400}
shards=4

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "test:slurm: installing slurm-wlm and munge (apt)"
  flock /tmp/astrospec-apt.lock sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null'
fi

work=$(mktemp -d /tmp/astrospec-slurm-test.XXXXXX)
export ASTROSPEC_SLURM_DIR=$work/cluster
# One test cluster at a time on this machine (fixed ports).
exec 9>/tmp/astrospec-slurm.lock
flock 9
cleanup() {
  local status=$?
  bash scripts/slurm/stop-local.sh
  if [[ $status == 0 && -z ${KEEP:-} ]]; then rm -rf "$work"; else echo "test:slurm: files kept in $work"; fi
}
trap cleanup EXIT
eval "$(bash scripts/slurm/start-local.sh)"
echo "test:slurm: $(sinfo --version), SLURM_CONF=$SLURM_CONF"

# 2. A trivial array: each task writes "<index>/<count>".
mkdir -p "$work/trivial"
sbatch --wait --quiet --array=0-3 --chdir="$work/trivial" --output="$work/trivial/%a.out" \
  --wrap 'echo "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" > task.$SLURM_ARRAY_TASK_ID'
for i in 0 1 2 3; do
  got=$(cat "$work/trivial/task.$i" 2>/dev/null || echo missing)
  [[ $got == "$i/4" ]] || { echo "test:slurm: FAIL trivial array task $i wrote '$got', expected '$i/4'"; exit 1; }
done
echo "test:slurm: trivial 4-task array ran: $(cat "$work"/trivial/task.* | tr '\n' ' ')"
if [[ -n ${DAEMONS_ONLY:-} ]]; then echo "test:slurm: 1 passed, 0 failed"; exit 0; fi

# 3. The real thing: a folder of Arrow chunks and a CSV, each as a job array merged and compared
# with one process; then a resubmission after losing two shards reruns only those two.
npx tsc -p tsconfig.json
astrospec=(node "$root/bin/astrospec.js")
# `<command> --help` succeeds even for unknown commands (it prints the main help): look in the list.
has_command() { "${astrospec[@]}" --help 2>/dev/null | grep -q "astrospec $1 "; }
for command in classify plan merge; do
  if ! has_command $command; then
    echo "test:slurm: FAIL the $command command is not available (node bin/astrospec.js --help)"; exit 1
  fi
done
"${astrospec[@]}" synth -n "$rows" --seed 11 -o "$work/spectra.arrow" --quiet
"${astrospec[@]}" convert "$work/spectra.arrow" --chunk-rows $((rows / 4 + 7)) -o "$work/chunks" --quiet
"${astrospec[@]}" convert "$work/spectra.arrow" -o "$work/spectra.csv" --quiet
# The shipped model, unless MODEL names another ONNX file.
model=${MODEL:-$root/models/default.onnx}
passed=0

# run <name> <submit.sh sizing...> -- <inputs...>: array + merge, then one process, then identical files.
run() {
  local name=$1; shift
  local sizing=() inputs=()
  while [[ $1 != -- ]]; do sizing+=("$1"); shift; done
  shift
  for input in "$@"; do inputs+=(--input "$input"); done
  local start; start=$(date +%s)
  bash scripts/slurm/submit.sh "${inputs[@]}" --model "$model" --outdir "$work/$name" "${sizing[@]}" --cpus 1 --wait
  echo "test:slurm: $name: array + merge took $(( $(date +%s) - start )) s"
  "${astrospec[@]}" classify "$@" --model "$model" -o "$work/$name.single.csv" --quiet
  node --import tsx scripts/slurm/compare-predictions.ts "$work/$name/predictions.csv" "$work/$name.single.csv" "$rows"
  cmp "$work/$name/predictions.csv" "$work/$name.single.csv" || { echo "test:slurm: FAIL $name: merged file differs from the single-process one"; exit 1; }
  local n; n=$(cat "$work/$name/shards")
  for ((i = 0; i < n; i++)); do
    echo "test:slurm: $name shard $i: $(grep -vc '^#' "$work/$name/pred.$i.csv") lines"
  done
  echo "test:slurm: $name: merged file identical to one process"
  passed=$((passed + 1))
}
run chunks --shards 4 -- "$work/chunks"
run csv --rows-per-shard $((rows / 3)) -- "$work/spectra.csv"

# Lose shard 1 (cut short) and shard 2 (removed) and the merged file; --resume reruns only those.
n=$(cat "$work/csv/shards")
head -n 20 "$work/csv/pred.1.csv" >"$work/cut" && mv "$work/cut" "$work/csv/pred.1.csv"
rm "$work/csv/pred.2.csv" "$work/csv/predictions.csv"
before=$(ls "$work"/csv/logs/classify.*.out | wc -l)
bash scripts/slurm/submit.sh --outdir "$work/csv" --model "$model" --resume --wait
after=$(ls "$work"/csv/logs/classify.*.out | wc -l)
[[ $((after - before)) == 2 ]] || { echo "test:slurm: FAIL --resume ran $((after - before)) tasks, expected 2 (shards 1 and 2)"; exit 1; }
cmp "$work/csv/predictions.csv" "$work/csv.single.csv" || { echo "test:slurm: FAIL resumed merge differs"; exit 1; }
echo "test:slurm: --resume reran 2 of $n shards; merged file identical again"
passed=$((passed + 1))

# The CSV changed since the submission listed it: --resume refuses, naming it, and submits nothing.
rm "$work/csv/pred.3.csv"
echo >>"$work/spectra.csv"
jobs_before=$(ls "$work"/csv/logs/ | wc -l)
if bash scripts/slurm/submit.sh --outdir "$work/csv" --model "$model" --resume --wait 2>"$work/changed.err"; then
  echo "test:slurm: FAIL --resume accepted a dataset changed since it was listed"; exit 1
fi
grep -q "spectra.csv: changed after it was listed in $work/csv/dataset.txt" "$work/changed.err" || { echo "test:slurm: FAIL unexpected error for a changed dataset:"; cat "$work/changed.err"; exit 1; }
[[ $(ls "$work"/csv/logs/ | wc -l) == "$jobs_before" ]] || { echo "test:slurm: FAIL a job ran on a changed dataset"; exit 1; }
echo "test:slurm: a CSV changed after submission: --resume refused it ($(head -c 160 "$work/changed.err")…)"
passed=$((passed + 1))
echo "test:slurm: $((passed + 1)) passed, 0 failed"
