"""Losses and image metrics for training (no pretrained networks: nothing can be downloaded).

The paper trains its codebooks with L1 + LPIPS + hinge PatchGAN + codebook/commitment losses. LPIPS
needs pretrained VGG weights, so the perceptual term here is structural: ``1 - SSIM`` (11x11 Gaussian
window, on [0, 1] images) plus an L1 loss on image gradients, which both reward sharp, correctly
placed edges. The GAN weight is balanced against the reconstruction loss with VQGAN's adaptive
weight (ratio of gradient norms at the decoder's last layer).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _gaussian_window(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    r = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).to(dtype)


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0, window: int = 11) -> torch.Tensor:
    """Per-image SSIM ``[B]`` of two ``[B, C, H, W]`` batches (Gaussian window, sigma 1.5, valid region).

    The window shrinks for images smaller than ``window`` so tiny test configs still work. Always
    computed in fp32, also under autocast (variance as E[x^2] - mu^2 cancels badly in bf16).
    """
    with torch.autocast(device_type=a.device.type, enabled=False):
        return _ssim_fp32(a.float(), b.float(), data_range, window)


def _ssim_fp32(a: torch.Tensor, b: torch.Tensor, data_range: float, window: int) -> torch.Tensor:
    c = a.shape[1]
    window = min(window, a.shape[-1], a.shape[-2])
    w = _gaussian_window(window, 1.5 * window / 11, c, a.device, a.dtype)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a = F.conv2d(a, w, groups=c)
    mu_b = F.conv2d(b, w, groups=c)
    saa = F.conv2d(a * a, w, groups=c) - mu_a**2
    sbb = F.conv2d(b * b, w, groups=c) - mu_b**2
    sab = F.conv2d(a * b, w, groups=c) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * sab + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2)
    return (num / den).mean(dim=(1, 2, 3))


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image PSNR in dB ``[B]``."""
    mse = ((a.float() - b.float()) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-12)
    return 10 * torch.log10(data_range**2 / mse)


#: Rec. 601 luma weights.
_LUMA = (0.299, 0.587, 0.114)
#: BT.601 colour differences (Cb, Cr) as weights of R, G, B.
_CHROMA = ((-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))


def _weighted(img: torch.Tensor, weights: tuple[float, float, float]) -> torch.Tensor:
    """``[B, 1, H, W]``: the sum of ``img``'s three channels times ``weights`` (a luma or chroma row)."""
    return sum(c * img[:, i : i + 1] for i, c in enumerate(weights))


def central_box(h: int, w: int) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` of the central half of an ``h x w`` image in each direction:
    the face region of an aligned crop (the template's eyes and mouth lie inside it at 128 px) and
    of a portrait photo whose face is centred."""
    return h // 4, h - h // 4, w // 4, w - w // 4


def laplacian_energy(img: torch.Tensor) -> torch.Tensor:
    """Per-image mean absolute 4-neighbour Laplacian of luma over ``central_box`` ``[B]``
    (``img``: ``[B, 3, H, W]`` in [0, 1]): how much fine structure the face region holds."""
    luma = _weighted(img.float(), _LUMA)[:, 0]
    lap = (luma[:, 1:-1, 1:-1] * 4 - luma[:, :-2, 1:-1] - luma[:, 2:, 1:-1]
           - luma[:, 1:-1, :-2] - luma[:, 1:-1, 2:])
    t, b, l, r = central_box(img.shape[-2], img.shape[-1])
    return lap[:, max(0, t - 1) : b - 1, max(0, l - 1) : r - 1].abs().mean(dim=(1, 2))


def luma3(img: torch.Tensor) -> torch.Tensor:
    """``img`` ``[B, 3, H, W]`` as its luma (BT.601) in all three channels, in the same range: what
    a discriminator judging structure alone sees (two images of equal luma look the same to it, so
    its gradient on the image has no chroma component)."""
    return _weighted(img, _LUMA).expand(-1, 3, -1, -1)


def detail_ratio(out: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-image detail figure ``[B]``: ``laplacian_energy(out) / laplacian_energy(gt)``. The ground
    truth scores 1.0; a blurred input far less (a ``moderate`` bicubic input ~0.15-0.2); a result
    that adds plausible texture comes closer to 1; above 1 means more high frequency than the truth
    (noise or artefacts). PSNR rewards blur; this figure says what PSNR does not."""
    return laplacian_energy(out) / laplacian_energy(gt).clamp_min(1e-6)


def colour_shift(out: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-image colour shift ``[B]`` on the 0-255 scale: the length of the difference between the
    mean RGB colours of ``out`` and ``gt`` over ``central_box`` (inputs in [0, 1]). A restorer that
    keeps the input's colour balance stays near the input's own figure."""
    t, b, l, r = central_box(out.shape[-2], out.shape[-1])
    mo = out[..., t:b, l:r].float().mean(dim=(2, 3))
    mg = gt[..., t:b, l:r].float().mean(dim=(2, 3))
    return 255 * (mo - mg).norm(dim=1)


def colour_fringe(out: torch.Tensor, gt: torch.Tensor, q: float = 0.99) -> torch.Tensor:
    """Per-image local colour error ``[B]`` on the 0-255 scale (lower is better): the ``q`` quantile
    over ``central_box`` of the per-pixel chroma distance (Cb, Cr) between ``out`` and ``gt`` (inputs
    in [0, 1]). Where ``colour_shift`` sees a face's mean colour, this sees a tinted patch that
    leaves the mean colour almost unchanged, if it covers more than ``1 - q`` of the box (1 % at
    the default: about two irises in a 178x218 photo; a smaller patch reads 0)."""
    t, b, l, r = central_box(out.shape[-2], out.shape[-1])
    box = lambda img: img[..., t:b, l:r].float()
    dist = (chroma(box(out)) - chroma(box(gt))).norm(dim=1).flatten(1).sort(dim=1).values
    # torch.quantile's linear interpolation, on the sorted values: quantile itself refuses tensors
    # over 2^24 elements (a photo over 67 MP here)
    pos = q * (dist.shape[1] - 1)
    lo = int(pos)
    hi = min(lo + 1, dist.shape[1] - 1)
    return 255 * torch.lerp(dist[:, lo], dist[:, hi], pos - lo)


#: The figures ``quality_metrics`` gives, in the order the evaluation tables print them.
QUALITY_METRICS = ("psnr", "ssim", "detail", "colour", "fringe")


def quality_metrics(out: torch.Tensor, gt: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every per-image figure ``[B]`` the evaluation tools report (``QUALITY_METRICS``), of ``out``
    against ``gt`` (``[B, 3, H, W]`` in [0, 1]): PSNR (dB), SSIM, ``detail_ratio``,
    ``colour_shift`` and ``colour_fringe``."""
    return {"psnr": psnr(out, gt), "ssim": ssim(out, gt), "detail": detail_ratio(out, gt),
            "colour": colour_shift(out, gt), "fringe": colour_fringe(out, gt)}


def chroma(img: torch.Tensor) -> torch.Tensor:
    """The BT.601 colour-difference channels ``[B, 2, H, W]`` (Cb, Cr) of ``img`` ``[B, 3, H, W]``."""
    return torch.cat([_weighted(img, w) for w in _CHROMA], 1)


def chroma_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 of the chroma and of its finite differences, output against target: what a tint or a
    colour fringe costs (the RGB losses barely see a small one, e.g. around the irises)."""
    a, b = chroma(out.float()), chroma(target.float())
    return (a - b).abs().mean() + gradient_l1(a, b)


def gradient_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L1 distance between horizontal and vertical finite differences."""
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]
    return (dx(a) - dx(b)).abs().mean() + (dy(a) - dy(b)).abs().mean()


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, ssim_weight: float = 1.0,
                        grad_weight: float = 1.0) -> tuple[torch.Tensor, dict]:
    """L1 + ssim_weight * (1 - SSIM) + grad_weight * gradient L1, on model-range ([-1, 1]) images."""
    recon, target = recon.float(), target.float()
    l1 = (recon - target).abs().mean()
    s = 1 - ssim((recon + 1) / 2, (target + 1) / 2).mean()
    g = gradient_l1(recon, target)
    total = l1 + ssim_weight * s + grad_weight * g
    return total, {"l1": l1.detach(), "1-ssim": s.detach(), "grad": g.detach()}


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the discriminator."""
    return 0.5 * (F.relu(1.0 - logits_real.float()).mean() + F.relu(1.0 + logits_fake.float()).mean())


def generator_adv_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """Generator's hinge adversarial loss."""
    return -logits_fake.float().mean()


def adaptive_gan_weight(rec_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor,
                        max_weight: float = 1e4) -> torch.Tensor:
    """VQGAN's balance: ||d rec / d W_last|| / ||d adv / d W_last|| (detached, clamped)."""
    rec_grads = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_grads = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    w = rec_grads.norm() / (g_grads.norm() + 1e-4)
    return torch.clamp(w, 0.0, max_weight).detach()


def clip_association_loss(feat_hq: torch.Tensor, feat_lq: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric CLIP loss between token features of HQ and LQ encoders (fallback implementation).

    ``feat_*``: ``[B, D, h, w]``; every (image, position) token of the HQ batch must pick its own LQ
    token among all tokens of the same position in the batch, and vice versa (the paper contrasts
    per position across the batch).
    """
    b, d, h, w = feat_hq.shape
    hq = F.normalize(feat_hq.float().flatten(2).permute(2, 0, 1), dim=-1)  # [hw, B, D]
    lq = F.normalize(feat_lq.float().flatten(2).permute(2, 0, 1), dim=-1)
    logits = logit_scale.exp() * hq @ lq.transpose(1, 2)  # [hw, B, B]
    target = torch.arange(b, device=feat_hq.device).expand(h * w, b)
    return 0.5 * (F.cross_entropy(logits.reshape(-1, b), target.reshape(-1))
                  + F.cross_entropy(logits.transpose(1, 2).reshape(-1, b), target.reshape(-1)))
