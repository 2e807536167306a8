"""int8 recipes on the tiny fixture: structure, metadata, and closeness to fp32."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from daefr_models.export import REPO_ROOT
from daefr_models.onnx_meta import read_metadata
from daefr_models.quantize import RECIPE_DESCRIPTIONS, compare, load_inputs, quantize

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
