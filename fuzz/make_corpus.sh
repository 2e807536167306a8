#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets (small files, all made here from committed
# fixtures; no CelebA): fuzz/make_corpus.sh [path/to/daefr]  (default: target/release/daefr)
set -euo pipefail
cd "$(dirname "$0")"
DAEFR=${1:-../target/release/daefr}
rm -rf corpus && mkdir -p corpus/image_read corpus/model_metadata corpus/profile corpus/nnef_cache
python3 - <<'PY'
import io, struct, zlib
# an 8x8 RGB PNG and the same truncated (the decoder's error paths)
def png(w, h, colour_type=2, depth=8, channels=3):
    raw = b"".join(b"\x00" + bytes((x * 30 + y * 7 + c * 50) % 256 for x in range(w) for c in range(channels)) for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open("corpus/image_read/rgb8.png", "wb").write(png(8, 8))
open("corpus/image_read/grey.png", "wb").write(png(8, 8, colour_type=0, channels=1))
open("corpus/image_read/rgba.png", "wb").write(png(8, 8, colour_type=6, channels=4))
open("corpus/image_read/truncated.png", "wb").write(png(8, 8)[:40])
# a 2x2 24-bit BMP
row = bytes([0, 0, 255, 0, 255, 0]) + b"\x00\x00"
pixels = row * 2
header = b"BM" + struct.pack("<IHHI", 54 + len(pixels), 0, 0, 54)
dib = struct.pack("<IiiHHIIiiII", 40, 2, 2, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
open("corpus/image_read/tiny.bmp", "wb").write(header + dib + pixels)
PY
# a JPEG and a WebP of the committed public-domain portrait, made small
python3 - <<'PY' 2>/dev/null || echo "no PIL: JPEG/WebP seeds left out"
from PIL import Image
img = Image.open("../tests/fixtures/astronaut.png").convert("RGB").resize((16, 16))
img.save("corpus/image_read/small.jpg", quality=80)
img.save("corpus/image_read/small.webp", lossless=True)
PY
# model metadata: the fixtures' own entries, a sidecar, a fidelity curve
python3 - <<'PY'
import json
template = {"right_eye": [12.5, 14.0], "left_eye": [19.5, 14.0], "nose_tip": [16.0, 19.0], "mouth_center": [16.0, 24.0]}
lines = ["daefr.format_version=2", "daefr.input_size=32", "daefr.input_range=-1,1", "daefr.channel_order=RGB",
         "daefr.template=" + json.dumps(template), "daefr.fidelity_default=0.5",
         "daefr.fidelity_auto=2.0:0.6,3.5:0.8,6.0:1"]
open("corpus/model_metadata/v2.txt", "w").write("\n".join(lines) + "\n")
open("corpus/model_metadata/curve.txt", "w").write("2.049:0.6,2.723:0.5,3.664:0.7,5.266:0.9\n")
PY
cp ../tests/fixtures/models/foreign/codeformer-like-512.onnx.toml corpus/model_metadata/sidecar.toml
cp ../firmware-config/*.toml corpus/profile/
# an NNEF cache of the tiny identity model
tmp=$(mktemp -d)
cp ../tests/fixtures/models/identity-32.onnx "$tmp/m.onnx"
"$DAEFR" -q convert "$tmp/m.onnx" -o "$tmp/m.nnef.tar"
# (named .cache: *.nnef.tar is ignored by git)
cp "$tmp/m.nnef.tar" corpus/nnef_cache/identity-32.cache
head -c 700 "$tmp/m.nnef.tar" > corpus/nnef_cache/truncated.cache
rm -rf "$tmp"
du -sh corpus
