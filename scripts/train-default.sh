#!/usr/bin/env bash
# Reproduces models/default.onnx and the numbers in docs/model-card.md (seeded):
#   training  : a mixed survey, physics models + real-spectrum templates (the held-out quarter of
#               the templates excluded), classes 50/25/25, r-band S/N 1–100
#   validation: a separate mixed survey (seed 3) for temperature scaling
#   tests     : the physics survey (seed 2, the survey's own mix), a survey built only from the
#               held-out templates (leave-templates-out), and, when ../shared/data is there, the
#               580 real LAMOST stars and the 140 real BOSS spectra with their visual labels.
#
#   npm run train:default                       (about 25 minutes on 2 CPU cores, WASM backend)
#   WIDTH=16 BIN=2 WORK=runs/w16-bin2 INSTALL=0 npm run train:default   (another configuration, not installed)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-runs/default}
TRAIN_N=${TRAIN_N:-100000}
VAL_N=${VAL_N:-10000}
TEST_N=${TEST_N:-20000}
EPOCHS=${EPOCHS:-11}
WIDTH=${WIDTH:-16}
BIN=${BIN:-4}
INSTALL=${INSTALL:-1}
DEEP_GALAXIES=${DEEP_GALAXIES:-0}
DATA=${DATA:-../shared/data}
cli="node bin/astrospec.js"
mkdir -p "$WORK"
start=$(date +%s)
mixed="--generator mixed --templates train --mix 0.5,0.25,0.25 --snr-min 1 --snr-max 100 --deep-galaxies $DEEP_GALAXIES"

$cli info
[ -f "$WORK/train.arrow" ] || $cli synth -n "$TRAIN_N" --seed 1 $mixed -o "$WORK/train.arrow"
[ -f "$WORK/val.arrow" ] || $cli synth -n "$VAL_N" --seed 3 $mixed -o "$WORK/val.arrow"
[ -f "$WORK/test.arrow" ] || $cli synth -n "$TEST_N" --seed 2 -o "$WORK/test.arrow"
[ -f "$WORK/heldout.arrow" ] || $cli synth -n "$TEST_N" --seed 4 --generator templates --templates heldout -o "$WORK/heldout.arrow"
$cli train --data "$WORK/train.arrow" --val-data "$WORK/val.arrow" --width "$WIDTH" --bin "$BIN" --epochs "$EPOCHS" \
  --seed 1 --out "$WORK/run"
$cli calibrate "$WORK/run" --data "$WORK/val.arrow"
$cli export "$WORK/run" -o "$WORK/default.onnx"

evaluate() { # name input [evaluate options]: metrics JSON and the model card's markdown tables
  local name=$1 input=$2
  shift 2
  $cli classify "$input" --model "$WORK/default.onnx" -o "$WORK/$name-predictions.csv" --quiet
  $cli evaluate "$WORK/$name-predictions.csv" "$@" --json "$WORK/$name-metrics.json"
  node --import tsx scripts/score-tables.ts "$WORK/$name-predictions.csv" "$@" --title "$name" > "$WORK/$name-tables.md"
  node --import tsx scripts/redshift-tables.ts "$WORK/$name-predictions.csv" "$@" --title "$name" > "$WORK/$name-redshift.md"
}
evaluate test "$WORK/test.arrow" --truth "$WORK/test.arrow"
evaluate heldout "$WORK/heldout.arrow" --truth "$WORK/heldout.arrow"
if [ -d "$DATA/lamost" ]; then
  for layout in dr1 dr10; do evaluate "lamost-$layout" "$DATA/lamost/$layout" --truth "$DATA/lamost/$layout"; done
fi
if [ -d "$DATA/boss" ]; then
  evaluate boss "$DATA/boss/spectra" --labels "$DATA/boss/labels.csv"
  node --import tsx scripts/pipeline-baseline.ts "$WORK/boss-predictions.csv" --labels "$DATA/boss/labels.csv" > "$WORK/boss-pipeline.md"
fi
# The out-of-distribution flag per synthetic OOD family and on the real spectra (docs/ood.md).
node --import tsx scripts/ood-table.ts "$WORK/default.onnx" > "$WORK/ood-table.md"
$cli report --predictions "$WORK/test-predictions.csv" --data "$WORK/test.arrow" \
  --log "$WORK/run/train-log.jsonl" --model "$WORK/default.onnx" -o "$WORK/report.html"
if [ "$INSTALL" = 1 ]; then
  mkdir -p models
  cp "$WORK/default.onnx" models/default.onnx.tmp && mv models/default.onnx.tmp models/default.onnx
  # Its int8 export, from the model just installed (docs/model-card.md, "The int8 model").
  WORK="$WORK/int8" DATA="$DATA" bash scripts/quantize-default.sh
fi
echo "train:default finished in $(( $(date +%s) - start )) s; model at $WORK/default.onnx${INSTALL:+ (installed: $INSTALL)}, report at $WORK/report.html"
