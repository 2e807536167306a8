"""Import an official DAEFR checkpoint (LIAGM/DAEFR) into `paper-512` and export it to ONNX.

    python -m daefr_models.import_official DAEFR.ckpt -o daefr-paper-512.onnx

The official restorer (`DAEFR/models/daefr.py: DAEFRModel`, `configs/DAEFR.yaml`) is a Lightning
module whose checkpoint holds `{"state_dict": {...}}` with these groups (names as in the official
code; `vqvae` is a `VQVAEGANMERGE`):

| official key prefix | here | used by inference |
| --- | --- | --- |
| `vqvae.encoder.`, `vqvae.quant_conv.` | `lq.encoder.`, `lq.quant_conv.` | yes (LQ encoder) |
| `vqvae.HQ_encoder.`, `vqvae.HQ_quant_conv.` | `hq.encoder.`, `hq.quant_conv.` | yes (HQ encoder on the LQ image) |
| `vqvae.Fixed_quantize.embedding.weight` | `hq.quantize.embedding.weight` | yes (the HQ codebook) |
| `vqvae.post_quant_conv.`, `vqvae.decoder.` | `hq.post_quant_conv.`, `hq.decoder.` | yes (HQ decoder) |
| `cross_attention.{norm1,norm2,q,k,v,proj_out}` | `fusion.{norm_kv,norm_q,q,k,v,proj_out}` | yes |
| `position_emb`, `feat_emb.` | `transformer.position_emb`, `transformer.feat_emb.` | yes |
| `ft_layers.N.self_attn.{in_proj_*,out_proj.*}`, `ft_layers.N.{linear1,linear2,norm1,norm2}` | `transformer.layers.N.…` | yes |
| `idx_pred_layer.0.`, `idx_pred_layer.1.` | `transformer.norm_out.`, `transformer.idx_pred.` | yes |
| `vqvae.LQ_quantize.embedding.weight` | `lq.quantize.embedding.weight` | no (kept for completeness) |
| `vqvae.Fixed_encoder.`, `vqvae.Fixed_quant_conv.`, `vqvae.HQ_quantize.` | — | no: ground-truth encoder and the associated HQ codebook are training-only |
| `…attn….norm2.` inside the autoencoders | — | no: the official self-attention block owns a second GroupNorm it never applies |
| `loss.` | — | no: discriminators and perceptual networks |

Inside the autoencoders the layout is the same (`down.I.block.J`, `down.I.attn.J`,
`down.I.downsample.conv`, `mid.block_1/attn_1/block_2`, `up.I.…`, `norm_out`, `conv_out`); only the
self-attention GroupNorm is called `norm` here (official `norm1`).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .arch import DAEFR
from .config import DaefrConfig, get_config
from .export import export, parity, parity_inputs

#: FFHQ 512 alignment (facexlib's 5-point template used by official DAEFR inference); mouth
#: centre = mean of the two mouth corners. Subject's right eye is on the image's left.
FFHQ_512_TEMPLATE = {
    "right_eye": [192.98, 239.95],
    "left_eye": [318.90, 240.19],
    "nose_tip": [256.63, 314.02],
    "mouth_center": [257.18, 371.28],
}
FFHQ_CROP = "FFHQ-aligned 512x512 crop (facexlib 5-point similarity alignment, as official DAEFR inference)"
OFFICIAL_LICENCE = (
    "official DAEFR weights (LIAGM/DAEFR, trained on FFHQ, CC BY-NC-SA 4.0 data); the official "
    "repository states no licence: research use, check terms before redistribution"
)

# Official prefixes whose tensors the inference graph does not use.
TRAINING_ONLY_PREFIXES = (
    "vqvae.Fixed_encoder.",
    "vqvae.Fixed_quant_conv.",
    "vqvae.HQ_quantize.",
    "loss.",
)
# Our keys with no official counterpart (LQ decoder half: unused by the restorer).
OURS_WITHOUT_OFFICIAL = ("lq.post_quant_conv.", "lq.decoder.", "fidelity.")  # fidelity: ours only

_AE_RENAMES = [
    ("hq.encoder.", "vqvae.HQ_encoder."),
    ("lq.encoder.", "vqvae.encoder."),
    ("hq.decoder.", "vqvae.decoder."),
    ("hq.quant_conv.", "vqvae.HQ_quant_conv."),
    ("lq.quant_conv.", "vqvae.quant_conv."),
    ("hq.quantize.", "vqvae.Fixed_quantize."),
    ("lq.quantize.", "vqvae.LQ_quantize."),
    ("hq.post_quant_conv.", "vqvae.post_quant_conv."),
    ("fusion.norm_kv.", "cross_attention.norm1."),
    ("fusion.norm_q.", "cross_attention.norm2."),
    ("fusion.", "cross_attention."),
    ("transformer.position_emb", "position_emb"),
    ("transformer.feat_emb.", "feat_emb."),
    ("transformer.norm_out.", "idx_pred_layer.0."),
    ("transformer.idx_pred.", "idx_pred_layer.1."),
]
_SELF_ATTN_NORM = re.compile(r"(\.attn(?:\.\d+|_1)\.)norm\.")


def official_key(ours: str) -> str | None:
    """The official state-dict key for one of our DAEFR keys (None if it has no counterpart)."""
    if ours.startswith(OURS_WITHOUT_OFFICIAL):
        return None
    m = re.match(r"transformer\.layers\.(\d+)\.(.*)", ours)
    if m:
        layer, rest = m.groups()
        if rest.startswith(("in_proj_", "out_proj.")):
            return f"ft_layers.{layer}.self_attn.{rest}"
        return f"ft_layers.{layer}.{rest}"
    for mine, theirs in _AE_RENAMES:
        if ours.startswith(mine):
            key = theirs + ours[len(mine) :]
            return _SELF_ATTN_NORM.sub(r"\1norm1.", key)
    raise KeyError(f"no official name rule for {ours!r}")


def official_shapes(cfg: DaefrConfig) -> dict[str, tuple[int, ...]]:
    """Every key (except `loss.*`) and shape of the official DAEFRModel state dict for `cfg`.

    Derived from the official module structure: our keys renamed, plus the tensors the official
    model holds but never uses at inference (ground-truth encoder, associated HQ codebook,
    second GroupNorm of each self-attention block).
    """
    with torch.device("meta"):
        model = DAEFR(cfg)
    shapes: dict[str, tuple[int, ...]] = {}
    for ours, tensor in model.state_dict().items():
        key = official_key(ours)
        if key is None:
            continue
        shapes[key] = tuple(tensor.shape)
        if _is_self_attn_norm(key):
            shapes[key.replace(".norm1.", ".norm2.")] = tuple(tensor.shape)
    for key, shape in list(shapes.items()):
        if key.startswith("vqvae.HQ_encoder."):
            shapes["vqvae.Fixed_encoder." + key[len("vqvae.HQ_encoder.") :]] = shape
        elif key.startswith("vqvae.HQ_quant_conv."):
            shapes["vqvae.Fixed_quant_conv." + key[len("vqvae.HQ_quant_conv.") :]] = shape
        elif key == "vqvae.Fixed_quantize.embedding.weight":
            shapes["vqvae.HQ_quantize.embedding.weight"] = shape
    return shapes


def _is_self_attn_norm(official: str) -> bool:
    return official.startswith("vqvae.") and bool(re.search(r"\.attn(?:\.\d+|_1)\.norm1\.", official))


@dataclass
class ImportReport:
    """What happened to every official key."""

    mapped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # training-only / unused, by rule
    unexpected: list[str] = field(default_factory=list)  # matched no rule: an error
    missing: list[str] = field(default_factory=list)  # official keys the inference graph needs but absent
    shape_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.unexpected or self.missing or self.shape_errors)

    def summary(self) -> str:
        return (
            f"{len(self.mapped)} mapped, {len(self.ignored)} training-only/unused ignored, "
            f"{len(self.unexpected)} unexpected, {len(self.missing)} missing, "
            f"{len(self.shape_errors)} shape mismatches"
        )


def _is_training_only(official: str) -> bool:
    return official.startswith(TRAINING_ONLY_PREFIXES) or (
        _is_self_attn_norm(official.replace(".norm2.", ".norm1.")) and ".norm2." in official
    )


def unwrap_state_dict(payload) -> dict[str, torch.Tensor]:
    """The state dict inside a Lightning checkpoint (`{"state_dict": ...}`) or a bare one."""
    if isinstance(payload, dict) and "state_dict" in payload and isinstance(payload["state_dict"], dict):
        return payload["state_dict"]
    if isinstance(payload, dict):
        return payload
    raise TypeError("checkpoint is neither a state dict nor {'state_dict': ...}")


def convert(official: dict[str, torch.Tensor], cfg: DaefrConfig) -> tuple[DAEFR, ImportReport]:
    """Our DAEFR for `cfg` with the official tensors loaded, and the per-key report."""
    model = DAEFR(cfg).eval()
    ours = model.state_dict()
    wanted = {official_key(k): k for k in ours if official_key(k) is not None}
    report = ImportReport()
    new_state = {}
    for key, tensor in official.items():
        if key in wanted:
            target = wanted[key]
            if tuple(tensor.shape) != tuple(ours[target].shape):
                report.shape_errors.append(f"{key}: {tuple(tensor.shape)} != {tuple(ours[target].shape)}")
                continue
            new_state[target] = tensor.detach().to(torch.float32)
            report.mapped.append(key)
        elif _is_training_only(key):
            report.ignored.append(key)
        else:
            report.unexpected.append(key)
    needed = {official_key(k) for mod in model.inference_modules().values() for k in _param_keys(model, mod)}
    report.missing = sorted(k for k in needed if k is not None and k not in official)
    model.load_state_dict(new_state, strict=False)
    return model, report


def _param_keys(model: DAEFR, module: torch.nn.Module) -> list[str]:
    ids = {id(t) for t in module.state_dict(keep_vars=True).values()}
    return [k for k, t in model.state_dict(keep_vars=True).items() if id(t) in ids]


def ffhq_template(size: int) -> dict[str, list[float]]:
    """The FFHQ template scaled to a model input of `size` pixels."""
    k = size / 512.0
    return {name: [round(x * k, 2), round(y * k, 2)] for name, (x, y) in FFHQ_512_TEMPLATE.items()}


def export_official(model: DAEFR, out: Path):
    """Export an imported model with the FFHQ alignment metadata of the official weights.

    The official DAEFR has no fidelity path: the imported model's is fresh (the identity), so the
    file defaults to `w = 0`, the official restorer exactly."""
    size = model.cfg.vq.resolution
    return export(
        model,
        out,
        template_path=None,
        licence=OFFICIAL_LICENCE,
        crop=FFHQ_CROP,
        template=ffhq_template(size),
        template_source=f"facexlib FFHQ 512 five-point template (official DAEFR alignment), scaled to {size}",
        fidelity_default=0.0,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Import an official DAEFR checkpoint and export ONNX.")
    ap.add_argument("checkpoint", type=Path, help="official DAEFR .ckpt (Lightning) or state dict")
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--config", default="paper-512", help="architecture config (default paper-512)")
    ap.add_argument("--no-parity", action="store_true", help="skip the onnxruntime parity check")
    args = ap.parse_args(argv)

    payload = torch.load(str(args.checkpoint), map_location="cpu", weights_only=False)
    model, report = convert(unwrap_state_dict(payload), get_config(args.config))
    print(f"import: {report.summary()}")
    for name in ("unexpected", "missing", "shape_errors"):
        for key in getattr(report, name)[:20]:
            print(f"  {name}: {key}", file=sys.stderr)
    if not report.ok:
        return 1
    proto = export_official(model, args.output)
    print(f"wrote {args.output}")
    if not args.no_parity:
        result = parity(model, proto, parity_inputs([], model.cfg.vq.resolution))
        print(f"parity onnxruntime vs torch: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
