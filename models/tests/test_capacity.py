"""The capacity probe (``daefr_models.capacity``): its figures agree with the autoencoder's own
forward pass where they must, and the command line reads checkpoints and writes its table."""

import json

import numpy as np
import torch
from PIL import Image

from daefr_models import capacity
from daefr_models.arch import DAEFR
from daefr_models.config import get_config
from daefr_models.data import synthetic_faces, to_model_range
from daefr_models.losses import psnr


def _model(seed: int = 0) -> DAEFR:
    torch.manual_seed(seed)
    return DAEFR(get_config("tiny-32")).eval()


def test_vq_figure_is_the_autoencoders_own_reconstruction():
    ae = _model().hq
    crops = synthetic_faces(6, 32, seed=1)
    out = capacity.probe(ae, crops)
    with torch.no_grad():
        rec, _, _ = ae(to_model_range(crops))
    expected = psnr((rec.clamp(-1, 1) + 1) / 2, crops.float() / 255).mean().item()
    assert abs(out["vq"] - expected) < 1e-3
    assert out["crops"] == 6 and 1 <= out["codes_used"] <= ae.cfg.n_embed
    assert 1.0 <= out["perplexity"] <= out["codes_used"] + 1e-3
    assert 1 <= out["var99"] <= ae.cfg.embed_dim


def test_restricted_code_choice_equals_the_full_one_at_full_size():
    ae = _model(2).hq
    z = capacity.features(ae, synthetic_faces(4, 32, seed=3))
    book = ae.quantize.embedding.weight.detach()
    _, full = capacity.nearest_codes(z, book)
    mean, axes, var = capacity.principal_axes(z)
    assert torch.allclose(var.sum(), torch.tensor(1.0), atol=1e-5)
    assert torch.equal(capacity.nearest_codes(z, book, axes, mean)[1], full)
    # one code only: every position gets it
    one = capacity.nearest_codes(z, book[:1])[1]
    assert torch.equal(one, book[0].view(1, -1, 1, 1).expand_as(one))


def test_usage_counts_and_perplexity():
    used, perp, order = capacity.usage(torch.tensor([3, 3, 3, 1]), 5)
    assert used == 2 and order[0] == 3 and order[1] == 1
    p = torch.tensor([0.75, 0.25])
    assert abs(perp - float(torch.exp(-(p * p.log()).sum()))) < 1e-6
    assert abs(capacity.usage(torch.tensor([0, 1, 2, 3]), 4)[1] - 4.0) < 1e-5


def test_command_line_writes_table_and_json(tmp_path, capsys):
    data = tmp_path / "faces"
    data.mkdir()
    for i, face in enumerate(synthetic_faces(5, 32, seed=4)):
        Image.fromarray(face.permute(1, 2, 0).numpy()).save(data / f"{i}.png")
    model = _model(5)
    ckpt = tmp_path / "model.pt"
    torch.save({"config": "tiny-32", "model": model.state_dict()}, ckpt)
    out = capacity.main([f"mine={ckpt}", "--data", str(data), "--seen", str(data), "--limit", "4",
                         "--json", str(tmp_path / "cap.json")])
    assert set(out) == {"mine"} and out["mine"]["crops"] == 4
    # the same crops as seen and held out give the same reconstruction
    assert abs(out["mine"]["vq_seen"] - out["mine"]["vq"]) < 1e-6
    assert json.loads((tmp_path / "cap.json").read_text()) == out
    assert "| mine |" in capsys.readouterr().out


def test_missing_checkpoint_is_a_usage_error(tmp_path):
    import pytest

    with pytest.raises(SystemExit) as err:
        capacity.main([str(tmp_path / "nope.pt"), "--data", str(tmp_path)])
    assert err.value.code == 2
    ckpt = tmp_path / "model.pt"
    torch.save({"config": "tiny-32", "model": _model().state_dict()}, ckpt)
    with pytest.raises(SystemExit) as err:  # a folder without images
        capacity.main([str(ckpt), "--data", str(tmp_path / "empty")])
    assert err.value.code == 2
