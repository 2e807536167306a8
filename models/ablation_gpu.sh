#!/usr/bin/env bash
# DAEFR ablation inside ONE GPU-machine run (600 s command limit, no network).
# Four variants - (a) HQ encoder only, (b) + LQ encoder without association, (c) + association,
# (d) + cross-attention fusion - each trained for MINUTES_PER_VARIANT (default 1.8) on the same data
# and seed, then evaluated (PSNR/SSIM/code-index accuracy) at moderate and severe degradation.
# Data as for train_gpu.sh: copy ../shared/data/celeba-6k to models/data/ and carry it; the run
# trains on identities celeb_0..celeb_179 and measures on celeb_180..celeb_199 (models/gpu_data.sh).
#
# Usage (repository root):
#   OUT=/tmp/out models/ablation_gpu.sh
#   CONFIG=tiny-32 STEPS=2 MINUTES_PER_VARIANT=0.1 DATA=synthetic OUT=/tmp/a models/ablation_gpu.sh  # smoke test
# Outputs: $OUT/ablation.md, $OUT/ablation.json, $OUT/<variant>/ (checkpoints, metrics.json), $OUT/ablation.log
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-models/runs/ablation}
CONFIG=${CONFIG:-lite-128}
MINUTES_PER_VARIANT=${MINUTES_PER_VARIANT:-1.8}
STEPS=${STEPS:-}
CELEBA=${CELEBA:-models/data/celeba-6k}
DATA=${DATA:-}
TEST_DATA=${TEST_DATA:-}
EVAL_LIMIT=${EVAL_LIMIT:-200}
TRAIN_ARGS=${TRAIN_ARGS:-}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/models${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
if [ -z "$DATA" ]; then
  . models/gpu_data.sh
  SPLIT=$(gpu_split "$CELEBA") || exit 2
  DATA=$SPLIT/train-180
  TEST_DATA=${TEST_DATA:-$SPLIT/holdout}
fi
EVAL_DATA=$TEST_DATA
[ -d "$EVAL_DATA" ] || EVAL_DATA=$DATA
STEP_ARGS=()
[ -n "$STEPS" ] && STEP_ARGS=(--steps "$STEPS")
timeout "${DEADLINE_S:-580}" python3 -m daefr_models.ablation --config "$CONFIG" --data "$DATA" --out "$OUT" \
  --minutes-per-variant "$MINUTES_PER_VARIANT" "${STEP_ARGS[@]}" --eval-data "$EVAL_DATA" \
  --eval-limit "$EVAL_LIMIT" --levels moderate,severe --train-args "--ckpt-seconds 60 $TRAIN_ARGS" \
  2>&1 | tr '\r' '\n' | grep --line-buffered -v '^stage [0-9]: *[0-9]*%\|^$' | tee "$OUT/ablation.log"
