"""evaluate.py: the runtime's alignment (--align) and the one restorer evaluation that training uses."""

import json
import subprocess
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
from daefr_models.onnx_meta import read_metadata

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
    assert list(flat) == ["input_psnr", "input_ssim", "psnr", "ssim", "detail", "code_acc", "w0_psnr", "w0_ssim",
                          "w0_detail", "w0_code_acc", "w1_psnr", "w1_ssim", "w1_detail", "w1_code_acc"]
    # the same rows from evaluate() with independent runners (no shared code path)
    first = evaluate.ModelRunner(model, teacher)
    runners = [first] + [first.with_weight(w, share_code_path=False) for w in (0.0, 1.0)]
    rows = evaluate.evaluate(runners, faces, ["moderate"], 5, teacher=first, chunk=4)["moderate"]
    assert flat["input_psnr"] == rows[evaluate.BICUBIC]["psnr"]
    for prefix, name in (("", "pytorch"), ("w0_", "pytorch w=0"), ("w1_", "pytorch w=1")):
        for key in ("psnr", "ssim", "detail", "code_acc"):
            assert flat[prefix + key] == rows[name][key], (prefix, key)
    # w = 0 is the pure code path (the fidelity path starts as identity at w = 0)
    assert flat["w0_psnr"] == flat["psnr"]


def test_evaluate_counts_the_faces_a_row_leaves_worse_than_bicubic():
    class Grey:
        """A restorer that returns mid-grey: worse than the input on every face."""
        name = "grey"

        def __call__(self, lq):
            return torch.zeros_like(lq), None

    faces = synthetic_faces(6, 32, seed=3)
    row = evaluate.evaluate([Grey()], faces, ["mild"], 5, chunk=4)["mild"]["grey"]
    v = row["vs_bicubic"]
    assert v["below"] == 6 and v["worst_db"] < -3 and v["p10_db"] >= v["worst_db"]
    assert sorted(f["face"] for f in v["below_faces"]) == [str(i) for i in range(6)]
    assert [f["db"] for f in v["below_faces"]] == sorted(f["db"] for f in v["below_faces"])  # worst first
    assert "vs_bicubic" not in evaluate.evaluate([Grey()], faces, ["mild"], 5)["mild"][evaluate.BICUBIC]
    # without names a face is named by its index; equal is not below
    assert evaluate.versus_input(np.array([0.0, -0.2]))["below_faces"] == [{"face": "1", "db": -0.2}]


def test_model_runner_restores_the_training_mode():
    model = tiny_model(1).train()
    runner = evaluate.ModelRunner(model, weight=0.5)
    out, idx = runner(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 3, 32, 32) and idx.shape == (2, model.cfg.vq.latent_size ** 2)
    assert model.training


# ------------------------------------------------------------- against the runtime's own crops
# evaluate's --align (short-range BlazeFace, the model's template, similarity fit, warp) against the
# aligned crop the release binary writes with --save-faces for the same photo.
DAEFR_BIN = MODELS.parent / "target" / "release" / "daefr"
INT8_MODEL = MODELS / "daefr-lite-128-int8.onnx"


@pytest.fixture(scope="module")
def runtime_astronaut(tmp_path_factory):
    """(runtime's aligned crop uint8 [128, 128, 3], its face report) for the astronaut, from
    ``daefr restore --detector short-range --save-faces --json`` with the committed int8 model."""
    if not DAEFR_BIN.is_file():
        pytest.skip(f"needs the release runtime {DAEFR_BIN} (cargo build --release)")
    out = tmp_path_factory.mktemp("runtime-align")
    subprocess.run([str(DAEFR_BIN), "restore", str(ASTRONAUT), "-o", str(out / "restored.png"),
                    "--save-faces", str(out / "faces"), "--force", "--detector", "short-range",
                    "--model", str(INT8_MODEL), "--no-cache", "--json", str(out / "report.json")],
                   check=True, capture_output=True)
    faces = json.loads((out / "report.json").read_text())["photos"][0]["faces"]
    assert len(faces) == 1 and faces[0]["outcome"] == "restored"
    crop = np.asarray(Image.open(out / "faces" / "face-00-aligned.png").convert("RGB"))
    assert crop.shape == (128, 128, 3)
    return crop, faces[0]


def model_template() -> dict:
    """The template the runtime aligns to (the model's ``daefr.template``), which must be the
    template file ``evaluate.load_faces`` reads for --align."""
    tmpl = json.loads(read_metadata(INT8_MODEL)["daefr.template"])
    from_file = json.loads((MODELS / "template-celeba-128.json").read_text())
    assert all(tmpl[n] == from_file[n] for n in evaluate.ALIGN_POINTS)
    return tmpl


def crop_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(d.mean()), int(d.max())


def test_warp_reproduces_the_runtimes_aligned_crop(runtime_astronaut):
    """The runtime's keypoints (--json) through evaluate's similarity fit and warp give the crop the
    runtime wrote: the alignment alone, detector left out. Measured bit-exact (mean 0, max 0);
    the tolerance leaves room for a float32 tie rounding the other way, nothing more (keypoints
    moved by 0.5 px already give a mean of ~3 levels and a max of ~70)."""
    rust_crop, face = runtime_astronaut
    frame = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    # the runtime holds keypoints and template in float32 and fits in float64
    src = np.asarray(face["keypoints"], dtype=np.float32)[:4].astype(np.float64)
    dst = np.array([model_template()[n] for n in evaluate.ALIGN_POINTS], dtype=np.float32).astype(np.float64)
    crop = evaluate.warp_to_crop(frame, evaluate.similarity_from_points(src, dst), 128)
    mean, worst = crop_difference(crop, rust_crop)
    assert mean < 0.01 and worst <= 1, (mean, worst)
    # the comparison can fail: the same face aligned from keypoints 1 px to the right is far outside it
    off = evaluate.warp_to_crop(frame, evaluate.similarity_from_points(src + [1.0, 0.0], dst), 128)
    assert crop_difference(off, rust_crop)[0] > 1.0


def test_align_face_reproduces_the_runtimes_aligned_crop(runtime_astronaut):
    """End to end (evaluate's own letterbox and BlazeFace decoding included): its keypoints lie
    within 1e-3 px of the runtime's (measured 5e-5) and ``align_face`` gives the runtime's crop up
    to float32 rounding (measured: 22 of 49152 values off by 1, mean 0.0004)."""
    rust_crop, face = runtime_astronaut
    img = Image.open(ASTRONAUT)
    kp = evaluate.alignment_points(np.asarray(img.convert("RGB")))
    assert np.abs(kp - np.asarray(face["keypoints"])[:4]).max() < 1e-3
    crop = np.asarray(evaluate.align_face(img, model_template(), 128))
    mean, worst = crop_difference(crop, rust_crop)
    assert mean < 0.01 and worst <= 2, (mean, worst)


def test_region_psnr_separates_the_face_box_from_the_rest():
    from daefr_models.photo_eval import region_psnr

    gt = np.zeros((20, 30, 3), np.uint8)
    out = np.full_like(gt, 5)
    out[0:10, 0:16] = 10  # the box x 0..16, y 0..10 has errors of 10, the rest of 5
    inside, outside = region_psnr(out, gt, (0, 0, 16, 10))
    assert inside == pytest.approx(10 * np.log10(255.0**2 / 100))
    assert outside == pytest.approx(10 * np.log10(255.0**2 / 25))
    # a box partly outside the photo is clipped; one wholly outside leaves nothing inside
    assert region_psnr(out, gt, (-50, -50, 16, 10)) == pytest.approx((inside, outside))
    assert np.isnan(region_psnr(out, gt, (100, 100, 120, 120))[0])


def test_against_input_counts_the_photos_a_row_leaves_worse():
    from daefr_models.photo_eval import against_input

    base = [{"psnr": 20.0}, {"psnr": 25.0}, {"psnr": 30.0}, {"psnr": 22.0}]
    row = [{"psnr": 21.0}, {"psnr": 24.5}, {"psnr": 30.0}, {"psnr": 21.0}]
    got = against_input(row, base)
    assert got["below"] == 2 and got["worst_db"] == -1.0  # equal is not below
    assert got["p10_db"] == pytest.approx(np.percentile([1.0, -0.5, 0.0, -1.0], 10))
    with pytest.raises(ValueError):
        against_input(row[:3], base)  # a photo missing from a row is a bug, not a smaller sample
    named = against_input(row, base, ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    assert named["below_photos"] == [{"photo": "d.jpg", "db": -1.0}, {"photo": "b.jpg", "db": -0.5}]
    with pytest.raises(ValueError, match="names"):
        against_input(row, base, ["a.jpg"])


def test_versus_run_compares_two_runs_photo_by_photo():
    from daefr_models.photo_eval import BICUBIC, check_comparable, versus_run

    meta = {"data": "holdout", "level": "mild", "seed": 0}
    ours = {**meta, "per_photo_psnr": {BICUBIC: {"a": 20.0, "b": 25.0, "c": 30.0},
                                        "w1": {"a": 21.0, "b": 25.5, "c": 30.0},
                                        "auto": {"a": 20.5, "b": 25.0, "c": 31.0}}}
    theirs = {**meta, "per_photo_psnr": {BICUBIC: {"a": 20.0, "b": 25.0, "c": 30.0},
                                          "w1": {"c": 30.5, "a": 20.0, "b": 25.0}}}
    got = versus_run(ours, theirs)
    assert list(got) == ["w1"]  # the bicubic row and rows the earlier run lacks are not compared
    w1 = got["w1"]
    assert w1["mean_db"] == pytest.approx(1 / 3, abs=1e-3) and w1["median_db"] == 0.5
    assert w1["below"] == 1 and w1["worst_db"] == -0.5  # photo c, matched by name, not by order
    assert w1["below_photos"] == [{"photo": "c", "db": -0.5}]
    for bad, why in [({**theirs, "seed": 1}, "seed"), ({**theirs, "level": "moderate"}, "level"),
                     (meta, "per-photo"),
                     ({**meta, "per_photo_psnr": {"w1": {"a": 1.0, "b": 2.0}}}, "different photos"),
                     ({**meta, "per_photo_psnr": {"w0": {"a": 1.0}}}, "no row in common")]:
        with pytest.raises(ValueError, match=why):
            versus_run(ours, bad)
    check_comparable(meta, theirs)  # the three keys alone are enough to check before the work


def test_paste_study_models_the_runtimes_mask_and_change_paste():
    from daefr_models.paste_study import mask_weight, parse_masks, paste_change

    u = np.array([0.5, 64.0, 6.0, 6.0])
    v = np.array([64.0, 64.0, 64.0, 6.0])
    w = mask_weight(u, v, 0.01, 0.06, 128.0)
    # the Rust unit test's points (src/align/paste.rs): zero at the border, one in the middle,
    # the corner fading earlier than the edge
    assert w[0] == 0.0 and w[1] == 1.0 and 0.0 < w[3] < w[2] < 1.0
    assert parse_masks("0.01/0.06, 0.03/0.12") == [(0.01, 0.06), (0.03, 0.12)]
    for bad in ("", "0.6/0.1", "0.1"):
        with pytest.raises(ValueError):
            parse_masks(bad)
    photo = np.full((40, 60, 3), 100, dtype=np.uint8)
    to_crop = np.array([[1.0, 0.0, -10.0], [0.0, 1.0, -5.0]])  # a 32-px crop at (10, 5) in the photo
    assert np.array_equal(paste_change(photo, np.zeros((32, 32, 3)), to_crop, 0.01, 0.06), photo)
    out = paste_change(photo, np.full((32, 32, 3), 50.0), to_crop, 0.0, 0.0)
    assert (out[5:37, 10:42] == 150).all()  # a hard mask: the whole crop gets the change
    assert (out[:5] == 100).all() and (out[:, :10] == 100).all() and (out[:, 42:] == 100).all()


def test_a_finer_perfect_crop_brings_more_of_a_large_face_back():
    from daefr_models.paste_study import parse_scales, paste_change, perfect_change, psnr_u8

    assert parse_scales("1, 2") == [1.0, 2.0]
    for bad in ("", "0", "-1", "9"):
        with pytest.raises(ValueError):
            parse_scales(bad)
    g = np.random.default_rng(0)
    gt = g.integers(0, 256, (96, 96, 3)).astype(np.uint8)  # fine detail everywhere
    lq = np.full_like(gt, 128)
    to_crop = np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])  # the 96-px face on a 48-px crop
    scores = []
    for scale in (1, 2):
        t = to_crop * scale
        out = paste_change(lq, perfect_change(gt, lq, t, 48 * scale), t, 0.0, 0.0)
        scores.append(psnr_u8(out, gt))
    # at 2x the crop samples the face at its own resolution: the photo comes back exactly
    assert scores[1] == float("inf") and scores[0] < 20
