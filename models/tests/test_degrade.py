"""Degradation: paper ranges, sampling, kernels, JPEG fidelity against PIL, reproducibility."""

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from daefr_models import degrade as D
from daefr_models.data import synthetic_faces
from daefr_models.losses import psnr


def smooth_image(size=64, seed=0) -> torch.Tensor:
    """A natural-ish test image [1, 3, S, S] in [0, 1]: blurred noise plus a face-like pattern."""
    face = synthetic_faces(1, size, seed=seed).float() / 255
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 3, size // 8, size // 8, generator=g)
    texture = torch.nn.functional.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False)
    return (0.7 * face + 0.3 * texture).clamp(0, 1)


def test_paper_ranges_are_the_official_ones():
    # configs/{HQ,LQ}_codebook.yaml and Association_stage.yaml
    assert D.PAPER_STAGE12.kernel_radius == (19, 20)
    assert D.PAPER_STAGE12.blur_sigma == (0.1, 10.0)
    assert D.PAPER_STAGE12.downsample == (0.8, 8.0)
    assert D.PAPER_STAGE12.noise == (0.0, 20.0)
    assert D.PAPER_STAGE12.jpeg == (60.0, 100.0)
    # configs/DAEFR.yaml (stage 3): harsher blur, downsampling and JPEG
    assert D.PAPER_STAGE3.blur_sigma == (0.1, 15.0)
    assert D.PAPER_STAGE3.downsample == (0.8, 30.0)
    assert D.PAPER_STAGE3.jpeg == (30.0, 100.0)
    assert D.ranges_for_stage(1) is D.PAPER_STAGE12 and D.ranges_for_stage(3) is D.PAPER_STAGE3


@pytest.mark.parametrize("ranges", [D.PAPER_STAGE12, D.PAPER_STAGE3])
@pytest.mark.parametrize("size", [128, 512])
def test_sampled_parameters_stay_in_the_mapped_ranges(ranges, size):
    f = size / 512
    p = D.sample_params(ranges, 4000, size, torch.Generator().manual_seed(0))
    eps = 1e-9
    assert (p.sigma_x >= ranges.blur_sigma[0] * f - eps).all() and (p.sigma_x <= ranges.blur_sigma[1] * f + eps).all()
    assert (p.sigma_y >= ranges.blur_sigma[0] * f - eps).all() and (p.sigma_y <= ranges.blur_sigma[1] * f + eps).all()
    assert (p.scale >= 1).all() and (p.scale <= max(1.0, ranges.downsample[1] * f) + eps).all()
    assert (p.noise >= ranges.noise[0]).all() and (p.noise <= ranges.noise[1]).all()
    assert (p.quality >= int(ranges.jpeg[0])).all() and (p.quality <= 100).all()
    assert (p.kernel_size % 2 == 1).all()
    if size == 512:
        assert set(p.kernel_size.tolist()) == {39, 41}  # 2 * randint(19, 20) + 1
    # both kernel kinds occur, isotropic ones are unrotated and round
    iso = p.sigma_x == p.sigma_y
    assert 0.4 < iso.double().mean() < 0.6
    assert (p.theta[iso] == 0).all()
    assert p.theta.min() < -3 and p.theta.max() > 3
    # the whole range is used, not just a corner of it
    assert p.quality.max() >= 99 and p.quality.min() <= ranges.jpeg[0] + 1


def test_sampling_is_reproducible_and_seed_dependent():
    a = D.sample_params(D.PAPER_STAGE3, 16, 128, torch.Generator().manual_seed(5))
    b = D.sample_params(D.PAPER_STAGE3, 16, 128, torch.Generator().manual_seed(5))
    c = D.sample_params(D.PAPER_STAGE3, 16, 128, torch.Generator().manual_seed(6))
    assert torch.equal(a.scale, b.scale) and torch.equal(a.quality, b.quality)
    assert not torch.equal(a.scale, c.scale)


def test_invalid_ranges_are_rejected():
    with pytest.raises(ValueError):
        D.DegradationRanges(blur_sigma=(3.0, 1.0))
    with pytest.raises(ValueError):
        D.DegradationRanges(jpeg=(0.0, 90.0))


def test_kernels_are_normalised_and_oriented():
    p = D.DegradationParams(
        kernel_size=torch.tensor([21, 21, 9]),
        sigma_x=torch.tensor([4.0, 4.0, 1.0], dtype=torch.float64),
        sigma_y=torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64),
        theta=torch.tensor([0.0, math.pi / 2, 0.0], dtype=torch.float64),
        scale=torch.ones(3, dtype=torch.float64),
        noise=torch.zeros(3, dtype=torch.float64),
        quality=torch.full((3,), 100),
    )
    k = D.gaussian_kernels(p)
    assert k.shape == (3, 21, 21)
    assert torch.allclose(k.sum(dim=(1, 2)), torch.ones(3), atol=1e-5)
    # theta=0: wide along x; theta=pi/2: the same kernel turned to be wide along y
    assert k[0, 10, :].sum() > k[0, :, 10].sum()
    assert torch.allclose(k[1], k[0].T, atol=1e-6)
    # a 9-px kernel is zero outside its own 9x9 window inside the padded 21x21 array
    assert k[2, :6].abs().sum() == 0 and k[2, :, 15:].abs().sum() == 0
    # isotropic kernel is symmetric
    assert torch.allclose(k[2], k[2].T, atol=1e-6) and torch.allclose(k[2], k[2].flip(0), atol=1e-6)


def test_blur_keeps_constant_images_and_smooths_edges():
    const = torch.full((2, 3, 32, 32), 0.3)
    p = D.sample_params(D.PAPER_STAGE3, 2, 128, torch.Generator().manual_seed(1))
    assert torch.allclose(D.blur(const, D.gaussian_kernels(p)), const, atol=1e-5)
    step = torch.zeros(1, 3, 32, 32)
    step[..., 16:] = 1.0
    p1 = D.sample_params(D.DegradationRanges(blur_sigma=(8.0, 8.0), iso_prob=1.0), 1, 128, torch.Generator())
    out = D.blur(step, D.gaussian_kernels(p1))
    assert 0.2 < out[0, 0, 5, 15] < 0.5 and 0.5 < out[0, 0, 5, 16] < 0.8


@pytest.mark.parametrize("quality", [30, 60, 90])
def test_jpeg_matches_pil_closely(quality):
    img = smooth_image(64, seed=3)
    u8 = (img[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, "JPEG", quality=quality)
    pil = torch.from_numpy(np.asarray(Image.open(buf), dtype=np.float32) / 255).permute(2, 0, 1)[None]
    ref = torch.from_numpy(u8.astype(np.float32) / 255).permute(2, 0, 1)[None]
    ours = D.jpeg(ref, torch.tensor([quality]))
    # the approximation agrees with libjpeg far better than either agrees with the original
    assert psnr(ours, pil).item() > psnr(pil, ref).item() + 6
    assert abs(psnr(ours, ref).item() - psnr(pil, ref).item()) < 0.5


def test_jpeg_error_falls_with_quality_and_handles_odd_sizes():
    img = smooth_image(40, seed=4)[..., :37, :29]
    errs = [psnr(D.jpeg(img, torch.tensor([q])), img).item() for q in (20, 50, 80, 100)]
    assert errs == sorted(errs)
    assert D.jpeg(img, torch.tensor([50])).shape == img.shape


def test_apply_output_is_8bit_and_severity_orders_quality():
    hq = (synthetic_faces(16, 128, seed=2).float() / 255)
    results = {}
    for level in ("mild", "moderate"):
        p = D.sample_params(D.LEVELS[level], 16, 128, torch.Generator().manual_seed(0))
        lq = D.apply(hq, p, torch.Generator().manual_seed(0))
        assert lq.shape == hq.shape and lq.min() >= 0 and lq.max() <= 1
        assert torch.allclose(lq * 255, (lq * 255).round(), atol=1e-4)
        results[level] = psnr(lq, hq).mean().item()
    assert results["mild"] > results["moderate"] + 1.0


def test_evaluation_levels_have_the_documented_settings():
    p = D.sample_params(D.LEVELS["moderate"], 3, 128, torch.Generator())
    assert torch.allclose(p.scale, torch.full((3,), 4.0, dtype=torch.float64))
    assert torch.allclose(p.sigma_x, torch.full((3,), 2.0, dtype=torch.float64))
    assert p.quality.tolist() == [70, 70, 70] and p.noise.tolist() == [5.0] * 3
    p = D.sample_params(D.LEVELS["mild"], 1, 128, torch.Generator())
    assert p.scale.item() == 2.0 and p.quality.item() == 90


def test_degrader_is_reproducible_and_independent_of_grouping():
    hq = synthetic_faces(6, 64, seed=1).float() / 127.5 - 1
    a = D.Degrader(D.PAPER_STAGE3, 64, seed=7)(hq)
    b = D.Degrader(D.PAPER_STAGE3, 64, seed=7)(hq)
    c = D.Degrader(D.PAPER_STAGE3, 64, seed=8)(hq)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= -1 and a.max() <= 1
    # an image degraded alone equals the same image degraded inside a batch with other sizes
    params = D.sample_params(D.PAPER_STAGE3, 6, 64, torch.Generator().manual_seed(3))
    full = D.apply((hq + 1) / 2, params, torch.Generator().manual_seed(0))
    one = D.DegradationParams(*(getattr(params, f)[2:3] for f in
                                ("kernel_size", "sigma_x", "sigma_y", "theta", "scale", "noise", "quality")))
    g = torch.Generator().manual_seed(0)
    _ = torch.randn(2, 3, 64, 64, generator=g)  # the noise the first two images consumed
    alone = D.apply((hq[2:3] + 1) / 2, one, g)
    assert torch.allclose(full[2:3], alone, atol=1.5 / 255)
