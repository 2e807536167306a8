"""int8 recipes on the tiny fixture: structure, metadata, and closeness to fp32."""

import subprocess

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from daefr_models.int8_check import read_png
from daefr_models.onnx_meta import read_metadata
from daefr_models.onnx_tools import REPO_ROOT, ort_session, psnr_u8
from daefr_models.quantize import (RECIPE_DESCRIPTIONS, compare, conv_integer_graph, load_inputs, quantize,
                                   select_convs, uint8_params)

TINY = REPO_ROOT / "tests" / "fixtures" / "daefr-tiny.onnx"
# ops tract supports for each recipe (tract fails on QLinearMul/QLinearAdd etc.)
ALLOWED_INT8_OPS = {"DequantizeLinear", "QuantizeLinear", "QLinearConv"}


@pytest.fixture(scope="module")
def fp32():
    return onnx.load(str(TINY))


@pytest.fixture(scope="module")
def faces():
    rng = np.random.default_rng(0)
    return load_inputs(None, 32, 1) + [rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)]


def _weight_slots(model):
    inits = {t.name for t in model.graph.initializer}
    return [n.input[1] for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul") and n.input[1] in inits]


def test_weights_int8_quantizes_every_big_weight_per_channel(fp32, faces):
    q = quantize(fp32, "weights-int8")
    inits = {t.name: t for t in q.graph.initializer}
    dq = [n for n in q.graph.node if n.op_type == "DequantizeLinear"]
    # every weight of the fp32 graph big enough is now produced by a DequantizeLinear
    big = [w for w in _weight_slots(fp32) if numpy_helper.to_array(
        next(t for t in fp32.graph.initializer if t.name == w)).size >= 256]
    assert big and {n.output[0] for n in dq} >= set(big)
    for node in dq:
        assert inits[node.input[0]].data_type == onnx.TensorProto.INT8
        scale = numpy_helper.to_array(inits[node.input[1]])
        assert scale.ndim == 1 and scale.size > 1  # per channel
    # activations stay float: no QuantizeLinear, no integer conv
    assert not {n.op_type for n in q.graph.node} & {"QuantizeLinear", "QLinearConv", "QLinearMatMul"}
    assert q.ByteSize() < 0.5 * fp32.ByteSize()
    # dequantized weights are within half a step of the originals
    w_name = big[0]
    w = numpy_helper.to_array(next(t for t in fp32.graph.initializer if t.name == w_name))
    node = next(n for n in dq if n.output[0] == w_name)
    wq = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
    s = numpy_helper.to_array(inits[node.input[1]])
    shape = [1] * w.ndim
    shape[next(a.i for a in node.attribute if a.name == "axis")] = -1
    assert np.abs(wq * s.reshape(shape) - w).max() <= 0.5 * s.max() + 1e-7
    result = compare(fp32, q, faces)
    assert result["index_agreement"] >= 0.99
    assert result["psnr_vs_fp32_db"] > 35


def test_metadata_is_copied_and_names_the_recipe(fp32):
    q = quantize(fp32, "weights-int8")
    before, after = read_metadata(fp32), read_metadata(q)
    assert after["daefr.quantization"] == RECIPE_DESCRIPTIONS["weights-int8"]
    assert {k: v for k, v in after.items() if k != "daefr.quantization"} == {
        k: v for k, v in before.items() if k != "daefr.quantization"}


def test_qlinear_conv_keeps_only_tract_supported_int8_ops(fp32, faces):
    q = quantize(fp32, "qlinear-conv", faces)
    int8_ops = {n.op_type for n in q.graph.node if "Quant" in n.op_type or n.op_type.startswith("QLinear")}
    assert "QLinearConv" in int8_ops
    assert int8_ops <= ALLOWED_INT8_OPS, int8_ops - ALLOWED_INT8_OPS
    # softmax, norms and the code lookup stay float
    assert not any(n.op_type == "Conv" for n in q.graph.node)
    assert {"Softmax", "ArgMax", "Gather", "InstanceNormalization"} <= {n.op_type for n in q.graph.node}
    assert compare(fp32, q, faces)["index_agreement"] >= 0.9


def test_static_recipes_need_calibration(fp32):
    with pytest.raises(ValueError, match="calib"):
        quantize(fp32, "qlinear-conv", [])


# ---- int8-dot: ConvInteger for the Convs that fit the noise and flip budgets ----

INT8_DOT_OPS = {"QuantizeLinear", "ConvInteger", "Cast"}


def test_int8_dot_quantizes_convs_as_conv_integer_and_keeps_the_rest_float(fp32, faces):
    report = {}
    q = quantize(fp32, "int8-dot", faces, select=faces, report=report, noise_budget=1.0, flip_budget=1.0)
    ops = [n.op_type for n in q.graph.node]
    n_convs = sum(n.op_type == "Conv" for n in fp32.graph.node)
    # unlimited budgets: every Conv is int8, each as QuantizeLinear -> ConvInteger -> Cast -> Mul (-> Add)
    assert report["int8_convs"] == n_convs and not report["float_convs"]
    assert ops.count("ConvInteger") == n_convs and "Conv" not in ops
    int8_ops = {o for o in ops if "Quant" in o or "Integer" in o or o.startswith("QLinear") or o == "Cast"}
    assert int8_ops <= INT8_DOT_OPS, int8_ops - INT8_DOT_OPS
    assert {"Softmax", "ArgMax", "Gather", "InstanceNormalization"} <= set(ops)
    inits = {t.name: t for t in q.graph.initializer}
    for node in (n for n in q.graph.node if n.op_type == "ConvInteger"):
        assert inits[node.input[0].replace("x_uint8", "x_zero_point")].data_type == onnx.TensorProto.UINT8
        assert inits[node.input[1]].data_type == onnx.TensorProto.INT8
    assert read_metadata(q)["daefr.quantization"] == RECIPE_DESCRIPTIONS["int8-dot"]
    result = compare(fp32, q, faces)
    assert result["psnr_vs_fp32_db"] > 25 and result["index_agreement"] >= 0.8


def test_int8_dot_with_no_budget_takes_only_harmless_convs(fp32, faces):
    report = {}
    q = quantize(fp32, "int8-dot", faces, select=faces, report=report, noise_budget=0.0, flip_budget=0.0)
    assert report["predicted_noise"] == 0.0 and report["predicted_flips"] == 0.0
    assert report["int8_convs"] < report["convs"]
    assert sum(n.op_type == "ConvInteger" for n in q.graph.node) == report["int8_convs"]


def test_int8_dot_needs_calibration_and_selection_faces(fp32, faces):
    with pytest.raises(ValueError, match="calib"):
        quantize(fp32, "int8-dot", faces, select=[])


def test_select_convs_takes_cheapest_per_mac_within_both_budgets():
    sens = {"a": {"noise": 1e-5, "flips": 0.0}, "b": {"noise": 4e-5, "flips": 0.0},
            "c": {"noise": 0.0, "flips": 0.005}, "d": {"noise": 3e-5, "flips": 0.002}}
    macs = {"a": 100, "b": 100, "c": 100, "d": 1}
    # per MAC: a 0.002, b 0.008, c 0.0083, d 0.93 -> a, b fill the noise budget; c fits the flips; d does not fit
    assert select_convs(sens, macs, noise_budget=5e-5, flip_budget=0.006) == ["a", "b", "c"]
    assert select_convs(sens, macs, noise_budget=0.0, flip_budget=0.0) == []
    assert select_convs({**sens, "e": {"noise": 0.0, "flips": 0.0}}, {**macs, "e": 1}, 0.0, 0.0) == ["e"]


def test_conv_integer_graph_computes_the_dequantized_conv():
    """One Conv: ConvInteger + float rescale = float Conv of the uint8-rounded input and int8 weights."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    x = rng.uniform(-1.5, 2.0, size=(1, 3, 8, 8)).astype(np.float32)
    conv = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="c", pads=[1, 1, 1, 1])
    graph = helper.make_graph([conv], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4, 8, 8])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    q = conv_integer_graph(model, {"c"}, {"x": (-1.5, 2.0)})
    assert [n.op_type for n in q.graph.node] == ["QuantizeLinear", "ConvInteger", "Cast", "Mul", "Add"]
    # the same arithmetic in float: dequantized input and weights through the original Conv
    s_x, z_x = uint8_params(-1.5, 2.0)
    x_dq = (np.clip(np.round(x / s_x) + z_x, 0, 255) - z_x) * s_x
    s_w = np.abs(w).reshape(4, -1).max(1) / 127.0
    w_dq = np.round(w / s_w[:, None, None, None]) * s_w[:, None, None, None]
    ref = onnx.ModelProto()
    ref.CopyFrom(model)
    ref.graph.initializer[0].CopyFrom(numpy_helper.from_array(w_dq.astype(np.float32), "w"))
    want = ort_session(ref).run(None, {"x": x_dq.astype(np.float32)})[0]
    got = ort_session(q).run(None, {"x": x})[0]
    assert np.abs(got - want).max() < 1e-4


DAEFR_BIN = REPO_ROOT / "target" / "release" / "daefr"


@pytest.mark.skipif(not DAEFR_BIN.is_file(), reason="needs the release runtime (cargo build --release)")
def test_int8_dot_graph_runs_in_tract(fp32, faces, tmp_path):
    """tract (the runtime) loads the ConvInteger graph and restores close to its fp32 restore."""
    q = quantize(fp32, "int8-dot", faces, select=faces, noise_budget=1.0, flip_budget=1.0)
    onnx.save(q, str(tmp_path / "q.onnx"))
    face = REPO_ROOT / "tests" / "fixtures" / "astronaut.png"
    for name, model in (("fp32", TINY), ("int8", tmp_path / "q.onnx")):
        subprocess.run([str(DAEFR_BIN), "restore", str(face), "-o", str(tmp_path / f"{name}.png"), "--aligned",
                        "--model", str(model), "--no-cache"], check=True, capture_output=True)
    assert psnr_u8(read_png(tmp_path / "fp32.png"), read_png(tmp_path / "int8.png")) > 25
