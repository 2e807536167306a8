"""Train a DAEFR restorer in the paper's three stages.

    python -m daefr_models.train --stage 1|2|3|4|all --config lite-128 --data DIR --out models/runs/NAME \
        [--minutes M] [--steps N] [--batch B] [--variant full|hq_only|no_assoc|concat]

Stage 1 - codebooks: the HQ autoencoder reconstructs ground-truth faces, the LQ autoencoder
reconstructs degraded faces (paper stage-1/2 degradation). Loss per autoencoder: L1 + (1 - SSIM) +
gradient L1 + codebook/commitment, and after a warm-up a hinge PatchGAN term balanced by VQGAN's
adaptive weight (x0.8 as in the paper). Codes unused for a while are restarted on encoder outputs
(short runs otherwise end with a handful of live codes).
Stage 2 - association: as stage 1, plus the CLIP-style loss between the HQ encoder's tokens of the
ground truth and the LQ encoder's tokens of its degraded copy (a random subset of at most
``--assoc-tokens`` tokens per batch keeps the B*h*w x B*h*w logit matrix in memory on large batches).
The HQ autoencoder, stage 3's teacher, stays fixed (``--no-stage2-freeze-hq`` lets it move, as before).
Stage 3 - restorer: both encoders read the degraded image (paper stage-3 degradation), the fusion
block and the transformer predict HQ code indices. Loss: cross-entropy against the code indices of
the ground truth (from a frozen copy of the stage-2 HQ encoder + codebook) + 10 x MSE between the
fused feature and the quantised ground-truth feature. HQ codebook and decoder are frozen.
Stage 4 - fidelity path: the fusion blocks and the residual head train, the HQ decoder at a low rate
(``trainers.FidelityTrainer``); ``w ~ U(0, 1)`` per sample, loss L1 + (1 - SSIM) + gradient L1 on the output.
``--stage4-parts encoder`` trains the LQ encoder too, a KL term holding its code distribution.

Each stage writes ``OUT/stageK.pt`` (resumable: it is rewritten every ``--ckpt-seconds``; a rerun
resumes a stage that is not done and skips one that is) and stage 3 finally writes ``OUT/model.pt``
= ``{"config", "model" (DAEFR state_dict), "use_lq_encoder", "use_fusion", "metrics"}``, the input
of ``daefr_models.export`` (stage 4 rewrites it with the trained fidelity path). ``OUT/metrics.json``
collects per-stage wall time, images/s and the validation metrics. Runs on CUDA when present (bf16
autocast, channels_last, TF32, data and degradation on the GPU), else on CPU: bf16 autocast where
the CPU has AVX512-BF16 or AMX (``--precision``), channels_last off (it halves CPU speed through
GroupNorm), ``--threads`` defaulting to the cores available, batch 16.

The flags become one frozen ``TrainOptions`` (a field per flag, same defaults) that is all the
stages and trainers read; from Python, ``run(TrainOptions(data=..., out=..., steps=...))``.
This module holds the options, the device set-up (``make_env``), budgets, checkpoints, the stage
loop (``run_stage``) and the command line; each stage's trainer (its optimisers, degradations and
losses, behind the ``trainers.Trainer`` interface) is in ``trainers.py``. Validation of stages 3
and 4 is ``evaluate.evaluate`` (through ``trainers.validation_metrics``), the same code as the
evaluation command line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .augment import AugmentRanges, Augmenter
from .arch import DAEFR
from .config import get_config
from .data import load_folder, synthetic_faces, to_model_range
# The trainers live in trainers.py; their names stay importable from here (train.FidelityTrainer,
# train.validation_metrics, ...).
from .trainers import AutoencoderTrainer, FidelityTrainer, RestorerTrainer, make_trainer, validation_metrics  # noqa: F401

# Options, variants, budgets and the environment live in train_options.py (trainers.py uses them
# too); their names stay importable from here.
from .train_options import (  # noqa: F401
    DEFAULT_SPLIT,
    PRECISIONS,
    STAGE4_GAN_INPUTS,
    STAGE4_PARTS,
    STAGES,
    VARIANTS,
    Budget,
    Env,
    TrainOptions,
)


def log(msg: str) -> None:
    """Print above the progress bar."""
    tqdm.write(msg)
    sys.stdout.flush()


# ----------------------------------------------------------------------------------------- setup
def build_model(cfg_name: str, variant: str) -> DAEFR:
    v = VARIANTS[variant]
    return DAEFR(get_config(cfg_name), use_lq_encoder=v["use_lq_encoder"], use_fusion=v["use_fusion"])


def cpu_has_bf16() -> bool:
    """True when /proc/cpuinfo lists avx512_bf16 or amx_bf16 (bf16 autocast is then ~1.6x fp32)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def make_env(opts: TrainOptions) -> Env:
    cuda = torch.cuda.is_available() and not opts.cpu
    device = torch.device("cuda" if cuda else "cpu")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        amp = True
    else:
        torch.set_num_threads(opts.threads or available_cores())
        amp = {"auto": cpu_has_bf16(), "bf16": True, "fp32": False}[opts.precision]
    size = get_config(opts.config).vq.resolution
    t0 = time.time()
    if opts.data == "synthetic":
        images = synthetic_faces(opts.synthetic_count, size, seed=opts.seed)
    else:
        images = load_folder(opts.data, size, limit=opts.limit)
    n_val = min(opts.val_count, max(1, len(images) // 10))
    # every k-th image is held out for validation (spread over identities)
    k = max(2, len(images) // n_val)
    val_mask = torch.zeros(len(images), dtype=torch.bool)
    val_mask[::k] = True
    val_mask[torch.nonzero(val_mask)[n_val:]] = False
    train, val = images[~val_mask], images[val_mask]
    log(f"data: {len(train)} train + {len(val)} val images at {size}px from {opts.data} "
        f"({time.time() - t0:.1f}s); device {device}")
    batch = opts.batch or (128 if cuda else 16)
    log(f"precision: {'bf16 autocast' if amp else 'fp32'}, batch {batch}"
        + ("" if cuda else f", {torch.get_num_threads()} torch threads"))
    # channels_last only on CUDA: on CPU it halves speed (GroupNorm).
    return Env(device, train.to(device), val.to(device), batch, amp=amp, channels_last=cuda)


def sample_batch(env: Env, gen: torch.Generator, augmenter: Augmenter | None = None) -> torch.Tensor:
    """A random training batch in [-1, 1]: augmented by ``augmenter`` when given, else randomly
    flipped only."""
    idx = torch.randint(0, len(env.train), (env.batch,), generator=gen).to(env.device)
    x = to_model_range(env.train.index_select(0, idx))
    if augmenter is not None:
        return augmenter(x)
    flip = (torch.rand(env.batch, generator=gen) < 0.5).to(env.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


# --------------------------------------------------------------------------------- checkpoints
def ckpt_path(out: Path, stage: int) -> Path:
    return out / f"stage{stage}.pt"


def save(path: Path, payload: dict) -> None:
    """Write `payload` to `path` atomically: a hidden temporary file beside it, renamed over it; the
    temporary file never stays behind, whatever fails."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load(path: Path) -> dict | None:
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def init_weights(model: DAEFR, path: Path, stage: int) -> None:
    """``--init-from``: load a ``model.pt``/``stageK.pt`` into ``model``; a residual head of another
    form starts fresh (said in the log)."""
    payload = load(path)
    if payload is None:
        raise FileNotFoundError(f"--init-from {path}: no such checkpoint")
    state = payload.get("model")
    if not isinstance(state, dict):
        raise ValueError(f"--init-from {path}: not a training checkpoint (no 'model' state dict)")
    fresh = model.load_with_fresh_head(state)
    note = f"; {len(fresh)} residual-head tensors start fresh" if fresh else ""
    if payload.get("config") not in (None, model.cfg.name):
        note += f"; NOTE: it is config {payload['config']}, this run is {model.cfg.name}"
    log(f"stage {stage}: weights from {path} (config {payload.get('config', '?')}){note}")


# -------------------------------------------------------------------------------- stage driver
def run_stage(stage: int, model: DAEFR, env: Env, opts: TrainOptions, budget: Budget, out: Path) -> dict:
    """Train one stage to its budget (resuming if a partial checkpoint exists); return its metrics."""
    path = ckpt_path(out, stage)
    prev = load(path)
    if prev is not None and prev.get("done"):
        if opts.extend and budget.progress(prev["step"], prev["elapsed"]) < 1.0:
            log(f"stage {stage}: done at step {prev['step']} ({prev['elapsed']:.0f}s); --extend trains it further")
        else:
            model.load_state_dict(prev["model"])
            why = " (--extend: the budget is already spent)" if opts.extend else ""
            log(f"stage {stage}: already done ({path}), skipping{why}")
            return prev.get("metrics", {})
    if prev is None and stage > 1:
        src = next((load(ckpt_path(out, s)) for s in range(stage - 1, 0, -1) if ckpt_path(out, s).exists()), None)
        if src is not None:
            model.load_state_dict(src["model"])
        elif opts.init_from is not None:
            init_weights(model, Path(opts.init_from), stage)
        else:
            raise FileNotFoundError(f"stage {stage} needs the checkpoint of an earlier stage in {out}, or --init-from")
    model.to(env.device)
    if env.channels_last:
        model.to(memory_format=torch.channels_last)
    model.train()
    trainer = make_trainer(stage, model, env, opts)
    if stage == 2 and prev is None:
        st1 = load(ckpt_path(out, 1))
        if st1 is not None:
            trainer.load_state(st1.get("trainer", {}), optim=False)
    step, elapsed, images = 0, 0.0, 0
    gen = torch.Generator().manual_seed(opts.seed + stage)
    augmenter = Augmenter(seed=opts.seed + 500 + stage, ranges=AugmentRanges(occlude_prob=opts.occlude)) \
        if opts.augment else None
    if prev is not None:
        model.load_state_dict(prev["model"])
        step, elapsed, images = prev["step"], prev["elapsed"], prev["images"]
        if prev.get("trainer") and "gen" in prev:
            trainer.load_state(prev["trainer"], optim=True)
            gen.set_state(prev["gen"])
            if "degrader" in prev:
                trainer.degrader.param_gen.set_state(prev["degrader"])
            if augmenter is not None and prev.get("augmenter") is not None:
                augmenter.set_state(prev["augmenter"])
            trainer.warmup_from = int(prev.get("warmup_from", 0))
            log(f"stage {stage}: resuming at step {step} ({elapsed:.0f}s done)")
        else:
            # a checkpoint shared without its optimiser (e.g. ../shared/checkpoints): the weights and
            # the schedule's position go on, the optimiser and the data order start fresh
            trainer.load_state(prev.get("trainer") or {}, optim=False)
            trainer.warmup_from = step
            log(f"stage {stage}: {path} holds no optimiser state; resuming its weights at step {step} "
                f"({elapsed:.0f}s done) with a fresh optimiser and data order (the learning rate warms up again)")

    def checkpoint(done: bool, metrics: dict | None = None) -> None:
        save(path, {"stage": stage, "config": opts.config, "variant": opts.variant, "model": model.state_dict(),
                    "trainer": trainer.state(), "step": step, "elapsed": elapsed, "images": images,
                    "warmup_from": trainer.warmup_from,
                    "gen": gen.get_state(), "degrader": trainer.degrader.param_gen.get_state(),
                    "augmenter": augmenter.state() if augmenter is not None else None,
                    "done": done, "metrics": metrics or {}})

    total = budget.steps if budget.steps else int(budget.seconds or 0)
    bar = tqdm(total=total, initial=min(total, step if budget.steps else int(elapsed)),
               desc=f"stage {stage}", unit="step" if budget.steps else "s", dynamic_ncols=True,
               mininterval=2.0, file=sys.stdout)
    last_ckpt = last_val = time.time()
    val_every = opts.val_seconds or max(30.0, (budget.seconds or 600) / 4)
    t_start = time.time() - elapsed
    images_at_start, elapsed_at_start = images, elapsed
    while budget.progress(step, elapsed) < 1.0:
        gt = env.prep(sample_batch(env, gen, augmenter))
        logs = trainer.step(gt, step, budget.progress(step, elapsed))
        step += 1
        images += env.batch
        now = time.time()
        new_elapsed = now - t_start
        bar.update(1 if budget.steps else int(new_elapsed) - int(elapsed))
        elapsed = new_elapsed
        if step % 10 == 0 or step == 1:
            bar.set_postfix({k: f"{v:.3g}" for k, v in list(logs.items())[:6]}, refresh=False)
        if not math.isfinite(logs["loss"]):
            raise FloatingPointError(f"stage {stage}: loss became {logs['loss']} at step {step}")
        if now - last_val > val_every:
            rate = (images - images_at_start) / max(elapsed - elapsed_at_start, 1e-9)
            log(f"stage {stage} step {step}: {rate:.2f} img/s; val {fmt(trainer.validate())}")
            last_val = time.time()
        if now - last_ckpt > opts.ckpt_seconds:
            checkpoint(False)
            last_ckpt = time.time()
    bar.close()
    metrics = trainer.validate()
    metrics.update({"steps": step, "seconds": round(elapsed, 1), "images": images,
                    "images_per_s": round(images / max(elapsed, 1e-9), 2), "batch": env.batch,
                    "device": device_name(env.device)})
    log(f"stage {stage} done: {fmt(metrics)}")
    checkpoint(True, metrics)
    return metrics


def fmt(d: dict) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items())


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu x{torch.get_num_threads()} threads ({os.cpu_count()} cores visible)"


def stage_budgets(opts: TrainOptions, stages: list[int]) -> dict[int, Budget]:
    split = [float(s) for s in opts.split.split(",")] if opts.split else list(DEFAULT_SPLIT)
    if len(split) < max(stages):
        raise ValueError(f"--split gives {len(split)} shares; stage {max(stages)} needs {max(stages)}")
    weights = {s: split[s - 1] for s in stages}
    norm = sum(weights.values())
    out = {}
    for s in stages:
        seconds = opts.minutes * 60 * weights[s] / norm if opts.minutes else None
        out[s] = Budget(steps=opts.steps, seconds=seconds)
    return out


def write_model(model: DAEFR, opts: TrainOptions, out: Path, metrics: dict) -> Path:
    """Write ``model.pt``, the export input: config name, DAEFR state_dict, variant flags, metrics,
    and ``teacher`` (the frozen stage-2 HQ autoencoder that defines the ground-truth code indices)."""
    v = VARIANTS[opts.variant]
    path = out / "model.pt"
    st3 = load(ckpt_path(out, 3)) or {}
    teacher = st3.get("trainer", {}).get("teacher")
    teacher = {k: t.cpu() for k, t in teacher.items()} if teacher else None
    save(path, {"config": opts.config, "model": {k: t.cpu() for k, t in model.state_dict().items()},
                "use_lq_encoder": v["use_lq_encoder"], "use_fusion": v["use_fusion"],
                "variant": opts.variant, "metrics": metrics, "teacher": teacher})
    return path


def build_parser() -> argparse.ArgumentParser:
    """The command line: one flag per ``TrainOptions`` field, defaults taken from it."""
    d = TrainOptions
    ap = argparse.ArgumentParser(description="Train DAEFR (stages 1-3) and its fidelity path (stage 4).")
    ap.add_argument("--stage", default=d.stage, choices=list(STAGES))
    ap.add_argument("--config", default=d.config)
    ap.add_argument("--data", required=True, help="folder of face crops, or 'synthetic'")
    ap.add_argument("--out", required=True, help="run folder (checkpoints, metrics.json)")
    ap.add_argument("--minutes", type=float, default=d.minutes,
                    help="wall-time budget (whole --stage all, or the one stage)")
    ap.add_argument("--steps", type=int, default=d.steps, help="step budget per stage")
    ap.add_argument("--split", default=d.split, help="shares of --minutes for stages 1,2,3,4 (default 0.35,0.1,0.25,0.3)")
    ap.add_argument("--batch", type=int, default=d.batch, help="default 128 on CUDA, 16 on CPU")
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--disc-weight", type=float, default=d.disc_weight, help="GAN weight (paper 0.8); 0 disables the GAN")
    ap.add_argument("--gan-start", type=float, default=d.gan_start, help="stage-1 budget fraction before the GAN starts")
    ap.add_argument("--assoc-weight", type=float, default=d.assoc_weight)
    ap.add_argument("--assoc-tokens", type=int, default=d.assoc_tokens)
    ap.add_argument("--feat-weight", type=float, default=d.feat_weight, help="weight of the stage-3 feature MSE")
    ap.add_argument("--fidelity-lr", type=float, default=d.fidelity_lr, help="stage-4 learning rate of the fidelity path")
    ap.add_argument("--stage4-decoder-lr", type=float, default=d.stage4_decoder_lr,
                    help="stage-4 learning rate of the HQ decoder (0: frozen; then w = 0 stays the stage-3 output, "
                         "unless --stage4-parts encoder moves the codes)")
    ap.add_argument("--stage4-parts", default=d.stage4_parts, choices=list(STAGE4_PARTS),
                    help="what stage 4 trains: the fidelity path (+ HQ decoder), the residual heads alone, the coarse "
                         "residual head alone (a config with one), "
                         "the HQ decoder alone (at --stage4-decoder-lr), or the fidelity path (+ HQ decoder) "
                         "and the LQ encoder (at --stage4-encoder-lr, its codes held by --stage4-code-weight)")
    ap.add_argument("--stage4-encoder-lr", type=float, default=d.stage4_encoder_lr,
                    help="stage 4 with --stage4-parts encoder: learning rate of the LQ encoder")
    ap.add_argument("--stage4-code-weight", type=float, default=d.stage4_code_weight,
                    help="stage 4 with --stage4-parts encoder: weight of the KL divergence that holds the code "
                         "distribution near where the stage began (and so w = 0, softly)")
    ap.add_argument("--stage4-gan-weight", type=float, default=d.stage4_gan_weight,
                    help="stage 4: weight of a PatchGAN term on the output, per sample times 1 - w (0: none)")
    ap.add_argument("--stage4-gan-input", default=d.stage4_gan_input, choices=list(STAGE4_GAN_INPUTS),
                    help="what the stage-4 discriminator sees: the RGB output, or its luma alone "
                         "(its gradient on the output then has no chroma component)")
    ap.add_argument("--stage4-chroma-weight", type=float, default=d.stage4_chroma_weight,
                    help="stage 4: weight of a chroma L1 + chroma-gradient L1 term (0: none)")
    ap.add_argument("--stage4-gan-near-clean", action=argparse.BooleanOptionalAction, default=d.stage4_gan_near_clean,
                    help="stage 4: the GAN term on the nearly clean batches too (default; --no-...: those "
                         "train on the reconstruction and chroma losses alone; no effect without "
                         "--stage4-gan-weight or with --near-clean 0)")
    ap.add_argument("--init-from", default=d.init_from,
                    help="model.pt/stageK.pt to start from when the run folder has no earlier stage "
                         "(a residual head of another form starts fresh)")
    ap.add_argument("--stage2-freeze-hq", action=argparse.BooleanOptionalAction, default=d.stage2_freeze_hq,
                    help="stage 2: keep the HQ autoencoder (encoder, codebook, decoder) fixed (default on)")
    ap.add_argument("--variant", default=d.variant, choices=list(VARIANTS))
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--limit", type=int, default=d.limit, help="use only the first N images")
    ap.add_argument("--synthetic-count", type=int, default=d.synthetic_count)
    ap.add_argument("--val-count", type=int, default=d.val_count)
    ap.add_argument("--extend", action="store_true",
                    help="train a finished stage further, up to a larger --minutes/--steps budget")
    ap.add_argument("--val-seconds", type=float, default=d.val_seconds)
    ap.add_argument("--ckpt-seconds", type=float, default=d.ckpt_seconds)
    ap.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (default: the cores available)")
    ap.add_argument("--precision", default=d.precision, choices=list(PRECISIONS),
                    help="CPU precision: auto = bf16 autocast where the CPU has avx512_bf16/amx_bf16")
    ap.add_argument("--cpu", action="store_true", help="ignore CUDA")
    ap.add_argument("--augment", action=argparse.BooleanOptionalAction, default=d.augment,
                    help="similarity, colour, gamma, white-balance and grayscale augmentation (default on)")
    ap.add_argument("--near-clean", type=float, default=d.near_clean,
                    help="share of stage-3/4 batches that are nearly clean (default 0.33)")
    ap.add_argument("--occlude", type=float, default=d.occlude,
                    help="share of training samples given an occluder over part of the face (another "
                         "face's texture or a woven grating; default 0)")
    return ap


def parse_args(argv=None) -> TrainOptions:
    """``TrainOptions`` from command-line arguments (``sys.argv[1:]`` when None)."""
    ap = build_parser()
    ns = ap.parse_args(argv)
    if ns.minutes is None and ns.steps is None:
        ap.error("give --minutes and/or --steps")
    try:
        return TrainOptions(**vars(ns))
    except ValueError as e:  # a value out of range: a usage error, not a traceback
        ap.error(str(e))


def main(argv=None) -> dict:
    """Command-line entry: ``run(parse_args(argv))``."""
    return run(parse_args(argv))


def run(opts: TrainOptions) -> dict:
    """Train the stages ``opts`` asks for; return the metrics also written to ``OUT/metrics.json``."""
    torch.manual_seed(opts.seed)
    random.seed(opts.seed)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    env = make_env(opts)
    model = build_model(opts.config, opts.variant)
    if opts.stage == "all":
        stages = [1, 2, 3, 4] if VARIANTS[opts.variant]["association"] else [1, 3, 4]
    else:
        stages = [int(opts.stage)]
    budgets = stage_budgets(opts, stages)
    metrics_path = out / "metrics.json"
    all_metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    all_metrics.update({"config": opts.config, "variant": opts.variant, "seed": opts.seed, "data": str(opts.data)})
    t0 = time.time()
    for s in stages:
        all_metrics[f"stage{s}"] = run_stage(s, model, env, opts, budgets[s], out)
        metrics_path.write_text(json.dumps(all_metrics, indent=2) + "\n")
    if 3 in stages or 4 in stages:
        path = write_model(model, opts, out, all_metrics)
        log(f"wrote {path}")
    log(f"total {time.time() - t0:.1f}s; metrics in {metrics_path}")
    return all_metrics


if __name__ == "__main__":
    main()
