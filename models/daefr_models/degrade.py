"""DAEFR's synthetic degradation as batched torch ops (runs on the training device).

    LQ = resize_back( JPEG_q( down_s( HQ * k_sigma ) + n_delta ) )

Per image: a Gaussian blur kernel (isotropic or anisotropic, rotated by a random angle), bilinear
downsampling by a random factor, additive Gaussian noise, JPEG compression at a random quality,
bilinear resize back to the input size, then rounding to 8 bits. This is the recipe of the official
code (``DAEFR/data/ffhq_degradation_dataset.py`` with basicsr's kernels) re-implemented here.

Ranges. The paper's ranges (``PAPER_STAGE12`` for the codebook and association stages,
``PAPER_STAGE3`` for the restorer) are copied verbatim from its configs and are defined for 512-px
faces. Spatial quantities are mapped to the model's size ``S`` so that the *same physical
degradation* is applied to the face: blur sigma and kernel size are multiplied by ``S / 512``, and a
downsampling factor ``s`` becomes ``max(1, s * S / 512)`` (a 512-px face reduced x8 keeps 64 px of
detail; a 128-px face that keeps 64 px is reduced x2; factors below 1 lose nothing). Noise level
(0-255 scale) and JPEG quality do not depend on size and are used as is. The evaluation levels
(``LEVELS``) are given directly in 128-px model pixels: ``mild`` = x2, blur sigma 1, noise 2, JPEG 90;
``moderate`` = x4, sigma 2, noise 5, JPEG 70; ``severe`` = sampled from ``PAPER_STAGE3``.

JPEG is a torch re-implementation of baseline JPEG's lossy steps (JFIF YCbCr, 4:2:0 chroma
subsampling, 8x8 DCT, IJG quality-scaled standard quantisation tables, rounding; chroma upsampled
bilinearly like libjpeg's "fancy" upsampling). Entropy coding is lossless and therefore skipped. It
stays within a fraction of a dB of PIL/libjpeg (``tests/test_degrade.py`` checks it) and lets the
whole pipeline run batched on the GPU with no DataLoader workers.

Reproducibility: all random numbers come from the ``torch.Generator`` passed in; the same seed,
device and batch sequence give bit-identical results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class DegradationRanges:
    """Sampling ranges of one degradation recipe, stated at ``reference_size`` pixels.

    ``kernel_radius``: the kernel side is ``2 * randint(lo, hi) + 1`` (paper: 19..20 -> 39 or 41 px).
    ``iso_prob``: probability of an isotropic kernel (else anisotropic, rotated in [-pi, pi]).
    ``blur_sigma``: uniform range of each axis' sigma. ``downsample``: uniform range of the factor.
    ``noise``: uniform range of the Gaussian noise std on the 0-255 scale. ``jpeg``: uniform range of
    the JPEG quality (truncated to an integer).
    """

    kernel_radius: tuple[int, int] = (19, 20)
    iso_prob: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 10.0)
    downsample: tuple[float, float] = (0.8, 8.0)
    noise: tuple[float, float] = (0.0, 20.0)
    jpeg: tuple[float, float] = (60.0, 100.0)
    reference_size: int = 512

    def __post_init__(self):
        for name in ("kernel_radius", "blur_sigma", "downsample", "noise", "jpeg"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"{name}: lower bound {lo} > upper bound {hi}")
        if not (1 <= self.jpeg[0] and self.jpeg[1] <= 100):
            raise ValueError("jpeg quality must lie in [1, 100]")
        if self.blur_sigma[0] <= 0 or self.downsample[0] <= 0 or self.noise[0] < 0:
            raise ValueError("blur sigma and downsample factor must be > 0, noise >= 0")


#: Stages 1 and 2 (HQ/LQ codebooks, association): configs/{HQ,LQ}_codebook.yaml, Association_stage.yaml.
PAPER_STAGE12 = DegradationRanges()
#: Stage 3 (restorer): configs/DAEFR.yaml, harsher blur, downsampling and JPEG.
PAPER_STAGE3 = DegradationRanges(blur_sigma=(0.1, 15.0), downsample=(0.8, 30.0), jpeg=(30.0, 100.0))
#: Nearly clean faces (ours, not the paper's): at 128 px blur sigma 0.03-1, x1-x2, noise 0-4, JPEG 80-100.
#: The paper's ranges reach such faces rarely; a blind restorer that must leave a mildly degraded
#: face at least as good as it came has to see many (stages 3 and 4 mix it in).
NEAR_CLEAN = DegradationRanges(blur_sigma=(0.1, 4.0), downsample=(0.8, 8.0), noise=(0.0, 4.0), jpeg=(80.0, 100.0))


def _fixed(sigma: float, down: float, noise: float, jpeg: float) -> DegradationRanges:
    return DegradationRanges(
        kernel_radius=(20, 20),  # 41 px at 512 -> 11 px at 128
        iso_prob=1.0,
        blur_sigma=(sigma * 4, sigma * 4),
        downsample=(down * 4, down * 4),
        noise=(noise, noise),
        jpeg=(jpeg, jpeg),
        reference_size=512,
    )


#: Evaluation levels. mild/moderate are fixed settings stated in 128-px model pixels
#: (written at the 512 reference so that they scale like the training ranges); severe samples
#: the paper's stage-3 ranges.
LEVELS: dict[str, DegradationRanges] = {
    "mild": _fixed(sigma=1.0, down=2.0, noise=2.0, jpeg=90.0),
    "moderate": _fixed(sigma=2.0, down=4.0, noise=5.0, jpeg=70.0),
    "severe": PAPER_STAGE3,
}


@dataclass
class DegradationParams:
    """Per-image parameters in *model* pixels (already mapped to size ``S``); all tensors are [B]."""

    kernel_size: torch.Tensor  # odd ints
    sigma_x: torch.Tensor
    sigma_y: torch.Tensor
    theta: torch.Tensor
    scale: torch.Tensor  # effective downsampling factor, >= 1
    noise: torch.Tensor  # std, 0-255 scale
    quality: torch.Tensor  # ints 1..100

    def describe(self, i: int) -> str:
        """One-line summary of image ``i``'s parameters."""
        return (
            f"k={int(self.kernel_size[i])} sx={float(self.sigma_x[i]):.2f} sy={float(self.sigma_y[i]):.2f} "
            f"rot={float(self.theta[i]):.2f} x{float(self.scale[i]):.2f} noise={float(self.noise[i]):.1f} "
            f"q={int(self.quality[i])}"
        )


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)


def sample_params(ranges: DegradationRanges, n: int, size: int, generator: torch.Generator) -> DegradationParams:
    """Draw parameters for ``n`` images of side ``size`` from ``ranges`` (CPU generator)."""
    f = size / ranges.reference_size
    radius = torch.randint(ranges.kernel_radius[0], ranges.kernel_radius[1] + 1, (n,), generator=generator)
    side = 2 * radius + 1
    ksize = torch.clamp((side.double() * f / 2).floor().long() * 2 + 1, min=3)
    iso = torch.rand(n, generator=generator, dtype=torch.float64) < ranges.iso_prob
    sx = _uniform(n, *ranges.blur_sigma, generator)
    sy = torch.where(iso, sx, _uniform(n, *ranges.blur_sigma, generator))
    theta = torch.where(iso, torch.zeros(n, dtype=torch.float64), _uniform(n, -math.pi, math.pi, generator))
    scale = torch.clamp(_uniform(n, *ranges.downsample, generator) * f, min=1.0)
    noise = _uniform(n, *ranges.noise, generator)
    quality = _uniform(n, *ranges.jpeg, generator).floor().clamp(1, 100).long()
    return DegradationParams(ksize, sx * f, sy * f, theta, scale, noise, quality)


def gaussian_kernels(params: DegradationParams, device=None) -> torch.Tensor:
    """Normalised blur kernels ``[B, K, K]`` (K = largest kernel size; smaller ones zero-padded)."""
    k = int(params.kernel_size.max())
    r = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    c, s = torch.cos(params.theta)[:, None, None], torch.sin(params.theta)[:, None, None]
    # rotate coordinates into the kernel's principal axes
    u = c * xx + s * yy
    v = -s * xx + c * yy
    sx, sy = params.sigma_x[:, None, None], params.sigma_y[:, None, None]
    ker = torch.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    half = (params.kernel_size[:, None, None] - 1) / 2
    inside = (xx.abs() <= half) & (yy.abs() <= half)
    ker = ker * inside
    ker = ker / ker.sum(dim=(1, 2), keepdim=True)
    return ker.to(device=device, dtype=torch.float32)


def blur(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Per-image 2-D convolution with reflect padding (cv2.filter2D's default border)."""
    b, c, h, w = x.shape
    k = kernels.shape[-1]
    pad = k // 2
    mode = "reflect" if pad < min(h, w) else "replicate"
    xp = F.pad(x.reshape(1, b * c, h, w), (pad, pad, pad, pad), mode=mode)
    weight = kernels.to(x.dtype).repeat_interleave(c, dim=0)[:, None]
    return F.conv2d(xp, weight, groups=b * c).reshape(b, c, h, w)


# ----------------------------------------------------------------------------------------- JPEG
_LUMA_Q = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]  # fmt: skip
_CHROMA_Q = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
] + [99] * 32  # fmt: skip


def quant_tables(quality: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """IJG quality scaling of the standard tables: ``([B, 8, 8] luma, [B, 8, 8] chroma)``."""
    q = quality.double().clamp(1, 100)
    scale = torch.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q)[:, None, None]

    def table(base):
        t = torch.tensor(base, dtype=torch.float64).reshape(1, 8, 8)
        return torch.clamp(torch.floor((t * scale + 50) / 100), 1, 255)

    return table(_LUMA_Q), table(_CHROMA_Q)


def _dct_matrix(device, dtype) -> torch.Tensor:
    n = torch.arange(8, dtype=torch.float64)
    m = torch.cos((2 * n[None, :] + 1) * n[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    m[0] /= math.sqrt(2)
    return m.to(device=device, dtype=dtype)


def _blockwise(x: torch.Tensor, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Quantise ``x`` [B, H, W] (H, W multiples of 8, level-shifted) with tables ``q`` [B, 8, 8]."""
    b, h, w = x.shape
    blocks = x.reshape(b, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4)  # [B, h8, w8, 8, 8]
    coef = d @ blocks @ d.T
    qq = q[:, None, None].to(x.dtype)
    coef = torch.round(coef / qq) * qq
    out = d.T @ coef @ d
    return out.permute(0, 1, 3, 2, 4).reshape(b, h, w)


def jpeg(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG-compress and decompress ``x`` ([B, 3, H, W] RGB in [0, 1]) at per-image ``quality``."""
    b, _, h, w = x.shape
    dtype = torch.float32
    x = x.to(dtype) * 255.0
    ph, pw = (-h) % 16, (-w) % 16
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    r, g, bl = x[:, 0], x[:, 1], x[:, 2]
    y = 0.299 * r + 0.587 * g + 0.114 * bl
    cb = -0.168736 * r - 0.331264 * g + 0.5 * bl + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * bl + 128
    y, cb, cr = (torch.round(t) for t in (y, cb, cr))
    chroma = F.avg_pool2d(torch.stack([cb, cr], 1), 2)
    ql, qc = (t.to(x.device) for t in quant_tables(quality.cpu()))
    d = _dct_matrix(x.device, dtype)
    y = _blockwise(y - 128, ql, d) + 128
    cbq = _blockwise(chroma[:, 0] - 128, qc, d) + 128
    crq = _blockwise(chroma[:, 1] - 128, qc, d) + 128
    chroma = F.interpolate(torch.stack([cbq, crq], 1), scale_factor=2, mode="bilinear", align_corners=False)
    cb, cr = chroma[:, 0] - 128, chroma[:, 1] - 128
    rgb = torch.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], 1)
    rgb = torch.round(rgb).clamp(0, 255)
    return rgb[:, :, :h, :w] / 255.0


# ---------------------------------------------------------------------------------- pipeline
def apply(hq: torch.Tensor, params: DegradationParams, generator: torch.Generator | None = None,
          resize_back: str = "bilinear") -> torch.Tensor:
    """Degrade ``hq`` ([B, 3, S, S] float in [0, 1], any device) with ``params``; returns [0, 1], 8-bit grid.

    ``generator`` (on ``hq``'s device) drives the noise; noise is drawn at full size for every image
    in batch order, so the result does not depend on how images are grouped by output size.
    ``resize_back``: interpolation from the LQ size back to ``S`` (the paper: ``bilinear``;
    evaluation uses ``bicubic``, so that "bicubic upsampling" is the baseline the model must beat).
    """
    if resize_back not in ("bilinear", "bicubic"):
        raise ValueError(f"resize_back must be bilinear or bicubic, not {resize_back!r}")
    b, _, h, w = hq.shape
    out = blur(hq.float(), gaussian_kernels(params, hq.device))
    noise = torch.randn(out.shape, generator=generator, device=hq.device, dtype=out.dtype)
    noise = noise * (params.noise.to(hq.device, out.dtype) / 255.0)[:, None, None, None]
    # Images sharing an LQ size are resized together. Every LQ image is replicate-padded to the
    # full size (what a JPEG encoder does up to the next 16-px boundary) so that one batched JPEG
    # call compresses them all; the padding is cut off again before resizing back.
    lq_h = torch.clamp((h / params.scale).floor().long(), min=2)
    lq_w = torch.clamp((w / params.scale).floor().long(), min=2)
    keys = (lq_h * 100000 + lq_w).tolist()
    groups = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    canvas = torch.empty_like(out)
    for key, members in groups.items():
        idx = torch.tensor(members, device=hq.device)
        th, tw = key // 100000, key % 100000
        part = out.index_select(0, idx)
        if (th, tw) != (h, w):
            part = F.interpolate(part, size=(th, tw), mode="bilinear", align_corners=False, antialias=False)
        part = (part + noise.index_select(0, idx)[:, :, :th, :tw]).clamp(0, 1)
        canvas.index_copy_(0, idx, F.pad(part, (0, w - tw, 0, h - th), mode="replicate"))
    canvas = jpeg(canvas, params.quality)
    result = torch.empty_like(out)
    for key, members in groups.items():
        idx = torch.tensor(members, device=hq.device)
        th, tw = key // 100000, key % 100000
        part = canvas.index_select(0, idx)[:, :, :th, :tw]
        if (th, tw) != (h, w):
            part = F.interpolate(part, size=(h, w), mode=resize_back, align_corners=False)
        result.index_copy_(0, idx, part.clamp(0, 1))
    return torch.clamp(torch.round(result * 255.0), 0, 255) / 255.0


class Degrader:
    """Callable degradation for one recipe and image size: ``degrader(hq_m11) -> lq_m11``.

    Takes and returns model-range tensors ([-1, 1]), keeps its own seeded generators (a CPU one for
    parameters and one on the data's device for noise), so a run is reproducible from its seed.
    ``resize_back``: ``bilinear``, ``bicubic``, or ``random`` (one of the two per call; training uses
    it so that the model does not depend on the runtime's interpolation).
    """

    def __init__(self, ranges: DegradationRanges, size: int, seed: int = 0, resize_back: str = "bilinear"):
        if resize_back not in ("bilinear", "bicubic", "random"):
            raise ValueError(f"unknown resize_back {resize_back!r}")
        self.resize_back = resize_back
        self.ranges = ranges
        self.size = size
        self.seed = seed
        self.param_gen = torch.Generator().manual_seed(seed)
        self.noise_gens: dict[str, torch.Generator] = {}

    def _noise_gen(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self.noise_gens:
            self.noise_gens[key] = torch.Generator(device=device).manual_seed(self.seed + 1)
        return self.noise_gens[key]

    def sample(self, n: int) -> DegradationParams:
        """Draw parameters for the next ``n`` images."""
        return sample_params(self.ranges, n, self.size, self.param_gen)

    def __call__(self, hq: torch.Tensor) -> torch.Tensor:
        params = self.sample(hq.shape[0])
        mode = self.resize_back
        if mode == "random":
            mode = "bicubic" if torch.rand(1, generator=self.param_gen).item() < 0.5 else "bilinear"
        lq = apply((hq.float() + 1) / 2, params, self._noise_gen(hq.device), resize_back=mode)
        return (lq * 2 - 1).to(hq.dtype)


def ranges_for_stage(stage: int) -> DegradationRanges:
    """The paper's recipe for a training stage (1, 2 -> stage-1/2 ranges; 3 -> stage-3 ranges)."""
    if stage in (1, 2):
        return PAPER_STAGE12
    if stage == 3:
        return PAPER_STAGE3
    raise ValueError(f"no degradation recipe for stage {stage}")


__all__ = [
    "DegradationRanges",
    "DegradationParams",
    "PAPER_STAGE12",
    "PAPER_STAGE3",
    "NEAR_CLEAN",
    "LEVELS",
    "sample_params",
    "gaussian_kernels",
    "blur",
    "jpeg",
    "apply",
    "Degrader",
    "ranges_for_stage",
    "replace",
]
