"""Training data: CelebA-style face crops -> fixed-size model inputs, held in memory as uint8.

How crops become model inputs (recorded in the ONNX metadata as ``daefr.crop``): each image is cut to
its centre square (side = the shorter side; for CelebA's 178x218 aligned crops that is rows 20..198,
all columns) and resized to the model size with PIL bicubic. The whole set is small (4,800 crops at
128 px = 236 MB as uint8), so it is decoded once, kept as one ``[N, 3, S, S]`` uint8 tensor and, on
CUDA, moved to the GPU: batches are then plain index gathers and all degradation runs on the device.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def crop_description(size: int) -> str:
    """Human-readable crop recipe for the ``daefr.crop`` metadata key."""
    return (
        f"celeba 178x218: centre square 178x178 (rows 20..198), resize to {size} (PIL bicubic); "
        "other sizes: centre square of the shorter side"
    )


def list_images(root: str | Path) -> list[Path]:
    """All image files below ``root`` (recursively), sorted for reproducibility."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def centre_square(img: Image.Image) -> Image.Image:
    """Cut the centred square whose side is the shorter image side."""
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return img.crop((left, top, left + side, top + side))


def load_model_input(path: str | Path, size: int) -> np.ndarray:
    """Load one crop as a ``[size, size, 3]`` uint8 RGB model input (centre square, bicubic resize)."""
    with Image.open(path) as img:
        sq = centre_square(img.convert("RGB"))
        if sq.size != (size, size):
            sq = sq.resize((size, size), Image.BICUBIC)
        return np.asarray(sq, dtype=np.uint8)


def _load_chunk(args: tuple[list[str], int]) -> np.ndarray:
    paths, size = args
    return np.stack([load_model_input(p, size) for p in paths])


def load_folder(
    root: str | Path, size: int, limit: int | None = None, workers: int | None = None
) -> torch.Tensor:
    """Decode every image under ``root`` into one ``[N, 3, size, size]`` uint8 tensor.

    ``limit`` keeps the first N files (sorted order); ``workers`` processes decode in parallel
    (default: CPU count, at most 16).
    """
    paths = [str(p) for p in list_images(root)]
    if limit is not None:
        paths = paths[:limit]
    if not paths:
        raise FileNotFoundError(f"no images found under {root}")
    workers = workers or min(16, os.cpu_count() or 1)
    if workers <= 1 or len(paths) < 64:
        arr = _load_chunk((paths, size))
    else:
        chunks = [paths[i::workers] for i in range(workers)]
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_load_chunk, [(c, size) for c in chunks]))
        # undo the strided split so the order stays the sorted path order
        arr = np.empty((len(paths), size, size, 3), dtype=np.uint8)
        for i, part in enumerate(parts):
            arr[i::workers] = part
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def synthetic_faces(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Deterministic face-like test images ``[n, 3, size, size]`` uint8 (ellipse head, eyes, mouth).

    Only for tests and smoke runs: they always exist, unlike the CelebA data.
    """
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        bg = g.uniform(0, 255, 3)
        skin = g.uniform(120, 240, 3)
        cx, cy = 0.5 + g.uniform(-0.05, 0.05), 0.5 + g.uniform(-0.05, 0.05)
        head = ((xx - cx) / 0.33) ** 2 + ((yy - cy) / 0.42) ** 2 < 1
        img = np.where(head[..., None], skin, bg)
        for ex in (-0.13, 0.13):
            eye = ((xx - cx - ex) / 0.06) ** 2 + ((yy - cy + 0.1) / 0.03) ** 2 < 1
            img = np.where(eye[..., None], 30.0, img)
        mouth = ((xx - cx) / 0.12) ** 2 + ((yy - cy - 0.2) / 0.025) ** 2 < 1
        img = np.where(mouth[..., None], np.array([150.0, 40, 40]), img)
        img = img + g.normal(0, 6, img.shape)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def to_model_range(batch_u8: torch.Tensor) -> torch.Tensor:
    """uint8 ``[0, 255]`` -> float ``[-1, 1]`` (the contract's ``x / 127.5 - 1``)."""
    return batch_u8.float() / 127.5 - 1.0


def to_uint8(batch: torch.Tensor) -> torch.Tensor:
    """float ``[-1, 1]`` -> uint8, clamped and rounded as the runtime does."""
    return ((batch.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
