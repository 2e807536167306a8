#!/usr/bin/env bash
# From a finished stage-4 run to the bundled model files and every figure of the model card:
# default fidelity and the auto-fidelity curve (both chosen on the validation crops of the
# training identities), export + parity, int8 weights, the int8-dot variant, goldens, the crop-level table on the
# held-out identities (mild/moderate/severe at w = 0, auto, the default and 1) and on the seen
# identities of celeba-6k/test (secondary), whole-photo mode through the real runtime on the
# held-out identities, and the astronaut contact sheet that is committed.
#
# Usage (repository root; needs target/release/daefr: cargo build --release):
#   RUN=models/runs/s180 DATA=../shared/data/celeba-6k models/make_bundled.sh
# Python: DAEFR_PYTHON if set, else the toolchain's venv that scripts/test.sh makes
# (target/py-venv), else python3 (which then needs models/requirements.txt installed).
# The run must have been trained on models/data/train-180 (identities celeb_0..celeb_179,
# `python -m daefr_models.splits`); celeb_180..celeb_199 are the strangers every figure is
# measured on.
# Outputs: models/daefr-lite-128{,-int8,-int8-dot}.onnx, tests/fixtures/golden/, docs/images/astronaut-fidelity.png,
#          $RUN/{fidelity.json,curve.json,eval-*.json,photo-eval-*.json,eval/} (CelebA images stay under
#          $RUN: not committed)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-models/runs/s180}
DATA=${DATA:-../shared/data/celeba-6k}
SPLIT=${SPLIT:-models/data}
LIMIT=${LIMIT:-100}
export PYTHONPATH="$PWD/models${PYTHONPATH:+:$PYTHONPATH}"
PY=${DAEFR_PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x target/py-venv/bin/python ]; then PY=$PWD/target/py-venv/bin/python; else PY=python3; fi
fi
if [ ! -f "$RUN/model.pt" ]; then
    echo "make_bundled.sh: no $RUN/model.pt (RUN must be a finished stage-4 run folder)" >&2
    exit 1
fi
echo "== python: $PY"
py() { nice -n "${NICE:-0}" "$PY" -m "$@"; }

echo "== identity split ($SPLIT/train-180, $SPLIT/holdout)"
py daefr_models.splits --celeba "$DATA" --out "$SPLIT"

echo "== default fidelity (validation crops of the training identities)"
py daefr_models.choose_fidelity --checkpoint "$RUN/model.pt" --data "$SPLIT/train-180" --json "$RUN/fidelity.json"
W=$("$PY" -c "import json; print(json.load(open('$RUN/fidelity.json'))['chosen'])")

echo "== export (daefr.fidelity_default = $W) and parity"
py daefr_models.export --checkpoint "$RUN/model.pt" --template models/template-celeba-128.json \
    --fidelity-default "$W" --parity-images "$SPLIT/holdout" --force -o models/daefr-lite-128.onnx

echo "== auto-fidelity curve (validation crops of the training identities) into the fp32 file"
py daefr_models.fidelity_curve --checkpoint "$RUN/model.pt" --data "$SPLIT/train-180" --repeats 5 --json "$RUN/curve.json" \
    --write models/daefr-lite-128.onnx

echo "== int8 weights (metadata, the curve included, copied from the fp32 file)"
py daefr_models.quantize models/daefr-lite-128.onnx --force -o models/daefr-lite-128-int8.onnx --calib "$SPLIT/train-180"

echo "== int8-dot variant for dot-product ARM boards (check it under qemu: daefr_models.int8_check, models/README.md)"
py daefr_models.quantize models/daefr-lite-128.onnx --force -o models/daefr-lite-128-int8-dot.onnx --recipe int8-dot \
    --calib "$SPLIT/train-180" --max-images 64 --report "$RUN/int8-dot.json"

echo "== goldens"
py daefr_models.golden

echo "== crops of the held-out identities: $LIMIT faces, mild/moderate/severe, w = 0, auto, $W, 1"
py daefr_models.evaluate --model models/daefr-lite-128.onnx --model models/daefr-lite-128-int8.onnx \
    --data "$SPLIT/holdout" --limit "$LIMIT" --levels mild,moderate,severe --seed 0 --fidelity "0,auto,$W,1" \
    --json "$RUN/eval-holdout.json" --sheet-dir "$RUN/eval-holdout"
echo "== crops of celeba-6k/test (identities the model saw: secondary)"
py daefr_models.evaluate --model models/daefr-lite-128.onnx --data "$DATA/test" --limit "$LIMIT" \
    --levels mild,moderate,severe --seed 0 --fidelity "0,auto,$W,1" --json "$RUN/eval-seen.json" \
    --sheet-dir "$RUN/eval-seen"

echo "== whole-photo mode (daefr restore on degraded photos of the held-out identities)"
for level in mild moderate severe; do
    py daefr_models.photo_eval --data "$SPLIT/holdout" --limit "$LIMIT" --level "$level" \
        --daefr target/release/daefr --fidelity "0,auto,$W,1" --json "$RUN/photo-eval-$level.json"
done

echo "== astronaut contact sheet (public domain: committed)"
py daefr_models.evaluate --model models/daefr-lite-128.onnx --data tests/fixtures/astronaut.png --align \
    --levels mild,moderate,severe --fidelity "0,auto,$W,1" --sheet-count 1 --sheet-dir "$RUN/astronaut"
"$PY" - "$RUN/astronaut" docs/images/astronaut-fidelity.png <<'EOF'
import sys
from pathlib import Path
from PIL import Image
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
rows = [Image.open(src / f"contact-{lv}.png") for lv in ("mild", "moderate", "severe")]
sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
y = 0
for r in rows:
    sheet.paste(r, (0, y))
    y += r.height
sheet.save(dst)
print(f"wrote {dst}")
EOF
