"""The `daefr.*` metadata_props of an exported model (see docs/model-contract.md).

onnx is imported only where a file is read (`read_metadata`): `evaluate`, and through it `train`,
import this module on machines where only PyTorch is installed (`models/train_gpu.sh`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:
    import onnx

#: Version of docs/model-contract.md that this toolchain writes (2: the `weight` fidelity input).
FORMAT_VERSION = "2"

#: Fidelity weight a model is exported with as its `daefr.fidelity_default` unless told otherwise.
DEFAULT_FIDELITY = 0.5

#: Landmarks every template must have, and the optional ones.
REQUIRED_LANDMARKS = ("right_eye", "left_eye", "nose_tip", "mouth_center")
OPTIONAL_LANDMARKS = ("right_ear", "left_ear")

#: CelebA's aligned-crop mean landmarks (178x218 image pixels), used only for a provisional
#: template when no measured one exists: eyes (69,111)/(108,111), nose (89,135), mouth (89,152).
_CELEBA_MEAN_LANDMARKS = {
    "right_eye": (69.0, 111.0),
    "left_eye": (108.0, 111.0),
    "nose_tip": (89.0, 135.0),
    "mouth_center": (89.0, 152.0),
}


def provisional_template(size: int) -> dict[str, list[float]]:
    """Template derived geometrically from CelebA's mean landmarks and the centre-square crop."""
    scale = size / 178.0
    return {
        name: [round(x * scale, 2), round((y - 20.0) * scale, 2)]
        for name, (x, y) in _CELEBA_MEAN_LANDMARKS.items()
    }


def load_template(path: Path | None, size: int) -> tuple[dict[str, list[float]], str]:
    """(template, source) from a template JSON file, or the provisional one if `path` is missing.

    The file holds `{"right_eye": [x, y], ...}` in model-input pixels; an optional
    `template_source` string says how it was measured, other keys are ignored.
    """
    if path is None or not Path(path).is_file():
        return provisional_template(size), (
            f"provisional: CelebA mean aligned-crop landmarks mapped through the centre-square crop "
            f"(no measured template file{'' if path is None else f' at {path}'})"
        )
    raw = json.loads(Path(path).read_text())
    template = {}
    for name in REQUIRED_LANDMARKS + OPTIONAL_LANDMARKS:
        if name in raw:
            x, y = raw[name]
            template[name] = [float(x), float(y)]
        elif name in REQUIRED_LANDMARKS:
            raise ValueError(f"template {path} lacks the required landmark {name!r}")
    size_in_file = raw.get("input_size")
    if size_in_file is not None and int(size_in_file) != size:
        raise ValueError(f"template {path} is for input size {size_in_file}, model is {size}")
    source = str(raw.get("template_source", f"measured template file {Path(path).name}"))
    return template, source


def build_metadata(
    *,
    config: str,
    input_size: int,
    template: dict[str, list[float]],
    template_source: str,
    crop: str,
    licence: str,
    quantization: str = "none",
    macs: int | None = None,
    fidelity_default: float = DEFAULT_FIDELITY,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """All `daefr.*` keys of the contract, as strings."""
    if not 0.0 <= float(fidelity_default) <= 1.0:
        raise ValueError(f"fidelity_default {fidelity_default} is outside [0, 1]")
    meta = {
        "daefr.format_version": FORMAT_VERSION,
        "daefr.config": config,
        "daefr.input_size": str(input_size),
        "daefr.input_range": "-1,1",
        "daefr.channel_order": "RGB",
        "daefr.template": json.dumps(template, separators=(",", ":")),
        "daefr.template_source": template_source,
        "daefr.crop": crop,
        "daefr.licence": licence,
        "daefr.quantization": quantization,
        "daefr.toolchain_version": __version__,
        "daefr.fidelity_default": f"{float(fidelity_default):g}",
    }
    if macs is not None:
        meta["daefr.macs"] = str(int(macs))
    for key, value in (extra or {}).items():
        meta[key] = str(value)
    return meta


def write_metadata(model: onnx.ModelProto, meta: dict[str, str]) -> None:
    """Set (replace) the given metadata_props on a model in place."""
    keep = [p for p in model.metadata_props if p.key not in meta]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=str(value))


def read_metadata(model: onnx.ModelProto | str | Path) -> dict[str, str]:
    """metadata_props of a model (or a model file) as a dict."""
    if not hasattr(model, "metadata_props"):  # a path, not an onnx.ModelProto
        import onnx

        model = onnx.load(str(model), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def fidelity_default(meta: dict[str, str]) -> float | None:
    """The model's default fidelity weight, or None for a contract-1 model (no `weight` input)."""
    if int(meta.get("daefr.format_version", "1")) < 2:
        return None
    return float(meta["daefr.fidelity_default"])
