"""Evaluate restorers on degraded faces: bicubic baseline vs PyTorch fp32 vs ONNX models (fp32, int8).

    python -m daefr_models.evaluate --checkpoint models/runs/NAME/model.pt \
        --model models/daefr-lite-128.onnx --model models/daefr-lite-128-int8.onnx \
        --data ../shared/data/celeba-6k/test --levels mild,moderate,severe --seed 0 [--limit 200] \
        [--json OUT.json] [--sheet-dir models/runs/eval]

For every level (``degrade.LEVELS``) each ground-truth face is degraded once (seeded; the LQ image
is resized back to the model size with bicubic interpolation, so the "bicubic" row is the degraded
input itself, the baseline a restorer has to beat). Reported per row: mean PSNR (dB) and SSIM
against the ground truth and, for networks, code-index accuracy = share of the 16x16 predicted code
indices equal to those the checkpoint's stage-2 HQ encoder assigns to the ground truth (needs
``--checkpoint``; ONNX models report their in-graph ArgMax). ONNX models run in onnxruntime with
graph optimisations off (a clean reference, see NOTES.md). A contact sheet (degraded | each model |
ground truth) of the first ``--sheet-count`` faces is written per level. CelebA sheets must stay
under models/runs/ (non-commercial images); only sheets of the public-domain astronaut may be
committed (``--data tests/fixtures/astronaut.png --align``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from . import degrade
from .data import list_images, load_folder, to_model_range, to_uint8
from .losses import psnr, ssim

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------- face loading
def similarity_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama, no reflection) mapping ``src`` [N,2] onto ``dst``; 2x3 matrix."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    e = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ e @ vt
    scale = (sig * np.diag(e)).sum() / (s**2).sum(1).mean()
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def align_face(img: Image.Image, template: dict, size: int) -> Image.Image:
    """Detect the largest face with BlazeFace and warp it onto the template (the runtime's alignment)."""
    from .blazeface import BlazeFace

    square = img.convert("RGB")
    w, h = square.size
    side = max(w, h)
    canvas = Image.new("RGB", (side, side))
    canvas.paste(square, ((side - w) // 2, (side - h) // 2))
    det = BlazeFace().detect(np.asarray(canvas.resize((128, 128), Image.BILINEAR)))
    if not det:
        raise RuntimeError("no face found for --align")
    kp = det[0].keypoints[:4] * side / 128  # canvas pixels
    names = ("right_eye", "left_eye", "nose_tip", "mouth_center")
    dst = np.array([template[n] for n in names], dtype=np.float64)
    m = similarity_from_points(kp.astype(np.float64), dst)
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    return canvas.transform((size, size), Image.AFFINE, tuple(inv.flatten()), resample=Image.BICUBIC)


def load_faces(data: str, size: int, limit: int | None, align: bool) -> torch.Tensor:
    """Ground-truth faces ``[N, 3, S, S]`` uint8 from a folder of crops or one image file."""
    p = Path(data)
    if p.is_file():
        img = Image.open(p).convert("RGB")
        if align:
            tmpl = json.loads((REPO / "models" / f"template-celeba-{size}.json").read_text())
            img = align_face(img, tmpl, size)
        else:
            from .data import centre_square

            img = centre_square(img).resize((size, size), Image.BICUBIC)
        return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)[None]
    if limit:
        # spread the subset over identities: every k-th file in sorted order
        paths = list_images(p)
        k = max(1, len(paths) // limit)
        sub = paths[::k][:limit]
        from .data import load_model_input

        return torch.from_numpy(np.stack([load_model_input(q, size) for q in sub])).permute(0, 3, 1, 2).contiguous()
    return load_folder(p, size)


# ------------------------------------------------------------------------------------ runners
class TorchRunner:
    """A checkpoint in PyTorch fp32 (batched); also the code-index ground truth."""

    def __init__(self, checkpoint: Path, device: str = "cpu", weight: float | None = None):
        from .arch import VQAutoencoder
        from .export import load_checkpoint

        self.model, self.config = load_checkpoint(checkpoint)
        payload = torch.load(str(checkpoint), map_location="cpu", weights_only=False)
        teacher = payload.get("teacher")
        stage3 = Path(checkpoint).with_name("stage3.pt")
        if teacher is None and stage3.is_file():  # model.pt written before it carried the teacher
            teacher = torch.load(str(stage3), map_location="cpu", weights_only=False)["trainer"].get("teacher")
        self.teacher = VQAutoencoder(self.model.cfg.vq).eval()
        if teacher:
            self.teacher.load_state_dict(teacher)
            self.teacher_source = "stage-2 HQ encoder (frozen teacher)"
        else:
            self.teacher.load_state_dict(self.model.hq.state_dict())
            self.teacher_source = "model's HQ encoder (no teacher in checkpoint)"
        #: fidelity weight (None: the pure DAEFR code path, `restore`)
        self.weight = weight
        self.name = "pytorch fp32" if weight is None else f"pytorch fp32 w={weight:g}"
        self.size = self.model.cfg.vq.resolution
        self.device = torch.device(device)
        self.model.to(self.device)
        self.teacher.to(self.device)

    @torch.no_grad()
    def gt_indices(self, gt: torch.Tensor) -> torch.Tensor:
        return self.teacher.quantize_features(self.teacher.encode(gt.to(self.device)))[2].cpu()

    @torch.no_grad()
    def __call__(self, lq: torch.Tensor):
        lq = lq.to(self.device)
        logits, fused, skips = self.model.code_path(lq)
        idx = logits.argmax(-1)
        hw = (fused.shape[2], fused.shape[3])
        if self.weight is None:
            out = self.model.hq.decode_indices(idx, hw)
        else:
            w = torch.full((1,), float(self.weight), device=self.device)
            out = self.model.decode_with_fidelity(idx, hw, skips, lq, w)
        return out.cpu(), idx.cpu()


class OnnxRunner:
    """An ONNX restorer in onnxruntime (optimisations off), one face at a time, with its ArgMax output."""

    def __init__(self, path: Path, weight: float | None = None):
        import onnx

        from .export import has_weight_input, ort_session, with_code_indices
        from .onnx_meta import fidelity_default

        proto = onnx.load(str(path))
        meta = {p.key: p.value for p in proto.metadata_props}
        self.size = int(meta["daefr.input_size"])
        #: fidelity weight fed (the model's default unless given; None for a contract-1 model)
        self.weight = (weight if weight is not None else fidelity_default(meta)) if has_weight_input(proto) else None
        quant = meta.get("daefr.quantization", "none").split(":")[0]
        self.name = f"{path.name} ({quant}{'' if self.weight is None else f', w={self.weight:g}'})"
        try:
            proto = with_code_indices(proto)
            self.has_idx = True
        except ValueError:
            self.has_idx = False
        self.sess = ort_session(proto)

    def __call__(self, lq: torch.Tensor):
        outs, idxs = [], []
        from .export import feeds

        for x in lq.numpy().astype(np.float32):
            res = self.sess.run(None, feeds(self.sess, x[None], self.weight))
            outs.append(torch.from_numpy(res[0]))
            if self.has_idx:
                idxs.append(torch.from_numpy(res[1]).reshape(1, -1))
        return torch.cat(outs), (torch.cat(idxs) if self.has_idx else None)


# ------------------------------------------------------------------------------------ evaluate
def evaluate(runners: list, faces: torch.Tensor, levels: list[str], seed: int, teacher=None,
             sheet_dir: Path | None = None, sheet_count: int = 6, chunk: int = 16) -> dict:
    """Metrics per level and row; optional contact sheets. ``faces``: uint8 [N, 3, S, S]."""
    size = faces.shape[-1]
    results = {}
    for level in levels:
        deg = degrade.Degrader(degrade.LEVELS[level], size, seed=seed, resize_back="bicubic")
        rows = {"bicubic (degraded input)": {"psnr": [], "ssim": []}}
        rows.update({r.name: {"psnr": [], "ssim": [], "code_acc": [], "seconds": 0.0} for r in runners})
        sheet = {"degraded": [], "gt": [], **{r.name: [] for r in runners}}
        for i in range(0, len(faces), chunk):
            gt = to_model_range(faces[i : i + chunk])
            lq = deg(gt)
            g01 = (gt + 1) / 2
            rows["bicubic (degraded input)"]["psnr"] += psnr((lq + 1) / 2, g01).tolist()
            rows["bicubic (degraded input)"]["ssim"] += ssim((lq + 1) / 2, g01).tolist()
            gt_idx = teacher.gt_indices(gt) if teacher is not None else None
            for r in runners:
                t = time.time()
                out, idx = r(lq)
                rows[r.name]["seconds"] += time.time() - t
                out01 = (to_uint8(out).float() / 255)
                rows[r.name]["psnr"] += psnr(out01, g01).tolist()
                rows[r.name]["ssim"] += ssim(out01, g01).tolist()
                if gt_idx is not None and idx is not None:
                    rows[r.name]["code_acc"] += (idx == gt_idx).float().mean(1).tolist()
                if len(sheet[r.name]) < sheet_count:
                    sheet[r.name] += list(to_uint8(out))[: sheet_count - len(sheet[r.name])]
            if len(sheet["gt"]) < sheet_count:
                need = sheet_count - len(sheet["gt"])
                sheet["gt"] += list(to_uint8(gt))[:need]
                sheet["degraded"] += list(to_uint8(lq))[:need]
        summary = {}
        for name, m in rows.items():
            summary[name] = {"psnr": _mean(m["psnr"]), "ssim": _mean(m["ssim"]), "n": len(m["psnr"])}
            if m.get("code_acc"):
                summary[name]["code_acc"] = _mean(m["code_acc"])
            if "seconds" in m:
                summary[name]["ms_per_face"] = round(1000 * m["seconds"] / max(1, len(m["psnr"])), 1)
        results[level] = summary
        if sheet_dir is not None:
            columns = ["degraded", *[r.name for r in runners], "gt"]
            path = Path(sheet_dir) / f"contact-{level}.png"
            contact_sheet([sheet[c] for c in columns], ["degraded", *[_short(r.name) for r in runners], "ground truth"],
                          path)
            results[level]["sheet"] = str(path)
    return results


def _mean(v: list) -> float:
    return round(float(np.mean(v)), 4) if v else float("nan")


def _short(name: str) -> str:
    """Column title: the file name (and its fidelity weight, if any) of an ONNX row."""
    if not name.endswith(")"):
        return name
    weight = name.rsplit("w=", 1)[1].rstrip(")") if "w=" in name else None
    return name.split(" ")[0] + ("" if weight is None else f" w={weight}")


def contact_sheet(columns: list[list[torch.Tensor]], titles: list[str], path: Path, scale: int = 2) -> None:
    """Grid PNG: one column per image kind, one row per face, titled columns (nearest-neighbour x``scale``)."""
    rows = min(len(c) for c in columns)
    size = columns[0][0].shape[-1] * scale
    head = 16
    sheet = Image.new("RGB", (len(columns) * size, head + rows * size), "white")
    draw = ImageDraw.Draw(sheet)
    for j, (col, title) in enumerate(zip(columns, titles)):
        draw.text((j * size + 4, 2), title[: size // 6], fill="black")
        for i in range(rows):
            img = Image.fromarray(col[i].permute(1, 2, 0).numpy()).resize((size, size), Image.NEAREST)
            sheet.paste(img, (j * size, head + i * size))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def markdown(results: dict) -> str:
    """Results as a Markdown table (level, row, PSNR, SSIM, code-index accuracy)."""
    lines = ["| level | model | PSNR (dB) | SSIM | code-index acc. |", "| --- | --- | --- | --- | --- |"]
    for level, rows in results.items():
        for name, m in rows.items():
            if name == "sheet":
                continue
            acc = f"{m['code_acc']:.3f}" if "code_acc" in m else "-"
            lines.append(f"| {level} | {name} | {m['psnr']:.2f} | {m['ssim']:.4f} | {acc} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="PSNR/SSIM/code accuracy of restorers on degraded faces.")
    ap.add_argument("--checkpoint", type=Path, help="model.pt from train.py (PyTorch fp32 row + code targets)")
    ap.add_argument("--model", type=Path, action="append", default=[], help="ONNX model (repeatable)")
    ap.add_argument("--data", required=True, help="folder of ground-truth crops, or one image file")
    ap.add_argument("--levels", default="mild,moderate,severe")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="evaluate N faces spread over the folder")
    ap.add_argument("--align", action="store_true", help="single image: align it to the template first")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--sheet-dir", type=Path, default=Path("models/runs/eval"), help="contact sheets go here")
    ap.add_argument("--sheet-count", type=int, default=6)
    ap.add_argument("--fidelity", default=None,
                    help="comma-separated fidelity weights, one row each (PyTorch: pure DAEFR without it; "
                         "ONNX: the model's daefr.fidelity_default without it)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="for the PyTorch row")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.checkpoint is None and not args.model:
        ap.error("give --checkpoint and/or --model")
    weights = [None] if args.fidelity is None else [float(w) for w in args.fidelity.split(",") if w.strip()]
    if any(w is not None and not 0.0 <= w <= 1.0 for w in weights):
        ap.error("--fidelity weights must lie in [0, 1]")
    runners = []
    teacher = None
    if args.checkpoint:
        runners += [TorchRunner(args.checkpoint, args.device, weight=w) for w in weights]
        teacher = runners[0]
    runners += [OnnxRunner(p, weight=w) for p in args.model for w in weights]
    sizes = {r.size for r in runners}
    if len(sizes) != 1:
        raise ValueError(f"models disagree on input size: {sizes}")
    size = sizes.pop()
    levels = [s.strip() for s in args.levels.split(",") if s.strip()]
    for lv in levels:
        if lv not in degrade.LEVELS:
            ap.error(f"unknown level {lv!r}; known: {', '.join(degrade.LEVELS)}")
    faces = load_faces(args.data, size, args.limit, args.align)
    results = evaluate(runners, faces, levels, args.seed, teacher=teacher, sheet_dir=args.sheet_dir,
                       sheet_count=min(args.sheet_count, len(faces)))
    results_meta = {"data": args.data, "faces": len(faces), "seed": args.seed, "levels": levels,
                    "code_targets": teacher.teacher_source if teacher else None}
    print(markdown(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": results_meta, "results": results}, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
