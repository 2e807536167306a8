"""ONNX export: parity with PyTorch, the model contract, and the committed fixtures/goldens."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from daefr_models import golden
from daefr_models.arch import DAEFR
from daefr_models.config import get_config
from daefr_models.arch import load_checkpoint
from daefr_models.export import export, parity, parity_inputs, random_model
from daefr_models.onnx_meta import FORMAT_VERSION, load_template, provisional_template, read_metadata
from daefr_models.onnx_tools import REPO_ROOT, feeds, ort_session

# Ops tract's ONNX front-end supports and that the export is allowed to use (models/ARCHITECTURE.md).
TRACT_OPS = {
    "Conv", "InstanceNormalization", "Reshape", "Mul", "Add", "Sub", "Div", "Sigmoid", "Transpose",
    "MatMul", "Gemm", "Softmax", "LayerNormalization", "Pad", "Erf", "Resize", "ArgMax", "Gather",
    "Concat", "Unsqueeze", "Squeeze", "Shape", "Slice", "Cast", "Constant", "Identity",
    "LeakyRelu",  # fidelity path; tract runs it (tests/golden.rs runs the tiny fixture that has it)
    "ReduceMean", "Sqrt",  # GroupNorm as tract_form writes it
    "DepthToSpace",  # the space-to-depth residual head's pixel shuffle (tests/golden.rs runs the bundled model)
}
REQUIRED_KEYS = {
    "daefr.format_version", "daefr.config", "daefr.input_size", "daefr.input_range",
    "daefr.channel_order", "daefr.template", "daefr.template_source", "daefr.crop",
    "daefr.licence", "daefr.quantization", "daefr.toolchain_version",
}
TINY_FIXTURE = REPO_ROOT / "tests" / "fixtures" / "daefr-tiny.onnx"


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    model = random_model("tiny-32", seed=0)
    out = tmp_path_factory.mktemp("export") / "tiny.onnx"
    proto = export(model, out, template_path=None, licence="test")
    return model, proto, out


def _check_contract(proto: onnx.ModelProto, size: int) -> dict:
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert [i.name for i in proto.graph.input] == ["input", "weight"]
    assert [o.name for o in proto.graph.output] == ["output"]
    for value in (proto.graph.input[0], proto.graph.output[0]):
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        assert dims == [1, 3, size, size]
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    weight = proto.graph.input[1]
    assert [d.dim_value for d in weight.type.tensor_type.shape.dim] == [1]
    assert weight.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    # the weight enters only through Mul/Add: one optimized plan serves every w
    consumers = [n.op_type for n in proto.graph.node if "weight" in n.input]
    assert consumers and set(consumers) <= {"Mul", "Add"}, consumers
    assert not {"If", "Loop", "Where", "Scan"} & {n.op_type for n in proto.graph.node}
    ops = {n.op_type for n in proto.graph.node}
    assert ops <= TRACT_OPS, f"ops outside the tract-supported set: {ops - TRACT_OPS}"
    assert {"ArgMax", "Gather"} <= ops
    assert not any(n.op_type.startswith("Dropout") for n in proto.graph.node)
    meta = read_metadata(proto)
    assert REQUIRED_KEYS <= set(meta)
    assert meta["daefr.format_version"] == FORMAT_VERSION == "2"
    assert 0.0 <= float(meta["daefr.fidelity_default"]) <= 1.0
    assert meta["daefr.input_size"] == str(size)
    template = json.loads(meta["daefr.template"])
    for key in ("right_eye", "left_eye", "nose_tip", "mouth_center"):
        x, y = template[key]
        assert 0 <= x < size and 0 <= y < size
    # subject's right eye is on the image's left
    assert template["right_eye"][0] < template["left_eye"][0]
    return meta


def test_export_matches_pytorch(tiny_export):
    model, proto, _ = tiny_export
    inputs = parity_inputs([], 32)  # the committed astronaut
    rng = np.random.default_rng(0)
    inputs += [rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)]
    result = parity(model, proto, inputs, weights=(0.0, 0.3, 0.5, 1.0))
    assert result["max_abs_diff"] <= 1e-4
    assert result["index_agreement"] >= 0.999


def test_exported_weight_changes_the_output_continuously(tiny_export):
    _, proto, _ = tiny_export
    sess = ort_session(proto)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
    outs = {w: sess.run(None, feeds(sess, x, w))[0] for w in (0.0, 0.5, 1.0)}
    assert np.abs(outs[0.0] - outs[1.0]).max() > 1e-2  # the knob does something
    # w = 0.5 lies between the two ends (not exactly their mean: the fusion blocks scale with w too)
    assert np.abs(outs[0.5] - outs[0.0]).mean() < np.abs(outs[1.0] - outs[0.0]).mean()


def test_a_weight_conditioned_head_exports_within_the_contract(tmp_path):
    model = random_model("tiny-32-s2d-film", seed=1)
    proto = export(model, tmp_path / "film.onnx", template_path=None, licence="test")
    meta = _check_contract(proto, 32)  # w still meets only Mul and Add
    assert meta["daefr.config"] == "tiny-32-s2d-film"
    x = np.random.default_rng(2).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
    result = parity(model, proto, [x], weights=(0.0, 0.4, 1.0))
    assert result["max_abs_diff"] <= 1e-4


def test_export_follows_the_contract(tiny_export):
    _, proto, path = tiny_export
    meta = _check_contract(proto, 32)
    assert meta["daefr.config"] == "tiny-32"
    assert "provisional" in meta["daefr.template_source"]
    assert json.loads(meta["daefr.template"]) == provisional_template(32)
    assert int(meta["daefr.macs"]) > 0
    # one self-contained file, no external data
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in onnx.load(str(path)).graph.initializer)


def test_measured_template_file_is_used(tmp_path):
    tpl = {"right_eye": [10.5, 12.0], "left_eye": [21.5, 12.0], "nose_tip": [16.0, 18.0],
           "mouth_center": [16.0, 24.0], "template_source": "unit test", "input_size": 32}
    (tmp_path / "t.json").write_text(json.dumps(tpl))
    template, source = load_template(tmp_path / "t.json", 32)
    assert source == "unit test"
    assert template == {k: tpl[k] for k in ("right_eye", "left_eye", "nose_tip", "mouth_center")}
    with pytest.raises(ValueError, match="input size"):
        load_template(tmp_path / "t.json", 128)
    del tpl["nose_tip"]
    (tmp_path / "t.json").write_text(json.dumps(tpl))
    with pytest.raises(ValueError, match="nose_tip"):
        load_template(tmp_path / "t.json", 32)


def test_committed_models_follow_the_contract():
    _check_contract(onnx.load(str(TINY_FIXTURE)), 32)
    _check_contract(onnx.load(str(REPO_ROOT / "models" / "daefr-lite-128.onnx")), 128)


def test_goldens_are_fresh():
    assert golden.check(list(golden.MODELS)) == []


def test_load_checkpoint_reads_train_output(tmp_path):
    model = random_model("tiny-32", seed=3)
    ablation = DAEFR(get_config("tiny-32"), use_fusion=False)
    torch.save({"config": "tiny-32", "model": model.state_dict(), "use_lq_encoder": True, "use_fusion": True},
               tmp_path / "model.pt")
    torch.save({"config": "tiny-32", "model": ablation.state_dict(), "use_lq_encoder": True, "use_fusion": False},
               tmp_path / "ablation.pt")
    loaded, name = load_checkpoint(tmp_path / "model.pt")
    assert name == "tiny-32"
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    loaded_ablation, _ = load_checkpoint(tmp_path / "ablation.pt")
    assert type(loaded_ablation.fusion).__name__ == "ConcatFusion"
    with pytest.raises(ValueError, match="lite-128"):
        load_checkpoint(tmp_path / "model.pt", config="lite-128")
