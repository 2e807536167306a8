#!/usr/bin/env bash
# From a finished stage-4 run to the bundled model files and every figure of the model card:
# default fidelity (chosen on the validation crops), export + parity, int8 weights, goldens,
# the celeba-6k/test table (mild/moderate/severe at w = 0, the default and 1), whole-photo mode
# through the real runtime, and the astronaut contact sheet that is committed.
#
# Usage (repository root; needs target/release/daefr: cargo build --release):
#   RUN=models/runs/s4b DATA=../shared/data/celeba-6k models/make_bundled.sh
# Outputs: models/daefr-lite-128{,-int8}.onnx, tests/fixtures/golden/, docs/images/astronaut-fidelity.png,
#          $RUN/{fidelity.json,eval.json,photo-eval.json,eval/} (CelebA images stay under $RUN: not committed)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-models/runs/s4b}
DATA=${DATA:-../shared/data/celeba-6k}
LIMIT=${LIMIT:-100}
export PYTHONPATH="$PWD/models${PYTHONPATH:+:$PYTHONPATH}"
py() { nice -n "${NICE:-0}" python3 -m "$@"; }

echo "== default fidelity (validation crops of $DATA/train)"
py daefr_models.choose_fidelity --checkpoint "$RUN/model.pt" --data "$DATA/train" --json "$RUN/fidelity.json"
W=$(python3 -c "import json; print(json.load(open('$RUN/fidelity.json'))['chosen'])")

echo "== export (daefr.fidelity_default = $W) and parity"
py daefr_models.export --checkpoint "$RUN/model.pt" --template models/template-celeba-128.json \
    --fidelity-default "$W" --parity-images "$DATA/test" -o models/daefr-lite-128.onnx

echo "== int8 weights"
py daefr_models.quantize models/daefr-lite-128.onnx -o models/daefr-lite-128-int8.onnx --calib "$DATA/test"

echo "== goldens"
py daefr_models.golden

echo "== celeba-6k/test: $LIMIT faces, mild/moderate/severe, w = 0, $W, 1"
py daefr_models.evaluate --checkpoint "$RUN/model.pt" --model models/daefr-lite-128.onnx \
    --model models/daefr-lite-128-int8.onnx --data "$DATA/test" --limit "$LIMIT" \
    --levels mild,moderate,severe --seed 0 --fidelity "0,$W,1" --json "$RUN/eval.json" --sheet-dir "$RUN/eval"

echo "== whole-photo mode (daefr restore on degraded photos) at moderate"
for level in mild moderate severe; do
    py daefr_models.photo_eval --data "$DATA/test" --limit "$LIMIT" --level "$level" \
        --daefr target/release/daefr --json "$RUN/photo-eval-$level.json"
done

echo "== astronaut contact sheet (public domain: committed)"
py daefr_models.evaluate --model models/daefr-lite-128.onnx --data tests/fixtures/astronaut.png --align \
    --levels mild,moderate,severe --fidelity "0,$W,1" --sheet-count 1 --sheet-dir "$RUN/astronaut"
python3 - "$RUN/astronaut" docs/images/astronaut-fidelity.png <<'EOF'
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
