"""Measure a model's auto-fidelity curve and write it into ONNX files (``daefr.fidelity_auto``).

    python -m daefr_models.fidelity_curve --checkpoint models/runs/NAME/model.pt \
        --data models/data/train-180 [--bins 8] [--repeats 8] [--json OUT.json] \
        [--write models/daefr-lite-128.onnx --write models/daefr-lite-128-int8.onnx]

``daefr restore --fidelity auto`` (the runtime's default when a model has this key) measures each
aligned face's sharpness (the runtime's ``model::sharpness``: mean absolute Laplacian of luma over
the crop's central half, 0-255 scale; ``losses.laplacian_energy`` x 255 here) and reads its weight
off this curve. The curve is measured on the validation crops that ``train.py`` holds out of
``--data`` (never the evaluation set): each crop is degraded ``--repeats`` times by a mix that spans
nearly clean to severe (``degrade.NEAR_CLEAN``, the paper's stage-1/2 and stage-3 ranges, and the
fixed ``mild``/``moderate`` levels), restored at every weight of ``--weights``, and the samples are
cut into ``--bins`` bins of equal count by the input's sharpness. Per bin the weight with the best
mean PSNR wins (a tie within ``--tie-db`` goes to the *higher* weight: closer to the input, no harm
for the same figure), and each bin gives one ``sharpness:weight`` point at its median sharpness.
The weights are not forced to rise with sharpness: noise raises the Laplacian too, so the sharpest
bin holds noisy faces that want the prior as much as blurred ones do (measured: see the model card).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import torch

from . import degrade, train
from .arch import load_checkpoint
from .auto_fidelity import KEY, curve_text, sharpness_u8, weights_for
from .cli_paths import existing_file
from .data import to_uint8
from .losses import psnr

#: Degradations the calibration samples span, in equal shares.
MIX = (degrade.NEAR_CLEAN, degrade.PAPER_STAGE12, degrade.PAPER_STAGE3, degrade.LEVELS["mild"],
       degrade.LEVELS["moderate"])


@torch.no_grad()
def measure(model, faces_u8: torch.Tensor, weights: list[float], repeats: int, seed: int = 0, chunk: int = 16):
    """Per sample: (sharpness of the degraded input [N], PSNR at each weight [N, W], bicubic PSNR [N])."""
    size = faces_u8.shape[-1]
    sharp, table, base = [], [], []
    hw = (model.cfg.vq.latent_size, model.cfg.vq.latent_size)
    for r in range(repeats):
        deg = degrade.Degrader(MIX[r % len(MIX)], size, seed=seed + r, resize_back="bicubic")
        for i in range(0, len(faces_u8), chunk):
            gt = faces_u8[i : i + chunk].float() / 127.5 - 1
            lq = to_uint8(deg(gt)).float() / 127.5 - 1  # what the runtime hands the network
            g01 = (gt + 1) / 2
            sharp.append(sharpness_u8(lq))
            base.append(psnr((lq + 1) / 2, g01))
            logits, fused, skips = model.code_path(lq)
            idx = logits.argmax(-1)
            row = []
            for w in weights:
                wt = torch.full((lq.shape[0], 1, 1, 1), float(w))
                out = model.decode_with_fidelity(idx, hw, skips, lq, wt)
                row.append(psnr(to_uint8(out).float() / 255, g01))
            table.append(torch.stack(row, 1))
    return torch.cat(sharp).numpy(), torch.cat(table).numpy(), torch.cat(base).numpy()


def fit(sharp: np.ndarray, table: np.ndarray, weights: list[float], bins: int, tie_db: float = 0.02,
        base: np.ndarray | None = None):
    """The curve points ``[(sharpness, weight)]`` and a per-bin report (module doc's rule); with
    ``base`` (each sample's bicubic PSNR) the report also gives each bin's bicubic mean."""
    order = np.argsort(sharp)
    points, report = [], []
    for g in (g for g in np.array_split(order, bins) if len(g)):
        means = table[g].mean(0)
        k = max(i for i, m in enumerate(means) if m >= means.max() - tie_db)
        row = {"sharpness_median": float(np.median(sharp[g])), "n": int(len(g)),
               "psnr_by_weight": {f"{w:g}": round(float(m), 3) for w, m in zip(weights, means)},
               "best_weight": weights[k]}
        if base is not None:
            row["bicubic"] = round(float(base[g].mean()), 3)
        report.append(row)
        s = round(row["sharpness_median"], 3)
        if not points or s > points[-1][0]:
            points.append((s, float(weights[k])))
            row["weight"] = float(weights[k])
    return points, report


def write_curve(path: Path, text: str) -> None:
    """Set ``daefr.fidelity_auto`` in an ONNX file (metadata only; weights untouched)."""
    proto = onnx.load(str(path), load_external_data=False)
    props = [p for p in proto.metadata_props if p.key != KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(props)
    entry = proto.metadata_props.add()
    entry.key, entry.value = KEY, text
    onnx.save(proto, str(path))


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description="Measure the auto-fidelity curve; optionally write it into ONNX files.")
    ap.add_argument("--checkpoint", type=existing_file, required=True)
    ap.add_argument("--data", required=True, help="the training folder (its validation split is used)")
    ap.add_argument("--weights", default=",".join(f"{i / 10:g}" for i in range(11)))
    ap.add_argument("--bins", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=10, help="degradations per validation crop")
    ap.add_argument("--tie-db", type=float, default=0.02)
    ap.add_argument("--val-count", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--write", type=Path, action="append", default=[], help="ONNX file to write the curve into")
    args = ap.parse_args(argv)
    model, config = load_checkpoint(args.checkpoint)
    opts = train.TrainOptions(data=args.data, out="/nonexistent", config=config, steps=1, val_count=args.val_count,
                              precision="fp32", threads=args.threads, cpu=True)
    env = train.make_env(opts)
    weights = [float(w) for w in args.weights.split(",") if w.strip()]
    sharp, table, base = measure(model, env.val, weights, args.repeats)
    points, report = fit(sharp, table, weights, args.bins, args.tie_db, base=base)
    text = curve_text(points)
    auto = weights_for(sharp, points)
    # PSNR of the auto choice, interpolated between each sample's two nearest measured weights
    auto_psnr = np.array([np.interp(a, weights, row) for a, row in zip(auto, table)])
    print(f"{len(sharp)} samples ({len(env.val)} validation crops x {args.repeats} degradations)")
    print("| sharpness (median) | n | best w | curve w | bicubic dB | w=0 | w=1 | best |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in report:
        pw = row["psnr_by_weight"]
        print(f"| {row['sharpness_median']:.2f} | {row['n']} | {row['best_weight']:g} | {row.get('weight', float('nan')):g} "
              f"| {row['bicubic']:.2f} | {pw['0']:.2f} | {pw['1']:.2f} | {max(pw.values()):.2f} |")
    summary = {"bicubic": float(base.mean()), "auto": float(auto_psnr.mean()),
               **{f"w{w:g}": float(table[:, i].mean()) for i, w in enumerate(weights)}}
    print("mean PSNR over the calibration samples (auto: interpolated): " + ", ".join(f"{k} {v:.2f}" for k, v in summary.items()))
    print(f"{KEY} = {text}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"curve": text, "points": points, "bins": report, "summary": summary,
                                         "samples": len(sharp)}, indent=2) + "\n")
    for path in args.write:
        write_curve(path, text)
        print(f"wrote {KEY} into {path}")
    return text


if __name__ == "__main__":
    main()
