"""Running exported graphs on faces: the helpers every command that checks an ONNX file shares
(`export`, `quantize`, `tract_form`, `golden`, `int8_check`, `evaluate`).

- paths: `REPO_ROOT` and the committed public-domain portrait `ASTRONAUT`;
- model inputs: `input_array` (an RGB image as `[1,3,S,S]` float32 in [-1, 1], the contract's
  `x / 127.5 - 1`) and `load_face` (an image file cropped as training crops it);
- outputs: `to_u8` (the runtime's clamp and 8-bit rounding), `psnr_u8` and `output_psnr`;
- onnxruntime: `ort_session`, `feeds` (with the fidelity `weight` where the graph has one),
  `has_weight_input`, `with_code_indices` (the ArgMax code indices as a second output) and
  `compare` (two graphs on the same faces).

onnx and onnxruntime are imported by the functions that use them, not here: `evaluate` imports
this module, and `train` and `ablation` import `evaluate`, which must work on a machine where only
PyTorch is installed (`models/train_gpu.sh`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data import load_model_input
from .onnx_meta import fidelity_default, read_metadata

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The committed public-domain portrait used as the default parity/golden face.
ASTRONAUT = REPO_ROOT / "tests" / "fixtures" / "astronaut.png"


# ------------------------------------------------------------------------------ faces and pixels
def input_array(rgb: np.ndarray) -> np.ndarray:
    """An `[H, W, 3]` RGB image on the 0-255 scale as the model input `[1, 3, H, W]` float32 in
    [-1, 1] (`x / 127.5 - 1`, in float32)."""
    return (np.asarray(rgb).astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None].copy()


def load_face(path: Path, size: int) -> np.ndarray:
    """A face image as the model input: [1,3,size,size] float32 RGB in [-1,1].

    Cropped like the training data (centre square, bicubic resize: `data.load_model_input`).
    """
    return input_array(load_model_input(path, size))


def to_u8(y: np.ndarray) -> np.ndarray:
    """A model output in [-1, 1] as the runtime hands it out: clamped, scaled by 127.5 and rounded
    (0-255 values, the input's float type)."""
    return np.round((np.clip(y, -1, 1) + 1) * 127.5)


def psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two images on the 0-255 scale (float arrays stay in their precision, integer
    ones are taken as float32); inf when they are equal."""
    diff = np.subtract(a, b, dtype=np.result_type(a, b, np.float32))
    mse = float(np.mean(diff**2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def output_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) between two model outputs in [-1, 1] after the runtime's clamp and 8-bit rounding."""
    return psnr_u8(to_u8(a), to_u8(b))


# ---------------------------------------------------------------------------------- onnxruntime
def has_weight_input(proto_or_session) -> bool:
    """True when an ONNX model (proto or onnxruntime session) takes the `weight` input."""
    if hasattr(proto_or_session, "graph"):
        names = [i.name for i in proto_or_session.graph.input]
    else:
        names = [i.name for i in proto_or_session.get_inputs()]
    return "weight" in names


def feeds(proto_or_session, x: np.ndarray, weight: float | None) -> dict[str, np.ndarray]:
    """onnxruntime feeds for face `x`: `input`, plus `weight` (as [1] float32) when the graph has
    one (`weight` None then means the contract-1 behaviour is wanted: an error)."""
    out = {"input": np.ascontiguousarray(x, dtype=np.float32)}
    if has_weight_input(proto_or_session):
        if weight is None:
            raise ValueError("this model takes a fidelity weight; pass one")
        out["weight"] = np.array([weight], dtype=np.float32)
    return out


def ort_session(proto, optimize: bool = False):
    """onnxruntime CPU session for an `onnx.ModelProto`; graph optimisations off by default (a
    clean reference), one thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def with_code_indices(proto):
    """A copy of the graph that also outputs the ArgMax code indices (for parity checks)."""
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(proto)
    argmax = [n for n in out.graph.node if n.op_type == "ArgMax"]
    if len(argmax) != 1:
        raise ValueError(f"expected one ArgMax node, found {len(argmax)}")
    out.graph.output.append(onnx.helper.make_tensor_value_info(argmax[0].output[0], onnx.TensorProto.INT64, None))
    return out


def compare(fp32, int8, inputs: list[np.ndarray]) -> dict:
    """Graph `int8` against the reference graph `fp32` (an int8 form, or any rewrite of the same
    network) under onnxruntime at the reference's default fidelity weight: mean and worst PSNR of
    the 8-bit outputs, worst max abs diff, code-index agreement."""
    ref, sess = ort_session(with_code_indices(fp32)), ort_session(with_code_indices(int8))
    psnrs, max_diff, agree, total = [], 0.0, 0, 0
    for x in inputs:
        w = fidelity_default(read_metadata(fp32))
        y_ref, i_ref = ref.run(None, feeds(ref, x, w))
        y, i = sess.run(None, feeds(sess, x, w))
        psnrs.append(output_psnr(y, y_ref))
        max_diff = max(max_diff, float(np.abs(y - y_ref).max()))
        agree += int((i == i_ref).sum())
        total += i_ref.size
    finite = [p for p in psnrs if np.isfinite(p)]
    return {
        "images": len(inputs),
        "psnr_vs_fp32_db": round(float(np.mean(finite)), 2) if finite else float("inf"),
        "min_psnr_vs_fp32_db": round(float(np.min(psnrs)), 2),
        "max_abs_diff": max_diff,
        "index_agreement": agree / total,
    }
