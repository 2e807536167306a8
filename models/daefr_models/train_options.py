"""What a training run is told and what its stages share: the options (one field per command-line
flag of ``train``), the ablation variants, a stage's budget and the device/data environment.

Its own module so that ``train`` (the stage loop and the command line) and ``trainers`` (the
three trainers) both import it, and neither imports the other's internals.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

#: Ablation variants: which parts the restorer has and whether stage 2 runs.
VARIANTS = {
    "hq_only": dict(use_lq_encoder=False, use_fusion=False, association=False),  # (a)
    "no_assoc": dict(use_lq_encoder=True, use_fusion=False, association=False),  # (b)
    "concat": dict(use_lq_encoder=True, use_fusion=False, association=True),  # (c)
    "full": dict(use_lq_encoder=True, use_fusion=True, association=True),  # (d) = DAEFR
}
#: Share of ``--minutes`` each stage gets when ``--stage all`` runs on a time budget.
DEFAULT_SPLIT = (0.35, 0.10, 0.25, 0.30)
#: Values of ``--stage`` and ``--precision``.
STAGES = ("1", "2", "3", "4", "all")
#: Values of ``--stage4-parts``.
STAGE4_PARTS = ("fidelity", "residual", "coarse", "decoder", "encoder")
#: What the stage-4 discriminator may see (``TrainOptions.stage4_gan_input``).
STAGE4_GAN_INPUTS = ("rgb", "luma")
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class TrainOptions:
    """Everything a training run is told: one field per command-line flag (``--disc-weight`` is
    ``disc_weight``), with the command line's defaults. ``main`` parses argv into one of these;
    the stages, ``make_env`` and the trainers read only this. At least one of ``minutes`` and
    ``steps`` must be set."""

    #: Folder of face crops, or ``"synthetic"``.
    data: str | Path
    #: Run folder: ``stageK.pt`` checkpoints, ``metrics.json``, ``model.pt``.
    out: str | Path
    #: ``"1"`` .. ``"4"`` or ``"all"`` (stages 1-4; stage 2 only for variants with association).
    stage: str = "all"
    #: Model config name (``config.get_config``).
    config: str = "lite-128"
    #: Wall-time budget in minutes (of the whole ``stage="all"`` run, shared by ``split``, or of the one stage).
    minutes: float | None = None
    #: Step budget per stage.
    steps: int | None = None
    #: Shares of ``minutes`` for stages 1,2,3,4, comma-separated (None: ``DEFAULT_SPLIT``).
    split: str | None = None
    #: Batch size (None: 128 on CUDA, 16 on CPU).
    batch: int | None = None
    #: Learning rate of stages 1-3.
    lr: float = 2e-4
    #: GAN weight (paper 0.8); 0 disables the GAN.
    disc_weight: float = 0.8
    #: Fraction of the stage-1 budget before the GAN starts.
    gan_start: float = 0.5
    #: Weight of the stage-2 association (CLIP) loss.
    assoc_weight: float = 1.0
    #: Most tokens per batch in the association loss.
    assoc_tokens: int = 4096
    #: Weight of the stage-3 feature MSE.
    feat_weight: float = 10.0
    #: Stage-4 learning rate of the fidelity path.
    fidelity_lr: float = 1e-3
    #: Stage-4 learning rate of the HQ decoder (0: frozen, w = 0 stays the stage-3 output).
    stage4_decoder_lr: float = 1e-4
    #: What stage 4 trains: ``"fidelity"`` (the fusion blocks and the residual head, plus the HQ
    #: decoder at ``stage4_decoder_lr``), ``"residual"`` (the residual heads alone; everything
    #: else, the decoder included, stays as it came), ``"coarse"`` (the coarse residual head alone,
    #: for a config with one: `FidelityConfig.coarse_hidden`) or ``"decoder"`` (the HQ decoder alone at
    #: ``stage4_decoder_lr``: a GAN term then reaches the prior, not the path every weight shares).
    #: ``"encoder"``: as ``"fidelity"``, and the LQ encoder trains too (at ``stage4_encoder_lr``),
    #: CodeFormer's recipe: the skips the fusion blocks read become restoration features. The LQ
    #: encoder also feeds the code path, so ``stage4_code_weight`` x the KL divergence from the code
    #: distribution the encoder gave when the stage began holds the codes, and ``w = 0``, near
    #: where they were (softly; the decoder moves ``w = 0`` too unless ``stage4_decoder_lr`` is 0).
    stage4_parts: str = "fidelity"
    #: Stage-4 learning rate of the LQ encoder (``stage4_parts == "encoder"`` only).
    stage4_encoder_lr: float = 5e-5
    #: Stage-4 weight of the code-keeping KL divergence (``stage4_parts == "encoder"`` only).
    stage4_code_weight: float = 1.0
    #: Stage-4 weight of a hinge PatchGAN term on the output, per sample times ``1 - w`` and
    #: balanced by VQGAN's adaptive weight (0: no GAN, reconstruction losses only).
    stage4_gan_weight: float = 0.0
    #: What the stage-4 discriminator sees: ``"rgb"`` (the output as it is) or ``"luma"`` (its
    #: luma in every channel, ``losses.luma3``): its gradient on the output then has no chroma
    #: component. Measured: the decoder still tints the eyes as it sharpens them (models/README.md).
    stage4_gan_input: str = "rgb"
    #: Stage-4 weight of ``losses.chroma_loss`` (chroma L1 + chroma gradient L1) added to the
    #: reconstruction loss (0: none): against the colour fringes a GAN term makes the decoder draw.
    stage4_chroma_weight: float = 0.0
    #: The stage-4 GAN term also on the ``NEAR_CLEAN`` batches (False: those train on the
    #: reconstruction and chroma losses alone, so that a GAN-sharpened decoder may still leave a
    #: clean face as it came; ``models/runs/ganchroma``'s decoder cost the sharp portrait 2.3 dB,
    #: models/README.md).
    stage4_gan_near_clean: bool = True
    #: Weights for the first stage of a run whose folder holds no earlier checkpoint: a ``model.pt``
    #: or ``stageK.pt``. Its residual head may have another form (``lite-128`` into ``lite-128-s2d``):
    #: a head that does not fit starts fresh.
    init_from: str | Path | None = None
    #: Stage 2 keeps the HQ autoencoder (encoder, codebook, decoder: stage 3's teacher) fixed.
    stage2_freeze_hq: bool = True
    #: Ablation variant, a key of ``VARIANTS``.
    variant: str = "full"
    #: Seed of weights, batches and degradations.
    seed: int = 0
    #: Use only the first N images.
    limit: int | None = None
    #: Number of images when ``data == "synthetic"``.
    synthetic_count: int = 64
    #: Most validation images held out of ``data``.
    val_count: int = 64
    #: Train a finished stage further, up to the new (larger) budget: its checkpoint resumes with
    #: its optimiser and the schedule continues from where the new budget places it.
    extend: bool = False
    #: Seconds between validations (None: a quarter of the stage budget, at least 30 s).
    val_seconds: float | None = None
    #: Seconds between checkpoints.
    ckpt_seconds: float = 120.0
    #: torch CPU threads (None: the cores available).
    threads: int | None = None
    #: CPU precision, one of ``PRECISIONS``: auto = bf16 autocast where the CPU has avx512_bf16/amx_bf16.
    precision: str = "auto"
    #: Ignore CUDA.
    cpu: bool = False
    #: Augment the ground truth (similarity jitter, colour, gamma, white balance, grayscale;
    #: ``augment.Augmenter``) before it is degraded; off: horizontal flips only, as before.
    augment: bool = True
    #: Share of stage-3 and stage-4 batches degraded with ``degrade.NEAR_CLEAN`` (nearly clean faces).
    near_clean: float = 0.33
    #: Share of training samples given an occluder (``augment.occlude``: another face's texture or a
    #: woven grating over part of the crop), every stage; 0: none. Needs ``augment``.
    occlude: float = 0.0

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage {self.stage!r}: one of {', '.join(STAGES)}")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant {self.variant!r}: one of {', '.join(VARIANTS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}: one of {', '.join(PRECISIONS)}")
        if self.stage4_parts not in STAGE4_PARTS:
            raise ValueError(f"stage4_parts {self.stage4_parts!r}: one of {', '.join(STAGE4_PARTS)}")
        if self.stage4_parts == "decoder" and self.stage4_decoder_lr <= 0:
            raise ValueError("stage4_parts 'decoder' trains the HQ decoder alone: it needs stage4_decoder_lr > 0")
        if self.stage4_parts == "encoder" and self.stage4_encoder_lr <= 0:
            raise ValueError("stage4_parts 'encoder' trains the LQ encoder: it needs stage4_encoder_lr > 0")
        if self.stage4_parts == "encoder" and not VARIANTS[self.variant]["use_lq_encoder"]:
            raise ValueError(f"stage4_parts 'encoder' trains the LQ encoder: variant {self.variant!r} has none")
        if self.stage4_code_weight < 0:
            raise ValueError("stage4_code_weight must be >= 0")
        if self.stage4_gan_input not in STAGE4_GAN_INPUTS:
            raise ValueError(f"stage4_gan_input {self.stage4_gan_input!r}: one of {', '.join(STAGE4_GAN_INPUTS)}")
        if self.stage4_chroma_weight < 0:
            raise ValueError(f"stage4_chroma_weight {self.stage4_chroma_weight}: 0 (off) or a positive weight")
        if self.stage4_gan_weight < 0:
            raise ValueError(f"stage4_gan_weight {self.stage4_gan_weight}: 0 (off) or a positive weight")
        if not 0.0 <= self.near_clean <= 1.0:
            raise ValueError(f"near_clean {self.near_clean}: a share in [0, 1]")
        if not 0.0 <= self.occlude <= 1.0:
            raise ValueError(f"occlude {self.occlude}: a share in [0, 1]")
        if self.occlude > 0 and not self.augment:
            raise ValueError("occlude is part of the augmentation: it needs augment on (drop --no-augment)")
        if self.minutes is None and self.steps is None:
            raise ValueError("give minutes and/or steps (an unbounded run never stops)")
        if self.stage == "2" and not VARIANTS[self.variant]["association"]:
            raise ValueError(f"variant {self.variant!r} has no association stage: stage 2 has nothing to train")


@dataclass
class Budget:
    """Stop rule of one stage: whichever of ``steps`` / ``seconds`` comes first (None = unlimited)."""

    steps: int | None
    seconds: float | None

    def progress(self, step: int, elapsed: float) -> float:
        """Fraction of the budget used, in [0, 1]."""
        parts = []
        if self.steps:
            parts.append(step / self.steps)
        if self.seconds:
            parts.append(elapsed / self.seconds)
        return min(1.0, max(parts)) if parts else 0.0


@dataclass
class Env:
    """Device, precision and data shared by the stages."""

    device: torch.device
    train: torch.Tensor  # uint8 [N, 3, S, S] on device
    val: torch.Tensor  # uint8 [M, 3, S, S] on device
    batch: int
    amp: bool
    channels_last: bool
    log: list = field(default_factory=list)

    def autocast(self):
        """bf16 autocast on CUDA, and on CPUs with native bf16 (AVX512-BF16 or AMX); else fp32."""
        if self.amp:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def prep(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
