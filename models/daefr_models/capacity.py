"""Where the HQ autoencoder loses its reconstruction: a capacity probe that needs no training.

    python -m daefr_models.capacity --data models/data/holdout --limit 200 \
        head=../shared/checkpoints/lite-128-180ids/stage1.pt long=models/runs/s1long/stage1.pt \
        [--seen models/data/train-180] [--json OUT.json] [--threads 1]

The HQ autoencoder's reconstruction bounds what the code path (``w = 0``) can do. Whether a longer
run, a larger codebook, a wider code or a wider network is the way up is a question of *where* it
loses. For each checkpoint (any file ``arch.load_checkpoint`` reads: ``stage1.pt`` ... ``model.pt``)
this measures on 128-px ground-truth crops (centre square, as training sees them):

- ``vq``: encode, nearest code, decode: the reconstruction ``w = 0`` is bounded by;
- ``no_vq``: encode, decode the *continuous* feature (no codebook). Above ``vq``, the codebook is
  what loses; at or below it, the decoder has learnt only the codes' manifold (it is trained on
  codes), and the codebook is not where the reconstruction goes;
- ``top_k``: only the ``k`` codes these crops use most may be picked (k = half, quarter of the
  codebook): how fast the reconstruction falls when the codebook shrinks, the measured side of
  "would a larger codebook help" (flat: the codebook is larger than the crops need);
- ``codes_used`` and ``perplexity`` (``exp`` of the entropy of code usage): how much of the codebook
  the crops actually use;
- ``var99``: how many principal directions hold 99 % of the continuous feature's variance, of
  ``embed_dim``; ``pca_d``: the nearest code picked within the top ``d`` principal directions only
  (fitted on these crops; d = a quarter and an eighth of the code width), the full code decoded:
  equal to ``vq`` means the code choice needs no more than ``d`` of the ``embed_dim`` dimensions;
- with ``--seen``: ``vq`` on crops of identities the checkpoint was trained on, so the seen-minus-
  held-out gap says whether it overfits (a large gap) or underfits (none: more training or more
  capacity, not more data, is the way up).

GroupNorm groups cannot be probed without training: ``config.py`` records the proxy run that chose
them. All figures are means over the crops, PSNR in dB on [0, 1] images.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .arch import VQAutoencoder, load_checkpoint
from .data import list_images, to_model_range
from .evaluate import load_faces
from .losses import psnr, ssim


def _batches(x: torch.Tensor, batch: int):
    for i in range(0, x.shape[0], batch):
        yield x[i : i + batch]


@torch.no_grad()
def features(ae: VQAutoencoder, crops: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """Pre-quantisation features ``[N, C, h, w]`` (fp32) of uint8 crops."""
    return torch.cat([ae.encode(to_model_range(b)).float() for b in _batches(crops, batch)])


@torch.no_grad()
def decode_psnr(ae: VQAutoencoder, z: torch.Tensor, crops: torch.Tensor, batch: int = 16) -> tuple[float, float]:
    """(mean PSNR, mean SSIM) of ``decode(z)`` against the crops."""
    ps, ss = [], []
    for i in range(0, z.shape[0], batch):
        rec = (ae.decode(z[i : i + batch]).float().clamp(-1, 1) + 1) / 2
        gt = crops[i : i + batch].float() / 255
        ps += psnr(rec, gt).tolist()
        ss += ssim(rec, gt).tolist()
    return sum(ps) / len(ps), sum(ss) / len(ss)


def nearest_codes(z: torch.Tensor, codebook: torch.Tensor, axes: torch.Tensor | None = None,
                  mean: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices ``[N*h*w]``, ``z [N,C,h,w]`` with every position replaced by its nearest row of
    ``codebook [K,C]``). With ``axes [d,C]`` (and their ``mean [1,C]``) distances are measured in
    the span of those directions only; the picked code comes back whole."""
    n, c, h, w = z.shape
    flat = z.permute(0, 2, 3, 1).reshape(-1, c)
    book = codebook
    if axes is not None:
        flat, book = (flat - mean) @ axes.t(), (codebook - mean) @ axes.t()
    idx = torch.cdist(flat, book).argmin(1)
    return idx, codebook[idx].reshape(n, h, w, c).permute(0, 3, 1, 2)


def usage(indices: torch.Tensor, n_embed: int) -> tuple[int, float, torch.Tensor]:
    """(codes used, perplexity, codes sorted by use, most used first) of code indices."""
    counts = torch.bincount(indices.flatten(), minlength=n_embed).float()
    p = counts / counts.sum()
    nz = p[p > 0]
    return int((counts > 0).sum()), float(torch.exp(-(nz * nz.log()).sum())), counts.argsort(descending=True)


def principal_axes(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean [1,C], principal directions [C,C] as rows, explained-variance ratios [C]) of the
    positions of ``z [N,C,h,w]``."""
    flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    mean = flat.mean(0, keepdim=True)
    _, s, vt = torch.linalg.svd(flat - mean, full_matrices=False)
    return mean, vt, s**2 / (s**2).sum()


def probe(ae: VQAutoencoder, crops: torch.Tensor, seen: torch.Tensor | None = None) -> dict:
    """Every figure of the module docstring for one HQ autoencoder."""
    ae = ae.eval()
    cfg = ae.cfg
    z = features(ae, crops)
    codebook = ae.quantize.embedding.weight.detach().float()
    out: dict[str, float | int] = {"n_embed": cfg.n_embed, "embed_dim": cfg.embed_dim, "crops": int(crops.shape[0])}
    idx, zq = nearest_codes(z, codebook)
    out["vq"], out["vq_ssim"] = decode_psnr(ae, zq, crops)
    out["no_vq"], _ = decode_psnr(ae, z, crops)
    out["codes_used"], out["perplexity"], order = usage(idx, cfg.n_embed)
    for frac, name in ((2, "top_half"), (4, "top_quarter")):
        k = max(1, cfg.n_embed // frac)
        out[name], _ = decode_psnr(ae, nearest_codes(z, codebook[order[:k]])[1], crops)
    mean, axes, var = principal_axes(z)
    out["var99"] = int((var.cumsum(0) < 0.99).sum()) + 1
    for frac, name in ((4, "pca_quarter"), (8, "pca_eighth")):
        d = max(1, cfg.embed_dim // frac)
        out[name], _ = decode_psnr(ae, nearest_codes(z, codebook, axes[:d], mean)[1], crops)
    if seen is not None:
        out["vq_seen"], _ = decode_psnr(ae, nearest_codes(features(ae, seen), codebook)[1], seen)
    return out


COLUMNS = [
    ("vq", "VQ recon dB"), ("vq_ssim", "SSIM"), ("no_vq", "no VQ dB"), ("top_half", "top 1/2 codes"),
    ("top_quarter", "top 1/4 codes"), ("codes_used", "codes used"), ("perplexity", "perplexity"),
    ("var99", "dims for 99 % var"), ("pca_quarter", "codes by 1/4 width dB"), ("pca_eighth", "codes by 1/8 width dB"),
    ("vq_seen", "VQ recon, seen ids"),
]


def markdown(results: dict[str, dict]) -> str:
    """One row per checkpoint."""
    cols = [(k, t) for k, t in COLUMNS if any(k in r for r in results.values())]
    lines = ["| checkpoint | " + " | ".join(t for _, t in cols) + " |", "| --- |" + " --- |" * len(cols)]
    for name, r in results.items():
        cells = []
        for k, _ in cols:
            v = r.get(k)
            cells.append("" if v is None else (f"{v:.4f}" if k == "vq_ssim" else f"{v:.2f}" if isinstance(v, float) else str(v)))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", metavar="NAME=PATH", help="checkpoints to probe (NAME= optional)")
    ap.add_argument("--data", type=Path, required=True, help="held-out ground-truth crops (models/data/holdout)")
    ap.add_argument("--seen", type=Path, help="crops of identities the checkpoints trained on (optional)")
    ap.add_argument("--limit", type=int, default=200, help="crops per set, spread over the folder (default 200)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: leave a core to training)")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args(argv)
    if args.limit < 1:
        ap.error("--limit must be at least 1")
    for folder in (args.data, args.seen):
        if folder is not None and not (folder.is_dir() and list_images(folder)):
            ap.error(f"{folder}: not a folder of images")
    torch.set_num_threads(args.threads)
    named = []
    for spec in args.checkpoints:
        name, _, path = spec.rpartition("=")
        path = Path(path)
        if not path.is_file():
            ap.error(f"checkpoint not found: {path}")
        named.append((name or path.parent.name + "/" + path.name, path))
    results, cache = {}, {}
    for name, path in named:
        model, config = load_checkpoint(path)
        size = model.cfg.vq.resolution
        if size not in cache:
            cache[size] = tuple(load_faces(str(d), size, args.limit, align=False) if d else None for d in (args.data, args.seen))
        crops, seen = cache[size]
        print(f"{name}: {config}, {crops.shape[0]} held-out crops ...", file=sys.stderr, flush=True)
        results[name] = probe(model.hq, crops, seen)
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
