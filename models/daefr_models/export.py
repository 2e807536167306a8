"""Export a DAEFR restorer to one ONNX graph (opset 17) with the contract's metadata.

    python -m daefr_models.export --config lite-128 (--checkpoint CKPT | --random-init --seed N)
        [--template models/template-celeba-128.json] -o OUT.onnx

The graph (contract version 2) takes `input` [1,3,S,S] (RGB in [-1,1]) and `weight` [1] (the
fidelity weight w in [0,1]) -> output `output` [1,3,S,S]: HQ and LQ encoders, fusion, transformer,
ArgMax over the code logits, Gather from the HQ codebook, HQ decoder with the fidelity path's
fusion blocks, and the blend `(1 - w) * prior + w * (x + R)`. `weight` enters only through Mul and
Add, so one optimized plan serves every w. GroupNorm is written in the form tract runs fastest
(`tract_form.rewrite`: the same function, float rounding aside). After writing, the file is
checked against PyTorch with onnxruntime at w = 0, 0.5 and 1 (max abs diff and code-index
agreement on real faces) unless `--no-parity`.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from . import tract_form
from .arch import DAEFR, RestoreGraph, load_checkpoint
from .cli_paths import existing_file
from .config import CONFIG_NAMES, get_config
from .count import count_macs
from .data import crop_description
from .onnx_meta import DEFAULT_FIDELITY, build_metadata, load_template, write_metadata
from .onnx_tools import ASTRONAUT, feeds, load_face, ort_session, with_code_indices
from .output_guard import refusal

OPSET = 17

LICENCE_RANDOM = "random weights (no training data): for tests only"
LICENCE_CELEBA = "weights trained on CelebA: non-commercial research only"


def random_model(config: str, seed: int) -> DAEFR:
    """A DAEFR with PyTorch's default random initialisation under `seed` (for tests/placeholders).

    The fidelity path's zero-initialised last convs get small random weights too, so a random
    model exercises every op of the graph (a fresh path would be exactly the identity at w = 1).
    """
    torch.manual_seed(seed)
    model = DAEFR(get_config(config)).eval()
    with torch.no_grad():
        # A codebook of +-1/n_embed makes every code look alike; spread it so random models
        # produce varied images and well-separated code logits.
        for vq in (model.hq.quantize, *([] if model.lq is None else [model.lq.quantize])):
            vq.embedding.weight.normal_(0.0, 1.0)
        for block in model.fidelity.fuse.values():
            block.scale_shift.weight.normal_(0.0, 0.02)
        for residual_head in model.fidelity.residual_heads():
            residual_head.conv_out.weight.normal_(0.0, 0.02)
        head = model.fidelity.residual
        if head.film_scale is not None:  # the weight-conditioned head: let w reach it
            for p in (*head.film_scale, *head.film_shift):
                p.normal_(0.0, 0.2)
    return model


def to_onnx(model: DAEFR, meta: dict[str, str], tract_friendly: bool = True) -> onnx.ModelProto:
    """Trace `model.restore` at its config's size into an opset-17 ModelProto with metadata.

    `tract_friendly` (default): GroupNorm rewritten by `tract_form.rewrite`; False keeps the
    exporter's own form (what files exported before that rewrite hold, e.g. the tiny fixture)."""
    size = model.cfg.vq.resolution
    graph = RestoreGraph(model).eval()
    dummy = torch.zeros(1, model.cfg.vq.in_channels, size, size)
    dummy_w = torch.full((1,), 0.5)
    buf = io.BytesIO()
    # The TorchScript exporter is deprecated in torch >= 2.9 but writes the plain opset-17 graph
    # (GroupNorm as Reshape-InstanceNormalization-Reshape) that tract is known to load.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        torch.onnx.export(
            graph,
            (dummy, dummy_w),
            buf,
            input_names=["input", "weight"],
            output_names=["output"],
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    proto = simplify(onnx.load_from_string(buf.getvalue()))
    if tract_friendly:
        proto, _ = tract_form.rewrite(proto)
    proto.producer_name = "daefr_models"
    proto.doc_string = f"DAEFR restorer, config {model.cfg.name}"
    write_metadata(proto, meta)
    onnx.checker.check_model(proto)
    return proto


def simplify(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Fold the exporter's shape arithmetic and duplicate constants away.

    Uses onnxruntime's *basic* graph optimisations (constant folding, redundant-node removal,
    MatMul+Add -> Gemm): standard ONNX ops only, no runtime-specific fusions. Opset imports that
    no node uses are dropped so the file declares only the default domain.
    """
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.onnx", Path(tmp) / "out.onnx"
        onnx.save(proto, str(src))
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        opts.optimized_model_filepath = str(dst)
        ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"])
        out = onnx.load(str(dst))
    used = {n.domain for n in out.graph.node}
    keep = [o for o in out.opset_import if o.domain in used or o.domain in ("", "ai.onnx")]
    del out.opset_import[:]
    out.opset_import.extend(keep)
    if any(n.domain not in ("", "ai.onnx") for n in out.graph.node):
        raise RuntimeError("simplified graph uses non-standard ops")
    return out


def parity(model: DAEFR, proto: onnx.ModelProto, inputs: list[np.ndarray],
           weights: tuple[float, ...] = (0.0, 0.5, 1.0)) -> dict[str, float]:
    """onnxruntime vs PyTorch on the given inputs at each fidelity weight: max abs output diff and
    code-index agreement (`w = 0` is compared with the pure DAEFR `model.restore`, unless a colour
    anchor gives the prior the input's low frequencies first)."""
    sess = ort_session(with_code_indices(proto))
    max_diff, agree, total = 0.0, 0, 0
    for x in inputs:
        xt = torch.from_numpy(x)
        with torch.no_grad():
            want_idx = model(xt)[0].argmax(-1).numpy()
        for w in weights:
            with torch.no_grad():
                want = model.restore_with_fidelity(xt, torch.full((1,), float(w))).numpy()
                if w == 0.0 and model.fidelity.anchor is None:
                    want = model.restore(xt).numpy()
            got, got_idx = sess.run(None, feeds(sess, x, w))
            max_diff = max(max_diff, float(np.abs(got - want).max()))
            agree += int((got_idx.reshape(want_idx.shape) == want_idx).sum())
            total += want_idx.size
    return {"max_abs_diff": max_diff, "index_agreement": agree / total, "images": len(inputs),
            "weights": list(weights)}


def parity_inputs(paths: list[Path], size: int) -> list[np.ndarray]:
    """Model inputs from image files and folders (PNG/JPEG), the astronaut portrait by default."""
    files: list[Path] = []
    for p in paths or ([ASTRONAUT] if ASTRONAUT.is_file() else []):
        p = Path(p)
        if p.is_dir():
            files += sorted(q for q in p.rglob("*") if q.suffix.lower() in (".png", ".jpg", ".jpeg"))[:16]
        else:
            files.append(p)
    if not files:
        raise FileNotFoundError("no parity images (pass --parity-images)")
    return [load_face(f, size) for f in files]


def export(
    model: DAEFR,
    out: Path,
    *,
    template_path: Path | None,
    licence: str,
    crop: str | None = None,
    template: dict[str, list[float]] | None = None,
    template_source: str | None = None,
    fidelity_default: float = DEFAULT_FIDELITY,
    tract_friendly: bool = True,
) -> onnx.ModelProto:
    """Export `model` with full metadata to `out` (one self-contained .onnx file).

    The template comes from `template_path` (provisional if missing) unless `template` (with
    `template_source`) is given directly. `tract_friendly`: see `to_onnx`.
    """
    cfg = model.cfg
    size = cfg.vq.resolution
    if template is None:
        template, source = load_template(template_path, size)
    else:
        source = template_source or "given by the caller"
    macs, _ = count_macs(cfg)
    meta = build_metadata(
        config=cfg.name,
        input_size=size,
        template=template,
        template_source=source,
        crop=crop or crop_description(size),
        licence=licence,
        quantization="none",
        macs=macs,
        fidelity_default=fidelity_default,
    )
    proto = to_onnx(model, meta, tract_friendly=tract_friendly)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out))
    return proto


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Export a DAEFR restorer to ONNX (opset 17).")
    ap.add_argument("--config", choices=CONFIG_NAMES, help="config name (read from the checkpoint if omitted)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=existing_file, help="model.pt from train.py (or a DAEFR state_dict)")
    src.add_argument("--random-init", action="store_true", help="random weights (tests, placeholders)")
    ap.add_argument("--seed", type=int, default=0, help="seed for --random-init")
    ap.add_argument("--template", type=Path, help="template JSON; provisional geometric template if missing")
    ap.add_argument("--crop", help="daefr.crop text (default: the CelebA centre-square crop)")
    ap.add_argument("--licence", help="daefr.licence text")
    ap.add_argument("--fidelity-default", type=float, default=DEFAULT_FIDELITY,
                    help=f"daefr.fidelity_default, the weight the runtime uses unless told (default {DEFAULT_FIDELITY})")
    ap.add_argument("--parity-images", type=Path, nargs="*", default=[], help="faces for the parity check")
    ap.add_argument("--no-parity", action="store_true", help="skip the onnxruntime parity check")
    ap.add_argument("--exporter-form", action="store_true",
                    help="keep GroupNorm as the exporter writes it (no tract_form rewrite; slower in tract)")
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--force", action="store_true", help="replace an existing output")
    args = ap.parse_args(argv)

    inputs = (args.checkpoint,) if args.checkpoint else ()
    if (why := refusal(args.output, inputs, args.force)) is not None:
        print(f"export: {why}", file=sys.stderr)
        return 2
    if args.random_init:
        if args.config is None:
            ap.error("--random-init needs --config")
        model, licence = random_model(args.config, args.seed), LICENCE_RANDOM
    else:
        model, _ = load_checkpoint(args.checkpoint, args.config)
        licence = LICENCE_CELEBA
    if not 0.0 <= args.fidelity_default <= 1.0:
        ap.error("--fidelity-default must lie in [0, 1]")
    proto = export(model, args.output, template_path=args.template, licence=args.licence or licence, crop=args.crop,
                   fidelity_default=args.fidelity_default, tract_friendly=not args.exporter_form)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB, config {model.cfg.name})")
    if args.no_parity:
        return 0
    result = parity(model, proto, parity_inputs(args.parity_images, model.cfg.vq.resolution))
    print("parity onnxruntime vs torch: " + json.dumps(result))
    ok = result["max_abs_diff"] <= 1e-4 and result["index_agreement"] >= 0.999
    if not ok:
        print("PARITY FAILED (limits: max abs diff 1e-4, index agreement 99.9%)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
