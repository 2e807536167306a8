"""int8 forms of an exported DAEFR graph, and how far they move from fp32.

    python -m daefr_models.quantize IN.onnx -o OUT.onnx --recipe weights-int8 [--calib DIR]
    python -m daefr_models.quantize IN.onnx -o OUT.onnx --recipe qlinear-conv --calib DIR
    python -m daefr_models.quantize IN.onnx -o OUT.onnx --recipe int8-dot --calib DIR --max-images 64

Recipes (what tract 0.23 does with each is measured in models/ARCHITECTURE.md, "int8"):

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
- `int8-dot` (for boards with the dot-product extension, `asimddp`: Pi 5, Jetson Orin; see
  models/ARCHITECTURE.md, "int8 on dot-product ARM"): mixed precision chosen per Conv. A chosen Conv
  becomes QuantizeLinear (uint8, min/max over `--calib` faces at fidelity weights 0, 0.5 and 1) ->
  ConvInteger (int8 weights, symmetric per output channel) -> Cast -> Mul (input scale x weight
  scale per channel) -> Add (bias): tract runs the ConvInteger with its i8 kernels
  (`arm64simd_mmm_i32_8x8_dot`), and the int32 accumulator is rescaled in float, so there is no
  output requantization (QLinearConv's uint8 output cost ~3 dB on lite-128). Which Convs: each one
  is quantized alone and scored on faces held out from the calibration (taken between the
  calibration faces of the same folder) by the output noise power against fp32 (the worse of
  fidelity weight 0 and the default) and the fraction of code indices that flip; Convs are then
  taken in order of (noise share + flip share) per MAC while the summed noise stays within
  `--noise-budget` and the summed flips within `--flip-budget`. Everything else stays float:
  Softmax, norms, attention and transformer matmuls, ArgMax/Gather. Check the result on ARM with
  `python -m daefr_models.int8_check`.

After writing, the int8 graph is compared with the fp32 one under onnxruntime (graph
optimisations off) on the `--calib` faces (for `int8-dot`: `--max-images` held-out faces of that
folder; without `--calib`, the committed astronaut): PSNR of the int8 output
against the fp32 output, max abs diff, and code-index agreement. `daefr.quantization` names the
recipe; all other metadata is copied.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

from .data import list_images
from .onnx_meta import fidelity_default, read_metadata, write_metadata
from .onnx_tools import ASTRONAUT, compare, feeds, has_weight_input, load_face, ort_session, to_u8, with_code_indices
from .output_guard import refusal

RECIPES = ("weights-int8", "qlinear-conv", "qdq-conv", "int8-dot")
RECIPE_DESCRIPTIONS = {
    "weights-int8": "int8-weights: Conv/Gemm/MatMul weights int8 symmetric per output channel -> "
    "DequantizeLinear; activations float32",
    "qlinear-conv": "int8-qlinear-conv: Conv as QLinearConv (uint8 activations, min/max calibrated; "
    "int8 per-channel weights); everything else float32",
    "qdq-conv": "int8-qdq-conv: QuantizeLinear/DequantizeLinear around Conv (uint8 activations, "
    "min/max calibrated; int8 per-channel weights); everything else float32",
    "int8-dot": "int8-dot: selected Convs as QuantizeLinear -> ConvInteger (uint8 activations, min/max "
    "calibrated; int8 per-channel weights) -> float rescale; everything else float32",
}
#: `int8-dot` defaults: summed output noise power (MSE of the 8-bit output / 255^2; 5e-5 = 43 dB) and
#: summed code-index flip rate of the chosen Convs, each measured alone.
NOISE_BUDGET = 5e-5
FLIP_BUDGET = 0.006
#: Fidelity weights the activation ranges are taken at (the decoder's ranges grow with the weight).
CALIB_WEIGHTS = (0.0, 0.5, 1.0)
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


def conv_macs(model: onnx.ModelProto) -> dict[str, int]:
    """Multiply-accumulates of every Conv node (by node name), from ONNX shape inference."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in list(inferred.graph.value_info) + list(inferred.graph.output)
    }
    inits = {t.name: t for t in model.graph.initializer}
    out = {}
    for node in model.graph.node:
        if node.op_type == "Conv":
            out_hw = shapes[node.output[0]][2:]
            out[node.name] = int(np.prod(inits[node.input[1]].dims)) * int(np.prod(out_hw))
    return out


def activation_ranges(model: onnx.ModelProto, inputs: list[np.ndarray], names: list[str],
                      weights: tuple[float, ...] = CALIB_WEIGHTS) -> dict[str, tuple[float, float]]:
    """Min and max of the named float tensors over `inputs` (x each fidelity weight), onnxruntime."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    have = {o.name for o in probe.graph.output}
    probe.graph.output.extend(
        helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names if n not in have)
    sess = ort_session(probe)
    outs = [o.name for o in sess.get_outputs()]
    lo = dict.fromkeys(names, np.inf)
    hi = dict.fromkeys(names, -np.inf)
    for x in inputs:
        for w in weights if has_weight_input(model) else (None,):
            got = dict(zip(outs, sess.run(None, feeds(sess, x, w))))
            for n in names:
                lo[n] = min(lo[n], float(got[n].min()))
                hi[n] = max(hi[n], float(got[n].max()))
    return {n: (lo[n], hi[n]) for n in names}


def uint8_params(lo: float, hi: float) -> tuple[np.float32, np.uint8]:
    """Asymmetric uint8 scale and zero point covering [lo, hi] and 0 (onnxruntime's MinMax rule)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 or 1.0
    return np.float32(scale), np.uint8(np.clip(round(-lo / scale), 0, 255))


def conv_integer_graph(model: onnx.ModelProto, convs: set[str],
                       ranges: dict[str, tuple[float, float]]) -> onnx.ModelProto:
    """`model` with each Conv named in `convs` as QuantizeLinear -> ConvInteger -> Cast -> Mul (-> Add).

    Activations: uint8, per tensor, from `ranges` of the Conv's input. Weights: int8, symmetric
    (zero point 0), one scale per output channel. The int32 accumulator is scaled back in float by
    input scale x weight scale (one [1,C,1,1] constant) and the float bias is added: no output
    requantization. Other nodes are untouched.
    """
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inits = {t.name: t for t in graph.initializer}
    nodes = []
    for node in graph.node:
        if node.op_type != "Conv" or node.name not in convs:
            nodes.append(node)
            continue
        p = f"{node.name}_int8/"
        x, w = node.input[0], node.input[1]
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if w not in inits or (bias is not None and bias not in inits):
            raise ValueError(f"{node.name}: weight and bias must be initializers")
        x_scale, x_zero = uint8_params(*ranges[x])
        wf = numpy_helper.to_array(inits[w]).astype(np.float32)
        w_scale = np.abs(wf).reshape(wf.shape[0], -1).max(axis=1) / 127.0
        w_scale = np.where(w_scale > 0, w_scale, 1.0).astype(np.float32)
        wq = np.clip(np.round(wf / w_scale.reshape(-1, *[1] * (wf.ndim - 1))), -127, 127).astype(np.int8)
        graph.initializer.extend([
            numpy_helper.from_array(np.array(x_scale, np.float32), p + "x_scale"),
            numpy_helper.from_array(np.array(x_zero, np.uint8), p + "x_zero_point"),
            numpy_helper.from_array(wq, p + "w_int8"),
            numpy_helper.from_array(np.zeros((), np.int8), p + "w_zero_point"),
            numpy_helper.from_array((x_scale * w_scale).reshape(1, -1, 1, 1).astype(np.float32), p + "scale"),
        ])
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        y = node.output[0]
        nodes += [
            helper.make_node("QuantizeLinear", [x, p + "x_scale", p + "x_zero_point"], [p + "x_uint8"],
                             name=p + "quantize"),
            helper.make_node("ConvInteger", [p + "x_uint8", p + "w_int8", p + "x_zero_point", p + "w_zero_point"],
                             [p + "acc"], name=p + "conv", **attrs),
            helper.make_node("Cast", [p + "acc"], [p + "acc_f32"], name=p + "cast", to=onnx.TensorProto.FLOAT),
            helper.make_node("Mul", [p + "acc_f32", p + "scale"], [p + "scaled" if bias else y], name=p + "rescale"),
        ]
        if bias:
            b = numpy_helper.to_array(inits[bias]).astype(np.float32).reshape(1, -1, 1, 1)
            graph.initializer.append(numpy_helper.from_array(b, p + "bias"))
            nodes.append(helper.make_node("Add", [p + "scaled", p + "bias"], [y], name=p + "bias"))
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(out)
    return out


def conv_sensitivity(model: onnx.ModelProto, ranges: dict[str, tuple[float, float]],
                     inputs: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Each Conv quantized alone (`conv_integer_graph`): output noise power (MSE of the 8-bit outputs
    / 255^2, mean over `inputs`; the worse of fidelity weight 0 and the model's default, because the
    pure code path at 0 shows the decoder's noise most) and code-index flip rate."""
    default = fidelity_default(read_metadata(model))
    weights = (None,) if default is None else tuple(sorted({0.0, default}))
    ref_sess = ort_session(with_code_indices(model))
    refs = {w: [ref_sess.run(None, feeds(ref_sess, x, w)) for x in inputs] for w in weights}
    out = {}
    for node in [n for n in model.graph.node if n.op_type == "Conv"]:
        sess = ort_session(with_code_indices(conv_integer_graph(model, {node.name}, ranges)))
        noise = dict.fromkeys(weights, 0.0)
        flips = total = 0
        for w in weights:
            for x, (y_ref, i_ref) in zip(inputs, refs[w]):
                y, i = sess.run(None, feeds(sess, x, w))
                noise[w] += float(np.mean((to_u8(y) - to_u8(y_ref)) ** 2)) / 255.0**2 / len(inputs)
                if w == weights[-1]:  # the code indices do not depend on the weight
                    flips += int((i != i_ref).sum())
                    total += i_ref.size
        out[node.name] = {"noise": max(noise.values()), "flips": flips / total}
    return out


def select_convs(sensitivity: dict[str, dict[str, float]], macs: dict[str, int],
                 noise_budget: float = NOISE_BUDGET, flip_budget: float = FLIP_BUDGET) -> list[str]:
    """Convs to quantize: by (noise / noise_budget + flips / flip_budget) per MAC, cheapest first,
    each taken while both sums stay within budget (later, cheaper ones may still fit). With a budget
    of 0 only Convs measured harmless on that count are taken."""
    nb, fb = max(noise_budget, 1e-12), max(flip_budget, 1e-12)
    cost = {c: (s["noise"] / nb + s["flips"] / fb) / max(macs[c], 1) for c, s in sensitivity.items()}
    chosen, noise, flips = [], 0.0, 0.0
    for c in sorted(sensitivity, key=lambda c: (cost[c], c)):
        s = sensitivity[c]
        if noise + s["noise"] <= noise_budget and flips + s["flips"] <= flip_budget:
            chosen.append(c)
            noise += s["noise"]
            flips += s["flips"]
    return chosen


def quantize_int8_dot(model: onnx.ModelProto, calib: list[np.ndarray], select: list[np.ndarray],
                      noise_budget: float = NOISE_BUDGET, flip_budget: float = FLIP_BUDGET,
                      report: dict | None = None) -> onnx.ModelProto:
    """The `int8-dot` recipe: ranges from `calib`, per-Conv sensitivity on `select`, ConvInteger graph."""
    if not calib or not select:
        raise ValueError("int8-dot needs calibration images (--calib DIR) and held-out faces to choose Convs")
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    names = sorted({n.input[0] for n in convs})
    ranges = activation_ranges(model, calib, names)
    sensitivity = conv_sensitivity(model, ranges, select)
    macs = conv_macs(model)
    chosen = select_convs(sensitivity, macs, noise_budget, flip_budget)
    if report is not None:
        report.update({
            "convs": len(convs), "int8_convs": len(chosen),
            "int8_conv_macs": sum(macs[c] for c in chosen), "conv_macs": sum(macs.values()),
            "predicted_noise": sum(sensitivity[c]["noise"] for c in chosen),
            "predicted_flips": sum(sensitivity[c]["flips"] for c in chosen),
            "float_convs": [n.name for n in convs if n.name not in set(chosen)],
            "sensitivity": sensitivity,
        })
    return conv_integer_graph(model, set(chosen), ranges)


def quantize(model: onnx.ModelProto, recipe: str, calib: list[np.ndarray] | None = None,
             select: list[np.ndarray] | None = None, report: dict | None = None,
             **budgets: float) -> onnx.ModelProto:
    """The int8 form of `model` under `recipe`, with `daefr.quantization` set.

    `select`, `report` and the budgets (`noise_budget`, `flip_budget`) are for `int8-dot` only.
    """
    if recipe == "weights-int8":
        out = quantize_weights_int8(model)
    elif recipe == "qlinear-conv":
        out = quantize_static_conv(model, calib or [], "qoperator")
    elif recipe == "qdq-conv":
        out = quantize_static_conv(model, calib or [], "qdq")
    elif recipe == "int8-dot":
        out = quantize_int8_dot(model, calib or [], select or [], report=report, **budgets)
    else:
        raise ValueError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
    meta = read_metadata(model)
    meta["daefr.quantization"] = RECIPE_DESCRIPTIONS[recipe]
    write_metadata(out, meta)
    return out


def load_inputs(folder: Path | None, size: int, limit: int, held_out: bool = False) -> list[np.ndarray]:
    """Model inputs ([1,3,S,S] in [-1,1]) from up to `limit` faces below `folder` (crop as training).

    Faces are evenly spaced over the folder's sorted files; `held_out` takes the ones halfway
    between those (so that calibration and selection faces never overlap).
    """
    if folder:
        paths = list_images(folder)
        step = max(1, len(paths) // limit)
        paths = paths[step // 2 if held_out else 0:: step][:limit]
    else:
        paths = [ASTRONAUT]
    return [load_face(p, size) for p in paths]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Quantize an exported DAEFR graph to int8.")
    ap.add_argument("input", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--recipe", choices=RECIPES, default="weights-int8")
    ap.add_argument("--calib", type=Path, help="folder of face crops (calibration and the fp32 comparison)")
    ap.add_argument("--max-images", type=int, default=32, help="faces taken from --calib")
    ap.add_argument("--select-images", type=int, default=12,
                    help="int8-dot: held-out faces of --calib (between the calibration faces) each Conv is "
                    "scored on; the fp32 comparison then uses --max-images held-out faces")
    ap.add_argument("--noise-budget", type=float, default=NOISE_BUDGET,
                    help="int8-dot: summed output noise power of the chosen Convs (MSE/255^2)")
    ap.add_argument("--flip-budget", type=float, default=FLIP_BUDGET,
                    help="int8-dot: summed code-index flip rate of the chosen Convs")
    ap.add_argument("--report", type=Path, help="int8-dot: write the per-Conv sensitivity and choice as JSON")
    ap.add_argument("--force", action="store_true", help="replace an existing output")
    args = ap.parse_args(argv)

    def refused() -> str | None:
        return refusal(args.output, (args.input,), args.force)

    if (why := refused()) is not None:
        print(f"quantize: {why}", file=sys.stderr)
        return 2
    fp32 = onnx.load(str(args.input))
    size = int(read_metadata(fp32)["daefr.input_size"])
    faces = load_inputs(args.calib, size, args.max_images)
    check = faces
    report: dict = {}
    if args.recipe == "int8-dot":
        check = load_inputs(args.calib, size, args.max_images, held_out=True) if args.calib else faces
        int8 = quantize(fp32, args.recipe, faces, select=check[: args.select_images], report=report,
                        noise_budget=args.noise_budget, flip_budget=args.flip_budget)
        print(f"int8-dot: {report['int8_convs']} of {report['convs']} Convs int8, "
              f"{report['int8_conv_macs'] / 1e6:.0f} of {report['conv_macs'] / 1e6:.0f} conv MMAC; predicted "
              f"noise {report['predicted_noise']:.2e}, flips {report['predicted_flips']:.4f}; float: "
              + ", ".join(report["float_convs"]))
        if args.report:
            args.report.write_text(json.dumps(report, indent=1) + "\n")
    else:
        int8 = quantize(fp32, args.recipe, faces)
    if (why := refused()) is not None:  # again: int8-dot takes minutes
        print(f"quantize: {why}", file=sys.stderr)
        return 2
    onnx.save(int8, str(args.output))
    sizes = args.input.stat().st_size, args.output.stat().st_size
    print(f"wrote {args.output}: {sizes[1] / 1e6:.2f} MB (fp32 {sizes[0] / 1e6:.2f} MB, {sizes[0] / sizes[1]:.2f}x smaller)")
    print("int8 vs fp32 (onnxruntime): " + json.dumps(compare(fp32, int8, check)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
