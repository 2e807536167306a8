"""Where a whole-photo gain goes: the crop-level gain, the paste-back mask, and the ceiling.

    python -m daefr_models.paste_study --model models/daefr-lite-128-int8.onnx \
        --data models/data/holdout --limit 100 --level moderate [--fidelity auto] [--json OUT]

A restored face reaches a whole photo through three steps that `photo_eval` measures only
together: the network's gain on the aligned crop, the paste-back (the change, resampled from the
crop into the photo and faded out by the soft mask), and the photo area the crop does not cover.
This takes them apart on the same degraded photos (`photo_eval.degrade_photo`, seed = photo index)
and the same alignment (BlazeFace short-range on the degraded photo, the runtime's similarity fit
and warp: `evaluate.align_face`'s parts; a photo without a face is left out of every row):

1. **ceiling**: what a perfect 128-px restorer would give, i.e. the ground truth's crop pasted as
   a change with the runtime's mask. It bounds what the 128-px input costs a whole photo. With
   ``--ceiling-scales`` (default ``1,2``) the same for a crop of 2x (or any scale) the pixels over
   the same face: what a finer output stage could bring at most (issue 20, point 5).
2. **crop gain**: the network on crops cut from the degraded photos, against the same crops
   degraded at 128 px (`degrade.LEVELS` at the crop's scale, as `evaluate` does).
3. **mask sweep**: the network's change pasted into the photo (bilinear, as `src/align/paste.rs`)
   under each `--masks` setting (margin/feather, fractions of the crop side): the whole-photo PSNR
   gain each would give. The runtime's default (`BlendMask::default`) is the first.

Each row also gives the detail figure (`losses.detail_ratio` against its own ground truth, the
crop's or the photo's, as `photo_eval` reports it): the ceiling row says how much fine structure
a perfect 128-px face can bring to the photo at all.

This is a model of the runtime's paste in numpy, not the runtime: check a chosen mask with
`photo_eval` through `daefr restore`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from . import degrade
from .evaluate import ALIGN_POINTS, OnnxRunner, alignment_points, reflect, similarity_from_points, warp_to_crop
from .losses import detail_ratio
from .onnx_tools import REPO_ROOT
from .photo_eval import degrade_photo, load_photos

#: (margin, feather) settings of ``--masks`` by default: the runtime's, then the earlier default.
DEFAULT_MASKS = "0.01/0.06,0.03/0.12,0.0/0.04,0.0/0.0"


def mask_weight(u: np.ndarray, v: np.ndarray, margin: float, feather: float, size: float) -> np.ndarray:
    """``BlendMask::weight`` of src/align/paste.rs: 0 in the margin, a smoothstep ramp over the
    feather (rounded corners), 1 inside; a zero feather is a hard edge at the margin."""
    m = margin * size
    f = max(feather * size, 1e-3)
    lo, hi = m + f, size - m - f
    dx = np.maximum(np.maximum(lo - u, u - hi), 0.0)
    dy = np.maximum(np.maximum(lo - v, v - hi), 0.0)
    t = np.clip(1.0 - np.hypot(dx, dy) / f, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``img`` [H, W, C] at pixel coordinates, mirrored borders (``sample_reflect``)."""
    h, w = img.shape[:2]
    fx, fy = np.floor(x), np.floor(y)
    dx, dy = (x - fx)[..., None], (y - fy)[..., None]
    x0, y0 = fx.astype(np.int64), fy.astype(np.int64)
    at = lambda yy, xx: img[reflect(yy, h), reflect(xx, w)]
    return (at(y0, x0) * (1 - dx) * (1 - dy) + at(y0, x0 + 1) * dx * (1 - dy)
            + at(y0 + 1, x0) * (1 - dx) * dy + at(y0 + 1, x0 + 1) * dx * dy)


def paste_change(photo: np.ndarray, change: np.ndarray, to_crop: np.ndarray, margin: float, feather: float) -> np.ndarray:
    """``photo`` (uint8) plus ``change`` (crop pixels, float) pasted as the runtime's change mode does."""
    h, w = photo.shape[:2]
    size = change.shape[0]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    u = to_crop[0, 0] * xs + to_crop[0, 1] * ys + to_crop[0, 2]
    v = to_crop[1, 0] * xs + to_crop[1, 1] * ys + to_crop[1, 2]
    inside = (u > 0) & (v > 0) & (u < size) & (v < size)
    weight = np.where(inside, mask_weight(u, v, margin, feather, size), 0.0)[..., None]
    out = photo.astype(np.float64) + weight * bilinear(change, u - 0.5, v - 0.5)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two uint8 images."""
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def parse_masks(text: str) -> list[tuple[float, float]]:
    """``margin/feather,...`` -> [(margin, feather)], each a fraction of the crop side in [0, 0.5)."""
    out = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        margin, feather = (float(v) for v in item.split("/"))
        if not (0 <= margin < 0.5 and 0 <= feather < 0.5):
            raise ValueError(f"mask {item}: margin and feather are fractions of the side in [0, 0.5)")
        out.append((margin, feather))
    if not out:
        raise ValueError("--masks: give at least one margin/feather pair")
    return out


def parse_scales(text: str) -> list[float]:
    """``--ceiling-scales``: positive output scales, e.g. ``1,2``."""
    out = [float(t) for t in text.split(",") if t.strip()]
    if not out or any(not (0 < v <= 8) for v in out):
        raise ValueError(f"--ceiling-scales {text!r}: scales in (0, 8], comma-separated")
    return out


def perfect_change(gt: np.ndarray, lq: np.ndarray, to_crop: np.ndarray, side: int) -> np.ndarray:
    """A perfect restorer's change on a ``side``-px crop (``to_crop`` maps the photo to it): the
    ground truth's crop minus the degraded photo's, as float."""
    return warp_to_crop(gt, to_crop, side).astype(np.float64) - warp_to_crop(lq, to_crop, side)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Whole-photo gain taken apart: ceiling, crop gain, paste-back mask.")
    ap.add_argument("--model", type=Path, required=True, help="ONNX restorer (onnxruntime)")
    ap.add_argument("--data", type=Path, required=True, help="ground-truth photos (the held-out identities)")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--level", default="moderate", choices=list(degrade.LEVELS))
    ap.add_argument("--fidelity", default="auto", help="a weight in [0, 1] or auto")
    ap.add_argument("--masks", default=DEFAULT_MASKS, help="margin/feather pairs, comma-separated")
    ap.add_argument("--ceiling-scales", default="1,2",
                    help="output scales of the perfect restorer's rows, comma-separated (1: the model's size)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    try:
        masks = parse_masks(args.masks)
        scales = parse_scales(args.ceiling_scales)
        weight = args.fidelity if args.fidelity == "auto" else float(args.fidelity)
    except ValueError as e:
        ap.error(str(e))
    template = json.loads((REPO_ROOT / "models" / "template-celeba-128.json").read_text())
    dst = np.array([template[n] for n in ALIGN_POINTS], dtype=np.float64)
    runner = OnnxRunner(args.model, weight=weight)
    size = runner.size
    items = []
    photos = load_photos(args.data, args.limit)
    for i, (_, gt) in enumerate(photos):
        lq = degrade_photo(gt, args.level, seed=i)
        try:
            to_crop = similarity_from_points(alignment_points(lq), dst)
        except (RuntimeError, ValueError):
            continue  # no face: the runtime would leave this photo as it is
        items.append((gt, lq, to_crop, warp_to_crop(gt, to_crop, size), warp_to_crop(lq, to_crop, size)))
    if not items:
        raise SystemExit("no face found in any photo")
    as_input = lambda crops: torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 127.5 - 1
    to_u8 = lambda t: np.round((t.clamp(-1, 1).permute(0, 2, 3, 1).numpy() + 1) * 127.5)
    restored = to_u8(runner(as_input([it[4] for it in items]))[0])
    gt_crops = as_input([it[3] for it in items])
    crop_lq = degrade.Degrader(degrade.LEVELS[args.level], size, seed=0, resize_back="bicubic")(gt_crops).clamp(-1, 1)
    crop_lq_u8 = to_u8(crop_lq)
    crop_out = to_u8(runner(torch.from_numpy(crop_lq_u8).permute(0, 3, 1, 2).float() / 127.5 - 1)[0])

    mean = lambda v: round(float(np.mean(v)), 3)
    rows: dict[str, float] = {}
    detail: dict[str, float] = {}

    def row(name: str, pairs) -> None:
        """One row: mean PSNR and mean detail ratio of (output, ground truth) uint8 pairs."""
        pairs = list(pairs)
        rows[name] = mean([psnr_u8(o, g) for o, g in pairs])
        to_t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32) / 255).permute(2, 0, 1)[None]
        detail[name] = mean([float(detail_ratio(to_t(o), to_t(g))[0]) for o, g in pairs])

    row("crops cut from the degraded photos: input", [(it[4], it[3]) for it in items])
    row("crops cut from the degraded photos: restored", [(o, it[3]) for o, it in zip(restored, items)])
    row("crops degraded at 128 px: input", [(c, it[3]) for c, it in zip(crop_lq_u8, items)])
    row("crops degraded at 128 px: restored", [(o, it[3]) for o, it in zip(crop_out, items)])
    row("whole photos: input", [(it[1], it[0]) for it in items])
    m0, f0 = masks[0]
    for scale in scales:
        side = int(round(size * scale))
        row(f"whole photos: perfect {side}-px restorer (ceiling)",
            [(paste_change(it[1], perfect_change(it[0], it[1], it[2] * scale, side), it[2] * scale, m0, f0), it[0])
             for it in items])
    for margin, feather in masks:
        row(f"whole photos: restored, mask {margin:g}/{feather:g}",
            [(paste_change(it[1], o - it[4], it[2], margin, feather), it[0]) for o, it in zip(restored, items)])
    result = {"model": str(args.model), "level": args.level, "fidelity": args.fidelity,
              "photos": len(photos), "with_a_face": len(items), "psnr_db": rows,
              "detail": detail}
    print(f"{len(items)} of {len(photos)} photos with a face (short-range on the degraded photo); "
          f"{args.level}, fidelity {args.fidelity}")
    print("| row | PSNR (dB) | gain | detail |")
    print("| --- | --- | --- | --- |")
    for k, v in rows.items():
        base = rows[k.split(":")[0] + ": input"]  # each row against its own input
        print(f"| {k} | {v:.2f} | {v - base:+.2f} dB | {detail[k]:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
