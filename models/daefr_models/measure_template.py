"""Measure the alignment template: mean BlazeFace keypoints on the training crops, in model pixels.

``python -m daefr_models.measure_template [--data DIR] [--size 128] [-o models/template-celeba-128.json]``

Every training crop is turned into a model input exactly as training does (``data.load_model_input``);
for a 128-px model that image is fed to BlazeFace as is (other sizes are resized to 128 for detection
and the keypoints scaled back). The best detection per image is kept; the template is the mean of each
keypoint over all images with a detection. Input normalisation of the detector is checked first: the
range ([-1, 1] or [0, 1]) that finds more faces with higher scores on the first images is used.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from .blazeface import DEFAULT_MODEL, INPUT_SIZE, KEYPOINT_NAMES, BlazeFace
from .data import list_images, load_model_input

DEFAULT_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "celeba-6k" / "train"


def _detector_view(img: np.ndarray) -> tuple[np.ndarray, float]:
    """The 128x128 image the detector sees and the factor from detector pixels to model pixels."""
    size = img.shape[0]
    if size == INPUT_SIZE:
        return img, 1.0
    view = np.asarray(Image.fromarray(img).resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR))
    return view, size / INPUT_SIZE


def choose_input_range(images: list[np.ndarray], model: Path) -> tuple[str, dict]:
    """Compare detection rate and mean score for both normalisations; return the better one."""
    stats = {}
    for rng in ("-1,1", "0,1"):
        det = BlazeFace(model, input_range=rng)
        best = [float(det.raw(_detector_view(im)[0])[0].max()) for im in images]
        stats[rng] = {
            "detected": int(sum(b >= 0.5 for b in best)),
            "mean_best_score": float(np.mean(best)),
        }
    chosen = max(stats, key=lambda k: (stats[k]["detected"], stats[k]["mean_best_score"]))
    return chosen, stats


def measure(paths: list[Path], size: int, model: Path, probe: int = 64) -> dict:
    """Return the template dict (keypoint means, spread, counts, chosen input range)."""
    probe_imgs = [load_model_input(p, size) for p in paths[:probe]]
    input_range, range_stats = choose_input_range(probe_imgs, model)
    det = BlazeFace(model, input_range=input_range)
    points, misses = [], 0
    for p in paths:
        view, scale = _detector_view(load_model_input(p, size))
        found = det.detect(view)
        if not found:
            misses += 1
            continue
        points.append(found[0].keypoints * scale)
    if not points:
        raise RuntimeError("BlazeFace found no face on any image")
    pts = np.stack(points)  # [N, 6, 2]
    mean, std = pts.mean(0), pts.std(0)
    out = {name: [round(float(mean[i, 0]), 2), round(float(mean[i, 1]), 2)] for i, name in enumerate(KEYPOINT_NAMES)}
    out["template_source"] = (
        f"blazeface front-128 mean keypoints over {len(points)} of {len(paths)} celeba-6k/train crops "
        f"(centre square, bicubic to {size}); detector input range {input_range}"
    )
    out["template_std"] = {
        name: [round(float(std[i, 0]), 2), round(float(std[i, 1]), 2)] for i, name in enumerate(KEYPOINT_NAMES)
    }
    out["input_size"] = size
    out["detector_input_range_probe"] = range_stats
    out["images_without_detection"] = misses
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="folder of training crops")
    ap.add_argument("--size", type=int, default=128, help="model input size")
    ap.add_argument("--detector", default=str(DEFAULT_MODEL), help="BlazeFace front 128 ONNX")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N images")
    ap.add_argument("-o", "--output", default=None, help="JSON path (default models/template-celeba-SIZE.json)")
    args = ap.parse_args(argv)
    paths = list_images(args.data)[: args.limit]
    result = measure(paths, args.size, Path(args.detector))
    out = Path(args.output or Path(__file__).resolve().parents[1] / f"template-celeba-{args.size}.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in KEYPOINT_NAMES}, indent=None))
    print(f"wrote {out} ({result['template_source']})")


if __name__ == "__main__":
    main()
