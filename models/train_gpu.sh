#!/usr/bin/env bash
# Train DAEFR (all four stages), export, fit the auto-fidelity curve, quantize and evaluate on the
# held-out identities inside ONE GPU-machine run.
#
# Made for a lent GPU machine whose command limit is 600 s, with no network and PyTorch installed:
# the training budget (MINUTES, default 7.0) leaves room for data decoding, CUDA start-up, export
# and a short evaluation; every later step is skipped when the deadline (DEADLINE_S after start,
# default 570 s) is too close, and checkpoints are written every minute, so whatever finished comes
# back under $OUT even if the machine's limit strikes.
#
# Data: the crops must travel with the checkout (the machine has no ../shared). Before the run:
#   mkdir -p models/data && cp -r ../shared/data/celeba-6k models/data/    # ~55 MB, gitignored
# and carry "models/data/celeba-6k" (at most 64 MiB travel). The run makes the identity split there
# (`daefr_models.splits`): it trains on identities celeb_0..celeb_179 and measures on
# celeb_180..celeb_199, whom no stage sees (celeba-6k/test holds the *same* 200 people as train/,
# so it is no test of a prior).
#
# Usage (repository root):
#   OUT=/tmp/out models/train_gpu.sh                                  # lite-128-s2d, 7 minutes
#   CONFIG=tiny-32 MINUTES=0.2 STEPS=2 DATA=synthetic OUT=/tmp/t models/train_gpu.sh   # CPU smoke test
# Environment: OUT (default models/runs/gpu), CONFIG (lite-128-s2d, the bundled form), MINUTES
# (7.0), STEPS (unset: time budget only), CELEBA (models/data/celeba-6k), DATA (unset: the split's
# train-180), TEST_DATA (unset: the split's holdout, or the bundled portrait when DATA is given),
# EVAL_LIMIT (100), DEADLINE_S (570), TRAIN_ARGS (extra train.py
# arguments, e.g. "--batch 128 --occlude 0.25").
# Outputs: $OUT/run/{stage1,stage2,stage3,stage4,model}.pt, metrics.json, $OUT/train.log,
# $OUT/daefr-$CONFIG.onnx (+ -int8.onnx; the auto curve in both when onnx is installed),
# $OUT/curve.json, $OUT/eval.json, $OUT/eval/contact-*.png (CelebA faces: keep them out of git),
# $OUT/env.txt. Back here: whole-photo figures with `photo_eval` through `daefr restore`, and
# `make_bundled.sh` with RUN=$OUT/run to ship.
set -euo pipefail
START=$(date +%s)
cd "$(dirname "$0")/.."
OUT=${OUT:-models/runs/gpu}
CONFIG=${CONFIG:-lite-128-s2d}
MINUTES=${MINUTES:-7.0}
STEPS=${STEPS:-}
CELEBA=${CELEBA:-models/data/celeba-6k}
DATA=${DATA:-}
TEST_DATA=${TEST_DATA:-}
EVAL_LIMIT=${EVAL_LIMIT:-100}
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
if [ -z "$DATA" ]; then
  . models/gpu_data.sh
  SPLIT=$(gpu_split "$CELEBA") || exit 2
  DATA=$SPLIT/train-180
  TEST_DATA=${TEST_DATA:-$SPLIT/holdout}
fi
note "config=$CONFIG minutes=$MINUTES steps=${STEPS:-none} data=$DATA test=$TEST_DATA out=$OUT"
if [ "$DATA" != synthetic ] && [ ! -d "$DATA" ]; then
  note "data folder $DATA missing"; exit 2
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
RES=$(python3 -c "from daefr_models.config import get_config; print(get_config('$CONFIG').vq.resolution)")
TEMPLATE_ARGS=()
[ -f "models/template-celeba-$RES.json" ] && TEMPLATE_ARGS=(--template "models/template-celeba-$RES.json")
ONNX=$OUT/daefr-$CONFIG.onnx
if [ "$(left)" -gt 40 ]; then
  note "export"
  timeout "$(left)" python3 -m daefr_models.export --checkpoint "$OUT/run/model.pt" "${TEMPLATE_ARGS[@]}" \
    --force -o "$ONNX" 2>&1 | grep -v Warning | tee -a "$OUT/train.log" || true
fi
FIDELITY=0,1
if [ -f "$ONNX" ] && [ "$DATA" != synthetic ] && [ "$(left)" -gt 60 ]; then
  note "auto-fidelity curve (validation crops of the training identities) into $ONNX"
  if timeout "$(left)" python3 -m daefr_models.fidelity_curve --checkpoint "$OUT/run/model.pt" --data "$DATA" \
      --repeats 5 --json "$OUT/curve.json" --write "$ONNX" 2>&1 | tee -a "$OUT/train.log"; then
    FIDELITY=0,auto,1
  fi
fi
if [ -f "$ONNX" ] && [ "$(left)" -gt 30 ]; then
  note "quantize"
  timeout "$(left)" python3 -m daefr_models.quantize "$ONNX" --force -o "$OUT/daefr-$CONFIG-int8.onnx" \
    2>&1 | tee -a "$OUT/train.log" || true
fi
if [ -f "$ONNX" ] && [ "$(left)" -gt 30 ]; then
  EVAL_DATA=$TEST_DATA
  [ -d "$EVAL_DATA" ] || EVAL_DATA=tests/fixtures/astronaut.png
  note "evaluate on $EVAL_DATA (limit $EVAL_LIMIT, fidelity $FIDELITY)"
  timeout "$(left)" python3 -m daefr_models.evaluate --model "$ONNX" --data "$EVAL_DATA" --limit "$EVAL_LIMIT" \
    --levels mild,moderate,severe --seed 0 --fidelity "$FIDELITY" --threads 4 \
    --json "$OUT/eval.json" --sheet-dir "$OUT/eval" 2>&1 | grep -v Warning | tee -a "$OUT/train.log" || true
fi
note "done"
