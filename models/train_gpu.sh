#!/usr/bin/env bash
# Train DAEFR (all three stages), export, quantize and evaluate inside ONE GPU-machine run.
#
# Made for a lent GPU machine whose command limit is 600 s, with no network and PyTorch installed:
# the training budget (MINUTES, default 7.0) leaves room for data decoding, CUDA start-up, export
# and a short evaluation; every later step is skipped when the deadline (DEADLINE_S after start,
# default 570 s) is too close, and checkpoints are written every minute, so whatever finished comes
# back under $OUT even if the machine's limit strikes.
#
# Data: the crops must travel with the checkout (the machine has no ../shared). Before the run:
#   mkdir -p models/data && cp -r ../shared/data/celeba-6k models/data/    # ~55 MB, gitignored
# and carry "models/data/celeba-6k" (at most 64 MiB travel).
#
# Usage (repository root):
#   OUT=/tmp/out models/train_gpu.sh                                  # lite-128, 7 minutes
#   CONFIG=tiny-32 MINUTES=0.2 STEPS=2 DATA=synthetic OUT=/tmp/t models/train_gpu.sh   # CPU smoke test
# Environment: OUT (default models/runs/gpu), CONFIG (lite-128), MINUTES (7.0), STEPS (unset: time
# budget only), DATA (models/data/celeba-6k/train), TEST_DATA (models/data/celeba-6k/test),
# EVAL_LIMIT (300), DEADLINE_S (570), TRAIN_ARGS (extra train.py arguments, e.g. "--batch 128").
# Outputs: $OUT/run/{stage1,stage2,stage3,model}.pt, metrics.json, $OUT/train.log,
# $OUT/daefr-$CONFIG.onnx (+ -int8.onnx), $OUT/eval.json, $OUT/eval/contact-*.png (CelebA faces:
# keep them out of git), $OUT/env.txt.
set -euo pipefail
START=$(date +%s)
cd "$(dirname "$0")/.."
OUT=${OUT:-models/runs/gpu}
CONFIG=${CONFIG:-lite-128}
MINUTES=${MINUTES:-7.0}
STEPS=${STEPS:-}
DATA=${DATA:-models/data/celeba-6k/train}
TEST_DATA=${TEST_DATA:-models/data/celeba-6k/test}
EVAL_LIMIT=${EVAL_LIMIT:-300}
DEADLINE_S=${DEADLINE_S:-570}
TRAIN_ARGS=${TRAIN_ARGS:-}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/models${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

left() { echo $(( DEADLINE_S - ($(date +%s) - START) )); }
note() { echo "[train_gpu $(( $(date +%s) - START ))s] $*" | tee -a "$OUT/train.log"; }

{
  date -u; uname -a; python3 --version
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  nproc
} > "$OUT/env.txt" 2>&1
note "config=$CONFIG minutes=$MINUTES steps=${STEPS:-none} data=$DATA out=$OUT"
if [ "$DATA" != synthetic ] && [ ! -d "$DATA" ]; then
  note "data folder $DATA missing: copy ../shared/data/celeba-6k to models/data/ and carry it"; exit 2
fi

STEP_ARGS=()
[ -n "$STEPS" ] && STEP_ARGS=(--steps "$STEPS")
note "training"
timeout "$(left)" python3 -m daefr_models.train --stage all --config "$CONFIG" --data "$DATA" \
  --out "$OUT/run" --minutes "$MINUTES" "${STEP_ARGS[@]}" --ckpt-seconds 60 $TRAIN_ARGS \
  2>&1 | tr '\r' '\n' | grep --line-buffered -v '^stage [0-9]: *[0-9]*%.*[0-9]s/s\|^$' | tee -a "$OUT/train.log" || true
if [ ! -f "$OUT/run/model.pt" ]; then
  note "no model.pt (training did not finish); partial checkpoints are in $OUT/run"; exit 1
fi

if ! python3 -c "import onnx, onnxruntime" 2>/dev/null; then
  note "onnx/onnxruntime not installed here: export later with"
  note "  python -m daefr_models.export --checkpoint $OUT/run/model.pt --template models/template-celeba-128.json --force -o models/daefr-$CONFIG.onnx"
  exit 0
fi
TEMPLATE=models/template-celeba-${CONFIG##*-}.json
if [ "$(left)" -gt 40 ]; then
  note "export"
  timeout "$(left)" python3 -m daefr_models.export --checkpoint "$OUT/run/model.pt" --template "$TEMPLATE" \
    -o "$OUT/daefr-$CONFIG.onnx" 2>&1 | grep -v Warning | tee -a "$OUT/train.log" || true
fi
if [ -f "$OUT/daefr-$CONFIG.onnx" ] && [ "$(left)" -gt 30 ]; then
  note "quantize"
  timeout "$(left)" python3 -m daefr_models.quantize "$OUT/daefr-$CONFIG.onnx" -o "$OUT/daefr-$CONFIG-int8.onnx" \
    2>&1 | tee -a "$OUT/train.log" || true
fi
if [ "$(left)" -gt 30 ]; then
  EVAL_DATA=$TEST_DATA
  [ -d "$EVAL_DATA" ] || EVAL_DATA=tests/fixtures/astronaut.png
  MODELS=()
  for m in "$OUT/daefr-$CONFIG.onnx" "$OUT/daefr-$CONFIG-int8.onnx"; do [ -f "$m" ] && MODELS+=(--model "$m"); done
  note "evaluate on $EVAL_DATA (limit $EVAL_LIMIT)"
  timeout "$(left)" python3 -m daefr_models.evaluate --checkpoint "$OUT/run/model.pt" "${MODELS[@]}" \
    --data "$EVAL_DATA" --limit "$EVAL_LIMIT" --levels mild,moderate,severe --seed 0 --threads 4 \
    --json "$OUT/eval.json" --sheet-dir "$OUT/eval" 2>&1 | tee -a "$OUT/train.log" || true
fi
note "done"
