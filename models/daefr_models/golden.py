"""Golden input/output pairs for the runtime's golden test, computed by onnxruntime.

    python -m daefr_models.golden            # all committed models (tiny fixture + lite-128)
    python -m daefr_models.golden --check    # exit 1 if the committed goldens are stale

For each model: the committed astronaut portrait, resized to the model's input size (bicubic), is
saved as `<name>-input.png`; that PNG (not the float resize) is the model input
(`x / 127.5 - 1`); onnxruntime (graph optimisations off) runs the model at the weight the runtime
feeds by default (`auto` on the model's curve where it has one), and its output is clamped
to [-1, 1], mapped by `(y + 1) * 127.5`, rounded and saved as `<name>-output.png`.
`manifest.json` records the model's SHA-256 so a stale golden is detected.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from PIL import Image

from .auto_fidelity import KEY as AUTO_KEY
from .auto_fidelity import parse_curve, sharpness_u8, weights_for
from .onnx_meta import fidelity_default, read_metadata
from .onnx_tools import ASTRONAUT, REPO_ROOT, feeds, input_array, ort_session, to_u8

GOLDEN_DIR = REPO_ROOT / "tests" / "fixtures" / "golden"
#: Golden name -> model file (relative to the repository root).
MODELS = {
    "tiny-32": "tests/fixtures/daefr-tiny.onnx",
    "lite-128": "models/daefr-lite-128.onnx",
}


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def model_input_png(size: int) -> np.ndarray:
    """The astronaut portrait resized to `size` (bicubic), as uint8 HxWx3."""
    img = Image.open(ASTRONAUT).convert("RGB")
    return np.asarray(img.resize((size, size), Image.BICUBIC), dtype=np.uint8)


def runtime_weight(meta: dict[str, str], rgb: np.ndarray) -> float | None:
    """The weight the runtime's `Restorer::restore` feeds for this crop by default: `auto` on the
    model's `daefr.fidelity_auto` curve where it has one, else `daefr.fidelity_default` (None for
    a contract-1 model)."""
    if AUTO_KEY in meta:
        x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float() / 127.5 - 1
        return float(weights_for(sharpness_u8(x), parse_curve(meta[AUTO_KEY]))[0])
    return fidelity_default(meta)


def run_model(model_path: Path, rgb: np.ndarray) -> np.ndarray:
    """onnxruntime output of a model file for a uint8 RGB image, as uint8 (clamp, scale, round), at
    the weight the runtime feeds by default (`runtime_weight`)."""
    proto = onnx.load(str(model_path))
    w = runtime_weight(read_metadata(proto), rgb)
    (y,) = ort_session(proto).run(["output"], feeds(proto, input_array(rgb), w))
    return to_u8(y[0]).astype(np.uint8).transpose(1, 2, 0)


def golden_entry(name: str, rel_model: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """(manifest entry, input image, output image) for one model."""
    model_path = REPO_ROOT / rel_model
    size = int(read_metadata(model_path)["daefr.input_size"])
    rgb = model_input_png(size)
    out = run_model(model_path, rgb)
    entry = {
        "model": rel_model,
        "model_sha256": sha256(model_path),
        "input": f"{name}-input.png",
        "output": f"{name}-output.png",
        "size": size,
        "reference": "onnxruntime, graph optimizations disabled, 1 thread",
        "postprocess": "clamp(y, -1, 1); round((y + 1) * 127.5)",
    }
    return entry, rgb, out


def write(names: list[str]) -> None:
    """Regenerate the goldens for the given model names."""
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    manifest_path = GOLDEN_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    for name in names:
        entry, rgb, out = golden_entry(name, MODELS[name])
        Image.fromarray(rgb).save(GOLDEN_DIR / entry["input"])
        Image.fromarray(out).save(GOLDEN_DIR / entry["output"])
        manifest[name] = entry
        print(f"{name}: {entry['input']} -> {entry['output']} (model {entry['model_sha256'][:12]})")
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def check(names: list[str]) -> list[str]:
    """Problems with the committed goldens (stale model hash, different pixels); empty if fine."""
    manifest = json.loads((GOLDEN_DIR / "manifest.json").read_text())
    problems = []
    for name in names:
        want = manifest.get(name)
        if want is None:
            problems.append(f"{name}: not in manifest")
            continue
        entry, rgb, out = golden_entry(name, MODELS[name])
        if entry["model_sha256"] != want["model_sha256"]:
            problems.append(f"{name}: {entry['model']} changed since the golden was made")
        if not np.array_equal(np.asarray(Image.open(GOLDEN_DIR / want["input"]).convert("RGB")), rgb):
            problems.append(f"{name}: input PNG differs from the astronaut resize")
        committed = np.asarray(Image.open(GOLDEN_DIR / want["output"]).convert("RGB")).astype(int)
        diff = np.abs(committed - out.astype(int)).max()
        if diff > 1:
            problems.append(f"{name}: output differs by up to {diff} levels")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write (or --check) the golden input/output PNGs.")
    ap.add_argument("names", nargs="*", help=f"models to do (default all: {', '.join(MODELS)})")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    names = args.names or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown golden names {unknown}; known: {', '.join(MODELS)}")
    if args.check:
        problems = check(names)
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    write(names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
