#!/usr/bin/env bash
# End-to-end check of the Slurm scale-out on a one-node cluster started here:
#  1. installs Debian's slurm-wlm and munge if missing, starts munged, slurmctld and slurmd
#     (scripts/slurm/start-local.sh) and stops them on exit, whatever happens;
#  2. runs a trivial 4-task array job and checks each task saw its index and the task count;
#  3. classifies a small synthetic file as a 4-task array (scripts/slurm/submit.sh --wait, which
#     also merges) and checks the merged file against a single-process classify: same rows,
#     ids, classes and statuses, probabilities within 1e-5.
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

# 3. The real thing.
npx tsc -p tsconfig.json
astrospec=(node "$root/bin/astrospec.js")
# `<command> --help` succeeds even for unknown commands (it prints the main help): look in the list.
has_command() { "${astrospec[@]}" --help 2>/dev/null | grep -q "astrospec $1 "; }
if ! has_command classify; then
  echo "test:slurm: FAIL the classify command is not available (node bin/astrospec.js --help)"; exit 1
fi
"${astrospec[@]}" synth -n "$rows" --seed 11 -o "$work/spectra.arrow" --quiet
# The shipped model, unless MODEL names another ONNX file.
model=${MODEL:-$root/models/default.onnx}

start=$(date +%s)
bash scripts/slurm/submit.sh --input "$work/spectra.arrow" --model "$model" --outdir "$work/run" --shards $shards --cpus 1 --wait
echo "test:slurm: array + merge took $(( $(date +%s) - start )) s"
"${astrospec[@]}" classify "$work/spectra.arrow" --model "$model" -o "$work/single.csv"

node --import tsx scripts/slurm/compare-predictions.ts "$work/run/predictions.csv" "$work/single.csv" "$rows"
for i in $(seq 0 $((shards - 1))); do
  echo "test:slurm: shard $i: $(( $(wc -l <"$work/run/pred.$i.csv") - 1 )) rows"
done
echo "test:slurm: 2 passed, 0 failed"
