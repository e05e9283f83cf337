#!/usr/bin/env bash
# Classifies a catalogue on a Slurm cluster: submits classify.sbatch as an array of <shards>
# tasks, then merge.sbatch to run when all of them succeeded. Prints the two job ids.
#
#   scripts/slurm/submit.sh --input all.arrow --model model.onnx --outdir runs/dr10 --shards 100 \
#       [--cpus 4] [--partition p] [--time 02:00:00] [--max-running 20] [--wait] [-- classify options...]
#
# --wait blocks until the merge job has finished and fails if it (or any shard) failed.
# Run from the repository root (or set ASTROSPEC_ROOT); paths must be visible from every node.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
input='' model='' outdir='' shards='' cpus=2 partition='' time='' throttle='' wait=0
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --input) input=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --outdir) outdir=$2; shift 2 ;;
    --shards) shards=$2; shift 2 ;;
    --cpus) cpus=$2; shift 2 ;;
    --partition) partition=$2; shift 2 ;;
    --time) time=$2; shift 2 ;;
    --max-running) throttle=$2; shift 2 ;;
    --wait) wait=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "submit.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
for name in input model outdir shards; do
  if [[ -z ${!name} ]]; then echo "submit.sh: --$name is required" >&2; exit 2; fi
done
if ! [[ $shards =~ ^[1-9][0-9]*$ ]]; then echo "submit.sh: --shards must be a positive integer" >&2; exit 2; fi

# Absolute paths: the jobs may start in another directory.
abs() { [[ $1 == /* ]] && echo "$1" || echo "$PWD/$1"; }
input=$(abs "$input") model=$(abs "$model") outdir=$(abs "$outdir")
mkdir -p "$outdir/logs"
export ASTROSPEC_ROOT=${ASTROSPEC_ROOT:-$(cd "$here/../.." && pwd)}

common=(--parsable --chdir="$outdir" --export=ALL)
[[ -n $partition ]] && common+=(--partition="$partition")
[[ -n $time ]] && common+=(--time="$time")
array="0-$((shards - 1))${throttle:+%$throttle}"

classify_job=$(sbatch "${common[@]}" --array="$array" --cpus-per-task="$cpus" \
  --output="$outdir/logs/classify.%A_%a.out" \
  "$here/classify.sbatch" "$input" "$model" "$outdir" "${extra[@]}")
classify_job=${classify_job%%;*}
merge_args=("${common[@]}" --dependency="afterok:$classify_job" --kill-on-invalid-dep=yes --output="$outdir/logs/merge.%j.out")
[[ $wait == 1 ]] && merge_args+=(--wait)
echo "classify array job $classify_job: $shards tasks → $outdir/pred.<i>.csv"
if [[ $wait == 1 ]]; then
  echo "merge job (waiting for it) → $outdir/predictions.csv"
  sbatch "${merge_args[@]}" "$here/merge.sbatch" "$outdir" "$shards" "$input" "$outdir/predictions.csv"
else
  merge_job=$(sbatch "${merge_args[@]}" "$here/merge.sbatch" "$outdir" "$shards" "$input" "$outdir/predictions.csv")
  echo "merge job ${merge_job%%;*} (after all tasks succeed) → $outdir/predictions.csv"
fi
