"""BlazeFace (MediaPipe short-range, 128x128) face detector run through onnxruntime.

Used by the toolchain only to *measure* the alignment template on training crops; the Rust runtime
has its own decoder. Decoding follows MediaPipe's SSD anchor scheme for the front model: a 16x16 grid
with 2 anchors per cell (stride 8) followed by an 8x8 grid with 6 anchors per cell (stride 16), anchor
centres at cell centres, unit anchor size; each regressor row is
``[dx, dy, w, h, kp0x, kp0y, ..., kp5x, kp5y]`` in input pixels relative to the anchor centre.
Keypoints in order: right eye (subject's right = image left), left eye, nose tip, mouth centre,
right ear tragion, left ear tragion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

INPUT_SIZE = 128
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear")
#: The committed short-range detector (models/blazeface/, the runtime's; it computes exactly what
#: MediaPipe's file does, see models/blazeface/README.md).
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "blazeface" / "face_detection_front_128x128_barracuda.onnx"


def front_anchors() -> np.ndarray:
    """Anchor centres ``[896, 2]`` (x, y in [0, 1]) in the order of the model's concatenated outputs."""
    centres = []
    for grid, per_cell in ((16, 2), (8, 6)):
        for y in range(grid):
            for x in range(grid):
                for _ in range(per_cell):
                    centres.append(((x + 0.5) / grid, (y + 0.5) / grid))
    return np.asarray(centres, dtype=np.float32)


@dataclass
class Detection:
    """One decoded face: box ``[x0, y0, x1, y1]`` and keypoints ``[6, 2]`` in input pixels, and score."""

    box: np.ndarray
    keypoints: np.ndarray
    score: float


class BlazeFace:
    """Thin onnxruntime wrapper: ``detect(rgb_uint8_128x128) -> list[Detection]``.

    ``input_range`` selects the input normalisation: ``"-1,1"`` (``x / 127.5 - 1``) or ``"0,1"``.
    """

    def __init__(self, model_path: str | Path = DEFAULT_MODEL, input_range: str = "-1,1"):
        import onnxruntime as ort  # here, not at the top: evaluate (and train through it) imports this module

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.anchors = front_anchors()
        if input_range not in ("-1,1", "0,1"):
            raise ValueError(f"unknown input_range {input_range!r}")
        self.input_range = input_range

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the network on a ``[128, 128, 3]`` uint8 RGB image; return (scores[896], regressors[896, 16])."""
        if image.shape != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"expected a 128x128x3 image, got {image.shape}")
        x = image.astype(np.float32)
        x = x / 127.5 - 1.0 if self.input_range == "-1,1" else x / 255.0
        outs = self.session.run(None, {self.input_name: x[None]})
        # Outputs come as (scores16, scores8, regs16, regs8) but match them by shape to be safe.
        scores = sorted((o for o in outs if o.shape[-1] == 1), key=lambda o: -o.shape[1])
        regs = sorted((o for o in outs if o.shape[-1] == 16), key=lambda o: -o.shape[1])
        logits = np.concatenate([s[0, :, 0] for s in scores])
        regressors = np.concatenate([r[0] for r in regs])
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -80, 80))), regressors

    def detect(self, image: np.ndarray, min_score: float = 0.5, iou: float = 0.3) -> list[Detection]:
        """Decode, threshold and suppress overlaps (weighted NMS as MediaPipe does); best first."""
        scores, regs = self.raw(image)
        keep = np.nonzero(scores >= min_score)[0]
        if keep.size == 0:
            return []
        centres = self.anchors[keep] * INPUT_SIZE
        r = regs[keep]
        cx, cy = centres[:, 0] + r[:, 0], centres[:, 1] + r[:, 1]
        w, h = r[:, 2], r[:, 3]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        kps = r[:, 4:16].reshape(-1, 6, 2) + centres[:, None, :]
        s = scores[keep]
        order = np.argsort(-s)
        used = np.zeros(len(order), dtype=bool)
        out: list[Detection] = []
        for i, idx in enumerate(order):
            if used[i]:
                continue
            overlaps = _iou(boxes[idx], boxes[order])
            group = (~used) & (overlaps >= iou)
            used |= group
            members = order[group]
            wts = s[members][:, None]
            box = (boxes[members] * wts).sum(0) / wts.sum()
            kp = (kps[members] * wts[:, :, None]).sum(0) / wts.sum()
            out.append(Detection(box=box, keypoints=kp, score=float(s[idx])))
        return out


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)
