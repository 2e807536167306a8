"""int8 forms of an exported DAEFR graph, and how far they move from fp32.

    python -m daefr_models.quantize IN.onnx -o OUT.onnx --recipe weights-int8 [--calib DIR]
    python -m daefr_models.quantize IN.onnx -o OUT.onnx --recipe qlinear-conv --calib DIR

Recipes (what tract 0.23 does with each is measured in docs/architecture.md, "int8"):

- `weights-int8` (default, the shipped form): every Conv / Gemm / MatMul weight initializer becomes
  int8, symmetric, one scale per output channel, followed by a DequantizeLinear; activations stay
  float. ~3.9x smaller file; tract folds the DequantizeLinear at optimize time, so it runs exactly
  the fp32 kernels at fp32 speed. No calibration needed.
- `qlinear-conv`: onnxruntime static quantization in QOperator form restricted to Conv (uint8
  activations calibrated by min/max on `--calib` faces, int8 per-channel weights): every Conv
  becomes QuantizeLinear -> QLinearConv -> DequantizeLinear; norms, softmax, attention, the
  transformer and the code lookup stay float (tract evaluates QDQ around Softmax wrongly, and
  onnxruntime's QLinearMul from GroupNorm is unimplemented in tract).
- `qdq-conv`: the same calibration in QDQ form (DequantizeLinear -> Conv -> QuantizeLinear).

After writing, the int8 graph is compared with the fp32 one under onnxruntime (graph
optimisations off) on the `--calib` faces (or the committed astronaut): PSNR of the int8 output
against the fp32 output, max abs diff, and code-index agreement. `daefr.quantization` names the
recipe; all other metadata is copied.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .export import ASTRONAUT, feeds, has_weight_input, ort_session, with_code_indices
from .onnx_meta import fidelity_default, read_metadata, write_metadata

RECIPES = ("weights-int8", "qlinear-conv", "qdq-conv")
RECIPE_DESCRIPTIONS = {
    "weights-int8": "int8-weights: Conv/Gemm/MatMul weights int8 symmetric per output channel -> "
    "DequantizeLinear; activations float32",
    "qlinear-conv": "int8-qlinear-conv: Conv as QLinearConv (uint8 activations, min/max calibrated; "
    "int8 per-channel weights); everything else float32",
    "qdq-conv": "int8-qdq-conv: QuantizeLinear/DequantizeLinear around Conv (uint8 activations, "
    "min/max calibrated; int8 per-channel weights); everything else float32",
}
#: Initializers smaller than this stay float (biases of tiny layers; not worth a scale vector).
MIN_WEIGHT_ELEMENTS = 256


def _weight_axis(node: onnx.NodeProto, input_index: int) -> int | None:
    """Output-channel axis of a weight input of Conv/Gemm/MatMul (None: not a weight slot)."""
    if input_index != 1:
        return None
    if node.op_type == "Conv":
        return 0  # [out, in/groups, kh, kw]
    if node.op_type == "Gemm":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    if node.op_type == "MatMul":
        return 1  # B is [K, N]
    return None


def quantize_weights_int8(model: onnx.ModelProto) -> onnx.ModelProto:
    """Weights-only int8: per-output-channel symmetric int8 weights + DequantizeLinear."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inits = {t.name: t for t in graph.initializer}
    # every use of each initializer: it is quantized only if all uses are weight slots on one axis
    uses: dict[str, set] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in inits:
                uses.setdefault(name, set()).add(_weight_axis(node, i))
    graph_outputs = {o.name for o in graph.output}
    dequant_nodes = []
    for name, axes in uses.items():
        tensor = inits[name]
        if len(axes) != 1 or None in axes or name in graph_outputs:
            continue
        if tensor.data_type != onnx.TensorProto.FLOAT:
            continue
        w = numpy_helper.to_array(tensor)
        if w.size < MIN_WEIGHT_ELEMENTS or w.ndim < 2:
            continue
        (axis,) = axes
        reduce_axes = tuple(a for a in range(w.ndim) if a != axis)
        max_abs = np.abs(w).max(axis=reduce_axes)
        scale = np.where(max_abs > 0, max_abs / 127.0, 1.0).astype(np.float32)
        shape = [1] * w.ndim
        shape[axis] = -1
        q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
        graph.initializer.remove(tensor)
        graph.initializer.extend(
            [
                numpy_helper.from_array(q, f"{name}_int8"),
                numpy_helper.from_array(scale, f"{name}_scale"),
                numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), f"{name}_zero_point"),
            ]
        )
        dequant_nodes.append(
            helper.make_node(
                "DequantizeLinear",
                [f"{name}_int8", f"{name}_scale", f"{name}_zero_point"],
                [name],
                name=f"{name}_dequantize",
                axis=axis,
            )
        )
    nodes = dequant_nodes + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(out)
    return out


class _CalibrationReader:
    """onnxruntime CalibrationDataReader over model inputs."""

    def __init__(self, inputs: list[np.ndarray], with_weight: bool = False):
        self._it = iter(inputs)
        self._with_weight = with_weight

    def get_next(self):
        x = next(self._it, None)
        if x is None:
            return None
        return {"input": x, "weight": np.array([0.5], dtype=np.float32)} if self._with_weight else {"input": x}


def quantize_static_conv(model: onnx.ModelProto, calib: list[np.ndarray], fmt: str) -> onnx.ModelProto:
    """onnxruntime static quantization restricted to Conv, in QOperator or QDQ form."""
    import tempfile

    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not calib:
        raise ValueError("static quantization needs calibration images (--calib DIR)")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, str(src))
        quantize_static(
            str(src),
            str(dst),
            _CalibrationReader(calib, with_weight=has_weight_input(model)),
            quant_format=QuantFormat.QOperator if fmt == "qoperator" else QuantFormat.QDQ,
            op_types_to_quantize=["Conv"],
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        out = onnx.load(str(dst))
    return out


def quantize(model: onnx.ModelProto, recipe: str, calib: list[np.ndarray] | None = None) -> onnx.ModelProto:
    """The int8 form of `model` under `recipe`, with `daefr.quantization` set."""
    if recipe == "weights-int8":
        out = quantize_weights_int8(model)
    elif recipe == "qlinear-conv":
        out = quantize_static_conv(model, calib or [], "qoperator")
    elif recipe == "qdq-conv":
        out = quantize_static_conv(model, calib or [], "qdq")
    else:
        raise ValueError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
    meta = read_metadata(model)
    meta["daefr.quantization"] = RECIPE_DESCRIPTIONS[recipe]
    write_metadata(out, meta)
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) between two images in [-1, 1] after the runtime's clamp and 8-bit rounding."""
    to_u8 = lambda y: np.round((np.clip(y, -1, 1) + 1) * 127.5)  # noqa: E731
    mse = float(np.mean((to_u8(a) - to_u8(b)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def compare(fp32: onnx.ModelProto, int8: onnx.ModelProto, inputs: list[np.ndarray]) -> dict:
    """int8 vs fp32 under onnxruntime: mean PSNR, worst max abs diff, code-index agreement."""
    ref, test = ort_session(with_code_indices(fp32)), ort_session(with_code_indices(int8))
    psnrs, max_diff, agree, total = [], 0.0, 0, 0
    for x in inputs:
        w = fidelity_default(read_metadata(fp32))
        y_ref, i_ref = ref.run(None, feeds(ref, x, w))
        y, i = test.run(None, feeds(test, x, w))
        psnrs.append(psnr(y, y_ref))
        max_diff = max(max_diff, float(np.abs(y - y_ref).max()))
        agree += int((i == i_ref).sum())
        total += i_ref.size
    finite = [p for p in psnrs if np.isfinite(p)]
    return {
        "images": len(inputs),
        "psnr_vs_fp32_db": round(float(np.mean(finite)), 2) if finite else float("inf"),
        "max_abs_diff": max_diff,
        "index_agreement": agree / total,
    }


def load_inputs(folder: Path | None, size: int, limit: int) -> list[np.ndarray]:
    """Model inputs ([1,3,S,S] in [-1,1]) from up to `limit` faces below `folder` (crop as training)."""
    from .data import list_images, load_model_input

    paths = list_images(folder)[:: max(1, len(list_images(folder)) // limit)][:limit] if folder else [ASTRONAUT]
    return [
        (load_model_input(p, size).astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None].copy()
        for p in paths
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Quantize an exported DAEFR graph to int8.")
    ap.add_argument("input", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--recipe", choices=RECIPES, default="weights-int8")
    ap.add_argument("--calib", type=Path, help="folder of face crops (calibration and the fp32 comparison)")
    ap.add_argument("--max-images", type=int, default=32, help="faces taken from --calib")
    args = ap.parse_args(argv)

    fp32 = onnx.load(str(args.input))
    size = int(read_metadata(fp32)["daefr.input_size"])
    faces = load_inputs(args.calib, size, args.max_images)
    int8 = quantize(fp32, args.recipe, faces)
    onnx.save(int8, str(args.output))
    sizes = args.input.stat().st_size, args.output.stat().st_size
    print(f"wrote {args.output}: {sizes[1] / 1e6:.2f} MB (fp32 {sizes[0] / 1e6:.2f} MB, {sizes[0] / sizes[1]:.2f}x smaller)")
    print("int8 vs fp32 (onnxruntime): " + json.dumps(compare(fp32, int8, faces)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
