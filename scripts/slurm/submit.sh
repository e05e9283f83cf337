#!/usr/bin/env bash
# Classifies a catalogue on a Slurm cluster: lists the dataset once, sizes a job array from its
# rows, submits classify.sbatch as that array, then merge.sbatch to run when all tasks succeeded.
#
#   scripts/slurm/submit.sh --input dr10-chunks/ [--input more.csv …] --model model.onnx --outdir runs/dr10 \
#       [--shards N | --rows-per-shard 100000] [--cpus 2] [--partition p] [--time 01:00:00] \
#       [--max-running 50] [--resume] [--wait] [-- classify options...]
#
# --input: a file, a folder (Arrow chunks with a manifest, FITS, CSV…), a glob (quoted) or
# @list.txt; repeat it for several. The files are listed once into <outdir>/dataset.txt, with each
# file's size and modification time, and every task reads @<outdir>/dataset.txt: all tasks see the
# same files whatever is added later, and a task fails, naming the file, if one has changed since.
# --shards N, or N = rows / --rows-per-shard (default 100000; for CSV, rows estimated from the
# sizes and first lines: `astrospec plan`). The shard count is kept in <outdir>/shards.
# --resume: reruns only the shards whose <outdir>/pred.<i>.csv is missing or incomplete (as
# classify --resume checks them), with the dataset and shard count of the first submission; if
# every shard is complete, only the merge runs (or nothing, when predictions.csv exists).
# --wait blocks until the merge job has finished and fails if it (or any shard) failed.
# Run from the repository root (or set ASTROSPEC_ROOT); paths must be visible from every node.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
inputs=() model='' outdir='' shards='' per_shard='' cpus=2 partition='' time='' throttle='' wait=0 resume=0
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --input) inputs+=("$2"); shift 2 ;;
    --model) model=$2; shift 2 ;;
    --outdir) outdir=$2; shift 2 ;;
    --shards) shards=$2; shift 2 ;;
    --rows-per-shard) per_shard=$2; shift 2 ;;
    --cpus) cpus=$2; shift 2 ;;
    --partition) partition=$2; shift 2 ;;
    --time) time=$2; shift 2 ;;
    --max-running) throttle=$2; shift 2 ;;
    --resume) resume=1; shift ;;
    --wait) wait=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "submit.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
for name in model outdir; do
  if [[ -z ${!name} ]]; then echo "submit.sh: --$name is required" >&2; exit 2; fi
done
if [[ -n $shards ]] && ! [[ $shards =~ ^[1-9][0-9]*$ ]]; then echo "submit.sh: --shards must be a positive integer" >&2; exit 2; fi
if [[ -n $per_shard ]] && ! [[ $per_shard =~ ^[1-9][0-9]*$ ]]; then echo "submit.sh: --rows-per-shard must be a positive integer" >&2; exit 2; fi
if [[ -n $shards && -n $per_shard ]]; then echo "submit.sh: give --shards or --rows-per-shard, not both" >&2; exit 2; fi

# Absolute paths: the jobs may start in another directory.
abs() { [[ $1 == /* ]] && echo "$1" || echo "$PWD/$1"; }
model=$(abs "$model") outdir=$(abs "$outdir")
mkdir -p "$outdir/logs"
export ASTROSPEC_ROOT=${ASTROSPEC_ROOT:-$(cd "$here/../.." && pwd)}
read -r -a astrospec <<<"${ASTROSPEC:-node $ASTROSPEC_ROOT/bin/astrospec.js}"
json() { node -e 'const j = JSON.parse(require("fs").readFileSync(0, "utf8")); const v = j[process.argv[1]]; console.log(Array.isArray(v) ? v.join(",") : v)' "$1"; }

list="$outdir/dataset.txt"
if [[ $resume == 1 ]]; then
  if [[ ! -s $list || ! -s $outdir/shards ]]; then echo "submit.sh: --resume needs an earlier submission in $outdir (dataset.txt and shards)" >&2; exit 2; fi
  previous=$(cat "$outdir/shards")
  if [[ -n $shards && $shards != "$previous" ]]; then echo "submit.sh: --resume: $outdir was split into $previous shards, not $shards" >&2; exit 2; fi
  shards=$previous
  if ((${#inputs[@]} > 0)); then echo "submit.sh: --resume uses the dataset listed in $list; --input ignored" >&2; fi
else
  if ((${#inputs[@]} == 0)); then echo "submit.sh: --input is required" >&2; exit 2; fi
  abs_inputs=()
  for input in "${inputs[@]}"; do
    if [[ $input == @* ]]; then abs_inputs+=("@$(abs "${input#@}")"); else abs_inputs+=("$(abs "$input")"); fi
  done
  sizing=(--rows-per-shard "${per_shard:-100000}")
  [[ -n $shards ]] && sizing=(--shards "$shards")
  # Lists the files once (dataset.txt) and sizes the array from their rows: footers, manifests, stat.
  plan=$("${astrospec[@]}" plan "${abs_inputs[@]}" "${sizing[@]}" --list-out "$list" --json)
  shards=$(json shards <<<"$plan")
  echo "$shards" >"$outdir/shards"
  echo "submit.sh: $(json files <<<"$plan") files, $(json bytes <<<"$plan") bytes, rows $(json rows <<<"$plan") (estimated $(json estimated_rows <<<"$plan")), $(json split <<<"$plan") split into $shards shards"
fi

ids="0-$((shards - 1))"
if [[ $resume == 1 ]]; then
  status=$("${astrospec[@]}" plan "@$list" --shards "$shards" --outdir "$outdir" --json --quiet)
  ids=$(json incomplete <<<"$status")
  done_count=$(json complete <<<"$status" | tr ',' '\n' | grep -c . || true)
  echo "submit.sh: --resume: $done_count of $shards shards complete; to run: ${ids:-none}"
fi

common=(--parsable --chdir="$outdir" --export=ALL)
[[ -n $partition ]] && common+=(--partition="$partition")
[[ -n $time ]] && common+=(--time="$time")
merge_args=("${common[@]}" --output="$outdir/logs/merge.%j.out")

if [[ -n $ids ]]; then
  classify_job=$(sbatch "${common[@]}" --array="$ids${throttle:+%$throttle}" --cpus-per-task="$cpus" \
    --output="$outdir/logs/classify.%A_%a.out" \
    "$here/classify.sbatch" "@$list" "$model" "$outdir" "$shards" "${extra[@]}")
  classify_job=${classify_job%%;*}
  echo "classify array job $classify_job: tasks $ids of $shards → $outdir/pred.<i>.csv"
  merge_args+=(--dependency="afterok:$classify_job" --kill-on-invalid-dep=yes)
elif [[ -s $outdir/predictions.csv ]]; then
  echo "submit.sh: every shard is complete and $outdir/predictions.csv exists: nothing to do"
  exit 0
fi
[[ $wait == 1 ]] && merge_args+=(--wait)
if [[ $wait == 1 ]]; then
  echo "merge job (waiting for it) → $outdir/predictions.csv"
  sbatch "${merge_args[@]}" "$here/merge.sbatch" "$outdir" "$shards" "@$list" "$outdir/predictions.csv"
else
  merge_job=$(sbatch "${merge_args[@]}" "$here/merge.sbatch" "$outdir" "$shards" "@$list" "$outdir/predictions.csv")
  echo "merge job ${merge_job%%;*}${ids:+ (after all tasks succeed)} → $outdir/predictions.csv"
fi
