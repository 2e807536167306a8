"""Alignment template: committed JSON is sane; BlazeFace decoding finds the committed portrait's face."""

import json
from pathlib import Path

import numpy as np
from PIL import Image

from daefr_models.blazeface import DEFAULT_MODEL, KEYPOINT_NAMES, BlazeFace, front_anchors
from daefr_models.data import centre_square

MODELS = Path(__file__).resolve().parents[1]
ASTRONAUT = MODELS.parent / "tests" / "fixtures" / "astronaut.png"


def test_anchor_layout_is_mediapipe_front():
    a = front_anchors()
    assert a.shape == (896, 2)
    # 16x16 grid, 2 anchors per cell, then 8x8 grid, 6 per cell
    assert np.allclose(a[0], [0.5 / 16, 0.5 / 16]) and np.allclose(a[1], a[0])
    assert np.allclose(a[2], [1.5 / 16, 0.5 / 16])
    assert np.allclose(a[512], [0.5 / 8, 0.5 / 8]) and np.allclose(a[517], a[512])
    assert np.allclose(a[-1], [7.5 / 8, 7.5 / 8])


def test_committed_template_is_a_plausible_face():
    t = json.loads((MODELS / "template-celeba-128.json").read_text())
    for name in KEYPOINT_NAMES:
        x, y = t[name]
        assert 0 < x < 128 and 0 < y < 128, name
    assert "blazeface" in t["template_source"]
    re, le, nose, mouth = (np.array(t[k]) for k in ("right_eye", "left_eye", "nose_tip", "mouth_center"))
    assert re[0] < le[0], "subject's right eye sits on the image's left"
    assert abs(re[1] - le[1]) < 3, "eyes level after CelebA alignment"
    assert re[1] < nose[1] < mouth[1]
    assert re[0] < nose[0] < le[0] and re[0] < mouth[0] < le[0]
    assert t["right_ear"][0] < re[0] and t["left_ear"][0] > le[0]


def test_blazeface_finds_the_astronaut_face_with_ordered_keypoints():
    img = np.asarray(centre_square(Image.open(ASTRONAUT).convert("RGB")).resize((128, 128), Image.BILINEAR))
    det = BlazeFace(DEFAULT_MODEL).detect(img)
    assert len(det) >= 1 and det[0].score > 0.7
    kp = det[0].keypoints
    x0, y0, x1, y1 = det[0].box
    assert x0 < kp[0, 0] < kp[1, 0] < x1  # right eye (image left) before left eye
    assert y0 < kp[0, 1] < kp[3, 1] < y1  # eyes above mouth
    # blank image: no face
    assert BlazeFace(DEFAULT_MODEL).detect(np.full((128, 128, 3), 128, np.uint8)) == []


def test_celeba_crop_is_the_documented_centre_square():
    from daefr_models.data import load_model_input

    # 178x218 with a marker row pattern: row r has value r, so the crop's first/last rows tell the offset
    arr = np.repeat(np.arange(218, dtype=np.uint8)[:, None, None], 178, axis=1).repeat(3, axis=2)
    sq = centre_square(Image.fromarray(arr))
    assert sq.size == (178, 178)
    top = np.asarray(sq)[0, 0, 0]
    bottom = np.asarray(sq)[-1, 0, 0]
    assert (top, bottom) == (20, 197)


def test_load_model_input_resizes_to_the_model_size(tmp_path):
    from daefr_models.data import load_folder, load_model_input

    for i in range(3):
        Image.fromarray(np.full((218, 178, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    assert load_model_input(tmp_path / "1.png", 128).shape == (128, 128, 3)
    batch = load_folder(tmp_path, 64, workers=1)
    assert batch.shape == (3, 3, 64, 64) and str(batch.dtype) == "torch.uint8"
    assert int(batch[2].float().mean()) == 80
