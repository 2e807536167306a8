"""recover: an exported fp32 restorer read back into a trainable checkpoint."""

import onnx
import pytest
from onnx import numpy_helper
import torch

from daefr_models import recover as rec
from daefr_models.arch import load_checkpoint
from daefr_models.export import export, random_model, to_onnx
from daefr_models.onnx_meta import write_metadata


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    # a random model keeps PyTorch's all-ones norms, which onnxruntime merges into shared
    # initializers: the file's initializers are fewer than the fingerprint export's
    model = random_model("tiny-32-s2d", seed=3)
    out = tmp_path_factory.mktemp("recover") / "tiny-s2d.onnx"
    export(model, out, template_path=None, licence="test")
    return model, out


def test_every_inference_weight_comes_back_exactly(exported, tmp_path):
    model, path = exported
    got = rec.recover(path, log=lambda *_: None)
    assert got.config == "tiny-32-s2d" and got.tract_friendly
    original, recovered = model.state_dict(), got.model.state_dict()
    absent = set(got.not_recovered)
    # only the LQ autoencoder's decoding half is missing: the restore graph never runs it
    assert absent and all(k.startswith(("lq.decoder.", "lq.post_quant_conv.", "lq.quantize.")) for k in absent)
    compared = 0
    for name, value in original.items():
        if name in absent:
            continue
        assert torch.equal(recovered[name], value), name
        compared += 1
    assert compared > 100
    # the written checkpoint is what export and --init-from read
    out = tmp_path / "model.pt"
    rec.save_checkpoint(got, path, out)
    loaded, config = load_checkpoint(out)
    assert config == "tiny-32-s2d"
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    w = torch.full((1,), 0.3)
    with torch.no_grad():
        assert torch.equal(loaded.restore_with_fidelity(x, w), model.eval().restore_with_fidelity(x, w))


def test_the_exporter_form_comes_back_too(tmp_path):
    model = random_model("tiny-32", seed=5)
    path = tmp_path / "plain.onnx"
    export(model, path, template_path=None, licence="test", tract_friendly=False)
    got = rec.recover(path, log=lambda *_: None)
    assert not got.tract_friendly
    recovered = got.model.state_dict()
    assert all(torch.equal(recovered[k], v) for k, v in model.state_dict().items() if k not in got.not_recovered)


def test_a_graph_constant_equal_to_a_weight_is_not_taken_for_it():
    finger = rec.fingerprint_model("tiny-32-s2d")
    proto = to_onnx(finger, {})
    name, param = next((n, p) for n, p in finger.named_parameters() if p.numel() > 8)
    clash = param.detach().reshape(-1)[3:4].numpy().copy()
    proto.graph.initializer.append(numpy_helper.from_array(clash, "a_constant"))
    where, _ = rec.locate_parameters(finger, proto)
    names = [i.name for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT]
    owners = {names[k] for k in where[name][0].tolist()}
    assert "a_constant" not in owners and len(owners) == 1


def test_fingerprint_values_are_distinct():
    finger = rec.fingerprint_model("tiny-32-s2d")
    values = torch.cat([p.detach().reshape(-1) for p in finger.parameters()])
    assert values.unique().numel() == values.numel()


def test_refuses_int8_and_foreign_files(exported, tmp_path):
    _, path = exported
    proto = onnx.load(str(path))
    write_metadata(proto, {"daefr.quantization": "int8-weights"})
    quantized = tmp_path / "q.onnx"
    onnx.save(proto, str(quantized))
    with pytest.raises(rec.RecoverError, match="fp32"):
        rec.recover(quantized, log=lambda *_: None)

    proto = onnx.load(str(path))
    write_metadata(proto, {"daefr.config": "tiny-32"})  # a graph that is not tiny-32's
    foreign = tmp_path / "f.onnx"
    onnx.save(proto, str(foreign))
    with pytest.raises(rec.RecoverError, match="differs"):
        rec.recover(foreign, log=lambda *_: None)

    garbage = tmp_path / "g.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(rec.RecoverError, match="not an ONNX model"):
        rec.recover(garbage, log=lambda *_: None)
    with pytest.raises(rec.RecoverError, match="no such file"):
        rec.recover(tmp_path / "missing.onnx", log=lambda *_: None)


def test_command_never_overwrites_silently(exported, tmp_path, capsys):
    _, path = exported
    out = tmp_path / "model.pt"
    out.write_bytes(b"keep me")
    assert rec.main([str(path), "-o", str(out)]) == 2
    assert out.read_bytes() == b"keep me"
    assert rec.main([str(path), "-o", str(out), "--force"]) == 0
    assert "bit for bit" in capsys.readouterr().out
    before = path.read_bytes()
    assert rec.main([str(path), "-o", str(path), "--force"]) == 2  # never over its own input
    assert rec.main([str(path), "-o", str(tmp_path), "--force"]) == 2  # a folder
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_two_scale_file_comes_back_with_both_heads(tmp_path):
    model = random_model("tiny-32-two-scale", seed=7)
    path = tmp_path / "two-scale.onnx"
    export(model, path, template_path=None, licence="test")
    got = rec.recover(path, log=lambda *_: None)
    assert got.config == "tiny-32-two-scale"
    recovered = got.model.state_dict()
    coarse = [k for k in model.state_dict() if k.startswith("fidelity.residual_coarse.")]
    assert coarse and all(torch.equal(recovered[k], model.state_dict()[k]) for k in coarse)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    w = torch.full((1,), 0.7)
    with torch.no_grad():
        assert torch.equal(got.model.eval().restore_with_fidelity(x, w), model.eval().restore_with_fidelity(x, w))
