"""``--fidelity auto`` as the runtime computes it (src/model/fidelity.rs), for the Python tools.

A face's sharpness is the mean absolute 4-neighbour Laplacian of its luma (0-255) over the crop's
central half, measured on the uint8 crop the runtime hands the network; the model's curve
(``daefr.fidelity_auto``: ``s:w,s:w,...``, sharpness ascending) maps it to a weight, piecewise
linearly and flat beyond its ends. ``fidelity_curve`` measures the curve; ``evaluate`` and
``photo_eval`` report what it gives.
"""

from __future__ import annotations

import numpy as np
import torch

from .data import to_uint8
from .losses import laplacian_energy

#: Metadata key of the curve (the runtime's ``KEY_FIDELITY_AUTO``).
KEY = "daefr.fidelity_auto"


def sharpness_u8(img_m11: torch.Tensor) -> torch.Tensor:
    """The runtime's sharpness ``[B]`` of ``[B, 3, S, S]`` images in [-1, 1], after rounding to uint8."""
    return 255 * laplacian_energy(to_uint8(img_m11).float() / 255)


def parse_curve(text: str) -> list[tuple[float, float]]:
    """``s:w,...`` -> points; the runtime's rules (ascending sharpness >= 0, weights in [0, 1])."""
    points = []
    for pair in (p.strip() for p in text.split(",")):
        if not pair:
            continue
        s, w = (float(v) for v in pair.split(":"))
        if not (np.isfinite(s) and s >= 0 and 0 <= w <= 1) or (points and s <= points[-1][0]):
            raise ValueError(f"{KEY}: bad point {pair!r} in {text!r}")
        points.append((s, w))
    if not points:
        raise ValueError(f"{KEY}: no point in {text!r}")
    return points


def curve_text(points: list[tuple[float, float]]) -> str:
    """Points -> ``s:w,...`` as the runtime parses it."""
    return ",".join(f"{s:g}:{w:g}" for s, w in points)


def weights_for(sharpness: np.ndarray | torch.Tensor, points: list[tuple[float, float]]) -> np.ndarray:
    """The curve's weight for each sharpness (``AutoCurve::weight_for``)."""
    xs, ys = zip(*points)
    return np.interp(np.asarray(sharpness, dtype=np.float64), xs, ys)
