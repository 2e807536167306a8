"""Whole-photo quality: degrade photos, run the real runtime pipeline on them, compare with bicubic.

    python -m daefr_models.photo_eval --data models/data/holdout --limit 100 --level moderate \
        --daefr target/release/daefr [--model models/daefr-lite-128.onnx] [--fidelity 0,auto,1] \
        [--out models/runs/photo-eval] [--json OUT.json]

``models/data/holdout`` is the identities no training stage saw (``daefr_models.splits``): measure
there, not on ``celeba-6k/test``, whose people the model was trained on.

Each ground-truth photo (any size; CelebA's 178x218 crops here) is degraded as a whole with the
level's recipe (``degrade.LEVELS``, mapped to the photo's shorter side like the training ranges are
mapped to the model size) and resized back to its own size with bicubic interpolation: that image
is the "bicubic" baseline *and* what the user hands to ``daefr restore``. The runtime then detects,
aligns, restores and pastes back every face (``daefr restore DIR -o OUT``, whole-photo mode), and
PSNR/SSIM of both against the ground truth are reported over the whole photo, with the detail
figure (``losses.detail_ratio``: Laplacian energy of luma in the central face region, output over
ground truth), the colour shift (``losses.colour_shift``: mean-colour distance in that region,
0-255) and the colour fringe (``losses.colour_fringe``: the 99th percentile of the per-pixel
chroma distance there, 0-255: a tinted patch of 1 % of the region or more); photo by photo, how
many each row leaves below bicubic and by how much at worst (``against_input``). This measures what a
user gets, including detection, alignment and paste-back, not only the network. ``--fidelity``
takes a comma-separated list (numbers or ``auto``); each value is one ``daefr restore`` run over
the same degraded photos and one row.

``--versus EARLIER.json`` compares with an earlier run of this command on the same photos, level
and seed (another model, say): for each row both runs have, photo by photo, this run's PSNR minus
the earlier one's: the mean and median difference, how many photos this run leaves worse than the
earlier one and which, worst first (``versus_run``). A mean can hide where a candidate loses; the
JSON keeps every photo's PSNR per row (``per_photo_psnr``) so that a later run can be compared.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import degrade
from .data import list_images
from .evaluate import versus_input
from .losses import QUALITY_METRICS, quality_metrics


#: The baseline row's name: the degraded photo as the user hands it to ``daefr restore``.
BICUBIC = "bicubic (degraded input)"


def load_photos(data: Path, limit: int | None) -> list[tuple[str, np.ndarray]]:
    """(name, uint8 HxWx3) for every `k`-th photo so that `limit` photos spread over the folder."""
    paths = list_images(data) if data.is_dir() else [data]
    if limit:
        k = max(1, len(paths) // limit)
        paths = paths[::k][:limit]
    return [(f"{i:04d}-{p.stem}.png", np.asarray(Image.open(p).convert("RGB"), dtype=np.uint8)) for i, p in enumerate(paths)]


def degrade_photo(rgb: np.ndarray, level: str, seed: int) -> np.ndarray:
    """The level's degradation of one whole photo, resized back (bicubic) to its size; uint8."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    deg = degrade.Degrader(degrade.LEVELS[level], side, seed=seed, resize_back="bicubic")
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1
    lq = deg(x)
    return np.round((lq[0].clamp(-1, 1).permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)


def metrics(out: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """``losses.quality_metrics`` (PSNR, SSIM, detail, colour shift, colour fringe) of two uint8 photos."""
    a = torch.from_numpy(out).permute(2, 0, 1)[None].float() / 255
    b = torch.from_numpy(gt).permute(2, 0, 1)[None].float() / 255
    return {k: float(v[0]) for k, v in quality_metrics(a, b).items()}


def region_psnr(out: np.ndarray, gt: np.ndarray, box) -> tuple[float, float]:
    """PSNR (dB) of two uint8 photos inside `box` (x0, y0, x1, y1 in pixels, clipped to the photo)
    and outside it: where a restored face's gain goes (`--regions`)."""
    h, w = gt.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    inside = np.zeros((h, w), dtype=bool)
    inside[max(0, y0):max(0, min(h, y1)), max(0, x0):max(0, min(w, x1))] = True
    err = ((out.astype(np.float64) - gt.astype(np.float64)) ** 2).mean(axis=2)

    def db(mask: np.ndarray) -> float:
        if not mask.any():
            return float("nan")
        mse = float(err[mask].mean())
        return float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))

    return db(inside), db(~inside)


def against_input(rows: list[dict], base: list[dict], names: list[str] | None = None) -> dict:
    """Photo by photo, a row's PSNR against the bicubic input's (``evaluate.versus_input``): how
    many photos it leaves worse than they came (``below``), the worst and the 10th-percentile
    difference in dB. With ``names`` (the photos' file names, in order), ``below_photos`` names
    each photo left worse, worst first, so it can be looked at."""
    diff = np.array([r["psnr"] - b["psnr"] for r, b in zip(rows, base, strict=True)])
    return _photo_counts(diff, names)


def _photo_counts(diff: np.ndarray, names: list[str] | None) -> dict:
    """``evaluate.versus_input`` of a per-photo difference, its faces called photos."""
    v = versus_input(diff, names)
    out = {k: v[k] for k in ("below", "worst_db", "p10_db")}
    if names is not None:
        out["below_photos"] = [{"photo": f["face"], "db": f["db"]} for f in v["below_faces"]]
    return out


def check_comparable(ours: dict, theirs: dict) -> None:
    """Raise ValueError unless `theirs` (an earlier result) was made on the photos, level and seed
    of `ours` (a result, or just those three keys) and holds ``per_photo_psnr``."""
    for key in ("data", "level", "seed"):
        if ours.get(key) != theirs.get(key):
            raise ValueError(f"not the same photos: {key} {ours.get(key)!r} against {theirs.get(key)!r}")
    if "per_photo_psnr" not in theirs:
        raise ValueError("the earlier run has no per-photo PSNR (made before photo_eval wrote it): run it again")


def versus_run(ours: dict, theirs: dict) -> dict:
    """Photo by photo, each row of `ours` against the same row of `theirs` (two results of this
    command, ``per_photo_psnr`` in each): ``mean_db``, ``median_db`` and ``against_input``'s counts
    of the difference ours minus theirs, ``below_photos`` naming the photos `ours` leaves worse.
    Raises ValueError where the runs are not comparable (other photos, level or seed, or a run
    made before ``per_photo_psnr`` was written)."""
    check_comparable(ours, theirs)
    out = {}
    for label, mine in ours["per_photo_psnr"].items():
        other = theirs["per_photo_psnr"].get(label)
        if label == BICUBIC or other is None:
            continue
        if sorted(mine) != sorted(other):
            raise ValueError(f"{label}: the runs cover different photos")
        names = sorted(mine)
        diff = np.array([mine[n] - other[n] for n in names])
        out[label] = {"mean_db": round(float(diff.mean()), 3), "median_db": round(float(np.median(diff)), 3),
                      **_photo_counts(diff, names)}
    if not out:
        raise ValueError("no row in common (compare runs made with the same --fidelity values)")
    return out


def face_boxes(report: Path) -> dict[str, list[float]]:
    """The first restored face's box per photo file name, from a `daefr restore --json` report."""
    boxes = {}
    for photo in json.loads(report.read_text()).get("photos", []):
        restored = [f for f in photo.get("faces", []) if f.get("outcome") == "restored"]
        if restored:
            boxes[Path(photo["input"]).name] = restored[0]["bbox"]
    return boxes


def parse_fidelities(text: str | None) -> list[str | None]:
    """``--fidelity`` as daefr arguments: None (the model's default) or each value of a list."""
    if text is None:
        return [None]
    out = []
    for v in (t.strip() for t in text.split(",")):
        if not v:
            continue
        if v != "auto" and not 0.0 <= float(v) <= 1.0:
            raise ValueError(f"fidelity {v}: a weight in [0, 1] or 'auto'")
        out.append(v)
    return out or [None]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Whole-photo PSNR/SSIM: daefr restore vs bicubic.")
    ap.add_argument("--data", type=Path, required=True, help="ground-truth photos (folder or file)")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--level", default="moderate", choices=list(degrade.LEVELS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--daefr", type=Path, default=Path("target/release/daefr"), help="the runtime binary")
    ap.add_argument("--model", type=Path, default=None, help="model for daefr (default: the bundled one)")
    ap.add_argument("--fidelity", default=None,
                    help="daefr --fidelity values, comma-separated (numbers in [0, 1] or auto; default: the model's)")
    ap.add_argument("--extra", default="", help="more daefr restore arguments, one string")
    ap.add_argument("--out", type=Path, default=None, help="keep degraded and restored photos here")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--regions", action="store_true",
                    help="also PSNR inside and outside the face box (the first run's first restored face) per row")
    ap.add_argument("--versus", type=Path, default=None,
                    help="an earlier --json of this command on the same photos: compare photo by photo, row by row")
    args = ap.parse_args(argv)
    earlier = None
    if args.versus is not None:
        try:
            earlier = json.loads(args.versus.read_text())
            check_comparable({"data": str(args.data), "level": args.level, "seed": args.seed}, earlier)
        except (OSError, ValueError) as e:  # json.JSONDecodeError is a ValueError
            ap.error(f"--versus {args.versus}: {e}")
    if not args.daefr.is_file():
        ap.error(f"{args.daefr}: not found (cargo build --release first)")
    try:
        fidelities = parse_fidelities(args.fidelity)
    except ValueError as e:
        ap.error(str(e))
    photos = load_photos(args.data, args.limit)
    rows: dict[str, list[dict]] = {BICUBIC: []}
    found = {}
    boxes: dict[str, list[float]] | None = None
    outputs: dict[str, Path] = {}
    regions: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        lq_dir = root / "degraded"
        lq_dir.mkdir(parents=True, exist_ok=True)
        for i, (name, rgb) in enumerate(photos):
            Image.fromarray(degrade_photo(rgb, args.level, args.seed + i)).save(lq_dir / name)
        for name, gt in photos:
            rows[BICUBIC].append(metrics(np.asarray(Image.open(lq_dir / name).convert("RGB")), gt))
        for fid in fidelities:
            label = "daefr restore" + ("" if fid is None else f" --fidelity {fid}")
            out_dir = root / ("restored" if fid is None else f"restored-w{fid}")
            out_dir.mkdir(parents=True, exist_ok=True)
            cmd = [str(args.daefr), "restore", str(lq_dir), "-o", str(out_dir), "--force"]
            if args.model:
                cmd += ["--model", str(args.model)]
            if fid is not None:
                cmd += ["--fidelity", fid]
            cmd += args.extra.split()
            if args.regions:
                cmd += ["--json", str(root / f"{out_dir.name}.json")]
            print(f"running: {' '.join(cmd)}", file=sys.stderr)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                raise SystemExit(f"daefr restore failed with exit {proc.returncode}")
            counts = [int(m.group(1)) for m in re.finditer(r"(\d+) restored ->", proc.stderr)]
            found[label] = sum(1 for c in counts if c > 0)
            rows[label] = [metrics(np.asarray(Image.open(out_dir / name).convert("RGB")), gt) for name, gt in photos]
            outputs[label] = out_dir
            if args.regions and boxes is None:
                boxes = face_boxes(root / f"{out_dir.name}.json")
        if args.regions and boxes is not None:
            outputs = {BICUBIC: lq_dir, **outputs}
            for label, folder in outputs.items():
                pairs = [region_psnr(np.asarray(Image.open(folder / name).convert("RGB")), gt, boxes[name])
                         for name, gt in photos if name in boxes]
                regions[label] = {"inside": round(float(np.mean([p[0] for p in pairs])), 3),
                                  "outside": round(float(np.mean([p[1] for p in pairs])), 3)}
    summary = {k: {m: round(float(np.mean([r[m] for r in v])), 4) for m in QUALITY_METRICS} for k, v in rows.items()}
    result = {"data": str(args.data), "photos": len(photos), "level": args.level, "seed": args.seed,
              "model": str(args.model) if args.model else None,
              "photos_with_a_restored_face": found, "rows": summary}
    if regions:
        result["regions"] = {"photos": len(boxes or {}), "psnr": regions}
    names = [name for name, _ in photos]
    vs_input = {k: against_input(v, rows[BICUBIC], names) for k, v in rows.items()
                if k != BICUBIC}
    result["per_photo_vs_bicubic"] = vs_input
    result["per_photo_psnr"] = {k: {n: round(r["psnr"], 4) for n, r in zip(names, v, strict=True)}
                                for k, v in rows.items()}
    versus, versus_error = None, None
    if earlier is not None:
        try:
            versus = versus_run(result, earlier)
            result["versus"] = {"file": str(args.versus), "model": earlier.get("model"), "rows": versus}
        except ValueError as e:  # e.g. another --limit: this run's results are still written below
            versus_error = f"--versus {args.versus}: {e}"
    base = summary[BICUBIC]
    print("| level | row | PSNR (dB) | SSIM | detail | colour shift | colour fringe | PSNR vs bicubic |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for k, m in summary.items():
        print(f"| {args.level} | {k} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['detail']:.3f} | {m['colour']:.2f} "
              f"| {m['fringe']:.2f} | {m['psnr'] - base['psnr']:+.2f} dB |")
    for k, n in found.items():
        print(f"{k}: {n} of {len(photos)} photos had a face restored")
    for k, v in vs_input.items():
        worst = ", ".join(f"{p['photo']} {p['db']:+.2f}" for p in v["below_photos"][:5])
        print(f"{k}: {v['below']} of {len(photos)} photos below bicubic; worst {v['worst_db']:+.2f} dB, "
              f"10th percentile {v['p10_db']:+.2f} dB" + (f" (worst first: {worst})" if worst else ""))
    if regions:
        inside0, outside0 = regions[BICUBIC]["inside"], regions[BICUBIC]["outside"]
        print(f"PSNR by region over the {len(boxes or {})} photos with a restored face (the first run's box):")
        print("| row | inside the face box (dB) | outside (dB) |")
        print("| --- | --- | --- |")
        for k, r in regions.items():
            print(f"| {k} | {r['inside']:.2f} ({r['inside'] - inside0:+.2f}) | {r['outside']:.2f} ({r['outside'] - outside0:+.2f}) |")
    for k, v in (versus or {}).items():
        worst = ", ".join(f"{p['photo']} {p['db']:+.2f}" for p in v["below_photos"][:5])
        print(f"{k} against {args.versus}: mean {v['mean_db']:+.3f} dB, median {v['median_db']:+.3f} dB; "
              f"{v['below']} of {len(photos)} photos worse" + (f" (worst first: {worst})" if worst else ""))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if versus_error:
        raise SystemExit(versus_error)
    return result


if __name__ == "__main__":
    main()
