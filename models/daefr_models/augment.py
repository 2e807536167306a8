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
- the horizontal flip the trainer always did;
- optionally (``occlude_prob``, off by default), an occluder over part of the face: an ellipse or a
  rectangle of another face of the batch, moved and zoomed, or of a woven grating (hat brims,
  knit, fences), with a hard edge. Real photos hide faces behind hands, hats, hair and knees,
  which aligned CelebA crops rarely do; the network must restore such an occluder as it is, not
  draw a face on it. The occluder is in the ground truth, so it is degraded with the face.

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
    #: Probability that a sample gets an occluder (0: never, the recipe before the twelfth session).
    occlude_prob: float = 0.0
    #: Occluder size: its half-axes as fractions of the image side, U(lo, hi) each.
    occlude_half_axes: tuple[float, float] = (0.12, 0.35)
    #: Share of occluders that are a woven grating rather than another face of the batch.
    occlude_grating_share: float = 0.4


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
        out = torch.where(keep, x, out)
        if r.occlude_prob > 0:
            out = occlude(out, r, g)
        return out

    def state(self) -> torch.Tensor:
        """The generator state (for checkpoints)."""
        return self.gen.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        """Continue from a saved ``state``."""
        self.gen.set_state(state)


def _pixel_centres(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, x) of every pixel centre of a ``size`` x ``size`` image, in [0, 1]."""
    c = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    return torch.meshgrid(c, c, indexing="ij")


def grating(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """``[n, 3, size, size]`` woven gratings in [0, 1]: two crossed sinusoids (4-20 cycles over the
    image, any angle) between two random colours."""
    freq = _u(n, 4.0, 20.0, g)[:, None, None] * 2 * math.pi
    ang = _u(n, 0.0, math.pi, g)[:, None, None]
    yy, xx = _pixel_centres(size)
    u = xx * torch.cos(ang) + yy * torch.sin(ang)
    v = -xx * torch.sin(ang) + yy * torch.cos(ang)
    t = (0.5 + 0.25 * (torch.sin(freq * u) + torch.sin(freq * v)))[:, None]
    lo, hi = torch.rand(n, 3, 1, 1, generator=g), torch.rand(n, 3, 1, 1, generator=g)
    return lo + (hi - lo) * t


def occluder_masks(n: int, size: int, r: AugmentRanges, g: torch.Generator) -> torch.Tensor:
    """``[n, 1, size, size]`` masks in {0, 1}: an ellipse or a rectangle (even odds), centred
    anywhere in the image, half-axes ``r.occlude_half_axes`` of the side, at any angle."""
    cx, cy = _u(n, 0.0, 1.0, g)[:, None, None], _u(n, 0.0, 1.0, g)[:, None, None]
    ax = _u(n, *r.occlude_half_axes, g)[:, None, None]
    ay = _u(n, *r.occlude_half_axes, g)[:, None, None]
    ang = _u(n, 0.0, math.pi, g)[:, None, None]
    ellipse = (torch.rand(n, generator=g) < 0.5)[:, None, None]
    yy, xx = _pixel_centres(size)
    dx, dy = xx - cx, yy - cy
    u = (dx * torch.cos(ang) + dy * torch.sin(ang)) / ax
    v = (-dx * torch.sin(ang) + dy * torch.cos(ang)) / ay
    inside = torch.where(ellipse, u * u + v * v <= 1.0, (u.abs() <= 1.0) & (v.abs() <= 1.0))
    return inside[:, None].float()


def occlude(x: torch.Tensor, r: AugmentRanges, g: torch.Generator) -> torch.Tensor:
    """``x`` ([-1, 1], ``[B, 3, S, S]``) with an occluder on each sample drawn at ``r.occlude_prob``.
    Every sample draws its occluder's random numbers whether or not it is chosen, so how many
    numbers a batch uses does not depend on which samples are."""
    n, _, size, _ = x.shape
    dev, dt = x.device, x.dtype
    chosen = (torch.rand(n, generator=g) < r.occlude_prob)[:, None, None, None]
    # another face of the batch (the next one), zoomed 1-2x and moved, as the occluder's texture
    zoom = AugmentRanges(scale=0.0, rotate_deg=180.0, shift_px_at_128=40.0)
    grid = similarity_grids(n, size, zoom, g) / _u(n, 1.0, 2.0, g)[:, None, None, None]
    other = F.grid_sample(x.roll(1, 0), grid.to(dev, dt), mode="bilinear", padding_mode="reflection",
                          align_corners=False)
    woven = grating(n, size, g).to(dev, dt) * 2 - 1
    use_grating = (torch.rand(n, generator=g) < r.occlude_grating_share)[:, None, None, None].to(dev)
    texture = torch.where(use_grating, woven, other)
    mask = occluder_masks(n, size, r, g).to(dev, dt) * chosen.to(dev, dt)
    return x * (1 - mask) + texture * mask
