"""Architecture configurations of the DAEFR networks, as plain dataclasses.

Each named config fixes every width and depth of the two VQGAN autoencoders (HQ and LQ share one
`VQConfig`), the fusion block and the code-prediction transformer. `get_config(name)` returns one;
`CONFIG_NAMES` lists them. Why the edge widths are what they are is written in models/ARCHITECTURE.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, kw_only=True)
class VQConfig:
    """One VQGAN autoencoder (encoder, codebook, decoder).

    `ch * ch_mult[i]` is the width of resolution level i; every level but the last halves the
    spatial size, so the latent grid is `resolution / 2**(len(ch_mult)-1)` on a side. Attention
    blocks sit at the levels whose resolution is listed in `attn_resolutions` (plus the middle
    block, always). `norm_groups` is the GroupNorm group count (32 in the paper).
    """

    resolution: int
    in_channels: int = 3
    ch: int
    ch_mult: tuple
    num_res_blocks_enc: int
    num_res_blocks_dec: int
    attn_resolutions: tuple
    z_channels: int
    n_embed: int
    embed_dim: int
    beta: float = 0.25
    norm_groups: int = 32

    @property
    def num_levels(self) -> int:
        """Number of resolution levels (downsamplings + 1)."""
        return len(self.ch_mult)

    @property
    def latent_size(self) -> int:
        """Side of the latent token grid."""
        return self.resolution // 2 ** (self.num_levels - 1)

    @property
    def n_tokens(self) -> int:
        """Number of latent tokens (positions) per image."""
        return self.latent_size**2

    def validate(self) -> None:
        """Raise ValueError if the widths are inconsistent (GroupNorm groups, resolution)."""
        if self.resolution % 2 ** (self.num_levels - 1):
            raise ValueError(f"resolution {self.resolution} not divisible by 2^{self.num_levels - 1}")
        widths = {self.ch * m for m in self.ch_mult} | {self.z_channels}
        for w in sorted(widths):
            if w % self.norm_groups:
                raise ValueError(f"width {w} is not divisible by {self.norm_groups} GroupNorm groups")


@dataclass(frozen=True, kw_only=True)
class TransformerConfig:
    """The code-prediction transformer (pre-LayerNorm, GELU FFN)."""

    n_layers: int
    d_model: int
    n_heads: int
    ffn_dim: int
    dropout: float = 0.0


@dataclass(frozen=True, kw_only=True)
class FidelityConfig:
    """The fidelity path (CodeFormer-style controllable feature transformation + input residual).

    `resolutions`: the decoder levels (in pixels) that get a fusion block fed by the LQ encoder's
    feature of the same resolution. `residual_hidden`: width of the small head that predicts the
    residual R over the input (`out = (1 - w) * prior + w * (x + R)`). `residual_depth` / `residual_unshuffle`: its hidden convs and
    the space-to-depth factor it runs at (`arch.ResidualHead`). `colour_anchor_sigma`: when
    above 0, the prior's low frequencies (a Gaussian low-pass of this sigma, in pixels) are replaced
    by the input's before the blend, so the face prior adds structure but keeps the input's colour
    and shading (the bundled model's code path shifted colours by 17 levels and left pink blotches);
    0 leaves the prior as the decoder made it (`w = 0` is then DAEFR bit for bit).
    """

    resolutions: tuple
    residual_hidden: int
    colour_anchor_sigma: float = 0.0
    #: Hidden-to-hidden 3x3 convs of the residual head (1: the first lite-128 head).
    residual_depth: int = 1
    #: The residual head runs at 1/this of the resolution on this^2 times the channels (1: full size).
    residual_unshuffle: int = 1
    #: The residual head is told `w` (a per-channel scale and shift after each hidden conv, zero at
    #: start: `arch.ResidualHead`), so that one head can serve every point of the weight.
    residual_film: bool = False
    #: Kernel of the residual head's first conv (1: a per-position projection of the unshuffled
    #: input and decoder features, cheap at a large `residual_unshuffle`; 3: the earlier forms).
    residual_in_kernel: int = 3
    #: The residual head reads the decoder's last features besides the input (False: the input
    #: alone, an ablation that asks what the face prior adds at `w = 1`).
    residual_reads_decoder: bool = True
    #: Width of a second residual head whose R adds to the first's (0: none). It runs at
    #: 1/`coarse_unshuffle` of the resolution with a 1x1 first conv (`arch.ResidualHead`). Named
    #: for its first use, a coarse head (unshuffle 4) beside the 64x64 one for the wide-field
    #: corrections of a moderate face; at unshuffle 2 beside a quarter-side first head it is the
    #: fine one (lite-128-s2d4-fine, lite-128-two-branch). Its keys (`fidelity.residual_coarse.*`)
    #: are new: a checkpoint without them loads with this head fresh, zero at its output.
    coarse_hidden: int = 0
    #: Hidden-to-hidden 3x3 convs of the second head.
    coarse_depth: int = 2
    #: Space-to-depth factor of the second head.
    coarse_unshuffle: int = 4


@dataclass(frozen=True)
class DaefrConfig:
    """A whole restorer: autoencoder widths, transformer, cross-attention heads, fidelity path."""

    name: str
    vq: VQConfig
    transformer: TransformerConfig
    fusion_heads: int = 8
    fidelity: FidelityConfig = FidelityConfig(resolutions=(), residual_hidden=16)


def _paper_512() -> DaefrConfig:
    # The official inference graph (configs/DAEFR.yaml + models/daefr.py of LIAGM/DAEFR).
    return DaefrConfig(
        name="paper-512",
        vq=VQConfig(
            resolution=512,
            ch=64,
            ch_mult=(1, 2, 2, 4, 4, 8),
            num_res_blocks_enc=2,
            num_res_blocks_dec=3,
            attn_resolutions=(16,),
            z_channels=256,
            n_embed=1024,
            embed_dim=256,
        ),
        transformer=TransformerConfig(n_layers=9, d_model=512, n_heads=8, ffn_dim=1024),
        fusion_heads=8,
        # CodeFormer's connect_list (32..256 px); the paper's DAEFR has no fidelity path.
        fidelity=FidelityConfig(resolutions=(32, 64, 128, 256), residual_hidden=32),
    )


def _lite_128() -> DaefrConfig:
    # Edge config: 128x128 faces, 16x16 tokens (the paper's token grid), <= 2 GMAC per face.
    # See models/ARCHITECTURE.md ("lite-128") for how these widths were chosen.
    return DaefrConfig(
        name="lite-128",
        vq=VQConfig(
            resolution=128,
            ch=16,
            ch_mult=(1, 2, 4, 4),
            num_res_blocks_enc=1,
            num_res_blocks_dec=2,
            attn_resolutions=(),
            z_channels=64,
            n_embed=512,
            embed_dim=64,
            # 16 groups: one channel per group at level 0. A small proxy scored 21.4 dB with 4
            # channels per group against 19.6 dB with 1, so 4 groups is worth training; but the
            # shared stage 1-3 checkpoints this model continues from were measured to be trained
            # with 16 (their stage-3 validation: 19.51 dB / code acc. 0.536 with 16 groups, 14.14 dB
            # / 0.359 with 4), and GroupNorm's group count is not in a state dict.
            norm_groups=16,
        ),
        transformer=TransformerConfig(n_layers=4, d_model=128, n_heads=8, ffn_dim=256),
        fusion_heads=8,
        fidelity=FidelityConfig(resolutions=(32, 64, 128), residual_hidden=16, colour_anchor_sigma=4.0),
    )


def _lite_128_s2d() -> DaefrConfig:
    # lite-128 with a wider, deeper residual head run at 64x64 on 4x the channels (space-to-depth):
    # 24 hidden channels, 3 hidden convs, 142 MMAC against the first head's 90 (receptive field
    # 22 px at 128 against 7). Everything else is lite-128's, so its checkpoints load with only
    # `fidelity.residual.*` fresh (`train --init-from`).
    base = _lite_128()
    return replace(base, name="lite-128-s2d",
                   fidelity=replace(base.fidelity, residual_hidden=24, residual_depth=3, residual_unshuffle=2))


def _lite_128_s2d_film() -> DaefrConfig:
    # lite-128-s2d whose residual head is told the fidelity weight (FiLM after each hidden conv,
    # 4 x 48 parameters, ~0.4 MMAC). Zero at start: a lite-128-s2d checkpoint loads with only the
    # FiLM tensors fresh and computes what it did (`train --init-from`).
    base = _lite_128_s2d()
    return replace(base, name="lite-128-s2d-film", fidelity=replace(base.fidelity, residual_film=True))


def _lite_128_s2d4() -> DaefrConfig:
    # lite-128 with its residual head at 32x32 on 16x the channels: a 1x1 projection of each 4x4
    # patch of cat(input, decoder features) to 64 channels, four 64->64 3x3 convs and a 3x3 conv to
    # 48 channels, pixel-shuffled back to 3 at 128 px. A receptive field of ~44 px at 128 against
    # the s2d head's 22: a `moderate` face's information lives at 32x32 (x4 down), and the s2d
    # head's larger field was what its gain over the first head came with.
    base = _lite_128()
    return replace(base, name="lite-128-s2d4",
                   fidelity=replace(base.fidelity, residual_hidden=64, residual_depth=4, residual_unshuffle=4,
                                    residual_in_kernel=1))


def _lite_128_s2d_two_scale() -> DaefrConfig:
    # lite-128-s2d (the shipped head, 64x64) plus a coarse head at 32x32: a 1x1 projection of each
    # 4x4 patch of cat(input, decoder features) to 24 channels, three 24->24 3x3 convs and a 3x3
    # conv to 48 channels (~36 px field at 128; 34 MMAC; 32 channels ran 2-4 % slower in tract,
    # BENCHMARKS.md). lite-128-s2d4 alone gained at `moderate`
    # and lost at `mild`; here the fine head stays, and a lite-128-s2d checkpoint loads whole with
    # the coarse head fresh (zero at its output): training starts from the shipped model exactly.
    base = _lite_128_s2d()
    return replace(base, name="lite-128-s2d-two-scale",
                   fidelity=replace(base.fidelity, coarse_hidden=24, coarse_depth=3, coarse_unshuffle=4))


def _lite_128_s2d4_fine() -> DaefrConfig:
    # lite-128-s2d4 plus a small fine head at 64x64 whose R adds to the quarter-side head's: a 1x1
    # projection of each 2x2 patch of cat(input, decoder features) to 6 channels, one 6->6 3x3 conv,
    # a 3x3 conv to 12 channels pixel-shuffled back to 3 (~10 px field; 5.8 MMAC, 2.299 GMAC in
    # all, inside the 2.3 budget). The quarter-side head gained at `moderate` and lost at `mild`,
    # its R made on 4x4-pixel cells; this head can make the 1-pixel corrections a nearly clean face
    # needs. It uses the second-head slot (`coarse_*`, which adds to the first head's R whatever
    # its scale), so a lite-128-s2d4 checkpoint loads whole with this head fresh, zero at its output.
    base = _lite_128_s2d4()
    return replace(base, name="lite-128-s2d4-fine",
                   fidelity=replace(base.fidelity, coarse_hidden=6, coarse_depth=1, coarse_unshuffle=2))


def _lite_128_two_branch() -> DaefrConfig:
    # Two residual heads trained fresh together, sized to fit the 2.3 GMAC budget: lite-128-s2d4's
    # quarter-side head slimmed to 56 channels (158 MMAC) for the wide-field corrections of a
    # `moderate` face, plus a fine head at 64x64 (a 1x1 projection of each 2x2 patch to 20
    # channels, two 20->20 3x3 convs, 3x3 to 12; ~14 px field, 45 MMAC) for the high-frequency ones
    # a nearly clean face needs (lite-128-s2d4's R carries less power than the shipped head's above
    # ~1/5 cycle per pixel on the faces of whole `mild` photos). 2.296 GMAC in all.
    base = _lite_128_s2d4()
    return replace(base, name="lite-128-two-branch",
                   fidelity=replace(base.fidelity, residual_hidden=56, coarse_hidden=20, coarse_depth=2,
                                    coarse_unshuffle=2))


def _lite_128_s2d4_input_head() -> DaefrConfig:
    # Ablation, not for shipping: lite-128-s2d4 whose residual head reads the input alone, not the
    # decoder's features. At w = 1 the output is then x + R(x), a small plain restorer that the face
    # prior does not reach; trained like lite-128-s2d4, the difference is what the prior adds there.
    base = _lite_128_s2d4()
    return replace(base, name="lite-128-s2d4-input-head",
                   fidelity=replace(base.fidelity, residual_reads_decoder=False))


def _tiny_32() -> DaefrConfig:
    # Test-only config: 32x32 input, 8x8 tokens, a few hundred thousand parameters.
    return DaefrConfig(
        name="tiny-32",
        vq=VQConfig(
            resolution=32,
            ch=16,
            ch_mult=(1, 1, 2),
            num_res_blocks_enc=1,
            num_res_blocks_dec=1,
            attn_resolutions=(8,),
            z_channels=32,
            n_embed=64,
            embed_dim=32,
            norm_groups=8,
        ),
        transformer=TransformerConfig(n_layers=2, d_model=64, n_heads=4, ffn_dim=128),
        fusion_heads=8,
        fidelity=FidelityConfig(resolutions=(16, 32), residual_hidden=8),
    )


def _tiny_32_s2d() -> DaefrConfig:
    # Test-only: tiny-32 with a space-to-depth residual head (lite-128-s2d's form), so that
    # `--init-from` across head forms is tested at test size.
    base = _tiny_32()
    return replace(base, name="tiny-32-s2d",
                   fidelity=replace(base.fidelity, residual_depth=2, residual_unshuffle=2))


def _tiny_32_s2d_film() -> DaefrConfig:
    # Test-only: tiny-32-s2d with the weight-conditioned head (lite-128-s2d-film's form).
    base = _tiny_32_s2d()
    return replace(base, name="tiny-32-s2d-film", fidelity=replace(base.fidelity, residual_film=True))


def _tiny_32_two_scale() -> DaefrConfig:
    # Test-only: tiny-32-s2d plus a coarse head (lite-128-s2d-two-scale's form).
    base = _tiny_32_s2d()
    return replace(base, name="tiny-32-two-scale",
                   fidelity=replace(base.fidelity, coarse_hidden=8, coarse_depth=1, coarse_unshuffle=4))


_BUILDERS = {
    "paper-512": _paper_512,
    "lite-128": _lite_128,
    "lite-128-s2d": _lite_128_s2d,
    "lite-128-s2d-film": _lite_128_s2d_film,
    "lite-128-s2d4": _lite_128_s2d4,
    "lite-128-s2d4-input-head": _lite_128_s2d4_input_head,
    "lite-128-s2d4-fine": _lite_128_s2d4_fine,
    "lite-128-two-branch": _lite_128_two_branch,
    "lite-128-s2d-two-scale": _lite_128_s2d_two_scale,
    "tiny-32": _tiny_32,
    "tiny-32-s2d": _tiny_32_s2d,
    "tiny-32-s2d-film": _tiny_32_s2d_film,
    "tiny-32-two-scale": _tiny_32_two_scale,
}

#: Names accepted by `get_config`.
CONFIG_NAMES = tuple(_BUILDERS)


def get_config(name: str) -> DaefrConfig:
    """Return the named config; raise KeyError listing the known names otherwise."""
    try:
        cfg = _BUILDERS[name]()
    except KeyError:
        raise KeyError(f"unknown config {name!r}; known: {', '.join(CONFIG_NAMES)}") from None
    cfg.vq.validate()
    levels = {cfg.vq.resolution // 2**i for i in range(cfg.vq.num_levels - 1)}
    bad = [r for r in cfg.fidelity.resolutions if r not in levels]
    if bad:
        raise ValueError(f"{name}: fidelity resolutions {bad} are not decoder levels above the latent {sorted(levels)}")
    return cfg
