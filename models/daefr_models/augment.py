"""Training augmentation that matches what the runtime feeds the network.

The runtime aligns a detected face to the template with a least-squares similarity over BlazeFace's
keypoints; on real photos those keypoints scatter around the template (eyes ~1.5 px, mouth ~2.7 px,
nose ~5 px at 128 px; ``models/README.md``), so the crop the network sees is off by a few percent in
scale, a few pixels in position and a few degrees in angle. Real photos also differ from CelebA in
colour balance, exposure and saturation, and some are grayscale. ``Augmenter`` applies all of that to
the ground-truth batch *before* it is degraded, so the target and the input move together:

- similarity jitter: scale x U(1 - s, 1 + s), rotation U(-r, r) degrees, shift U(-t, t) px at
  128 px (scaled to the image size), reflected borders (the aligner mirrors borders too);
- colour: brightness x U(0.85, 1.15), contrast around the image mean x U(0.85, 1.15), gamma
  U(0.8, 1.25), per-channel white-balance gains U(0.9, 1.1), saturation x U(0.7, 1.3);
- grayscale with probability ``gray_prob``;
- the horizontal flip the trainer always did.

Every random number comes from the ``torch.Generator`` given at construction: a seed gives the same
batches (the state is saved in checkpoints so that a resumed run continues the same sequence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: Rec. 601 luma weights (the grayscale conversion of PIL and of the runtime).
LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class AugmentRanges:
    """Ranges of ``Augmenter``; the defaults are the runtime's measured spread (module doc)."""

    scale: float = 0.08
    rotate_deg: float = 6.0
    shift_px_at_128: float = 4.0
    brightness: float = 0.15
    contrast: float = 0.15
    gamma: tuple[float, float] = (0.8, 1.25)
    white_balance: float = 0.10
    saturation: float = 0.30
    gray_prob: float = 0.10
    flip_prob: float = 0.5
    #: Probability that a sample is left geometrically and photometrically untouched (but flipped).
    identity_prob: float = 0.2


def _u(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def similarity_grids(n: int, size: int, r: AugmentRanges, g: torch.Generator) -> torch.Tensor:
    """``affine_grid`` sampling grids ``[n, size, size, 2]`` of random similarities."""
    s = _u(n, 1 - r.scale, 1 + r.scale, g)
    a = _u(n, -r.rotate_deg, r.rotate_deg, g) * math.pi / 180
    shift = r.shift_px_at_128 * 2 / 128  # normalised coordinates span 2 over the image
    tx, ty = _u(n, -shift, shift, g), _u(n, -shift, shift, g)
    # output pixel p samples input at A p + t: zoom in by s (A = R / s)
    cos, sin = torch.cos(a) / s, torch.sin(a) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    return F.affine_grid(theta, [n, 3, size, size], align_corners=False)


class Augmenter:
    """Callable ``augmenter(batch_m11) -> batch_m11`` on ``[B, 3, S, S]`` tensors in [-1, 1]."""

    def __init__(self, seed: int = 0, ranges: AugmentRanges | None = None):
        self.ranges = ranges or AugmentRanges()
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        r, g = self.ranges, self.gen
        n, _, size, _ = x.shape
        dev = x.device
        flip = (torch.rand(n, generator=g) < r.flip_prob).to(dev)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        keep = (torch.rand(n, generator=g) < r.identity_prob).to(dev)[:, None, None, None]
        grid = similarity_grids(n, size, r, g).to(dev, x.dtype)
        moved = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        img = (moved + 1) / 2  # [0, 1]
        bright = _u(n, 1 - r.brightness, 1 + r.brightness, g).to(dev)[:, None, None, None]
        contrast = _u(n, 1 - r.contrast, 1 + r.contrast, g).to(dev)[:, None, None, None]
        gamma = torch.exp(_u(n, math.log(r.gamma[0]), math.log(r.gamma[1]), g)).to(dev)[:, None, None, None]
        wb = _u(3 * n, 1 - r.white_balance, 1 + r.white_balance, g).reshape(n, 3, 1, 1).to(dev)
        sat = _u(n, 1 - r.saturation, 1 + r.saturation, g).to(dev)[:, None, None, None]
        gray = (torch.rand(n, generator=g) < r.gray_prob).to(dev)[:, None, None, None]
        luma_w = torch.tensor(LUMA, device=dev, dtype=img.dtype)[None, :, None, None]
        img = img.clamp(0, 1) ** gamma
        img = img * wb * bright
        mean = img.mean(dim=(1, 2, 3), keepdim=True)
        img = (img - mean) * contrast + mean
        luma = (img * luma_w).sum(1, keepdim=True)
        img = luma + (img - luma) * sat
        img = torch.where(gray, luma.expand_as(img), img)
        out = img.clamp(0, 1) * 2 - 1
        return torch.where(keep, x, out)

    def state(self) -> torch.Tensor:
        """The generator state (for checkpoints)."""
        return self.gen.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        """Continue from a saved ``state``."""
        self.gen.set_state(state)
