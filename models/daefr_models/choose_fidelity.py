"""Pick a model's default fidelity weight on the held-out validation crops (never the test set).

    python -m daefr_models.choose_fidelity --checkpoint models/runs/NAME/model.pt \
        --data ../shared/data/celeba-6k/train [--level moderate] [--weights 0,0.1,...,1] \
        [--min-gain-db 0.7] [--min-ssim-gain 0.02]

The validation crops are the ones ``train.py`` holds out of ``--data`` (every k-th, ``--val-count``
of them), so the choice never looks at ``celeba-6k/test``, where the model card's figures come from.
Rule: the *smallest* weight (the most face prior, the sharpest look) whose PSNR beats the bicubic
input by at least ``--min-gain-db`` and whose SSIM beats it by at least ``--min-ssim-gain`` (margins
over the model card's bars of +0.5 dB and "above bicubic", so that the choice holds on other faces);
if no weight qualifies, the one with the best PSNR. Prints the sweep and the choice; ``--json``
writes both.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from . import train
from .arch import load_checkpoint
from .cli_paths import existing_file


def choose(sweep: dict[float, dict], bicubic: dict, min_gain_db: float, min_ssim_gain: float) -> float:
    """The rule above, on ``{w: {"psnr", "ssim"}}`` and the bicubic row."""
    ok = [w for w, m in sorted(sweep.items())
          if m["psnr"] >= bicubic["psnr"] + min_gain_db and m["ssim"] >= bicubic["ssim"] + min_ssim_gain]
    if ok:
        return ok[0]
    return max(sweep, key=lambda w: sweep[w]["psnr"])


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description="Choose daefr.fidelity_default on the validation crops.")
    ap.add_argument("--checkpoint", type=existing_file, required=True)
    ap.add_argument("--data", required=True, help="the training folder (its validation split is used)")
    ap.add_argument("--level", default="moderate")
    ap.add_argument("--weights", default=",".join(f"{i / 10:g}" for i in range(11)))
    ap.add_argument("--min-gain-db", type=float, default=0.7)
    ap.add_argument("--min-ssim-gain", type=float, default=0.02)
    ap.add_argument("--val-count", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    model, config = load_checkpoint(args.checkpoint)
    # train.py's data split (nothing is trained: the budget only satisfies TrainOptions), on the
    # CPU in fp32 like the model loaded here, so the choice does not depend on the machine
    opts = train.TrainOptions(data=args.data, out="/nonexistent", config=config, steps=1, val_count=args.val_count,
                              precision="fp32", threads=args.threads, cpu=True)
    env = train.make_env(opts)
    weights = tuple(float(w) for w in args.weights.split(",") if w.strip())
    with torch.no_grad():
        res = train.validation_metrics(model, env, args.level, seed=1234, weights=weights)
    bicubic = {"psnr": res["input_psnr"], "ssim": res["input_ssim"]}
    sweep = {w: {"psnr": res[f"w{w:g}_psnr"], "ssim": res[f"w{w:g}_ssim"]} for w in weights}
    w = choose(sweep, bicubic, args.min_gain_db, args.min_ssim_gain)
    print(f"| w | PSNR (dB) | SSIM |  ({len(env.val)} validation crops, {args.level})")
    print(f"| bicubic | {bicubic['psnr']:.2f} | {bicubic['ssim']:.4f} |")
    for k, m in sweep.items():
        print(f"| {k:g} | {m['psnr']:.2f} | {m['ssim']:.4f} |{'  <- chosen' if k == w else ''}")
    print(f"fidelity_default = {w:g}")
    if args.json:
        args.json.write_text(json.dumps({"level": args.level, "bicubic": bicubic, "sweep": {f"{k:g}": v for k, v in sweep.items()},
                                         "chosen": w, "rule": {"min_gain_db": args.min_gain_db,
                                                               "min_ssim_gain": args.min_ssim_gain}}, indent=2) + "\n")
    return w


if __name__ == "__main__":
    main()
