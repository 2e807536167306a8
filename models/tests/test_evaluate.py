"""evaluate.py: the runtime's alignment (--align) and the one restorer evaluation that training uses."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from daefr_models import evaluate
from daefr_models.arch import DAEFR, VQAutoencoder
from daefr_models.blazeface import DEFAULT_MODEL, BlazeFace
from daefr_models.config import get_config
from daefr_models.data import synthetic_faces

MODELS = Path(__file__).resolve().parents[1]
ASTRONAUT = MODELS.parent / "tests" / "fixtures" / "astronaut.png"


def test_reflect_mirrors_without_repeating_the_edge():
    # the runtime's own case (src/align/warp.rs)
    assert evaluate.reflect(np.arange(-3, 8), 5).tolist() == [3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]
    assert evaluate.reflect(np.array([-7]), 1).tolist() == [0]


def test_identity_warp_copies_the_frame():
    x, y = np.meshgrid(np.arange(8), np.arange(8))
    frame = np.stack([x * 30, y * 30, np.full_like(x, 7)], -1).astype(np.uint8)
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert np.array_equal(evaluate.warp_to_crop(frame, identity, 8), frame)


def test_crop_beyond_the_frame_mirrors_it():
    # the runtime's case: a 4x1 frame shifted right by 2 -> crop 0..2 mirrors the frame's left edge
    frame = np.zeros((1, 4, 3), np.uint8)
    frame[0, :, 0] = [0, 50, 100, 150]
    shift = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]])
    assert evaluate.warp_to_crop(frame, shift, 4)[0, :, 0].tolist() == [100, 50, 0, 50]


def test_shrinking_warp_averages_a_supersampling_grid():
    # a 2x shrink averages 2x2 bilinear samples: each crop pixel is the mean of a 2x2 frame block
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    half = np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])
    crop = evaluate.warp_to_crop(frame, half, 8)
    blocks = frame.astype(np.float64).reshape(8, 2, 8, 2, 3).mean((1, 3))
    # sample points at 0.25 / 0.75 of each 2-px block fall between pixel centres: the bilinear
    # weights of the 2x2 block come to the plain mean, except at the mirrored last row/column
    assert np.abs(crop[:7, :7].astype(np.float64) - blocks[:7, :7]).max() <= 0.5 + 1e-9


def test_letterbox_is_the_runtimes():
    frame = np.full((100, 200, 3), 200, np.uint8)  # wide: 128 x 64 inside, centred vertically
    inp, (ox, oy, sx, sy) = evaluate.detector_input(frame)
    assert inp.shape == (128, 128, 3) and inp.dtype == np.float32
    assert (ox, oy) == (0, 32) and sx == pytest.approx(0.64) and sy == pytest.approx(0.64)
    assert (inp[32:96] == 200).all() and (inp[:32] == 0).all() and (inp[96:] == 0).all()


def test_align_maps_the_astronaut_keypoints_by_the_fitted_similarity():
    tmpl = json.loads((MODELS / "template-celeba-128.json").read_text())
    img = Image.open(ASTRONAUT)
    frame = np.asarray(img.convert("RGB"))
    kp = evaluate.alignment_points(frame)
    want = np.array([tmpl[n] for n in evaluate.ALIGN_POINTS])
    m = evaluate.similarity_from_points(kp, want)
    fitted = kp @ m[:, :2].T + m[:, 2]
    assert np.abs(fitted - want).max() < 6  # a real face against the mean template
    crop = evaluate.align_face(img, tmpl, 128)
    assert crop.size == (128, 128)
    det = BlazeFace(DEFAULT_MODEL).detect(np.asarray(crop))
    assert det and det[0].score > 0.7
    # the detector finds the keypoints in the crop about where the fitted transform put them
    # (BlazeFace's keypoints move by a few pixels between the whole photo and the aligned crop)
    assert np.abs(det[0].keypoints[:4] - fitted).max() < 6
    assert np.abs(det[0].keypoints[:4] - want).max() < 6


def tiny_model(seed: int) -> DAEFR:
    torch.manual_seed(seed)
    return DAEFR(get_config("tiny-32")).eval()


def test_restorer_metrics_is_evaluate_flattened_and_shares_one_code_path():
    model = tiny_model(0)
    teacher = VQAutoencoder(model.cfg.vq).eval()
    faces = synthetic_faces(6, 32, seed=3)
    flat = evaluate.restorer_metrics(model, faces, "moderate", 5, teacher=teacher, weights=(None, 0.0, 1.0), chunk=4)
    assert list(flat) == ["input_psnr", "input_ssim", "psnr", "ssim", "code_acc", "w0_psnr", "w0_ssim",
                          "w0_code_acc", "w1_psnr", "w1_ssim", "w1_code_acc"]
    # the same rows from evaluate() with independent runners (no shared code path)
    first = evaluate.ModelRunner(model, teacher)
    runners = [first] + [first.with_weight(w, share_code_path=False) for w in (0.0, 1.0)]
    rows = evaluate.evaluate(runners, faces, ["moderate"], 5, teacher=first, chunk=4)["moderate"]
    assert flat["input_psnr"] == rows[evaluate.BICUBIC]["psnr"]
    for prefix, name in (("", "pytorch"), ("w0_", "pytorch w=0"), ("w1_", "pytorch w=1")):
        for key in ("psnr", "ssim", "code_acc"):
            assert flat[prefix + key] == rows[name][key], (prefix, key)
    # w = 0 is the pure code path (the fidelity path starts as identity at w = 0)
    assert flat["w0_psnr"] == flat["psnr"]


def test_model_runner_restores_the_training_mode():
    model = tiny_model(1).train()
    runner = evaluate.ModelRunner(model, weight=0.5)
    out, idx = runner(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 3, 32, 32) and idx.shape == (2, model.cfg.vq.latent_size ** 2)
    assert model.training
