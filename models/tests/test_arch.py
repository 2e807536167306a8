"""Shapes, quantizer gradient, association loss and parameter counts of the DAEFR networks."""

import dataclasses
import math

import pytest
import torch

from daefr_models.arch import DAEFR, AssociationHead, VectorQuantizer, VQAutoencoder, association_loss
from daefr_models.config import CONFIG_NAMES, get_config


@pytest.fixture(scope="module")
def tiny():
    return get_config("tiny-32")


def test_every_config_validates():
    for name in CONFIG_NAMES:
        cfg = get_config(name)
        assert cfg.name == name
        assert cfg.vq.latent_size * 2 ** (len(cfg.vq.ch_mult) - 1) == cfg.vq.resolution


def test_unknown_config_names_the_known_ones():
    with pytest.raises(KeyError, match="tiny-32"):
        get_config("no-such-config")


def test_autoencoder_shapes(tiny):
    torch.manual_seed(0)
    ae = VQAutoencoder(tiny.vq)
    x = torch.randn(2, 3, 32, 32)
    h = ae.encode(x)
    r = tiny.vq.latent_size
    assert h.shape == (2, tiny.vq.embed_dim, r, r)
    z_q, loss, idx = ae.quantize_features(h)
    assert z_q.shape == h.shape and loss.ndim == 0
    assert idx.shape == (2, r * r) and idx.dtype == torch.long
    assert ae.decode(z_q).shape == x.shape
    recon, _, idx2 = ae(x)
    assert recon.shape == x.shape
    assert torch.equal(idx, idx2)
    assert torch.allclose(ae.decode_indices(idx, (r, r)), recon, atol=1e-5)


def test_quantizer_picks_nearest_code_and_passes_gradient_straight_through():
    torch.manual_seed(0)
    vq = VectorQuantizer(n_embed=16, embed_dim=4, beta=0.25)
    with torch.no_grad():
        vq.embedding.weight.copy_(torch.randn(16, 4))
    z = torch.randn(1, 4, 3, 3, requires_grad=True)
    z_q, loss, idx = vq(z)
    flat = z.detach().permute(0, 2, 3, 1).reshape(-1, 4)
    brute = torch.cdist(flat, vq.embedding.weight.detach()).argmin(1)
    assert torch.equal(idx.reshape(-1), brute)
    # forward value is the code, gradient is the identity (straight-through)
    codes = vq.embedding.weight.detach()[brute].reshape(1, 3, 3, 4).permute(0, 3, 1, 2)
    assert torch.allclose(z_q.detach(), codes)
    weights = torch.randn_like(z_q)
    (z_q * weights).sum().backward()
    assert torch.allclose(z.grad, weights)
    # the VQ loss trains the codebook (codebook term) and the encoder (commitment term)
    z2 = z.detach().clone().requires_grad_(True)
    vq.embedding.weight.grad = None
    _, loss2, _ = vq(z2)
    loss2.backward()
    assert vq.embedding.weight.grad.abs().sum() > 0
    assert z2.grad.abs().sum() > 0
    expected = (1 + 0.25) * torch.mean((codes - z.detach()) ** 2)
    assert torch.allclose(loss2, expected, atol=1e-6)


def test_association_loss_prefers_matched_tokens():
    torch.manual_seed(0)
    head = AssociationHead()
    assert math.isclose(head.logit_scale.item(), math.log(1 / 0.07), rel_tol=1e-6)
    feat_hq = torch.randn(2, 8, 4, 4)
    feat_lq = feat_hq + 0.05 * torch.randn_like(feat_hq)
    matched = head(feat_hq, feat_lq)
    perm = torch.randperm(2 * 4 * 4)
    shuffled_tokens = feat_lq.permute(0, 2, 3, 1).reshape(-1, 8)[perm]
    shuffled = shuffled_tokens.reshape(2, 4, 4, 8).permute(0, 3, 1, 2)
    assert matched < head(feat_hq, shuffled)
    # symmetric: swapping the roles gives the same loss
    assert torch.allclose(matched, association_loss(feat_lq, feat_hq, head.logit_scale), atol=1e-6)
    # the scale is learnable
    matched.backward()
    assert head.logit_scale.grad is not None


@pytest.mark.parametrize(
    "kwargs", [{}, {"use_fusion": False}, {"use_lq_encoder": False}], ids=["full", "no-fusion", "hq-only"]
)
def test_restorer_shapes_and_restore(tiny, kwargs):
    torch.manual_seed(0)
    model = DAEFR(tiny, **kwargs).eval()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    logits, fused = model(x)
    r = tiny.vq.latent_size
    assert logits.shape == (1, r * r, tiny.vq.n_embed)
    assert fused.shape == (1, tiny.vq.embed_dim, r, r)
    with torch.no_grad():
        out = model.restore(x)
        expected = model.hq.decode_indices(logits.argmax(-1), (r, r))
    assert out.shape == x.shape
    assert torch.allclose(out, expected, atol=1e-5)
    if not kwargs.get("use_lq_encoder", True):
        assert model.lq is None and "lq.encoder" not in model.inference_modules()


def test_cross_attention_uses_both_features(tiny):
    torch.manual_seed(0)
    model = DAEFR(tiny).eval()
    feat_hq = torch.randn(1, tiny.vq.embed_dim, 8, 8)
    feat_lq = torch.randn(1, tiny.vq.embed_dim, 8, 8)
    base = model.fusion(feat_hq, feat_lq)
    # (a constant shift would be normalised away by GroupNorm: perturb with noise)
    other = torch.randn_like(feat_lq)
    assert not torch.allclose(base, model.fusion(feat_hq, other), atol=1e-4)
    # keys/values come from the HQ feature: changing it changes more than the residual term
    assert not torch.allclose(base - feat_hq, model.fusion(other, feat_lq) - other, atol=1e-4)


def _inference_params(name):
    with torch.device("meta"):
        model = DAEFR(get_config(name))
    # the official graph has no fidelity path: count the DAEFR code path only
    return sum(p.numel() for name, m in model.inference_modules().items() if name != "fidelity"
               for p in m.parameters())


def test_paper_512_matches_official_parameter_count():
    # official inference graph: two encoders, decoder, transformer, fusion, codebook, 1x1 convs
    assert abs(_inference_params("paper-512") - 122.1e6) / 122.1e6 < 0.005


@pytest.mark.parametrize("name", [n for n in CONFIG_NAMES if n.startswith("lite-128")])
def test_every_lite_128_form_fits_the_edge_budget(name):
    from daefr_models.count import count_macs

    total, per = count_macs(get_config(name))
    assert total <= 2.3e9  # DAEFR code path + fidelity path, per face
    assert 0 < per["fidelity"] <= 0.46e9


def _trained_like(model):
    """Give the fidelity path's zero-initialised convs random weights (as training would)."""
    with torch.no_grad():
        for block in model.fidelity.fuse.values():
            block.scale_shift.weight.normal_(0.0, 0.05)
            block.scale_shift.bias.normal_(0.0, 0.05)
        model.fidelity.residual.conv_out.weight.normal_(0.0, 0.05)
    return model


@pytest.mark.parametrize("kwargs", [{}, {"use_lq_encoder": False}], ids=["full", "hq-only"])
def test_fidelity_zero_is_daefr_bit_for_bit(tiny, kwargs):
    torch.manual_seed(0)
    model = _trained_like(DAEFR(tiny, **kwargs)).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model.restore_with_fidelity(x, torch.zeros(1)), model.restore(x))
        assert not torch.equal(model.restore_with_fidelity(x, torch.ones(1)), model.restore(x))


def test_fresh_fidelity_path_at_one_returns_the_input_exactly(tiny):
    torch.manual_seed(1)
    model = DAEFR(tiny).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model.restore_with_fidelity(x, torch.ones(1)), x)
        # per-sample weights broadcast like the exported [1] weight
        w = torch.tensor([0.0, 1.0]).reshape(2, 1, 1, 1)
        out = model.restore_with_fidelity(x, w)
        assert torch.equal(out[1], x[1]) and torch.equal(out[0], model.restore(x)[0])


def test_fusion_levels_follow_the_config():
    model = DAEFR(get_config("lite-128"))
    # decoder levels at 128, 64 and 32 px (levels 0, 1, 2), not the 16-px latent level
    assert sorted(int(k) for k in model.fidelity.fuse) == [0, 1, 2]
    assert model.fidelity.fuse["2"].mix.in_channels == 2 * 64


def test_old_state_dicts_load_with_a_fresh_fidelity_path(tiny):
    old = {k: v for k, v in DAEFR(tiny).state_dict().items() if not k.startswith("fidelity.")}
    model = DAEFR(tiny)
    model.load_state_dict(old)  # strict, but a dict with no fidelity keys at all is accepted
    broken = dict(old)
    broken.pop("hq.decoder.conv_out.weight")
    with pytest.raises(RuntimeError, match="conv_out"):
        model.load_state_dict(broken)


def test_the_colour_anchor_keeps_the_inputs_colour_and_the_priors_detail():
    from daefr_models.arch import ColourAnchor

    anchor = ColourAnchor(sigma=2.0, channels=3, size=32)
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    # a prior that is the input with a colour cast: the cast goes, borders included
    cast = torch.tensor([0.2, -0.1, 0.05])[None, :, None, None]
    assert torch.allclose(anchor(x + cast, x), x, atol=1e-5)
    # a prior with fine detail the input lacks keeps most of that detail
    detail = 0.1 * torch.sign(torch.randn(2, 3, 32, 32))
    out = anchor(x + detail, x)
    kept = ((out - x) * detail).sum() / (detail * detail).sum()
    assert kept > 0.8
    # no learned weights, nothing in a state dict: old checkpoints load unchanged
    assert list(anchor.state_dict()) == []


def test_lite_128_anchors_its_prior_and_w0_is_the_anchored_daefr_output():
    cfg = get_config("lite-128")
    assert cfg.fidelity.colour_anchor_sigma > 0
    small = dataclasses.replace(get_config("tiny-32"), fidelity=dataclasses.replace(
        get_config("tiny-32").fidelity, colour_anchor_sigma=2.0))
    model = DAEFR(small).eval()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        want = model.fidelity.anchor(model.restore(x), x)
        assert torch.allclose(model.restore_with_fidelity(x, torch.zeros(1)), want, atol=1e-6)


def test_a_space_to_depth_residual_head_starts_at_zero_and_keeps_the_shape():
    from daefr_models.arch import ResidualHead

    head = ResidualHead(feat_ch=16, in_ch=3, hidden=24, depth=3, unshuffle=2)
    feat, x = torch.randn(2, 16, 32, 32), torch.randn(2, 3, 32, 32)
    assert torch.equal(head(feat, x), torch.zeros(2, 3, 32, 32))
    torch.nn.init.normal_(head.conv_out.weight)
    r = head(feat, x)
    assert r.shape == (2, 3, 32, 32) and r.abs().sum() > 0
    # the hidden convs run at half the side on 4x the input channels
    assert head.conv1.in_channels == 4 * 19 and len(head.more) == 2
    with pytest.raises(ValueError):
        ResidualHead(16, 3, 8, depth=0)


def test_a_head_at_a_quarter_side_projects_each_patch_then_convolves():
    from daefr_models.arch import ResidualHead

    # lite-128-s2d4's form: 1x1 projection of each 4x4 patch, 3x3 convs at a quarter of the side
    head = ResidualHead(feat_ch=16, in_ch=3, hidden=32, depth=4, unshuffle=4, in_kernel=1)
    feat, x = torch.randn(2, 16, 32, 32), torch.randn(2, 3, 32, 32)
    assert torch.equal(head(feat, x), torch.zeros(2, 3, 32, 32))
    assert head.conv1.kernel_size == (1, 1) and head.conv1.in_channels == 16 * 19
    assert head.conv_out.out_channels == 16 * 3 and len(head.more) == 3
    torch.nn.init.normal_(head.conv_out.weight)
    r = head(feat, x)
    assert r.shape == (2, 3, 32, 32)
    # five 3x3 convs on 4x4-px cells: a change at a corner pixel reaches 5 cells (20-23 px) away
    x2 = x.clone()
    x2[:, :, 0, 0] += 1.0
    reach = (head(feat, x2) - r).abs().sum(dim=(0, 1)) > 0
    assert 20 <= reach.nonzero().max() < 24
    with pytest.raises(ValueError, match="kernel"):
        ResidualHead(16, 3, 8, in_kernel=5)


def test_an_input_only_head_ignores_the_decoder_features():
    from daefr_models.arch import ResidualHead

    head = ResidualHead(feat_ch=0, in_ch=3, hidden=16, depth=2, unshuffle=4, in_kernel=1)
    torch.nn.init.normal_(head.conv_out.weight)
    x = torch.randn(2, 3, 32, 32)
    assert head.conv1.in_channels == 3 * 16
    r = head(torch.randn(2, 16, 32, 32), x)
    assert r.abs().sum() > 0 and torch.equal(r, head(torch.randn(2, 16, 32, 32), x))
    model = DAEFR(get_config("lite-128-s2d4-input-head"))
    assert not model.fidelity.residual.reads_feat


def test_a_film_head_starts_as_the_plain_head_and_then_depends_on_the_weight():
    from daefr_models.arch import ResidualHead

    torch.manual_seed(0)
    plain = ResidualHead(feat_ch=16, in_ch=3, hidden=24, depth=3, unshuffle=2)
    torch.nn.init.normal_(plain.conv_out.weight, 0.0, 0.1)
    film = ResidualHead(feat_ch=16, in_ch=3, hidden=24, depth=3, unshuffle=2, film=True)
    fresh = film.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(fresh.missing_keys) == sorted([f"film_{k}.{i}" for k in ("scale", "shift") for i in range(4)])
    assert not fresh.unexpected_keys
    feat, x = torch.randn(2, 16, 32, 32), torch.randn(2, 3, 32, 32)
    w = torch.tensor([0.2, 1.0]).view(2, 1, 1, 1)
    with torch.no_grad():
        assert torch.equal(film(feat, x, w), plain(feat, x))  # zero FiLM: the loaded head, exactly
        for p in (*film.film_scale, *film.film_shift):
            p.normal_(0.0, 0.3)
        at = {v: film(feat, x, torch.full((2, 1, 1, 1), v)) for v in (0.0, 0.5, 1.0)}
    assert torch.equal(at[0.0], plain(feat, x).detach())  # w = 0 leaves the head as it was
    assert (at[1.0] - at[0.0]).abs().mean() > (at[0.5] - at[0.0]).abs().mean() > 0
    # the FiLM tensors train: a loss at w = 1 reaches them
    film(feat, x, torch.ones(2, 1, 1, 1)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in (*film.film_scale, *film.film_shift))
    # a plain head ignores w
    assert torch.equal(plain(feat, x, w), plain(feat, x))


def test_a_two_scale_path_adds_a_fresh_coarse_head_to_a_loaded_one():
    torch.manual_seed(0)
    fine = _trained_like(DAEFR(get_config("tiny-32-s2d"))).eval()
    with torch.no_grad():
        fine.fidelity.residual.conv_out.weight.normal_(0.0, 0.05)
    two = DAEFR(get_config("tiny-32-two-scale")).eval()
    fresh = two.load_with_fresh_head(fine.state_dict())
    assert fresh and all(k.startswith("fidelity.residual_coarse.") for k in fresh)
    coarse = two.fidelity.residual_coarse
    assert coarse.unshuffle == 4 and coarse.conv1.kernel_size == (1, 1)
    assert len(two.fidelity.residual_heads()) == 2 and len(fine.fidelity.residual_heads()) == 1
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    w = torch.tensor([0.3, 1.0]).view(2, 1, 1, 1)
    with torch.no_grad():
        # a fresh coarse head is zero at its output: the loaded model, exactly
        assert torch.equal(two.restore_with_fidelity(x, w), fine.restore_with_fidelity(x, w))
        coarse.conv_out.weight.normal_(0.0, 0.05)
        feat = torch.randn(2, 16, 32, 32)
        r = two.fidelity.residual_sum(feat, x, w)
        assert torch.allclose(r, two.fidelity.residual(feat, x, w) + coarse(feat, x, w))
        assert not torch.equal(two.restore_with_fidelity(x, w), fine.restore_with_fidelity(x, w))
