"""tract_form on the tiny fixture: what it rewrites, that it computes the same, and its command."""

import subprocess

import numpy as np
import onnx
import pytest
from onnx import numpy_helper, shape_inference

from daefr_models.int8_check import read_png
from daefr_models.onnx_meta import read_metadata
from daefr_models.onnx_tools import REPO_ROOT, psnr_u8
from daefr_models.quantize import compare, load_inputs, quantize
from daefr_models.tract_form import BROADCAST_OPS, PREFIX, main, rewrite

TINY = REPO_ROOT / "tests" / "fixtures" / "daefr-tiny.onnx"
DAEFR_BIN = REPO_ROOT / "target" / "release" / "daefr"


@pytest.fixture(scope="module")
def exported():
    return onnx.load(str(TINY))


@pytest.fixture(scope="module")
def rewritten(exported):
    return rewrite(exported)


def _lower_rank_constants(model):
    """(node, constant) pairs where a Mul/Add/Sub/Div constant has a lower rank than its output."""
    inferred = shape_inference.infer_shapes(model)
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in (*inferred.graph.value_info, *inferred.graph.output)}
    inits = {i.name: i for i in model.graph.initializer}
    return [(n.name, x) for n in model.graph.node if n.op_type in BROADCAST_OPS and n.output[0] in ranks
            for x in n.input if x in inits and 0 < len(inits[x].dims) < ranks[n.output[0]]]


def _ops(model):
    return [n.op_type for n in model.graph.node]


def test_the_fixture_has_what_the_passes_rewrite(exported):
    assert _lower_rank_constants(exported)
    assert "InstanceNormalization" in _ops(exported)


def test_rewrite_gives_every_per_channel_constant_full_rank(exported, rewritten):
    model, report = rewritten
    assert report.full_rank_constants == len(_lower_rank_constants(exported))
    assert _lower_rank_constants(model) == []
    # same values: only unit axes were prepended
    before = {i.name: numpy_helper.to_array(i) for i in exported.graph.initializer}
    for init in model.graph.initializer:
        if "/rank" in init.name or init.name in before:
            name = init.name.removeprefix(PREFIX).rsplit("/rank", 1)[0]
            after = numpy_helper.to_array(init)
            assert np.array_equal(after.reshape(before[name].shape), before[name])


def test_rewrite_takes_every_group_mean_over_trailing_axes(exported, rewritten):
    model, report = rewritten
    assert report.group_means == _ops(exported).count("InstanceNormalization") > 0
    assert "InstanceNormalization" not in _ops(model)
    means = [n for n in model.graph.node if n.op_type == "ReduceMean" and n.name.endswith("/mean")]
    assert len(means) == report.group_means
    assert all(list(next(a.ints for a in n.attribute if a.name == "axes")) == [2, 3, 4] for n in means)


def test_rewrite_computes_what_the_export_computes(exported, rewritten):
    faces = load_inputs(None, 32, 1) + [np.random.default_rng(0).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)]
    stats = compare(exported, rewritten[0], faces)
    assert stats["max_abs_diff"] < 1e-5  # the mean's additions run in another order
    assert stats["index_agreement"] == 1.0


def test_rewrite_is_idempotent_and_keeps_the_metadata(exported, rewritten):
    again, report = rewrite(rewritten[0])
    assert (report.full_rank_constants, report.group_means) == (0, 0)
    assert read_metadata(again) == read_metadata(exported)


def test_int8_weights_quantize_the_rewritten_graph_like_the_export(exported, rewritten):
    def dequantized(model):
        return sorted(n.output[0] for n in quantize(model, "weights-int8").graph.node if n.op_type == "DequantizeLinear")

    assert dequantized(rewritten[0]) == dequantized(exported)


def test_command_writes_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "out.onnx"
    assert main([str(TINY), "-o", str(out)]) == 0
    assert "GroupNorm means over trailing axes" in capsys.readouterr().out
    assert main([str(TINY), "-o", str(out), "--no-parity"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "x.onnx")]) == 2


@pytest.mark.skipif(not DAEFR_BIN.is_file(), reason="needs the release runtime (cargo build --release)")
def test_tract_restores_the_same_face_from_both_forms(rewritten, tmp_path):
    onnx.save(rewritten[0], str(tmp_path / "tract_form.onnx"))
    face = REPO_ROOT / "tests" / "fixtures" / "astronaut.png"
    for name, model in (("export", TINY), ("tract_form", tmp_path / "tract_form.onnx")):
        subprocess.run([str(DAEFR_BIN), "restore", str(face), "-o", str(tmp_path / f"{name}.png"), "--aligned",
                        "--model", str(model), "--no-cache"], check=True, capture_output=True)
    assert psnr_u8(read_png(tmp_path / "export.png"), read_png(tmp_path / "tract_form.png")) > 45
