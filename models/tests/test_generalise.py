"""What makes the prior generalise and do no harm: identity split, augmentation, the near-clean
degradation mix, the detail and colour metrics, and the auto-fidelity curve (with the runtime's
sharpness, checked against the figure the Rust tests read)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from daefr_models import degrade, splits, train
from daefr_models.augment import AugmentRanges, Augmenter
from daefr_models.auto_fidelity import curve_text, parse_curve, sharpness_u8, weights_for
from daefr_models.fidelity_curve import fit
from daefr_models.losses import chroma_loss, colour_fringe, colour_shift, detail_ratio, laplacian_energy, luma3

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "fixtures" / "golden"


def test_the_split_keeps_the_holdout_identities_out_of_training(tmp_path):
    celeba = tmp_path / "celeba"
    for split, n in (("train", 3), ("test", 1)):
        for ident in ("celeb_0", "celeb_179", "celeb_180", "celeb_199"):
            d = celeba / split / ident
            d.mkdir(parents=True)
            for i in range(n):
                (d / f"{i}.jpg").write_bytes(b"x")
    counts = splits.make_split(celeba, tmp_path / "out")
    assert counts == {"train-180": 6, "holdout": 8}
    train_ids = {p.parent.name for p in (tmp_path / "out" / "train-180").rglob("*.jpg")}
    assert train_ids == {"celeb_0", "celeb_179"}
    held = {p.parent.name for p in (tmp_path / "out" / "holdout").rglob("*.jpg")}
    assert held == {"train-celeb_180", "train-celeb_199", "test-celeb_180", "test-celeb_199"}
    # rerunning is harmless; a foreign file in the way is refused, never overwritten
    assert splits.make_split(celeba, tmp_path / "out") == counts
    victim = tmp_path / "out" / "train-180" / "celeb_0" / "0.jpg"
    victim.unlink()
    victim.write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        splits.make_split(celeba, tmp_path / "out")
    assert victim.read_bytes() == b"mine"


def test_augmentation_is_seeded_bounded_and_moves_the_face():
    x = torch.rand(6, 3, 32, 32) * 2 - 1
    a, b = Augmenter(seed=3)(x), Augmenter(seed=3)(x)
    assert torch.equal(a, b), "same seed, same batch"
    assert a.shape == x.shape and a.min() >= -1 and a.max() <= 1
    assert not torch.equal(a, x)
    # with no jitter at all it is the identity (flips off)
    none = AugmentRanges(scale=0, rotate_deg=0, shift_px_at_128=0, brightness=0, contrast=0, gamma=(1, 1),
                         white_balance=0, saturation=0, gray_prob=0, flip_prob=0, identity_prob=0)
    assert torch.allclose(Augmenter(0, none)(x), x, atol=1e-5)
    # grayscale always: the three channels are equal
    gray = AugmentRanges(gray_prob=1.0, identity_prob=0.0)
    g = Augmenter(0, gray)(x)
    assert torch.allclose(g[:, 0], g[:, 1]) and torch.allclose(g[:, 1], g[:, 2])


def test_occluders_hide_part_of_each_chosen_face_and_nothing_else():
    x = torch.rand(8, 3, 32, 32) * 2 - 1
    still = dict(scale=0, rotate_deg=0, shift_px_at_128=0, brightness=0, contrast=0, gamma=(1, 1),
                 white_balance=0, saturation=0, gray_prob=0, flip_prob=0, identity_prob=0)
    # off (the default): the batch is untouched
    assert torch.allclose(Augmenter(0, AugmentRanges(**still))(x), x, atol=1e-5)
    always = AugmentRanges(**still, occlude_prob=1.0, occlude_half_axes=(0.2, 0.3))
    a, b = Augmenter(5, always)(x), Augmenter(5, always)(x)
    assert torch.equal(a, b), "same seed, same occluders"
    assert a.min() >= -1 and a.max() <= 1
    changed = ((a - x).abs() > 1e-4).any(1).float().mean((1, 2))  # share of each image covered
    # an ellipse of half-axes 0.2 x 0.2 fully inside covers pi * 0.04 = 0.126; a corner one 1/4 of it
    assert bool((changed > 0.02).all()) and bool((changed < 0.5).all()), changed
    # both textures are drawn: a face of the batch and a grating
    grid_only = AugmentRanges(**still, occlude_prob=1.0, occlude_grating_share=1.0)
    assert not torch.equal(Augmenter(5, grid_only)(x), Augmenter(5, AugmentRanges(
        **still, occlude_prob=1.0, occlude_grating_share=0.0))(x))
    with pytest.raises(ValueError):
        train.TrainOptions(data="d", out="o", steps=1, occlude=0.3, augment=False)
    with pytest.raises(ValueError):
        train.TrainOptions(data="d", out="o", steps=1, occlude=1.2)


def test_stage_3_and_4_see_nearly_clean_faces(tmp_path):
    opts = train.TrainOptions(data="synthetic", out=tmp_path, config="tiny-32", steps=1, synthetic_count=24,
                              batch=4, val_count=4, near_clean=1.0)
    env = train.make_env(opts)
    model = train.build_model("tiny-32", "full")
    trainer = train.FidelityTrainer(model, env, opts)
    gt = train.sample_batch(env, torch.Generator().manual_seed(0))
    lq = trainer.mix(gt)
    # NEAR_CLEAN at most halves the resolution: the input stays close to the ground truth
    assert float(((lq - gt) ** 2).mean()) < float(((degrade.Degrader(degrade.LEVELS["moderate"], 32)(gt) - gt) ** 2).mean())
    with pytest.raises(ValueError):
        train.TrainOptions(data="d", out="o", steps=1, near_clean=1.5)


def test_luma3_sees_structure_not_colour():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 8, 8, generator=g) * 2 - 1
    # a chroma change that keeps BT.601 luma: 0.299 * 0.587 - 0.587 * 0.299 = 0
    chroma = torch.tensor([0.587, -0.299, 0.0]).view(1, 3, 1, 1) * 0.2
    view = luma3(img)
    assert view.shape == img.shape and torch.equal(view[:, 0], view[:, 1]) and torch.equal(view[:, 1], view[:, 2])
    assert torch.allclose(luma3(img + chroma), view, atol=1e-6)  # colour is invisible to it
    assert not torch.allclose(luma3(img + 0.2), view)  # brightness is not
    grey = torch.full((1, 3, 4, 4), 0.5)
    assert torch.allclose(luma3(grey), grey)  # a grey image is its own luma


def test_chroma_loss_sees_tints_and_fringes_not_brightness():
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    assert float(chroma_loss(gt, gt)) == 0.0
    assert float(chroma_loss(gt + 0.1, gt)) < 1e-6  # grey added to every channel: no colour change
    tint = gt.clone()
    tint[:, 2, 6:10, 6:10] += 0.5  # a small blue patch (an iris gone blue)
    assert float(chroma_loss(tint, gt)) > 0.01


def test_detail_ratio_is_one_for_the_truth_and_low_for_blur():
    torch.manual_seed(0)
    gt = torch.rand(2, 3, 64, 64)
    assert torch.allclose(detail_ratio(gt, gt), torch.ones(2))
    blurred = torch.nn.functional.avg_pool2d(gt, 3, stride=1, padding=1)
    assert (detail_ratio(blurred, gt) < 0.5).all()
    assert torch.allclose(colour_shift(gt, gt), torch.zeros(2))
    tinted = (gt + torch.tensor([10 / 255, 0, 0])[None, :, None, None]).clamp(0, 1)
    assert (colour_shift(tinted, gt) > 5).all()


def test_colour_fringe_sees_a_small_tinted_patch_that_the_mean_colour_misses():
    torch.manual_seed(0)
    gt = torch.rand(1, 3, 64, 64) * 0.5 + 0.25
    assert float(colour_fringe(gt, gt)) == 0.0
    grey = (gt + 0.1).clamp(0, 1)  # brighter, same chroma: no fringe
    assert float(colour_fringe(grey, gt)) < 0.5
    iris = gt.clone()
    iris[:, 2, 24:28, 24:28] += 0.2  # a blue patch on 16 of the central box's 1,024 pixels
    assert float(colour_shift(iris, gt)) < 1.0
    assert float(colour_fringe(iris, gt)) > 20.0
    speck = gt.clone()
    speck[:, 2, 24:27, 24:27] += 0.2  # 9 pixels, under 1 % of the box: below the 99th percentile
    assert float(colour_fringe(speck, gt)) < 1.0
    outside = gt.clone()
    outside[:, 2, 0:4, 0:4] += 0.2  # the same patch outside the face region
    assert float(colour_fringe(outside, gt)) == 0.0


def test_auto_curve_fit_picks_prior_for_blur_and_fidelity_for_sharp_faces():
    weights = [0.0, 0.5, 1.0]
    sharp = np.array([1.0, 1.5, 2.0, 10.0, 11.0, 12.0])
    # blurry samples are best at w = 0.5, sharp ones at w = 1
    table = np.array([[20, 22, 21]] * 3 + [[18, 24, 26]] * 3, dtype=float)
    points, report = fit(sharp, table, weights, bins=2)
    assert points == [(1.5, 0.5), (11.0, 1.0)]
    assert parse_curve(curve_text(points)) == points
    assert list(weights_for(np.array([0.0, 6.25, 50.0]), points)) == [0.5, 0.75, 1.0]
    # noisy faces score sharp and may want the prior: the curve follows the measurement
    flipped = np.array([[18, 24, 26]] * 3 + [[20, 22, 21]] * 3, dtype=float)
    points, _ = fit(sharp, flipped, weights, bins=2)
    assert [w for _, w in points] == [1.0, 0.5]
    # a tie goes to the weight closer to the input
    tied = np.array([[20, 25, 25]] * 6, dtype=float)
    assert [w for _, w in fit(sharp, tied, weights, bins=1)[0]] == [1.0]
    for bad in ("", "2:1.5", "5:0.5,2:0.4"):
        with pytest.raises(ValueError):
            parse_curve(bad)


def test_sharpness_matches_the_figure_the_runtime_tests_read():
    """tests/it/fidelity.rs reads the same JSON and checks src/model/fidelity.rs against it."""
    golden = json.loads((GOLDEN / "sharpness.json").read_text())
    for name, want in golden.items():
        rgb = np.array(Image.open(GOLDEN / name).convert("RGB"))
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1
        got = float(sharpness_u8(x)[0])
        assert got == pytest.approx(want, rel=1e-5), name
        assert got == pytest.approx(255 * float(laplacian_energy(torch.from_numpy(rgb).permute(2, 0, 1)[None] / 255)[0]),
                                    rel=1e-6)
