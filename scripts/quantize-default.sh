#!/usr/bin/env bash
# Reproduces models/default.int8.onnx from models/default.onnx (deterministic: the same bytes
# from the same fp32 model), and its numbers in docs/model-card.md, "The int8 model":
#   calibration: 4 096 spectra of the validation survey's kind (mixed generator, training
#                templates, seed 3), activation ranges at the 99.99th percentile of |x|
#   tests      : the physics survey (seed 2) and the held-out-template survey (seed 4), 20 000
#                each, and, when ../shared/data is there, the real LAMOST and BOSS spectra.
#
#   npm run model:int8            (about a minute on 2 CPU cores)
set -euo pipefail
cd "$(dirname "$0")/.."
FP32=${FP32:-models/default.onnx}
WORK=${WORK:-runs/int8}
INSTALL=${INSTALL:-1}
DATA=${DATA:-../shared/data}
cli="node bin/astrospec.js"
mkdir -p "$WORK"
[ -f "$WORK/calibration.arrow" ] || $cli synth -n 4096 --seed 3 --generator mixed --templates train --mix 0.5,0.25,0.25 \
  --snr-min 1 --snr-max 100 -o "$WORK/calibration.arrow"
$cli export "$FP32" --quantize int8 --calibration "$WORK/calibration.arrow" -o "$WORK/default.int8.onnx"
[ -f "$WORK/test.arrow" ] || $cli synth -n 20000 --seed 2 -o "$WORK/test.arrow"
[ -f "$WORK/heldout.arrow" ] || $cli synth -n 20000 --seed 4 --generator templates --templates heldout -o "$WORK/heldout.arrow"

evaluate() { # name input [evaluate options], for both models: metrics JSON, and the int8 model's changed classes
  local name=$1 input=$2
  shift 2
  for model in fp32:"$FP32" int8:"$WORK/default.int8.onnx"; do
    $cli classify "$input" --model "${model#*:}" -o "$WORK/$name-${model%%:*}.csv" --quiet
    $cli evaluate "$WORK/$name-${model%%:*}.csv" "$@" --json "$WORK/$name-${model%%:*}-metrics.json"
  done
  node --import tsx --input-type=module -e '
    import { readPredictions } from "./src/infer/predictions.ts";
    const [a, b] = await Promise.all(process.argv.slice(1).map((f) => readPredictions(f)));
    const changed = a.predicted.filter((k, i) => k !== b.predicted[i]).length;
    console.log(`${process.argv[1].split("/").pop()}: ${changed} of ${a.ids.length} rows change class in int8`);' \
    "$WORK/$name-fp32.csv" "$WORK/$name-int8.csv"
}
evaluate test "$WORK/test.arrow" --truth "$WORK/test.arrow"
evaluate heldout "$WORK/heldout.arrow" --truth "$WORK/heldout.arrow"
if [ -d "$DATA/lamost" ]; then
  for layout in dr1 dr10; do evaluate "lamost-$layout" "$DATA/lamost/$layout" --truth "$DATA/lamost/$layout"; done
fi
if [ -d "$DATA/boss" ]; then evaluate boss "$DATA/boss/spectra" --labels "$DATA/boss/labels.csv"; fi
if [ "$INSTALL" = 1 ]; then
  cp "$WORK/default.int8.onnx" models/default.int8.onnx.tmp && mv models/default.int8.onnx.tmp models/default.int8.onnx
fi
