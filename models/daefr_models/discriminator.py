"""PatchGAN discriminator for the codebook stage (the VQGAN/pix2pix "NLayer" design).

4x4 convolutions, stride 2 for the first ``n_layers`` (channels doubling up to 8x, capped), then one
stride-1 layer and a 1-channel output map: each output logit judges one overlapping image patch.
Normalisation is BatchNorm as in VQGAN (``use_actnorm: False`` in the paper's configs).
"""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    """``forward(img [B, 3, H, W]) -> logits [B, 1, h, w]``."""

    def __init__(self, in_channels: int = 3, ch: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ch, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for i in range(1, n_layers):
            prev, mult = mult, min(2**i, 8)
            layers += [nn.Conv2d(ch * prev, ch * mult, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * mult),
                       nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [nn.Conv2d(ch * prev, ch * mult, 4, 1, 1, bias=False), nn.BatchNorm2d(ch * mult),
                   nn.LeakyReLU(0.2, True), nn.Conv2d(ch * mult, 1, 4, 1, 1)]
        self.net = nn.Sequential(*layers)
        self.apply(_init)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.net(img)


def _init(m: nn.Module) -> None:
    if isinstance(m, nn.Conv2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
