#!/usr/bin/env bash
# Reproduces models/default.onnx and the numbers in docs/model-card.md:
# seeded synthetic survey → training → ONNX export → evaluation on a separate synthetic test
# set and on the real LAMOST stars in ../shared/data/lamost.
#
#   npm run train:default            (about 30–40 minutes on 2 CPU cores, WASM backend)
#   WORK=/tmp/default npm run train:default
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-runs/default}
TRAIN_N=${TRAIN_N:-50000}
TEST_N=${TEST_N:-20000}
EPOCHS=${EPOCHS:-10}
WIDTH=${WIDTH:-16}
BIN=${BIN:-4}
LAMOST=${LAMOST:-../shared/data/lamost}
cli="node bin/astrospec.js"
mkdir -p "$WORK"
start=$(date +%s)

$cli info
$cli synth -n "$TRAIN_N" --seed 1 -o "$WORK/train.arrow"
$cli synth -n "$TEST_N" --seed 2 -o "$WORK/test.arrow"
$cli train --data "$WORK/train.arrow" --width "$WIDTH" --bin "$BIN" --epochs "$EPOCHS" \
  --seed 1 --out "$WORK/run"
$cli export "$WORK/run" -o "$WORK/default.onnx"
$cli classify "$WORK/test.arrow" --model "$WORK/default.onnx" -o "$WORK/test-predictions.csv"
$cli evaluate "$WORK/test-predictions.csv" --truth "$WORK/test.arrow" --json "$WORK/test-metrics.json"
if [ -d "$LAMOST" ]; then
  for layout in dr1 dr10; do
    $cli classify "$LAMOST/$layout" --model "$WORK/default.onnx" -o "$WORK/lamost-$layout-predictions.csv"
    $cli evaluate "$WORK/lamost-$layout-predictions.csv" --truth "$LAMOST/$layout" --json "$WORK/lamost-$layout-metrics.json"
  done
fi
$cli report --predictions "$WORK/test-predictions.csv" --data "$WORK/test.arrow" \
  --log "$WORK/run/train-log.jsonl" --model "$WORK/default.onnx" -o "$WORK/report.html"
mkdir -p models
cp "$WORK/default.onnx" models/default.onnx.tmp && mv models/default.onnx.tmp models/default.onnx
echo "train:default finished in $(( $(date +%s) - start )) s; model at models/default.onnx, report at $WORK/report.html"
