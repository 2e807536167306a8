"""The trainers of the four training stages, behind one interface (``Trainer``).

    AutoencoderTrainer  stages 1 and 2: both VQGAN autoencoders (+ discriminators; stage 2 adds the
                        association head and loss)
    RestorerTrainer     stage 3: encoders, fusion and transformer against a frozen teacher's codes
    FidelityTrainer     stage 4: the fidelity path and the HQ decoder at a low rate (``encoder``
                        parts: the LQ encoder too, its codes held by a KL term)

``train.run_stage`` (the stage loop: budgets, checkpoints, resuming) builds one with
``make_trainer`` and uses only what ``Trainer`` declares. What the trainers read is the
run's ``train.TrainOptions`` and ``train.Env`` (device, precision, validation crops); the helpers
only they use live here too: ``lr_at`` (the schedule), ``DegradationMix`` (a seeded choice of
degradation per batch), ``CodeRestarter`` (dead-code restarts) and ``validation_metrics``.
``train`` re-exports the trainers and ``validation_metrics`` under their old names.
"""

from __future__ import annotations

import copy
import math
from typing import Protocol

import torch
import torch.nn.functional as F

from . import degrade
from .arch import DAEFR, AssociationHead, association_loss, quantize_fp32
from .data import to_model_range
from .discriminator import PatchDiscriminator
from .evaluate import restorer_metrics
from .losses import (adaptive_gan_weight, chroma_loss, generator_adv_loss, hinge_d_loss, luma3, psnr,
                     reconstruction_loss, ssim)
from .train_options import Env, TrainOptions



class Trainer(Protocol):
    """What the stage loop needs of a stage's trainer."""

    #: The stage's main degradation: the loop saves and restores its parameter generator
    #: (the checkpoint's ``"degrader"``).
    degrader: degrade.Degrader
    #: The step at which the optimiser started fresh (0, or where ``--extend`` went on from a
    #: checkpoint shared without its optimiser): the learning-rate warm-up counts from there, so a
    #: fresh Adam does not take full-rate steps on trained weights.
    warmup_from: int

    def step(self, gt: torch.Tensor, step: int, progress: float) -> dict:
        """One optimisation step on a ground-truth batch ``gt`` (in [-1, 1], on the device) at
        ``progress`` (the used fraction of the budget); the logs, ``"loss"`` among them."""

    def validate(self) -> dict:
        """Metrics on the run's validation crops (``env.val``)."""

    def state(self) -> dict:
        """What the checkpoint's ``"trainer"`` holds (optimisers, generators, frozen copies)."""

    def load_state(self, st: dict, optim: bool) -> None:
        """Restore from ``state()``'s dict; ``optim`` False takes only the parts a new stage
        inherits (stage 2 from stage 1: discriminators, no optimiser)."""


def make_trainer(stage: int, model: DAEFR, env: Env, opts: TrainOptions) -> Trainer:
    """The trainer of ``stage`` (1-4) for ``model``, which it may partly freeze."""
    # every stage decides what trains from a clean slate: one run after another in the same
    # process (``--stage all``) must not inherit the freezing of the stage before it
    model.requires_grad_(True)
    if stage == 4:
        return FidelityTrainer(model, env, opts)
    if stage == 3:
        return RestorerTrainer(model, env, opts)
    return AutoencoderTrainer(model, env, opts, stage)


# ------------------------------------------------------------------------------------ helpers
class DegradationMix:
    """Degrades each batch with one of several recipes, chosen by a seeded draw per batch."""

    def __init__(self, parts: list[tuple[float, degrade.Degrader]], seed: int):
        total = sum(p for p, _ in parts)
        self.parts = [(p / total, d) for p, d in parts if p > 0]
        self.gen = torch.Generator().manual_seed(seed)
        #: The recipe that degraded the last batch (None before the first).
        self.last: degrade.Degrader | None = None

    def __call__(self, gt: torch.Tensor) -> torch.Tensor:
        u, acc = float(torch.rand(1, generator=self.gen)), 0.0
        self.last = self.parts[-1][1]
        for p, d in self.parts:
            acc += p
            if u < acc:
                self.last = d
                break
        return self.last(gt)

    def state(self) -> dict:
        """Generator states (the draw and each recipe's parameters) for a checkpoint."""
        return {"gen": self.gen.get_state(), "parts": [d.param_gen.get_state() for _, d in self.parts]}

    def set_state(self, st: dict) -> None:
        """Restore ``state()``."""
        self.gen.set_state(st["gen"])
        for (_, d), g in zip(self.parts, st["parts"]):
            d.param_gen.set_state(g)


class CodeRestarter:
    """Re-initialise codebook entries that no batch has used for ``patience`` steps.

    Dead codes are replaced by (slightly jittered) encoder outputs of the current batch, the standard
    fix for codebook collapse; after ``stop_at`` (fraction of the budget) the codebook is left alone.
    """

    def __init__(self, n_embed: int, device, patience: int = 50, stop_at: float = 0.8):
        self.last_used = torch.zeros(n_embed, dtype=torch.long, device=device)
        self.patience = patience
        self.stop_at = stop_at

    @torch.no_grad()
    def update(self, vq, feats: torch.Tensor, indices: torch.Tensor, step: int, progress: float) -> int:
        """Note the codes used by ``indices``; every 10th step before ``stop_at``, restart the dead ones; how many."""
        self.last_used[indices.flatten().unique()] = step
        if progress >= self.stop_at or step % 10:
            return 0
        dead = torch.nonzero(step - self.last_used > self.patience).flatten()
        if dead.numel() == 0:
            return 0
        pool = feats.detach().float().permute(0, 2, 3, 1).reshape(-1, feats.shape[1])
        pick = torch.randint(0, pool.shape[0], (dead.numel(),), device=pool.device)
        new = pool[pick] + 0.01 * pool.std() * torch.randn_like(pool[pick])
        vq.embedding.weight.data[dead] = new.to(vq.embedding.weight.dtype)
        self.last_used[dead] = step
        return int(dead.numel())


def lr_at(base: float, progress: float, step: int, warmup: int = 50) -> float:
    """Linear warm-up, then cosine decay to 10% over the budget."""
    w = min(1.0, (step + 1) / warmup)
    return base * w * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


# ----------------------------------------------------------------------------------- trainers
class AutoencoderTrainer:
    """Stages 1 and 2: both autoencoders (the LQ one when the variant has it) + discriminators."""

    def __init__(self, model: DAEFR, env: Env, opts: TrainOptions, stage: int):
        self.model, self.env, self.opts, self.stage = model, env, opts, stage
        self.warmup_from = 0
        self.aes = {"hq": model.hq} if model.lq is None else {"hq": model.hq, "lq": model.lq}
        dev = env.device
        disc_ch = 32 if model.cfg.vq.resolution <= 128 else 64
        self.discs = {k: PatchDiscriminator(ch=disc_ch).to(dev) for k in self.aes}
        self.assoc = AssociationHead().to(dev) if stage == 2 else None
        # Stage 2 aligns the LQ encoder with the HQ one; the HQ autoencoder need not move, and must
        # not: it is stage 3's teacher. Left free, the full-rate restart cost its reconstruction 1.8 dB
        # on the shared lite-128 run; with codebook and decoder fixed but the encoder free, 100 steps
        # cost the 180-identity head start 3.2 dB (the encoder drifts off the codes it was fitted to).
        self.frozen_hq = stage == 2 and opts.stage2_freeze_hq
        if self.frozen_hq:
            for p in model.hq.parameters():
                p.requires_grad_(False)
        params = [p for ae in self.aes.values() for p in ae.parameters() if p.requires_grad]
        # a frozen decoder has nothing for the GAN to train
        self.gan_keys = [k for k in self.aes if not (k == "hq" and self.frozen_hq)]
        if self.assoc is not None:
            params += list(self.assoc.parameters())
        self.opt = torch.optim.Adam(params, lr=opts.lr, betas=(0.5, 0.9))
        self.opt_d = torch.optim.Adam([p for d in self.discs.values() for p in d.parameters()],
                                      lr=opts.lr, betas=(0.5, 0.9))
        self.restart = {k: CodeRestarter(model.cfg.vq.n_embed, dev) for k in self.aes}
        self.degrader = degrade.Degrader(degrade.ranges_for_stage(stage), model.cfg.vq.resolution,
                                         seed=opts.seed + 100 * stage, resize_back="random")
        # GAN from the start of stage 2 if stage 1 got there (paper: disc_start 11 in stage 2)
        self.gan_start = opts.gan_start if stage == 1 else 0.0

    def state(self) -> dict:
        """Discriminators, both optimisers and the association head."""
        return {"discs": {k: d.state_dict() for k, d in self.discs.items()}, "opt": self.opt.state_dict(),
                "opt_d": self.opt_d.state_dict(),
                "assoc": self.assoc.state_dict() if self.assoc is not None else None}

    def load_state(self, st: dict, optim: bool) -> None:
        """Discriminators always (stage 2 starts from stage 1's); optimisers and association head with ``optim``."""
        for k, d in self.discs.items():
            if st.get("discs") and k in st["discs"]:
                d.load_state_dict(st["discs"][k])
        if optim:
            self.opt.load_state_dict(st["opt"])
            self.opt_d.load_state_dict(st["opt_d"])
            if self.assoc is not None and st.get("assoc"):
                self.assoc.load_state_dict(st["assoc"])

    def step(self, gt: torch.Tensor, step: int, progress: float) -> dict:
        """Both autoencoders' reconstruction + VQ (+ GAN after ``gan_start``, + association in stage 2),
        then the discriminators."""
        env = self.env
        for g in self.opt.param_groups + self.opt_d.param_groups:
            g["lr"] = lr_at(self.opts.lr, progress, step - self.warmup_from)
        with torch.no_grad():
            lq = self.degrader(gt)
        targets = {"hq": env.prep(gt), "lq": env.prep(lq)}
        use_gan = progress >= self.gan_start and self.opts.disc_weight > 0 and bool(self.gan_keys)
        total, logs, recons, feats = 0.0, {}, {}, {}
        with env.autocast():
            for k, ae in self.aes.items():
                x = targets[k]
                h = ae.encode(x)
                z_q, vq_loss, idx = quantize_fp32(ae, h)
                recon = ae.decode(z_q)
                rec, parts = reconstruction_loss(recon, x)
                loss = rec + vq_loss
                if use_gan and k in self.gan_keys:
                    g_loss = generator_adv_loss(self.discs[k](recon))
                    last = ae.decoder.conv_out.weight
                    w = adaptive_gan_weight(rec, g_loss, last) if torch.is_grad_enabled() else 1.0
                    loss = loss + self.opts.disc_weight * w * g_loss
                    logs[f"{k}_g"] = float(g_loss.detach())
                total = total + loss
                recons[k], feats[k] = recon, h
                logs[f"{k}_l1"] = float(parts["l1"])
                logs[f"{k}_vq"] = float(vq_loss.detach())
                if not (k == "hq" and self.frozen_hq):
                    self.restart[k].update(ae.quantize, h, idx, step, progress)
            if self.assoc is not None:
                fh, fl = feats["hq"], feats["lq"]
                n = fh.shape[0] * fh.shape[2] * fh.shape[3]
                tok_h = fh.float().permute(1, 0, 2, 3).reshape(1, fh.shape[1], 1, n)
                tok_l = fl.float().permute(1, 0, 2, 3).reshape(1, fl.shape[1], 1, n)
                if n > self.opts.assoc_tokens:
                    pick = torch.randperm(n, device=fh.device)[: self.opts.assoc_tokens]
                    tok_h, tok_l = tok_h[..., pick], tok_l[..., pick]
                clip = association_loss(tok_h, tok_l, self.assoc.logit_scale)
                total = total + self.opts.assoc_weight * clip
                logs["clip"] = float(clip.detach())
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        if use_gan:
            with env.autocast():
                d_loss = sum(hinge_d_loss(self.discs[k](targets[k]), self.discs[k](recons[k].detach()))
                             for k in self.gan_keys)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            logs["d"] = float(d_loss.detach())
        logs["loss"] = float(total.detach())
        return logs

    @torch.no_grad()
    def validate(self) -> dict:
        """HQ/LQ reconstruction PSNR (HQ SSIM), token association accuracy and HQ codes used, on ``env.val``."""
        env = self.env
        out = {}
        for m in self.aes.values():
            m.eval()
        deg = degrade.Degrader(degrade.ranges_for_stage(self.stage), self.model.cfg.vq.resolution, seed=1234)
        metrics = {k: [] for k in ("hq_psnr", "hq_ssim", "lq_psnr", "assoc_acc")}
        used = set()
        for i in range(0, len(env.val), env.batch):
            gt = to_model_range(env.val[i : i + env.batch])
            lq = deg(gt)
            with env.autocast():
                for k, ae in self.aes.items():
                    x = gt if k == "hq" else lq
                    h = ae.encode(env.prep(x))
                    z_q, _, idx = quantize_fp32(ae, h)
                    rec = ae.decode(z_q).float().clamp(-1, 1)
                    if k == "hq":
                        used.update(idx.flatten().tolist())
                        metrics["hq_psnr"] += psnr((rec + 1) / 2, (x + 1) / 2).tolist()
                        metrics["hq_ssim"] += ssim((rec + 1) / 2, (x + 1) / 2).tolist()
                        fh = h
                    else:
                        metrics["lq_psnr"] += psnr((rec + 1) / 2, (x + 1) / 2).tolist()
                        fl = h
            if self.model.lq is not None:
                # token retrieval: does each HQ token's most similar LQ token (same batch) sit at the same place?
                th = F.normalize(fh.float().flatten(2).transpose(1, 2).reshape(-1, fh.shape[1]), dim=1)
                tl = F.normalize(fl.float().flatten(2).transpose(1, 2).reshape(-1, fl.shape[1]), dim=1)
                hit = (th @ tl.t()).argmax(1) == torch.arange(th.shape[0], device=th.device)
                metrics["assoc_acc"] += hit.float().tolist()
        for m in self.aes.values():
            m.train()
        out = {k: sum(v) / len(v) for k, v in metrics.items() if v}
        out["hq_codes_used"] = len(used)
        return out


class RestorerTrainer:
    """Stage 3: encoders + fusion + transformer; HQ codebook/decoder frozen; teacher gives targets."""

    def __init__(self, model: DAEFR, env: Env, opts: TrainOptions):
        self.model, self.env, self.opts = model, env, opts
        self.warmup_from = 0
        self.teacher = copy.deepcopy(model.hq).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        frozen = [model.hq.quantize, model.hq.post_quant_conv, model.hq.decoder]
        if model.lq is not None:
            frozen += [model.lq.quantize, model.lq.post_quant_conv, model.lq.decoder]
        for m in frozen:
            for p in m.parameters():
                p.requires_grad_(False)
        trainable = [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(trainable, lr=opts.lr, betas=(0.9, 0.99), weight_decay=0.01)
        size = model.cfg.vq.resolution
        self.degrader = degrade.Degrader(degrade.ranges_for_stage(3), size, seed=opts.seed + 300,
                                         resize_back="random")
        self.mix = DegradationMix([
            (1 - opts.near_clean, self.degrader),
            (opts.near_clean, degrade.Degrader(degrade.NEAR_CLEAN, size, seed=opts.seed + 310, resize_back="random")),
        ], seed=opts.seed + 320)
        self.hw = (model.cfg.vq.latent_size, model.cfg.vq.latent_size)

    def state(self) -> dict:
        """Optimiser, the frozen teacher and the degradation mix."""
        return {"opt": self.opt.state_dict(), "teacher": self.teacher.state_dict(), "mix": self.mix.state()}

    def load_state(self, st: dict, optim: bool) -> None:
        """The teacher always; optimiser and mix with ``optim``. A checkpoint without its teacher
        (trainer state stripped) is refused: the teacher built here came from the weights before
        the checkpoint's loaded, and the stage-2 HQ encoder it must be is not in the model."""
        if not st.get("teacher"):
            raise ValueError("this stage-3 checkpoint holds no teacher (trainer.teacher, the frozen stage-2 HQ "
                             "autoencoder): it cannot be trained further; start stage 3 from its stage2.pt")
        self.teacher.load_state_dict(st["teacher"])
        if optim:
            self.opt.load_state_dict(st["opt"])
            if st.get("mix"):
                self.mix.set_state(st["mix"])

    @torch.no_grad()
    def targets(self, gt: torch.Tensor):
        """Code indices and quantised features of ``gt`` under the frozen teacher (the targets)."""
        with self.env.autocast():
            h = self.teacher.encode(gt)
        z_q, _, idx = quantize_fp32(self.teacher, h)
        return idx, z_q.float()

    def step(self, gt: torch.Tensor, step: int, progress: float) -> dict:
        """Cross-entropy on the teacher's code indices + ``feat_weight`` x MSE of the fused feature."""
        env = self.env
        for g in self.opt.param_groups:
            g["lr"] = lr_at(self.opts.lr, progress, step - self.warmup_from)
        with torch.no_grad():
            lq = env.prep(self.mix(gt))
        idx, z_gt = self.targets(env.prep(gt))
        with env.autocast():
            logits, fused = self.model(lq)
            ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), idx.reshape(-1))
            mse = F.mse_loss(fused.float(), z_gt)
            loss = ce + self.opts.feat_weight * mse
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]], 1.0)
        self.opt.step()
        acc = (logits.argmax(-1) == idx).float().mean()
        return {"loss": float(loss.detach()), "ce": float(ce.detach()), "mse": float(mse.detach()), "acc": float(acc)}

    @torch.no_grad()
    def validate(self) -> dict:
        """``validation_metrics`` of the code path, with code-index accuracy against the teacher."""
        return validation_metrics(self.model, self.env, teacher=self.teacher)


class FidelityTrainer:
    """Stage 4: the fidelity path at ``--fidelity-lr`` and the HQ decoder at the low
    ``--stage4-decoder-lr`` (0 freezes it); encoders, codebooks, fusion and transformer stay frozen,
    so the code indices are the stage-3 restorer's (with the decoder frozen, ``w = 0`` is the
    stage-3 output bit for bit). ``--stage4-parts encoder`` trains the LQ encoder too (at
    ``--stage4-encoder-lr``; CodeFormer's stage 3 trains its encoder with the fidelity path): its
    skips are what the fusion blocks read, and a KL divergence (``--stage4-code-weight``) from the
    code distribution of the encoder as the stage began holds the code path near where it was (softly:
    ``w = 0`` moves a little with the codes, and with the decoder unless ``--stage4-decoder-lr 0``).

    Per step: a batch gets the paper's stage-3 degradation, the milder stage-1/2 one, or (a share
    ``--near-clean``) ``degrade.NEAR_CLEAN``, so that mild and almost clean faces are seen too and
    the path learns to leave them alone (``--stage4-parts residual``: only the residual heads train,
    the fusion blocks and the decoder stay as they came; ``coarse``: only the coarse residual head,
    the first one stays too; ``decoder``: only the HQ decoder trains); ``w ~ U(0, 1)`` per sample, and the loss is L1 + (1 - SSIM) +
    gradient L1 of ``(1 - w) * prior + w * (x + R)`` against the ground truth. The code losses of
    stage 3 are constant here (nothing they depend on trains; with ``encoder`` parts the KL term
    stands in for them) and are not computed.

    With ``--stage4-gan-weight`` > 0 a hinge PatchGAN judges the output too. Its generator term is
    weighted per sample by ``1 - w`` (the weight's detail end is ``w = 0``; ``w = 1`` stays
    reconstruction only), balanced by VQGAN's adaptive weight on the last layer that trains (the HQ
    decoder's ``conv_out``, else the residual head's), and scaled by the option. With
    ``--stage4-gan-input luma`` the discriminator sees real and restored faces as luma only;
    ``--stage4-chroma-weight`` adds ``losses.chroma_loss`` to the reconstruction loss. With
    ``--no-stage4-gan-near-clean`` the ``NEAR_CLEAN`` batches skip the GAN term (generator and
    discriminator alike) and train on the reconstruction (and chroma) loss alone.
    """

    def __init__(self, model: DAEFR, env: Env, opts: TrainOptions):
        self.model, self.env, self.opts = model, env, opts
        self.warmup_from = 0
        for p in model.parameters():
            p.requires_grad_(False)
        if opts.stage4_parts == "coarse" and model.fidelity.residual_coarse is None:
            raise ValueError(f"--stage4-parts coarse: config {model.cfg.name} has no coarse residual head")
        parts = {"residual": model.fidelity.residual_heads(), "coarse": model.fidelity.residual_coarse,
                 "fidelity": model.fidelity, "decoder": model.hq.decoder, "encoder": model.fidelity}[opts.stage4_parts]
        for p in parts.parameters():
            p.requires_grad_(True)
        lr = opts.stage4_decoder_lr if opts.stage4_parts == "decoder" else opts.fidelity_lr
        groups = [{"params": list(parts.parameters()), "base_lr": lr}]
        self.lq_ref = None
        if opts.stage4_parts == "encoder":
            if model.lq is None:
                raise ValueError("--stage4-parts encoder needs the LQ encoder (variant without it)")
            # the LQ encoder as the stage began: its code indices are what w = 0 must keep
            self.lq_ref = copy.deepcopy(model.lq.encoder).eval()
            for p in self.lq_ref.parameters():
                p.requires_grad_(False)
            for p in model.lq.encoder.parameters():
                p.requires_grad_(True)
            groups.append({"params": list(model.lq.encoder.parameters()), "base_lr": opts.stage4_encoder_lr})
        if opts.stage4_decoder_lr > 0 and opts.stage4_parts in ("fidelity", "encoder"):
            # the HQ decoder follows at a low rate: it turns the fused features into pixels
            for p in model.hq.decoder.parameters():
                p.requires_grad_(True)
            groups.append({"params": list(model.hq.decoder.parameters()), "base_lr": opts.stage4_decoder_lr})
        self.trainable = [p for g in groups for p in g["params"]]
        self.opt = torch.optim.AdamW(groups, lr=opts.fidelity_lr, betas=(0.9, 0.99), weight_decay=0.0)
        size = model.cfg.vq.resolution
        self.degrader = degrade.Degrader(degrade.ranges_for_stage(3), size, seed=opts.seed + 400, resize_back="random")
        self.mild = degrade.Degrader(degrade.ranges_for_stage(1), size, seed=opts.seed + 410, resize_back="random")
        rest = (1 - opts.near_clean) / 2
        self.near_clean = degrade.Degrader(degrade.NEAR_CLEAN, size, seed=opts.seed + 430, resize_back="random")
        self.mix = DegradationMix([(rest, self.degrader), (rest, self.mild), (opts.near_clean, self.near_clean)],
                                  seed=opts.seed + 440)
        self.w_gen = torch.Generator().manual_seed(opts.seed + 420)
        self.hw = (model.cfg.vq.latent_size, model.cfg.vq.latent_size)
        self.disc = self.opt_d = None
        if opts.stage4_gan_weight > 0:
            # the last layer that trains: read off the parts set above, not decided a second time
            decoder_out = model.hq.decoder.conv_out.weight
            heads = [h.conv_out.weight for h in model.fidelity.residual_heads() if h.conv_out.weight.requires_grad]
            self.last_layer = decoder_out if decoder_out.requires_grad else heads[0]
            self.disc = PatchDiscriminator(ch=32 if size <= 128 else 64).to(env.device)
            self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=opts.lr, betas=(0.5, 0.9))
        self.disc_view = luma3 if opts.stage4_gan_input == "luma" else (lambda img: img)

    def state(self) -> dict:
        """Optimiser, degradation mix, the generator of ``w``, what trains (``parts``), (with the GAN)
        the discriminator and (``encoder`` parts) the reference LQ encoder ``lq_ref``."""
        st = {"opt": self.opt.state_dict(), "mix": self.mix.state(), "w_gen": self.w_gen.get_state(),
              "parts": self.opts.stage4_parts}
        if self.lq_ref is not None:  # the codes to keep are those of the encoder the stage began with
            st["lq_ref"] = self.lq_ref.state_dict()
        if self.disc is not None:
            st.update(disc=self.disc.state_dict(), opt_d=self.opt_d.state_dict())
        return st

    def load_state(self, st: dict, optim: bool) -> None:
        """Everything of ``state()`` with ``optim`` (stage 4 inherits nothing from stage 3's trainer);
        a checkpoint without a discriminator leaves the fresh one. The reference LQ encoder of
        ``--stage4-parts encoder`` comes back from ``st`` (a resumed run keeps the codes it began
        with); a checkpoint without one (shared without its trainer state) makes the model's LQ
        encoder as loaded the reference, the nearest to it that is left. Resuming with other parts
        than the checkpoint's is an error (the optimiser's groups differ). The learning rates are this
        run's options, not the checkpoint's: Adam's moments and the schedule's position come back."""
        saved = st.get("parts")
        if optim and saved is not None and saved != self.opts.stage4_parts:
            raise ValueError(f"stage 4 checkpoint trained --stage4-parts {saved}; this run says "
                             f"{self.opts.stage4_parts}: start a new run folder (--init-from) to change it")
        if self.lq_ref is not None:
            if st.get("lq_ref"):
                self.lq_ref.load_state_dict(st["lq_ref"])
            else:
                self.lq_ref.load_state_dict(self.model.lq.encoder.state_dict())
        if optim:
            # this run's rates, not the checkpoint's: a rate given on the command line of a resumed
            # run applies (the optimiser's state would otherwise bring the old one back unseen)
            rates = [g["base_lr"] for g in self.opt.param_groups]
            try:
                self.opt.load_state_dict(st["opt"])
            except ValueError as exc:  # the groups differ: a decoder rate switched between 0 and not
                raise ValueError(f"stage 4 checkpoint's optimiser does not fit this run's trained parts ({exc}); "
                                 "resume with --stage4-decoder-lr 0 or above 0 as the run began, or start a "
                                 "new run folder (--init-from) to change it") from exc
            for g, rate in zip(self.opt.param_groups, rates):
                g["base_lr"] = rate
            if st.get("mix"):
                self.mix.set_state(st["mix"])
            self.w_gen.set_state(st["w_gen"])
            if self.disc is not None and st.get("disc"):
                self.disc.load_state_dict(st["disc"])
                self.opt_d.load_state_dict(st["opt_d"])
                for g in self.opt_d.param_groups:
                    g["lr"] = self.opts.lr

    def step(self, gt: torch.Tensor, step: int, progress: float) -> dict:
        """L1 + (1 - SSIM) + gradient L1 of the fidelity output at ``w ~ U(0, 1)`` per sample."""
        env, model = self.env, self.model
        for g in self.opt.param_groups:
            g["lr"] = lr_at(g["base_lr"], progress, step - self.warmup_from)
        with torch.no_grad():
            lq = env.prep(self.mix(gt))
            w = torch.rand(gt.shape[0], 1, 1, 1, generator=self.w_gen).to(env.device)
        code_kl, code_logs = None, {}
        if self.lq_ref is None:
            with torch.no_grad(), env.autocast():
                logits, fused, skips = model.code_path(lq)
            indices = logits.float().argmax(-1)
        else:
            indices, skips, code_kl, code_logs = self._encoder_code_path(lq)
        if self.opts.stage4_parts in ("residual", "coarse"):
            with torch.no_grad(), env.autocast():
                # nothing before the head trains: its inputs carry no graph
                prior, feat = model.decode_prior(indices, self.hw, skips, w)
            with env.autocast():
                out = model.fidelity.blend(prior, feat, lq, w)
        else:
            with env.autocast():
                out = model.decode_with_fidelity(indices, self.hw, skips, lq, w)
        loss, parts = reconstruction_loss(out, gt)
        logs = {k: float(v) for k, v in parts.items()}
        if code_kl is not None:
            loss = loss + self.opts.stage4_code_weight * code_kl
            logs.update(code_logs)
        if self.opts.stage4_chroma_weight > 0:
            c = chroma_loss(out, gt)
            loss = loss + self.opts.stage4_chroma_weight * c
            logs["chroma"] = float(c.detach())
        total = loss
        # a nearly clean batch may train on reconstruction alone: the face to leave as it came
        gan = self.disc is not None and (self.opts.stage4_gan_near_clean or self.mix.last is not self.near_clean)
        if gan:
            self.disc.requires_grad_(False)  # the generator's pass leaves the discriminator's weights alone
            with env.autocast():
                realism = self.disc(self.disc_view(out)).float().mean(dim=(1, 2, 3))
            # the detail end of the weight is w = 0: w = 1 outputs stay reconstruction only
            g_loss = -(realism * (1.0 - w.flatten())).mean()
            balance = adaptive_gan_weight(loss, g_loss, self.last_layer)
            total = loss + self.opts.stage4_gan_weight * balance * g_loss
            logs.update(g=float(g_loss.detach()), g_balance=float(balance))
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.trainable, 1.0)
        self.opt.step()
        if gan:
            self.disc.requires_grad_(True)
            with env.autocast():
                d_loss = hinge_d_loss(self.disc(self.disc_view(env.prep(gt))), self.disc(self.disc_view(out.detach())))
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            logs["d"] = float(d_loss.detach())
        return {"loss": float(total.detach()), **logs}

    def _encoder_code_path(self, lq: torch.Tensor):
        """``--stage4-parts encoder``: the code path with the training LQ encoder (its gradient flows
        back through the frozen fusion and transformer) and the KL divergence from the code
        distribution that the encoder as the stage began gives (``lq.quant_conv`` is frozen, so
        only the encoder needs a reference copy). Returns (indices, skips, kl, logs)."""
        env, model = self.env, self.model
        with torch.no_grad(), env.autocast():
            feat_hq = model.hq.encode(lq)
            ref = model.transformer(model.fusion(feat_hq, model.lq.quant_conv(self.lq_ref(lq))))
        ref = ref.float()
        target = ref.argmax(-1)
        with env.autocast():
            feat_lq, skips = model.lq.encode_with_skips(lq)
            logits = model.transformer(model.fusion(feat_hq, feat_lq))
        # KL to the reference distribution, not cross-entropy on its argmax: it is 0 where the stage
        # begins, so it only resists drift (cross-entropy would push the codes to grow confident)
        n = logits.shape[-1]
        kl = F.kl_div(F.log_softmax(logits.float().reshape(-1, n), -1), F.log_softmax(ref.reshape(-1, n), -1),
                      reduction="batchmean", log_target=True)
        indices = logits.detach().float().argmax(-1)
        agree = (indices == target).float().mean()
        return indices, skips, kl, {"code_kl": float(kl.detach()), "code_agree": float(agree)}

    @torch.no_grad()
    def validate(self) -> dict:
        """``validation_metrics`` at w = 0, 0.5 and 1."""
        return validation_metrics(self.model, self.env, weights=(0.0, 0.5, 1.0))


def validation_metrics(model: DAEFR, env: Env, level: str = "moderate", seed: int = 1234, teacher=None,
                       weights=(None,)) -> dict:
    """``evaluate.restorer_metrics`` on ``env.val`` in ``env``'s batches, precision and memory format:
    ``input_psnr``/``input_ssim``, then ``psnr``/``ssim``/``code_acc`` (stage 3, against ``teacher``)
    or ``w{w:g}_psnr``/``w{w:g}_ssim`` per fidelity weight (stage 4, ``choose_fidelity``)."""
    return restorer_metrics(model, env.val, level, seed, teacher=teacher, weights=weights, chunk=env.batch,
                            autocast=env.autocast, prep=env.prep)
