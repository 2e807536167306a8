"""Ablation of DAEFR's parts: same data, seed and time/step budget for every variant.

    python -m daefr_models.ablation --config lite-128 --data DIR --out models/runs/ablation \
        (--minutes-per-variant M | --steps N) [--variants hq_only,no_assoc,concat,full] \
        [--eval-data DIR] [--eval-limit 200] [--levels moderate,severe]

Variants (``train.VARIANTS``):
  (a) ``hq_only``  - HQ encoder only (CodeFormer-like: transformer reads the HQ encoder's feature)
  (b) ``no_assoc`` - + LQ encoder, fused by concatenation + 1x1 conv, no association stage
  (c) ``concat``   - + association stage (CLIP loss between HQ and LQ tokens)
  (d) ``full``     - + multi-head cross-attention fusion (= DAEFR)
Variants without the association stage spread the same total minutes over stages 1 and 3, so every
variant gets the same wall time.

With ``--init-from DIR`` (a folder holding finished ``stage1.pt`` and ``stage2.pt``, such as
``../shared/checkpoints/lite-128``) only stage 3 runs, for the same budget per variant, from those
autoencoders: every variant shares the stage-2 HQ encoder, codebook and decoder (so the code targets
are the same for all); (a) has no LQ encoder, (b) takes the stage-1 LQ encoder (never associated),
(c) and (d) the stage-2 (associated) one; fusion and transformer start fresh. Each one is then evaluated on ``--eval-data`` (default: the
validation split is not reused; pass the test folder) with ``evaluate.evaluate``: PSNR/SSIM and
code-index accuracy per level. Results: ``OUT/ablation.json`` and a Markdown table ``OUT/ablation.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from . import evaluate, train
from .data import synthetic_faces

LABELS = {
    "hq_only": "(a) HQ encoder only",
    "no_assoc": "(b) + LQ encoder, no association",
    "concat": "(c) + association",
    "full": "(d) + cross-attention fusion (DAEFR)",
}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Train and compare the DAEFR ablation variants.")
    ap.add_argument("--config", default="lite-128")
    ap.add_argument("--data", required=True, help="training crops, or 'synthetic'")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes-per-variant", type=float, default=None)
    ap.add_argument("--steps", type=int, default=None, help="steps per stage")
    ap.add_argument("--variants", default="hq_only,no_assoc,concat,full")
    ap.add_argument("--eval-data", default=None, help="ground-truth faces for evaluation (default: --data)")
    ap.add_argument("--eval-limit", type=int, default=200)
    ap.add_argument("--levels", default="moderate,severe")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--train-args", default="", help="extra arguments for train.py, one string")
    ap.add_argument("--init-from", type=Path, default=None,
                    help="folder with finished stage1.pt + stage2.pt: run stage 3 only, from them")
    args = ap.parse_args(argv)
    if args.minutes_per_variant is None and args.steps is None:
        ap.error("give --minutes-per-variant and/or --steps")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in train.VARIANTS:
            ap.error(f"unknown variant {v!r}; known: {', '.join(train.VARIANTS)}")
    out = Path(args.out)
    levels = [s.strip() for s in args.levels.split(",") if s.strip()]
    results = {}
    for v in variants:
        if args.init_from is not None:
            seed_variant_folder(args.init_from, out / v, args.config, v)
        targs = ["--stage", "3" if args.init_from is not None else "all", "--config", args.config, "--data", args.data, "--out", str(out / v),
                 "--variant", v, "--seed", str(args.seed)]
        if args.minutes_per_variant:
            targs += ["--minutes", str(args.minutes_per_variant)]
        if args.steps:
            targs += ["--steps", str(args.steps)]
        if args.batch:
            targs += ["--batch", str(args.batch)]
        targs += args.train_args.split()
        metrics = train.main(targs)
        if args.init_from is not None:
            metrics = {"stage3": metrics["stage3"]}
        runner = evaluate.TorchRunner(out / v / "model.pt", "cuda" if torch.cuda.is_available() else "cpu")
        eval_data = args.eval_data or args.data
        if eval_data == "synthetic":
            faces = synthetic_faces(16, runner.size, seed=args.seed + 999)
        else:
            faces = evaluate.load_faces(eval_data, runner.size, args.eval_limit, align=False)
        res = evaluate.evaluate([runner], faces, levels, args.seed, teacher=runner, sheet_dir=None)
        results[v] = {"label": LABELS[v], "eval": res,
                      "train_seconds": sum(m.get("seconds", 0) for k, m in metrics.items() if k.startswith("stage"))}
        (out / "ablation.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results, levels)
    (out / "ablation.md").write_text(table + "\n")
    print(table)
    return results


def seed_variant_folder(src: Path, dst: Path, config: str, variant: str) -> None:
    """Write ``dst/stage2.pt`` (finished) for ``variant`` from the autoencoders in ``src``.

    Keys the variant has and the source holds are copied (HQ autoencoder from stage 2; LQ
    autoencoder from stage 2, or from stage 1 for ``no_assoc``); the rest (fusion, transformer, the
    fidelity path) keep the variant model's fresh initialisation. Nothing is written if a stage-3
    checkpoint already exists there (a rerun resumes it).
    """
    dst.mkdir(parents=True, exist_ok=True)
    if (dst / "stage3.pt").exists() or (dst / "stage2.pt").exists():
        return
    s1 = torch.load(src / "stage1.pt", map_location="cpu", weights_only=False)["model"]
    s2 = torch.load(src / "stage2.pt", map_location="cpu", weights_only=False)["model"]
    model = train.build_model(config, variant)
    state = model.state_dict()
    lq_source = s1 if variant == "no_assoc" else s2
    for key in state:
        if key.startswith("hq.") and key in s2:
            state[key] = s2[key]
        elif key.startswith("lq.") and key in lq_source:
            state[key] = lq_source[key]
        elif key.startswith("fusion.") and variant == "full" and key in s2:
            state[key] = s2[key]
    model.load_state_dict(state)
    train.save(dst / "stage2.pt", {"stage": 2, "config": config, "variant": variant, "model": model.state_dict(),
                                   "trainer": {}, "step": 0, "elapsed": 0.0, "images": 0, "done": True,
                                   "metrics": {"seeded_from": str(src)}})


def markdown(results: dict, levels: list[str]) -> str:
    """One row per variant and level: bicubic PSNR, model PSNR/SSIM, code-index accuracy."""
    lines = ["| variant | level | bicubic PSNR | PSNR | SSIM | code-index acc. | train s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for v, r in results.items():
        for lv in levels:
            rows = r["eval"][lv]
            bic, m = rows["bicubic (degraded input)"], rows["pytorch fp32"]
            lines.append(f"| {r['label']} | {lv} | {bic['psnr']:.2f} | {m['psnr']:.2f} | {m['ssim']:.4f} | "
                         f"{m.get('code_acc', float('nan')):.3f} | {r['train_seconds']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
