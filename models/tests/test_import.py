"""Official-checkpoint import: every official key consumed, none missing, outputs identical.

The synthetic checkpoint has the official DAEFRModel key names and shapes with random values. Its
output is compared with `official_restore` below, an independent functional reading of the
official inference code (DAEFR/models/daefr.py, DAEFR/modules/vqvae/vqvae_arch.py) that works on
the official key names directly, so a wrong key mapping cannot go unnoticed.

The paper-512 key list (fixtures/official_daefr_512_keys.txt) is derived from the official module
definitions and configs/DAEFR.yaml by fixtures/make_official_keys.py, not from our mapping table.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from daefr_models.arch import DAEFR
from daefr_models.config import get_config
from daefr_models.export import parity
from daefr_models.import_official import (
    convert,
    export_official,
    official_shapes,
    unwrap_state_dict,
)
from daefr_models.onnx_tools import ort_session

OFFICIAL_512_KEYS = Path(__file__).parent / "fixtures" / "official_daefr_512_keys.txt"


def synthetic_official_checkpoint(cfg, seed=0):
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in official_shapes(cfg).items():
        scale = 1.0 if key.endswith("embedding.weight") else 0.2
        sd[key] = torch.randn(*shape, generator=gen) * scale
        if key.endswith(("norm1.weight", "norm2.weight", "norm_out.weight", "idx_pred_layer.0.weight")):
            sd[key] = 1.0 + 0.1 * torch.randn(*shape, generator=gen)
    # training-only extras a real checkpoint carries (discriminator, perceptual net)
    sd["loss.discriminator.main.0.weight"] = torch.randn(64, 3, 4, 4, generator=gen)
    sd["loss.perceptual_loss.net.slice1.0.bias"] = torch.randn(64, generator=gen)
    return {"state_dict": sd, "epoch": 1}


# ---- independent functional reading of the official inference code (official key names) ----

def _gn(sd, p, x, groups):
    return F.group_norm(x, groups, sd[p + ".weight"], sd[p + ".bias"], eps=1e-6)


def _conv(sd, p, x, stride=1, padding=0):
    return F.conv2d(x, sd[p + ".weight"], sd[p + ".bias"], stride=stride, padding=padding)


def _res(sd, p, x, g):
    h = _conv(sd, p + ".conv1", F.silu(_gn(sd, p + ".norm1", x, g)), padding=1)
    h = _conv(sd, p + ".conv2", F.silu(_gn(sd, p + ".norm2", h, g)), padding=1)
    if p + ".nin_shortcut.weight" in sd:
        x = _conv(sd, p + ".nin_shortcut", x)
    return x + h


def _mh_attn(sd, p, x, y, heads, g):
    # MultiHeadAttnBlock.forward(x, y): k, v from norm1(x); q from norm2(y) or norm1(x)
    h_ = _gn(sd, p + ".norm1", x, g)
    yq = h_ if y is None else _gn(sd, p + ".norm2", y, g)
    q, k, v = _conv(sd, p + ".q", yq), _conv(sd, p + ".k", h_), _conv(sd, p + ".v", h_)
    b, c, hh, ww = q.shape
    a = c // heads
    q = q.reshape(b, heads, a, hh * ww).permute(0, 1, 3, 2) * a**-0.5
    k = k.reshape(b, heads, a, hh * ww)
    v = v.reshape(b, heads, a, hh * ww).permute(0, 1, 3, 2)
    w = torch.softmax(q @ k, dim=3) @ v  # b, head, hw, a
    w = w.permute(0, 2, 1, 3).reshape(b, hh, ww, c).permute(0, 3, 1, 2)
    return x + _conv(sd, p + ".proj_out", w)


def _encoder(sd, p, x, vq):
    g = vq.norm_groups
    h = _conv(sd, p + ".conv_in", x, padding=1)
    for i in range(len(vq.ch_mult)):
        for j in range(vq.num_res_blocks_enc):
            h = _res(sd, f"{p}.down.{i}.block.{j}", h, g)
            if f"{p}.down.{i}.attn.{j}.q.weight" in sd:
                h = _mh_attn(sd, f"{p}.down.{i}.attn.{j}", h, None, 1, g)
        if i != len(vq.ch_mult) - 1:
            h = _conv(sd, f"{p}.down.{i}.downsample.conv", F.pad(h, (0, 1, 0, 1)), stride=2)
    h = _res(sd, p + ".mid.block_1", h, g)
    h = _mh_attn(sd, p + ".mid.attn_1", h, None, 1, g)
    h = _res(sd, p + ".mid.block_2", h, g)
    return _conv(sd, p + ".conv_out", F.silu(_gn(sd, p + ".norm_out", h, g)), padding=1)


def _decoder(sd, p, z, vq):
    g = vq.norm_groups
    h = _conv(sd, p + ".conv_in", z, padding=1)
    h = _res(sd, p + ".mid.block_1", h, g)
    h = _mh_attn(sd, p + ".mid.attn_1", h, None, 1, g)
    h = _res(sd, p + ".mid.block_2", h, g)
    for i in reversed(range(len(vq.ch_mult))):
        for j in range(vq.num_res_blocks_dec):
            h = _res(sd, f"{p}.up.{i}.block.{j}", h, g)
            if f"{p}.up.{i}.attn.{j}.q.weight" in sd:
                h = _mh_attn(sd, f"{p}.up.{i}.attn.{j}", h, None, 1, g)
        if i != 0:
            h = _conv(sd, f"{p}.up.{i}.upsample.conv", F.interpolate(h, scale_factor=2.0, mode="nearest"), padding=1)
    return _conv(sd, p + ".conv_out", F.silu(_gn(sd, p + ".norm_out", h, g)), padding=1)


def official_restore(sd, cfg, x):
    vq, tc = cfg.vq, cfg.transformer
    z_h = _conv(sd, "vqvae.quant_conv", _encoder(sd, "vqvae.encoder", x, vq))
    z_h_hq = _conv(sd, "vqvae.HQ_quant_conv", _encoder(sd, "vqvae.HQ_encoder", x, vq))
    feat = _mh_attn(sd, "cross_attention", z_h_hq, z_h, cfg.fusion_heads, vq.norm_groups)
    b = x.shape[0]
    pos = sd["position_emb"].unsqueeze(1).repeat(1, b, 1)  # (hw) b d
    q = F.linear(feat.flatten(2).permute(2, 0, 1), sd["feat_emb.weight"], sd["feat_emb.bias"])
    d = tc.d_model
    for n in range(tc.n_layers):
        p = f"ft_layers.{n}"
        t2 = F.layer_norm(q, (d,), sd[p + ".norm1.weight"], sd[p + ".norm1.bias"])
        t2, _ = F.multi_head_attention_forward(
            t2 + pos, t2 + pos, t2, d, tc.n_heads,
            sd[p + ".self_attn.in_proj_weight"], sd[p + ".self_attn.in_proj_bias"],
            None, None, False, 0.0,
            sd[p + ".self_attn.out_proj.weight"], sd[p + ".self_attn.out_proj.bias"],
            training=False, need_weights=False,
        )
        q = q + t2
        t2 = F.layer_norm(q, (d,), sd[p + ".norm2.weight"], sd[p + ".norm2.bias"])
        t2 = F.linear(F.gelu(F.linear(t2, sd[p + ".linear1.weight"], sd[p + ".linear1.bias"])),
                      sd[p + ".linear2.weight"], sd[p + ".linear2.bias"])
        q = q + t2
    q = F.layer_norm(q, (d,), sd["idx_pred_layer.0.weight"], sd["idx_pred_layer.0.bias"])
    logits = F.linear(q, sd["idx_pred_layer.1.weight"]).permute(1, 0, 2)
    top = logits.argmax(dim=2).reshape(-1)
    r = vq.latent_size
    codes = sd["vqvae.Fixed_quantize.embedding.weight"][top].view(b, r, r, vq.embed_dim).permute(0, 3, 1, 2)
    return _decoder(sd, "vqvae.decoder", _conv(sd, "vqvae.post_quant_conv", codes), vq)


# ---- tests ----

def test_official_key_counts_match_the_official_code():
    # the official loader's own comments: encoder 170 keys, decoder 230 keys (paper-512)
    shapes = official_shapes(get_config("paper-512"))
    count = lambda prefix: sum(k.startswith(prefix) for k in shapes)  # noqa: E731
    assert count("vqvae.encoder.") == 170
    assert count("vqvae.HQ_encoder.") == 170
    assert count("vqvae.decoder.") == 230
    assert count("ft_layers.") == 9 * 12
    assert shapes["position_emb"] == (256, 512)
    assert shapes["vqvae.Fixed_quantize.embedding.weight"] == (1024, 256)
    assert shapes["ft_layers.0.self_attn.in_proj_weight"] == (1536, 512)
    assert shapes["vqvae.encoder.conv_out.weight"] == (256, 512, 3, 3)


def official_512_keys():
    """The official restorer's state-dict keys and shapes (fixture derived from the official code,
    not from our mapping table: see fixtures/make_official_keys.py)."""
    keys = {}
    for line in OFFICIAL_512_KEYS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, shape = line.split("\t")
            keys[name] = tuple(int(d) for d in shape.split(","))
    return keys


def test_paper_512_import_consumes_every_key(monkeypatch):
    cfg = get_config("paper-512")
    loaded = {}  # what convert hands to our model's load_state_dict
    load = DAEFR.load_state_dict

    def spy(self, state_dict, *args, **kwargs):
        loaded.update(state_dict)
        return load(self, state_dict, *args, **kwargs)

    monkeypatch.setattr(DAEFR, "load_state_dict", spy)
    with torch.device("meta"):
        fake = {k: torch.empty(s) for k, s in official_512_keys().items()}
        fake["loss.discriminator.main.0.weight"] = torch.empty(64, 3, 4, 4)
        model, report = convert(fake, cfg)
    assert report.ok, report.summary()
    assert len(report.mapped) + len(report.ignored) == len(fake)
    # every tensor of our inference graph came from the checkpoint, except the fidelity path (ours
    # only: the official DAEFR has none, it starts as the identity)
    everything = model.state_dict(keep_vars=True)
    needed = set()
    for module in model.inference_modules().values():
        ids = {id(t) for t in module.state_dict(keep_vars=True).values()}
        needed |= {k for k, t in everything.items() if id(t) in ids and not k.startswith("fidelity.")}
    # 877 official keys less the training-only ones: Fixed_encoder (170), Fixed_quant_conv (2),
    # HQ_quantize and LQ_quantize (1 + 1), and the never-applied norm2 of the 10 autoencoder
    # self-attention blocks (20)
    assert len(needed) == 683
    assert not needed - set(loaded), sorted(needed - set(loaded))[:20]
    assert all(tuple(loaded[k].shape) == tuple(everything[k].shape) for k in needed)


@pytest.fixture(scope="module")
def imported_tiny():
    cfg = get_config("tiny-32")
    ckpt = synthetic_official_checkpoint(cfg)
    model, report = convert(unwrap_state_dict(ckpt), cfg)
    return cfg, ckpt["state_dict"], model, report


def test_import_reports_every_key(imported_tiny):
    _, sd, _, report = imported_tiny
    assert report.ok, report.summary()
    assert not report.unexpected and not report.missing and not report.shape_errors
    assert sorted(report.mapped + report.ignored) == sorted(sd)
    assert "loss.discriminator.main.0.weight" in report.ignored
    assert "vqvae.Fixed_encoder.conv_in.weight" in report.ignored


def test_import_rejects_a_missing_key(imported_tiny):
    cfg, sd, _, _ = imported_tiny
    partial = {k: v for k, v in sd.items() if k != "cross_attention.q.weight"}
    partial["vqvae.something_new.weight"] = torch.zeros(1)
    _, report = convert(partial, cfg)
    assert report.missing == ["cross_attention.q.weight"]
    assert report.unexpected == ["vqvae.something_new.weight"]
    assert not report.ok


def test_imported_model_and_onnx_match_the_official_forward(imported_tiny, tmp_path):
    cfg, sd, model, _ = imported_tiny
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = official_restore(sd, cfg, torch.from_numpy(x))
        got = model.restore(torch.from_numpy(x))
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()
    proto = export_official(model, tmp_path / "official-tiny.onnx")
    result = parity(model, proto, [x])
    assert result["max_abs_diff"] <= 1e-4 and result["index_agreement"] >= 0.999
    (onnx_out,) = ort_session(proto).run(["output"], {"input": x, "weight": np.zeros(1, np.float32)})
    assert np.abs(onnx_out - want.numpy()).max() <= 1e-4
