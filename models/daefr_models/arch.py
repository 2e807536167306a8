"""The DAEFR networks: VQGAN autoencoders, the association loss, and the restorer.

Written from the paper and from reading the official code (LIAGM/DAEFR) for facts; the module
layout follows the official one closely enough that `import_official` is a key rename. Every
forward is export-friendly: plain Conv/GroupNorm/MatMul/Softmax/LayerNorm ops, no in-place
tricks, code lookup as argmax + embedding gather.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .config import DaefrConfig, TransformerConfig, VQConfig, get_config


def swish(x: torch.Tensor) -> torch.Tensor:
    """x * sigmoid(x) (exports as Sigmoid + Mul)."""
    return x * torch.sigmoid(x)


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    """The autoencoders' normalisation: GroupNorm with eps 1e-6 and affine parameters."""
    return nn.GroupNorm(num_groups=groups, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """norm-swish-conv3x3 twice, plus a 1x1 shortcut when the width changes."""

    def __init__(self, in_ch: int, out_ch: int, groups: int):
        super().__init__()
        self.norm1 = group_norm(in_ch, groups)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2 = group_norm(out_ch, groups)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        if self.nin_shortcut is not None:
            x = self.nin_shortcut(x)
        return x + h


def _spatial_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int
) -> torch.Tensor:
    """Multi-head dot-product attention over the positions of [B,C,H,W] maps; returns [B,C,H,W]."""
    b, c, h, w = q.shape
    d = c // heads
    # [B, heads, d, HW]
    q = q.reshape(b, heads, d, h * w)
    k = k.reshape(b, heads, d, h * w)
    v = v.reshape(b, heads, d, h * w)
    scores = torch.matmul(q.transpose(2, 3), k) * (d**-0.5)  # [B, heads, HWq, HWk]
    attn = torch.softmax(scores, dim=-1)
    out = torch.matmul(v, attn.transpose(2, 3))  # [B, heads, d, HWq]
    return out.reshape(b, c, h, w)


class AttnBlock(nn.Module):
    """Single-head self-attention over positions with 1x1-conv projections, residual."""

    def __init__(self, ch: int, groups: int, heads: int = 1):
        super().__init__()
        self.heads = heads
        self.norm = group_norm(ch, groups)
        self.q = nn.Conv2d(ch, ch, 1)
        self.k = nn.Conv2d(ch, ch, 1)
        self.v = nn.Conv2d(ch, ch, 1)
        self.proj_out = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        out = _spatial_attention(self.q(h), self.k(h), self.v(h), self.heads)
        return x + self.proj_out(out)


class CrossAttentionFusion(nn.Module):
    """DAEFR's fusion: queries from the LQ feature, keys/values from the HQ feature.

    The result is added residually to the HQ feature: `hq + proj(attn(q(norm_q(lq)), k, v))`.
    """

    def __init__(self, ch: int, heads: int, groups: int):
        super().__init__()
        if ch % heads:
            raise ValueError(f"fusion width {ch} not divisible by {heads} heads")
        self.heads = heads
        self.norm_kv = group_norm(ch, groups)
        self.norm_q = group_norm(ch, groups)
        self.q = nn.Conv2d(ch, ch, 1)
        self.k = nn.Conv2d(ch, ch, 1)
        self.v = nn.Conv2d(ch, ch, 1)
        self.proj_out = nn.Conv2d(ch, ch, 1)

    def forward(self, feat_hq: torch.Tensor, feat_lq: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(feat_hq)
        q = self.q(self.norm_q(feat_lq))
        out = _spatial_attention(q, self.k(kv), self.v(kv), self.heads)
        return feat_hq + self.proj_out(out)


class ConcatFusion(nn.Module):
    """Ablation without cross-attention: concatenate HQ and LQ features, 1x1 conv back to width.

    Initialised so that it starts as the identity on the HQ feature (LQ half of the weight zero).
    """

    def __init__(self, ch: int):
        super().__init__()
        self.proj = nn.Conv2d(2 * ch, ch, 1)
        with torch.no_grad():
            self.proj.weight.zero_()
            self.proj.bias.zero_()
            self.proj.weight[:, :ch, 0, 0] = torch.eye(ch)

    def forward(self, feat_hq: torch.Tensor, feat_lq: torch.Tensor) -> torch.Tensor:
        return self.proj(torch.cat([feat_hq, feat_lq], dim=1))


class Downsample(nn.Module):
    """Zero-pad right/bottom by one, then a stride-2 3x3 conv."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest-neighbour x2, then a 3x3 conv."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Level(nn.Module):
    """One resolution level: residual blocks, optional attention after each, optional resampler."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.ModuleList()
        self.attn = nn.ModuleList()


class _Middle(nn.Module):
    """ResBlock - attention - ResBlock at the lowest resolution."""

    def __init__(self, ch: int, groups: int):
        super().__init__()
        self.block_1 = ResnetBlock(ch, ch, groups)
        self.attn_1 = AttnBlock(ch, groups)
        self.block_2 = ResnetBlock(ch, ch, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    """Image [B,3,R,R] -> features [B,z_channels,R/2^(L-1),R/2^(L-1)]."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        g = cfg.norm_groups
        self.conv_in = nn.Conv2d(cfg.in_channels, cfg.ch, 3, padding=1)
        self.down = nn.ModuleList()
        res = cfg.resolution
        block_in = cfg.ch
        for i, mult in enumerate(cfg.ch_mult):
            level = _Level()
            block_out = cfg.ch * mult
            for _ in range(cfg.num_res_blocks_enc):
                level.block.append(ResnetBlock(block_in, block_out, g))
                block_in = block_out
                if res in cfg.attn_resolutions:
                    level.attn.append(AttnBlock(block_in, g))
            if i != cfg.num_levels - 1:
                level.downsample = Downsample(block_in)
                res //= 2
            self.down.append(level)
        self.mid = _Middle(block_in, g)
        self.norm_out = group_norm(block_in, g)
        self.conv_out = nn.Conv2d(block_in, cfg.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, with_skips: bool = False):
        """Output features; with `with_skips`, (output, skips): `skips[i]` is level i's feature after
        its blocks, before downsampling ([B, ch*ch_mult[i], R/2^i, R/2^i]), what the fidelity path's
        fusion blocks read."""
        h = self.conv_in(x)
        skips = []
        for level in self.down:
            for i, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[i](h)
            skips.append(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = self.mid(h)
        out = self.conv_out(swish(self.norm_out(h)))
        return (out, skips) if with_skips else out


class Decoder(nn.Module):
    """Latent [B,z_channels,r,r] -> image [B,3,R,R]."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        g = cfg.norm_groups
        block_in = cfg.ch * cfg.ch_mult[-1]
        res = cfg.latent_size
        self.conv_in = nn.Conv2d(cfg.z_channels, block_in, 3, padding=1)
        self.mid = _Middle(block_in, g)
        ups: list[_Level] = []
        for i in reversed(range(cfg.num_levels)):
            level = _Level()
            block_out = cfg.ch * cfg.ch_mult[i]
            for _ in range(cfg.num_res_blocks_dec):
                level.block.append(ResnetBlock(block_in, block_out, g))
                block_in = block_out
                if res in cfg.attn_resolutions:
                    level.attn.append(AttnBlock(block_in, g))
            if i != 0:
                level.upsample = Upsample(block_in)
                res *= 2
            ups.insert(0, level)
        # up[i] is resolution level i (same indexing as the encoder); run from the last to the first.
        self.up = nn.ModuleList(ups)
        self.norm_out = group_norm(block_in, g)
        self.conv_out = nn.Conv2d(block_in, cfg.in_channels, 3, padding=1)

    def forward(self, z: torch.Tensor, fuse=None, with_features: bool = False):
        """Image [B,3,R,R]; with `with_features`, (image, `features(z, fuse)`)."""
        feat = self.features(z, fuse)
        img = self.conv_out(feat)
        return (img, feat) if with_features else img

    def features(self, z: torch.Tensor, fuse=None) -> torch.Tensor:
        """The last features before `conv_out` (after norm_out + swish), [B, ch, R, R].

        `fuse(level, h) -> h`, when given, runs on each level's feature after its blocks and
        before upsampling (the fidelity path's hook); without it this is exactly the plain decoder.
        """
        h = self.mid(self.conv_in(z))
        for index in reversed(range(len(self.up))):
            level = self.up[index]
            for i, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[i](h)
            if fuse is not None:
                h = fuse(index, h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return swish(self.norm_out(h))


class VectorQuantizer(nn.Module):
    """Nearest-code (L2) vector quantizer with a straight-through gradient.

    forward(z[B,C,H,W]) -> (z_q, loss, indices[B,H*W]) where z_q carries z's gradient and
    loss = mean((sg[z] - e)^2) + beta * mean((z - sg[e])^2) (codebook + commitment).
    """

    def __init__(self, n_embed: int, embed_dim: int, beta: float = 0.25):
        super().__init__()
        self.n_embed = n_embed
        self.embed_dim = embed_dim
        self.beta = beta
        self.embedding = nn.Embedding(n_embed, embed_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / n_embed, 1.0 / n_embed)

    def nearest_indices(self, z: torch.Tensor) -> torch.Tensor:
        """Indices [B,H*W] of the nearest code for each position of z [B,C,H,W]."""
        b, c, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, c)
        e = self.embedding.weight
        dist = (flat**2).sum(1, keepdim=True) + (e**2).sum(1) - 2.0 * flat @ e.t()
        return dist.argmin(dim=1).reshape(b, h * w)

    def lookup(self, indices: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """Codes for indices [B,N] as a map [B,C,h,w] (N = h*w)."""
        h, w = hw
        z = self.embedding(indices)  # [B, N, C]
        return z.transpose(1, 2).reshape(indices.shape[0], self.embed_dim, h, w)

    def forward(self, z: torch.Tensor):
        indices = self.nearest_indices(z)
        z_q = self.lookup(indices, (z.shape[2], z.shape[3]))
        loss = F.mse_loss(z_q, z.detach()) + self.beta * F.mse_loss(z, z_q.detach())
        z_q = z + (z_q - z).detach()
        return z_q, loss, indices


class VQAutoencoder(nn.Module):
    """Encoder -> quant_conv -> VectorQuantizer -> post_quant_conv -> Decoder."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quant_conv = nn.Conv2d(cfg.z_channels, cfg.embed_dim, 1)
        self.quantize = VectorQuantizer(cfg.n_embed, cfg.embed_dim, cfg.beta)
        self.post_quant_conv = nn.Conv2d(cfg.embed_dim, cfg.z_channels, 1)
        self.decoder = Decoder(cfg)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-quantization features [B,embed_dim,h,w] (after quant_conv)."""
        return self.quant_conv(self.encoder(x))

    def encode_with_skips(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(`encode(x)`, the encoder's per-level skip features)."""
        h, skips = self.encoder(x, with_skips=True)
        return self.quant_conv(h), skips

    def quantize_features(self, h: torch.Tensor):
        """(z_q straight-through, vq_loss, indices[B,h*w]) for features from `encode`."""
        return self.quantize(h)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Image from quantized features."""
        return self.decoder(self.post_quant_conv(z_q))

    def decode_indices(self, indices: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """Image from code indices [B,h*w]."""
        return self.decode(self.quantize.lookup(indices, hw))

    def forward(self, x: torch.Tensor):
        z_q, loss, indices = self.quantize_features(self.encode(x))
        return self.decode(z_q), loss, indices


def quantize_fp32(ae: VQAutoencoder, h: torch.Tensor):
    """``ae.quantize_features`` in fp32 even under autocast (bf16 distances would pick wrong codes)."""
    with torch.autocast(device_type=h.device.type, enabled=False):
        return ae.quantize_features(h.float())


def association_loss(
    feat_hq: torch.Tensor, feat_lq: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """CLIP-style symmetric cross-entropy between HQ and LQ latent tokens.

    Every latent position of every image in the batch is one token ([B,C,h,w] -> [B*h*w, C]);
    tokens are L2-normalised and token i of HQ must match token i of LQ among all B*h*w tokens.
    `logit_scale` is the log of the temperature multiplier.
    """
    c = feat_hq.shape[1]
    hq = F.normalize(feat_hq.permute(0, 2, 3, 1).reshape(-1, c), dim=1)
    lq = F.normalize(feat_lq.permute(0, 2, 3, 1).reshape(-1, c), dim=1)
    logits = logit_scale.exp() * hq @ lq.t()
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


class AssociationHead(nn.Module):
    """Holds the learnable logit scale (initialised to ln(1/0.07)) of the association loss."""

    def __init__(self) -> None:
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / 0.07)))

    def forward(self, feat_hq: torch.Tensor, feat_lq: torch.Tensor) -> torch.Tensor:
        return association_loss(feat_hq, feat_lq, self.logit_scale)


class TransformerLayer(nn.Module):
    """Pre-LN self-attention + GELU FFN; the positional embedding is added to Q and K only.

    The attention projections are stored like torch's nn.MultiheadAttention (`in_proj_weight`
    [3d,d], `in_proj_bias`, `out_proj`) but computed with plain matmuls so it exports cleanly.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        d = cfg.d_model
        if d % cfg.n_heads:
            raise ValueError(f"d_model {d} not divisible by {cfg.n_heads} heads")
        self.n_heads = cfg.n_heads
        self.norm1 = nn.LayerNorm(d)
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d, d))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d))
        nn.init.xavier_uniform_(self.in_proj_weight)
        self.out_proj = nn.Linear(d, d)
        self.dropout = nn.Dropout(cfg.dropout)
        self.norm2 = nn.LayerNorm(d)
        self.linear1 = nn.Linear(d, cfg.ffn_dim)
        self.linear2 = nn.Linear(cfg.ffn_dim, d)

    def _attention(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        hd = d // self.n_heads
        wq, wk, wv = self.in_proj_weight.chunk(3, dim=0)
        bq, bk, bv = self.in_proj_bias.chunk(3, dim=0)
        qk_in = x + pos
        q = F.linear(qk_in, wq, bq).reshape(b, n, self.n_heads, hd).transpose(1, 2)
        k = F.linear(qk_in, wk, bk).reshape(b, n, self.n_heads, hd).transpose(1, 2)
        v = F.linear(x, wv, bv).reshape(b, n, self.n_heads, hd).transpose(1, 2)
        attn = torch.softmax(torch.matmul(q * hd**-0.5, k.transpose(2, 3)), dim=-1)
        out = torch.matmul(self.dropout(attn), v).transpose(1, 2).reshape(b, n, d)
        return self.out_proj(out)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self._attention(self.norm1(x), pos))
        h = self.linear2(self.dropout(F.gelu(self.linear1(self.norm2(x)))))
        return x + self.dropout(h)


class CodeTransformer(nn.Module):
    """Fused features [B,embed_dim,h,w] -> logits over the HQ codebook [B,h*w,n_embed]."""

    def __init__(self, cfg: TransformerConfig, embed_dim: int, n_tokens: int, n_embed: int):
        super().__init__()
        self.position_emb = nn.Parameter(torch.zeros(n_tokens, cfg.d_model))
        nn.init.normal_(self.position_emb, std=0.02)
        self.feat_emb = nn.Linear(embed_dim, cfg.d_model)
        self.layers = nn.ModuleList(TransformerLayer(cfg) for _ in range(cfg.n_layers))
        self.norm_out = nn.LayerNorm(cfg.d_model)
        self.idx_pred = nn.Linear(cfg.d_model, n_embed, bias=False)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        x = self.feat_emb(feat.flatten(2).transpose(1, 2))  # [B, N, d]
        pos = self.position_emb.unsqueeze(0)
        for layer in self.layers:
            x = layer(x, pos)
        return self.idx_pred(self.norm_out(x))


class FidelityFusion(nn.Module):
    """CodeFormer's controllable feature transformation at one decoder level.

    `dec + w * (dec * scale + shift)`, with scale and shift from a 1x1 conv over `cat(enc, dec)`
    (leaky ReLU) and one 3x3 conv; that last conv starts at zero, so a fresh block is the identity
    at every `w`, and `w = 0` leaves `dec` untouched bit for bit.
    """

    def __init__(self, ch: int):
        super().__init__()
        self.mix = nn.Conv2d(2 * ch, ch, 1)
        self.scale_shift = nn.Conv2d(ch, 2 * ch, 3, padding=1)
        nn.init.zeros_(self.scale_shift.weight)
        nn.init.zeros_(self.scale_shift.bias)

    def forward(self, dec: torch.Tensor, enc: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.mix(torch.cat([enc, dec], dim=1)), 0.2)
        scale, shift = self.scale_shift(h).chunk(2, dim=1)
        return dec + w * (dec * scale + shift)


class ResidualHead(nn.Module):
    """R over the input: 3x3 convs over `cat(x, decoder features)`, the last one zero at start.

    `unshuffle = 1`: conv in -> `depth` x conv hidden -> conv out, all at the input's resolution
    (the first lite-128 form: 16 hidden channels at 128 px). `unshuffle = s > 1`: the same convs
    at 1/s of the resolution on s*s times the channels (pixel-unshuffle in, pixel-shuffle out, as
    `SpaceToDepth`/`DepthToSpace`-style reshapes in the exported graph): for the same MACs a wider,
    deeper head with a larger receptive field, and wider convs, which tract runs faster than 16-
    channel ones at 128x128.

    `film = True`: the head is told the fidelity weight. After each hidden conv,
    `h <- h + h * (w * scale) + w * shift` (per channel, both zero at start, so a head loaded from a
    checkpoint without them computes exactly what it did). Without it one `R` must serve every
    `w`, although the residual that makes `(1 - w) * prior + w * (x + R)` right depends on `w`
    (`R = (gt - (1 - w) * prior) / w - x`), which could pull the `w = 1` end towards the prior's
    errors. Measured: no gain over the plain head after 80 minutes of head-only training from the
    bundled model (models/ARCHITECTURE.md, "Fidelity path"). In the graph `w` meets only Mul and Add.

    `feat_ch = 0`: the head reads the input alone (`feat` is ignored), an ablation.
    """

    def __init__(self, feat_ch: int, in_ch: int, hidden: int, depth: int = 1, unshuffle: int = 1,
                 film: bool = False, in_kernel: int = 3):
        super().__init__()
        if depth < 1 or unshuffle < 1:
            raise ValueError(f"residual head: depth {depth} and unshuffle {unshuffle} must be at least 1")
        if in_kernel not in (1, 3):
            raise ValueError(f"residual head: first conv kernel {in_kernel} must be 1 or 3")
        self.unshuffle = unshuffle
        self.reads_feat = feat_ch > 0
        s2 = unshuffle * unshuffle
        self.conv1 = nn.Conv2d((feat_ch + in_ch) * s2, hidden, in_kernel, padding=in_kernel // 2)
        # the first form's hidden conv keeps its state-dict name (conv2) so its checkpoints load
        self.conv2 = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.more = nn.ModuleList(nn.Conv2d(hidden, hidden, 3, padding=1) for _ in range(depth - 1))
        self.conv_out = nn.Conv2d(hidden, in_ch * s2, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)
        n_hidden = depth + 1
        self.film_scale = nn.ParameterList(nn.Parameter(torch.zeros(1, hidden, 1, 1)) for _ in range(n_hidden)) if film else None
        self.film_shift = nn.ParameterList(nn.Parameter(torch.zeros(1, hidden, 1, 1)) for _ in range(n_hidden)) if film else None

    def forward(self, feat: torch.Tensor, x: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        """R for the decoder features `feat` and the input `x`; `w` (broadcastable to [B,1,1,1])
        conditions a `film` head and is ignored otherwise."""
        h = torch.cat([x, feat], dim=1) if self.reads_feat else x
        if self.unshuffle > 1:
            h = F.pixel_unshuffle(h, self.unshuffle)
        for i, conv in enumerate([self.conv1, self.conv2, *self.more]):
            h = conv(h)
            if self.film_scale is not None and w is not None:
                h = h + h * (w * self.film_scale[i]) + w * self.film_shift[i]
            h = F.leaky_relu(h, 0.2)
        r = self.conv_out(h)
        return F.pixel_shuffle(r, self.unshuffle) if self.unshuffle > 1 else r


class FidelityPath(nn.Module):
    """Fusion blocks at the configured decoder levels plus the global input residual.

    With `w` the fidelity weight (broadcastable to [B,1,1,1]; the exported graph feeds [1]):
    `out = (1 - w) * prior + w * (x + R)`, `prior` the decoder output with the fusion blocks applied.
    `w = 0` is DAEFR exactly; a fresh path at `w = 1` returns the input exactly (training starts from
    the bicubic-resized face and can only improve on it).
    """

    def __init__(self, cfg: DaefrConfig):
        super().__init__()
        vq = cfg.vq
        self.levels = [i for i in range(vq.num_levels - 1) if vq.resolution // 2**i in cfg.fidelity.resolutions]
        self.fuse = nn.ModuleDict({str(i): FidelityFusion(vq.ch * vq.ch_mult[i]) for i in self.levels})
        fc = cfg.fidelity
        feat_ch = vq.ch * vq.ch_mult[0] if fc.residual_reads_decoder else 0
        self.residual = ResidualHead(feat_ch, vq.in_channels, fc.residual_hidden,
                                     depth=fc.residual_depth, unshuffle=fc.residual_unshuffle,
                                     film=fc.residual_film, in_kernel=fc.residual_in_kernel)
        self.residual_coarse = (ResidualHead(feat_ch, vq.in_channels, fc.coarse_hidden, depth=fc.coarse_depth,
                                             unshuffle=fc.coarse_unshuffle, in_kernel=1)
                                if fc.coarse_hidden > 0 else None)
        sigma = cfg.fidelity.colour_anchor_sigma
        self.anchor = ColourAnchor(sigma, vq.in_channels, vq.resolution) if sigma > 0 else None

    def hook(self, skips: list[torch.Tensor], w: torch.Tensor):
        """The `Decoder.features` hook that fuses `skips` (encoder features by level) with weight w."""

        def fuse(level: int, h: torch.Tensor) -> torch.Tensor:
            block = self.fuse[str(level)] if str(level) in self.fuse else None
            return h if block is None else block(h, skips[level], w)

        return fuse

    def blend(self, prior: torch.Tensor, feat: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """`(1 - w) * prior + w * (x + R(feat, x))`, with `1 - w` as Mul + Add (no Sub on the input);
        with a colour anchor, `prior` first takes the input's low frequencies."""
        if self.anchor is not None:
            prior = self.anchor(prior, x)
        return prior * (w * -1.0 + 1.0) + w * (x + self.residual_sum(feat, x, w))

    def residual_heads(self) -> nn.ModuleList:
        """The residual heads: the first, and the coarse one where the config has it."""
        return nn.ModuleList([self.residual, *([] if self.residual_coarse is None else [self.residual_coarse])])

    def residual_sum(self, feat: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """R: the first head's residual plus the coarse head's, where there is one."""
        r = self.residual(feat, x, w)
        return r if self.residual_coarse is None else r + self.residual_coarse(feat, x, w)


class ColourAnchor(nn.Module):
    """`prior - low(prior) + low(x)`: the prior's detail on the input's colour and shading.

    `low` is a separable Gaussian (sigma in pixels, radius 3 sigma) as two depthwise convs with zero
    padding, divided by the same blur of a constant image so that borders are not darkened (the
    divisor is a fixed [1, 1, S, S] buffer: plain Conv and Mul in the exported graph, ~6 MMAC per face
    at 128 px). No learned weights (nothing enters the state dict)."""

    def __init__(self, sigma: float, channels: int, size: int):
        super().__init__()
        radius = max(1, int(round(3 * sigma)))
        r = torch.arange(-radius, radius + 1, dtype=torch.float32)
        g = torch.exp(-(r**2) / (2 * sigma**2))
        g = g / g.sum()
        self.channels, self.radius = channels, radius
        self.register_buffer("kx", g.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), persistent=False)
        self.register_buffer("ky", g.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), persistent=False)
        ones = torch.ones(1, channels, size, size)
        self.register_buffer("inv_norm", 1.0 / self._blur(ones)[:, :1], persistent=False)

    def _blur(self, t: torch.Tensor) -> torch.Tensor:
        r, c = self.radius, self.channels
        t = F.conv2d(t, self.kx.to(t.dtype), padding=(0, r), groups=c)
        return F.conv2d(t, self.ky.to(t.dtype), padding=(r, 0), groups=c)

    def low(self, t: torch.Tensor) -> torch.Tensor:
        """The normalised low-pass of `t` ([B, C, S, S] at the configured size)."""
        return self._blur(t) * self.inv_norm.to(t.dtype)

    def forward(self, prior: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return prior + self.low(x - prior)


class DAEFR(nn.Module):
    """The restorer: HQ and LQ encoders on the LQ image, fusion, code transformer, HQ decoder.

    Ablations: `use_lq_encoder=False` drops the LQ autoencoder (`.lq is None`, no fusion; the
    transformer reads the HQ encoder's feature, CodeFormer-style). `use_fusion=False` keeps the LQ
    encoder but replaces cross-attention by `ConcatFusion` (concatenate, 1x1 conv).
    """

    def __init__(self, cfg: DaefrConfig, use_lq_encoder: bool = True, use_fusion: bool = True):
        super().__init__()
        self.cfg = cfg
        vq = cfg.vq
        self.hq = VQAutoencoder(vq)
        self.lq = VQAutoencoder(vq) if use_lq_encoder else None
        if not use_lq_encoder:
            self.fusion = None
        elif use_fusion:
            self.fusion = CrossAttentionFusion(vq.embed_dim, cfg.fusion_heads, vq.norm_groups)
        else:
            self.fusion = ConcatFusion(vq.embed_dim)
        self.transformer = CodeTransformer(cfg.transformer, vq.embed_dim, vq.n_tokens, vq.n_embed)
        self.fidelity = FidelityPath(cfg)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As nn.Module's, but a state dict with no `fidelity.*` key at all (a stage 1-3 checkpoint,
        or a model made before the fidelity path existed) loads with a fresh, identity fidelity path."""
        if strict and not any(k.startswith("fidelity.") for k in state_dict):
            result = super().load_state_dict(state_dict, strict=False, assign=assign)
            missing = [k for k in result.missing_keys if not k.startswith("fidelity.")]
            if missing or result.unexpected_keys:
                raise RuntimeError(f"state dict mismatch: missing {missing[:8]}, unexpected {result.unexpected_keys[:8]}")
            return result
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def load_with_fresh_head(self, state_dict) -> list[str]:
        """Load a checkpoint whose residual head has another form (e.g. `lite-128` weights into
        `lite-128-s2d`): every other key must match; the head's keys that do not fit stay as
        initialised (a fresh head is zero at its output, so the model starts as `R = 0`).
        Returns the fresh keys; raises RuntimeError on any mismatch outside the head."""
        prefix = ("fidelity.residual.", "fidelity.residual_coarse.")
        own = self.state_dict()
        kept = {k: v for k, v in state_dict.items()
                if not k.startswith(prefix) or (k in own and own[k].shape == v.shape)}
        bad = [k for k, v in kept.items() if k in own and own[k].shape != v.shape]
        if bad:
            raise RuntimeError(f"state dict mismatch outside the residual head (shapes): {bad[:8]}")
        result = super().load_state_dict(kept, strict=False)
        bad = [k for k in [*result.missing_keys, *result.unexpected_keys] if not k.startswith(prefix)]
        if bad:
            raise RuntimeError(f"state dict mismatch outside the residual head: {bad[:8]}")
        return list(result.missing_keys)

    def fused_features(self, lq_img: torch.Tensor) -> torch.Tensor:
        """Fused feature [B,embed_dim,h,w] that the transformer reads."""
        feat_hq = self.hq.encode(lq_img)
        if self.lq is None:
            return feat_hq
        return self.fusion(feat_hq, self.lq.encode(lq_img))

    def forward(self, lq_img: torch.Tensor):
        """(logits [B,h*w,n_embed], fused [B,embed_dim,h,w])."""
        fused = self.fused_features(lq_img)
        return self.transformer(fused), fused

    def restore(self, lq_img: torch.Tensor) -> torch.Tensor:
        """Restored image: argmax codes -> HQ codebook lookup -> HQ decoder (pure DAEFR)."""
        logits, fused = self.forward(lq_img)
        indices = logits.argmax(dim=-1)
        return self.hq.decode_indices(indices, (fused.shape[2], fused.shape[3]))

    def code_path(self, lq_img: torch.Tensor):
        """(logits [B,h*w,n_embed], fused, skips): the DAEFR code path plus the encoder skips the
        fidelity path reads (the LQ encoder's; the HQ encoder's in the `hq_only` ablation)."""
        if self.lq is None:
            feat_hq, skips = self.hq.encode_with_skips(lq_img)
            fused = feat_hq
        else:
            feat_lq, skips = self.lq.encode_with_skips(lq_img)
            fused = self.fusion(self.hq.encode(lq_img), feat_lq)
        return self.transformer(fused), fused, skips

    def decode_with_fidelity(self, indices: torch.Tensor, hw: tuple[int, int], skips: list[torch.Tensor],
                             lq_img: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """HQ decoder over the codes with the fidelity path at weight `w` (see `FidelityPath`)."""
        prior, feat = self.decode_prior(indices, hw, skips, w)
        return self.fidelity.blend(prior, feat, lq_img, w)

    def decode_prior(self, indices: torch.Tensor, hw: tuple[int, int], skips: list[torch.Tensor],
                     w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(prior, last decoder features): the HQ decoder over the codes with the fusion blocks at
        weight `w`, before the blend (what the residual head reads)."""
        z = self.hq.post_quant_conv(self.hq.quantize.lookup(indices, hw))
        return self.hq.decoder(z, fuse=self.fidelity.hook(skips, w), with_features=True)

    def restore_with_fidelity(self, lq_img: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Restored image at fidelity weight `w` ([1] or [B,1,1,1]); `w = 0` equals `restore`."""
        logits, fused, skips = self.code_path(lq_img)
        indices = logits.argmax(dim=-1)
        return self.decode_with_fidelity(indices, (fused.shape[2], fused.shape[3]), skips, lq_img, w)

    def inference_modules(self) -> dict[str, nn.Module]:
        """The submodules the `restore` graph uses, by name (for counting and export)."""
        mods: dict[str, nn.Module] = {
            "hq.encoder": self.hq.encoder,
            "hq.quant_conv": self.hq.quant_conv,
        }
        if self.lq is not None:
            mods["lq.encoder"] = self.lq.encoder
            mods["lq.quant_conv"] = self.lq.quant_conv
            mods["fusion"] = self.fusion
        mods.update(
            {
                "transformer": self.transformer,
                "hq.codebook": self.hq.quantize,
                "hq.post_quant_conv": self.hq.post_quant_conv,
                "hq.decoder": self.hq.decoder,
                "fidelity": self.fidelity,
            }
        )
        return mods


class RestoreGraph(nn.Module):
    """Export wrapper (contract 2): input [1,3,S,S] in [-1,1] and weight [1] -> restored image."""

    def __init__(self, model: DAEFR):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self.model.restore_with_fidelity(x, weight)


class CodeOnlyGraph(nn.Module):
    """Export wrapper of contract 1: input [1,3,S,S] -> pure DAEFR output (no `weight` input)."""

    def __init__(self, model: DAEFR):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.restore(x)


def load_checkpoint(path: Path, config: str | None = None) -> tuple[DAEFR, str]:
    """(model in eval mode, config name) from a training checkpoint.

    Accepts the `model.pt` that train.py writes ({"config", "model", "use_lq_encoder",
    "use_fusion", ...}), a {"state_dict": ...} dict, or a bare DAEFR state_dict (then `config`
    must be given).
    """
    payload = torch.load(str(path), map_location="cpu", weights_only=False)
    if isinstance(payload, dict) and "model" in payload and isinstance(payload["model"], dict):
        state, name = payload["model"], payload.get("config", config)
        flags = {k: bool(payload[k]) for k in ("use_lq_encoder", "use_fusion") if k in payload}
    elif isinstance(payload, dict) and "state_dict" in payload:
        state, name, flags = payload["state_dict"], payload.get("config", config), {}
    else:
        state, name, flags = payload, config, {}
    if name is None:
        raise ValueError(f"{path}: checkpoint does not name its config; pass --config")
    if config is not None and config != name:
        raise ValueError(f"{path}: checkpoint is config {name!r}, --config says {config!r}")
    model = DAEFR(get_config(name), **flags)
    model.load_state_dict(state, strict=True)
    return model.eval(), name
