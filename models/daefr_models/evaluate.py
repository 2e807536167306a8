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
graph optimisations off (a clean reference: its optimized int8 path saturates in places). A contact sheet (degraded | each model |
ground truth) of the first ``--sheet-count`` faces is written per level. CelebA sheets must stay
under models/runs/ (non-commercial images); only sheets of the public-domain astronaut may be
committed (``--data tests/fixtures/astronaut.png --align``).

A single image is cut to its centre square and resized (bicubic) to the model size, or with
``--align`` aligned as the runtime aligns faces: BlazeFace short-range on the runtime's letterboxed
detector input (area-average shrink, centred on black), the largest face's right eye, left eye, nose
tip and mouth centre fitted to the model's template by the runtime's least-squares similarity
(src/align/similarity.rs), and the crop sampled as src/align/warp.rs does (inverse-mapped bilinear,
k x k supersampling when shrinking by more than 1.5x, mirrored borders, float32). The detector's
decoding (thresholds, box merging) is blazeface.py's, not the runtime's.

``evaluate`` is the only restorer evaluation of the package: training's stage-3/4 validation and
``choose_fidelity`` use it through ``restorer_metrics``.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from . import degrade
from .auto_fidelity import KEY as AUTO_KEY
from .auto_fidelity import parse_curve, sharpness_u8, weights_for
from .arch import VQAutoencoder, load_checkpoint, quantize_fp32
from .blazeface import BlazeFace
from .data import centre_square, list_images, load_folder, load_model_input, to_model_range, to_uint8
from .losses import QUALITY_METRICS, quality_metrics
from .onnx_meta import fidelity_default
from .onnx_tools import REPO_ROOT, feeds, has_weight_input, ort_session, with_code_indices


# ------------------------------------------------------------------------------- face loading
# ``--align`` follows the runtime (src/detect/blazeface.rs, src/align/): the same detector input,
# the same least-squares fit onto the template and the same warp, in the same float32 arithmetic.
DETECTOR_INPUT = 128  # BlazeFace short-range (`daefr restore --detector short-range`; the runtime's default is long-range)
ALIGN_POINTS = ("right_eye", "left_eye", "nose_tip", "mouth_center")


def similarity_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (no reflection) mapping ``src`` [N,2] onto ``dst``, as the 2x3 matrix
    ``[[a, -b, tx], [b, a, ty]]``: the runtime's closed form (``estimate_similarity`` in
    src/align/similarity.rs). Raises ``ValueError`` on degenerate points, where the runtime gives up."""
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[0] < 2 or not np.isfinite([src, dst]).all():
        raise ValueError("similarity fit needs two equal-length lists of at least two finite points")
    ms, md = src.mean(0), dst.mean(0)
    p, q = src - ms, dst - md
    norm = float((p**2).sum())
    if norm <= 1e-12:
        raise ValueError("similarity fit: the source points coincide")
    a = float((p * q).sum()) / norm
    b = float((p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]).sum()) / norm
    if np.hypot(a, b) <= 1e-12:
        raise ValueError("similarity fit: zero scale")
    tx = md[0] - (a * ms[0] - b * ms[1])
    ty = md[1] - (b * ms[0] + a * ms[1])
    return np.array([[a, -b, tx], [b, a, ty]])


def reflect(i: np.ndarray, length: int) -> np.ndarray:
    """Mirror integer indices into ``0..length`` (reflect-101: ``-1 -> 1``, ``length -> length - 2``)."""
    if length <= 1:
        return np.zeros_like(i)
    period = 2 * (length - 1)
    m = np.mod(i, period)
    return np.where(m < length, m, period - m)


def warp_to_crop(frame: np.ndarray, to_crop: np.ndarray, size: int) -> np.ndarray:
    """The runtime's ``warp_to_crop`` (src/align/warp.rs) on a uint8 ``[H, W, 3]`` frame.

    ``to_crop`` (2x3 similarity, frame pixels -> crop pixels, pixel centres at integer + 0.5) is
    rounded to float32 and inverted as the runtime does; crop pixel ``(u, v)`` averages a k x k grid
    of bilinear samples (k = the frame-per-crop scale rounded, clamped to 1..4) at
    ``to_frame(u + (i + 0.5) / k, v + (j + 0.5) / k) - 0.5``, with mirrored (reflect-101) borders,
    then rounds half up to uint8.
    """
    f32 = np.float32
    a, b, tx, ty = (f32(to_crop[0, 0]), f32(to_crop[1, 0]), f32(to_crop[0, 2]), f32(to_crop[1, 2]))
    det = a * a + b * b
    if not (np.isfinite(det) and det > np.finfo(f32).eps ** 2):
        raise ValueError("alignment transform is not invertible")
    ia, ib = a / det, -b / det
    itx, ity = -(ia * tx - ib * ty), -(ib * tx + ia * ty)
    k = int(np.clip(np.floor(np.hypot(ia, ib) + f32(0.5)), 1, 4))
    step = f32(1.0) / f32(k)
    h, w = frame.shape[:2]
    img = frame.astype(f32)
    grid = np.arange(size, dtype=f32)
    acc = np.zeros((size, size, 3), dtype=f32)
    for sy in range(k):
        cv = (grid + (f32(sy) + f32(0.5)) * step)[:, None]
        for sx in range(k):
            cu = (grid + (f32(sx) + f32(0.5)) * step)[None, :]
            x = ia * cu - ib * cv + itx - f32(0.5)
            y = ib * cu + ia * cv + ity - f32(0.5)
            fx, fy = np.floor(x), np.floor(y)
            dx, dy = (x - fx)[..., None], (y - fy)[..., None]
            x0, y0 = fx.astype(np.int64), fy.astype(np.int64)
            xs = (reflect(x0, w), reflect(x0 + 1, w))
            ys = (reflect(y0, h), reflect(y0 + 1, h))
            one = f32(1.0)
            s = (one - dx) * (one - dy) * img[ys[0], xs[0]]
            s = s + dx * (one - dy) * img[ys[0], xs[1]]
            s = s + (one - dx) * dy * img[ys[1], xs[0]]
            s = s + dx * dy * img[ys[1], xs[1]]
            acc += s
    out = np.floor(acc * (f32(1.0) / f32(k * k)) + f32(0.5))
    return np.clip(out, 0, 255).astype(np.uint8)


def detector_input(frame: np.ndarray, size: int = DETECTOR_INPUT) -> tuple[np.ndarray, tuple[float, ...]]:
    """The runtime's letterbox (``preprocess`` in src/detect/blazeface.rs): the frame resized keeping
    its aspect (area average when shrinking, bilinear when enlarging), centred on black.

    Returns the ``[size, size, 3]`` float32 input in 0..255 (unrounded area means, as the runtime
    feeds them) and ``(offset_x, offset_y, scale_x, scale_y)`` to map detections back to the frame.
    """
    fh, fw = frame.shape[:2]
    scale = size / max(fw, fh, 1)
    w = int(min(max(round(fw * scale), 1), size))
    h = int(min(max(round(fh * scale), 1), size))
    if fw >= w and fh >= h:
        # area average over source spans [i * n / out, (i + 1) * n / out)
        rows = np.array([i * fh // h for i in range(h)])
        cols = np.array([i * fw // w for i in range(w)])
        sums = np.add.reduceat(np.add.reduceat(frame.astype(np.float64), rows, axis=0), cols, axis=1)
        counts = np.diff(np.append(rows, fh))[:, None] * np.diff(np.append(cols, fw))[None, :]
        small = (sums / counts[..., None]).astype(np.float32)
    else:
        small = np.asarray(Image.fromarray(frame).resize((w, h), Image.BILINEAR), dtype=np.float32)
    ox, oy = (size - w) // 2, (size - h) // 2
    canvas = np.zeros((size, size, 3), dtype=np.float32)
    canvas[oy : oy + h, ox : ox + w] = small
    return canvas, (ox, oy, w / max(fw, 1), h / max(fh, 1))


def alignment_points(frame: np.ndarray) -> np.ndarray:
    """Right eye, left eye, nose tip and mouth centre ``[4, 2]`` of the largest face in a uint8
    ``[H, W, 3]`` frame, in frame pixels: BlazeFace short-range on the runtime's letterboxed
    detector input, mapped back as the runtime maps them. Detection thresholds and box merging are
    this package's decoder (blazeface.py), not the runtime's, so on hard images the two may differ."""
    inp, (ox, oy, sx, sy) = detector_input(frame)
    det = BlazeFace().detect(inp)
    if not det:
        raise RuntimeError("no face found for --align")
    face = max(det, key=lambda d: max(0.0, d.box[2] - d.box[0]) * max(0.0, d.box[3] - d.box[1]))
    return (face.keypoints[:4].astype(np.float64) - [ox, oy]) / [sx, sy]


def align_face(img: Image.Image, template: dict, size: int) -> Image.Image:
    """Align the largest face of ``img`` to ``template`` (pixels of a ``size`` crop) as the runtime
    does: ``alignment_points``, ``similarity_from_points`` onto the template's four points, then
    ``warp_to_crop`` (bilinear, supersampled when shrinking, mirrored borders)."""
    frame = np.asarray(img.convert("RGB"), dtype=np.uint8)
    dst = np.array([template[n] for n in ALIGN_POINTS], dtype=np.float64)
    return Image.fromarray(warp_to_crop(frame, similarity_from_points(alignment_points(frame), dst), size))


def load_faces(data: str, size: int, limit: int | None, align: bool) -> torch.Tensor:
    """Ground-truth faces ``[N, 3, S, S]`` uint8 from a folder of crops or one image file."""
    p = Path(data)
    if p.is_file():
        img = Image.open(p).convert("RGB")
        if align:
            tmpl = json.loads((REPO_ROOT / "models" / f"template-celeba-{size}.json").read_text())
            img = align_face(img, tmpl, size)
        else:
            img = centre_square(img).resize((size, size), Image.BICUBIC)
        return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)[None]
    if limit:
        # spread the subset over identities: every k-th file in sorted order
        paths = list_images(p)
        k = max(1, len(paths) // limit)
        sub = paths[::k][:limit]
        return torch.from_numpy(np.stack([load_model_input(q, size) for q in sub])).permute(0, 3, 1, 2).contiguous()
    return load_folder(p, size)


# ------------------------------------------------------------------------------------ runners
class ModelRunner:
    """An in-memory DAEFR as an evaluation row: ``runner(lq) -> (restored, code indices)``, with
    ``gt_indices(gt)`` (the code-index targets) when it has a ``teacher`` (a ``VQAutoencoder``).

    ``weight``: the fidelity weight (None: the pure DAEFR code path, ``restore``). ``autocast`` (a
    context factory) and ``prep`` (e.g. channels-last) let training validate under its own precision
    and memory format; the nearest-code search for the targets stays fp32. The model runs in eval
    mode and is put back in the mode it was in. Outputs come back on the device of the input.
    """

    def __init__(self, model, teacher=None, weight: float | None = None, *, base_name: str = "pytorch",
                 autocast=nullcontext, prep=None):
        self.model, self.teacher, self.autocast = model, teacher, autocast
        self.prep = prep or (lambda x: x)
        self.base_name = base_name
        self.size = model.cfg.vq.resolution
        self.device = next(model.parameters()).device
        self._code_cache: dict = {}
        self._set_weight(weight)

    def _set_weight(self, weight: float | None) -> None:
        self.weight = weight
        self.name = self.base_name if weight is None else f"{self.base_name} w={weight:g}"

    def with_weight(self, weight: float | None, share_code_path: bool = True) -> "ModelRunner":
        """The same model (and teacher) at another fidelity weight. With ``share_code_path`` the
        runners reuse one code-path pass per input batch (the outputs are the same; only the
        per-row timing then leaves that pass to the first runner)."""
        other = copy.copy(self)
        other._set_weight(weight)
        if not share_code_path:
            other._code_cache = {}
        return other

    @torch.no_grad()
    def gt_indices(self, gt: torch.Tensor) -> torch.Tensor:
        if self.teacher is None:
            raise ValueError(f"{self.name}: no teacher for code-index targets")
        x = self.prep(gt.to(self.device))
        with self.autocast():
            h = self.teacher.encode(x)
        return quantize_fp32(self.teacher, h)[2].to(gt.device)

    def _code_path(self, lq: torch.Tensor, x: torch.Tensor):
        """(indices, latent hw, skips) of ``x`` = ``lq`` on the model's device, cached on ``lq``."""
        hit = self._code_cache.get("last")
        if hit is not None and hit[0] is lq:
            return hit[1]
        with self.autocast():
            logits, fused, skips = self.model.code_path(self.prep(x))
        res = (logits.float().argmax(-1), (fused.shape[2], fused.shape[3]), skips)
        self._code_cache["last"] = (lq, res)
        return res

    @torch.no_grad()
    def __call__(self, lq: torch.Tensor):
        was_training = self.model.training
        self.model.eval()
        try:
            x = lq.to(self.device)
            idx, hw, skips = self._code_path(lq, x)
            with self.autocast():
                if self.weight is None:
                    out = self.model.hq.decode_indices(idx, hw)
                else:
                    w = torch.full((1,), float(self.weight), device=self.device)
                    out = self.model.decode_with_fidelity(idx, hw, skips, self.prep(x), w)
        finally:
            self.model.train(was_training)
        return out.float().to(lq.device), idx.to(lq.device)


class TorchRunner(ModelRunner):
    """A ``model.pt`` checkpoint in PyTorch fp32 (batched); also the code-index ground truth."""

    def __init__(self, checkpoint: Path, device: str = "cpu", weight: float | None = None):
        model, self.config = load_checkpoint(checkpoint)
        payload = torch.load(str(checkpoint), map_location="cpu", weights_only=False)
        teacher_state = payload.get("teacher")
        stage3 = Path(checkpoint).with_name("stage3.pt")
        if teacher_state is None and stage3.is_file():  # model.pt written before it carried the teacher
            teacher_state = torch.load(str(stage3), map_location="cpu", weights_only=False)["trainer"].get("teacher")
        teacher = VQAutoencoder(model.cfg.vq).eval()
        if teacher_state:
            teacher.load_state_dict(teacher_state)
            self.teacher_source = "stage-2 HQ encoder (frozen teacher)"
        else:
            teacher.load_state_dict(model.hq.state_dict())
            self.teacher_source = "model's HQ encoder (no teacher in checkpoint)"
        dev = torch.device(device)
        super().__init__(model.to(dev), teacher.to(dev), weight, base_name="pytorch fp32")


class OnnxRunner:
    """An ONNX restorer in onnxruntime (optimisations off), one face at a time, with its ArgMax output."""

    def __init__(self, path: Path, weight: float | str | None = None):
        import onnx  # here, not at the top: train and ablation import this module where onnx may be missing

        proto = onnx.load(str(path))
        meta = {p.key: p.value for p in proto.metadata_props}
        self.size = int(meta["daefr.input_size"])
        #: fidelity weight fed (the model's default unless given; None for a contract-1 model;
        #: "auto": per face from the model's daefr.fidelity_auto curve, as the runtime does)
        self.weight = (weight if weight is not None else fidelity_default(meta)) if has_weight_input(proto) else None
        self.curve = None
        if self.weight == "auto":
            if AUTO_KEY not in meta:
                raise ValueError(f"{path}: --fidelity auto needs {AUTO_KEY} in the model's metadata")
            self.curve = parse_curve(meta[AUTO_KEY])
        quant = meta.get("daefr.quantization", "none").split(":")[0]
        label = "" if self.weight is None else f", w={self.weight}" if self.curve else f", w={self.weight:g}"
        self.name = f"{path.name} ({quant}{label})"
        try:
            proto = with_code_indices(proto)
            self.has_idx = True
        except ValueError:
            self.has_idx = False
        self.sess = ort_session(proto)

    def __call__(self, lq: torch.Tensor):
        outs, idxs = [], []
        weights = [self.weight] * len(lq)
        if self.curve is not None:
            weights = [float(w) for w in weights_for(sharpness_u8(lq), self.curve)]
        for x, w in zip(lq.numpy().astype(np.float32), weights):
            res = self.sess.run(None, feeds(self.sess, x[None], w))
            outs.append(torch.from_numpy(res[0]))
            if self.has_idx:
                idxs.append(torch.from_numpy(res[1]).reshape(1, -1))
        return torch.cat(outs), (torch.cat(idxs) if self.has_idx else None)


# ------------------------------------------------------------------------------------ evaluate
BICUBIC = "bicubic (degraded input)"


def evaluate(runners: list, faces: torch.Tensor, levels: list[str], seed: int, teacher=None,
             sheet_dir: Path | None = None, sheet_count: int = 6, chunk: int = 16) -> dict:
    """The one restorer evaluation of this package (the CLI, ``ablation``, training's validation
    through ``restorer_metrics``, ``choose_fidelity``).

    ``faces``: uint8 ``[N, 3, S, S]`` (on any device; degradation and metrics run there). Per level,
    faces are degraded in chunks of ``chunk`` by ``Degrader(LEVELS[level], seed=seed,
    resize_back="bicubic")``; the ``BICUBIC`` row is that degraded input, each runner's row its
    output rounded to uint8 (as the runtime hands it out). Returns ``{level: {row name: {"psnr",
    "ssim", "detail", "colour", "fringe", "n", ["code_acc"], ["ms_per_face"]}}}`` (means rounded to
    4 decimals; the figures of ``losses.quality_metrics``); ``code_acc`` =
    share of a runner's code indices equal to ``teacher.gt_indices(gt)``, for runners that report
    indices. With ``sheet_dir``, a contact sheet of the first ``sheet_count`` faces per level.
    """
    size = faces.shape[-1]
    results = {}
    for level in levels:
        deg = degrade.Degrader(degrade.LEVELS[level], size, seed=seed, resize_back="bicubic")
        rows = {BICUBIC: {k: [] for k in QUALITY_METRICS}}
        rows.update({r.name: {**{k: [] for k in QUALITY_METRICS}, "code_acc": [], "seconds": 0.0} for r in runners})
        sheet = {"degraded": [], "gt": [], **{r.name: [] for r in runners}}
        for i in range(0, len(faces), chunk):
            gt = to_model_range(faces[i : i + chunk])
            lq = deg(gt)
            g01 = (gt + 1) / 2
            for k, v in quality_metrics((lq + 1) / 2, g01).items():
                rows[BICUBIC][k] += v.tolist()
            gt_idx = teacher.gt_indices(gt) if teacher is not None else None
            for r in runners:
                t = time.time()
                out, idx = r(lq)
                rows[r.name]["seconds"] += time.time() - t
                out = out.to(g01.device)
                out01 = to_uint8(out).float() / 255
                for k, v in quality_metrics(out01, g01).items():
                    rows[r.name][k] += v.tolist()
                if gt_idx is not None and idx is not None:
                    rows[r.name]["code_acc"] += (idx.to(gt_idx.device) == gt_idx).float().mean(1).tolist()
                if sheet_dir is not None and len(sheet[r.name]) < sheet_count:
                    sheet[r.name] += list(to_uint8(out).cpu())[: sheet_count - len(sheet[r.name])]
            if sheet_dir is not None and len(sheet["gt"]) < sheet_count:
                need = sheet_count - len(sheet["gt"])
                sheet["gt"] += list(to_uint8(gt).cpu())[:need]
                sheet["degraded"] += list(to_uint8(lq).cpu())[:need]
        summary = {}
        base = np.array(rows[BICUBIC]["psnr"])
        for name, m in rows.items():
            summary[name] = {**{k: _mean(m[k]) for k in QUALITY_METRICS}, "n": len(m["psnr"])}
            if name != BICUBIC and m["psnr"]:
                summary[name]["vs_bicubic"] = versus_input(np.array(m["psnr"]) - base)
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


def restorer_metrics(model, faces: torch.Tensor, level: str, seed: int = 1234, *, teacher=None,
                     weights=(None,), chunk: int = 16, autocast=nullcontext, prep=None) -> dict:
    """``evaluate`` of one in-memory DAEFR at one level, flattened for training logs and
    ``metrics.json``: ``input_psnr``/``input_ssim`` (the bicubic row), then per fidelity weight
    ``psnr``/``ssim``/``detail`` (weight None: the pure DAEFR code path) or ``w{w:g}_psnr`` and so on,
    and ``code_acc``/``w{w:g}_code_acc`` when a ``teacher`` (``VQAutoencoder``) gives the targets.
    The code path runs once per batch for all weights."""
    first = ModelRunner(model, teacher, weights[0], autocast=autocast, prep=prep)
    runners = [first] + [first.with_weight(w) for w in weights[1:]]
    res = evaluate(runners, faces, [level], seed, teacher=first if teacher is not None else None,
                   sheet_dir=None, chunk=chunk)[level]
    out = {"input_psnr": res[BICUBIC]["psnr"], "input_ssim": res[BICUBIC]["ssim"]}
    for w, r in zip(weights, runners):
        prefix = "" if w is None else f"w{w:g}_"
        for key in ("psnr", "ssim", "detail", "code_acc"):
            if key in res[r.name]:
                out[prefix + key] = res[r.name][key]
    return out


def versus_input(diff: np.ndarray, names: list[str] | None = None) -> dict:
    """Face by face, a row's PSNR minus its input's (``diff``, dB): how many faces it leaves worse
    than they came (``below``), the worst and the 10th-percentile difference. The mean can hide a
    face made worse; a do-no-harm bar is about every face. ``below_faces`` lists each face left
    worse, worst first, by its name in ``names`` (default: its index), so it can be looked at."""
    diff = np.asarray(diff, dtype=np.float64)
    names = [str(i) for i in range(len(diff))] if names is None else names
    if len(names) != len(diff):
        raise ValueError(f"{len(names)} names for {len(diff)} faces")
    order = np.argsort(diff, kind="stable")
    return {"below": int((diff < 0).sum()), "worst_db": round(float(diff.min()), 3),
            "p10_db": round(float(np.percentile(diff, 10)), 3),
            "below_faces": [{"face": names[i], "db": round(float(diff[i]), 3)} for i in order if diff[i] < 0]}


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
    """Results as a Markdown table (level, row, PSNR, SSIM, detail, colour shift, colour fringe,
    code-index accuracy)."""
    lines = ["| level | model | PSNR (dB) | SSIM | detail | colour shift | colour fringe | code-index acc. |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for level, rows in results.items():
        for name, m in rows.items():
            if name == "sheet":
                continue
            acc = f"{m['code_acc']:.3f}" if "code_acc" in m else "-"
            lines.append(f"| {level} | {name} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m.get('detail', float('nan')):.3f} "
                         f"| {m.get('colour', float('nan')):.2f} | {m.get('fringe', float('nan')):.2f} | {acc} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="PSNR/SSIM/code accuracy of restorers on degraded faces.")
    ap.add_argument("--checkpoint", type=Path, help="model.pt from train.py (PyTorch fp32 row + code targets)")
    ap.add_argument("--model", type=Path, action="append", default=[], help="ONNX model (repeatable)")
    ap.add_argument("--data", required=True, help="folder of ground-truth crops, or one image file")
    ap.add_argument("--levels", default="mild,moderate,severe")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="evaluate N faces spread over the folder")
    ap.add_argument("--align", action="store_true",
                    help="single image: align its largest face to the template as the runtime does "
                         "(BlazeFace short-range on the letterboxed image, least-squares similarity "
                         "on eyes, nose tip and mouth, bilinear warp with mirrored borders)")
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
    weights = [None] if args.fidelity is None else [w.strip() if w.strip() == "auto" else float(w)
                                                    for w in args.fidelity.split(",") if w.strip()]
    if any(isinstance(w, float) and not 0.0 <= w <= 1.0 for w in weights):
        ap.error("--fidelity weights must lie in [0, 1] (or be auto)")
    if "auto" in weights and not args.model:
        ap.error("--fidelity auto needs an ONNX --model (its daefr.fidelity_auto curve)")
    runners = []
    teacher = None
    if args.checkpoint:
        fixed = [w for w in weights if w != "auto"] or [None]
        teacher = TorchRunner(args.checkpoint, args.device, weight=fixed[0])
        # one checkpoint load; each row runs the whole network (its ms_per_face stays honest)
        runners += [teacher] + [teacher.with_weight(w, share_code_path=False) for w in fixed[1:]]
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
    for level, rows in results.items():
        for name, m in rows.items():
            v = m.get("vs_bicubic") if isinstance(m, dict) else None
            if v is None:
                continue
            worst = ", ".join(f"face {f['face']} {f['db']:+.2f}" for f in v["below_faces"][:5])
            print(f"{level}, {name}: {v['below']} of {m['n']} faces below bicubic; worst {v['worst_db']:+.2f} dB, "
                  f"10th percentile {v['p10_db']:+.2f} dB" + (f" (worst first: {worst})" if worst else ""))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": results_meta, "results": results}, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
