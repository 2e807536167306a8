//! Core geometry shared by every stage: the face record a detector produces, box overlap, the
//! alignment template a model is trained on, BlazeFace's anchor layout and the weighted
//! non-maximum suppression that merges detections ([`anchors`], [`nms`]: plain arithmetic, so the
//! detectors in `crate::detect` only run networks and decode). No tract, no I/O, no configuration: the layers above
//! (inference, capture, display, the command line) depend on this one, never the reverse.

use serde::{Deserialize, Serialize};

mod anchors;
mod nms;

pub use anchors::{Anchor, AnchorLayer};
pub use nms::weighted_nms;

/// Index of each keypoint in [`Face::keypoints`] (BlazeFace's own order).
pub mod keypoint {
    /// The subject's right eye: the one on the image's left side.
    pub const RIGHT_EYE: usize = 0;
    /// The subject's left eye: the one on the image's right side.
    pub const LEFT_EYE: usize = 1;
    /// Tip of the nose.
    pub const NOSE_TIP: usize = 2;
    /// Centre of the mouth.
    pub const MOUTH_CENTER: usize = 3;
    /// The subject's right ear tragion.
    pub const RIGHT_EAR: usize = 4;
    /// The subject's left ear tragion.
    pub const LEFT_EAR: usize = 5;
}

/// One detected face, in the pixel coordinates of the frame it was found in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    /// Bounding box `[x0, y0, x1, y1]` in pixels.
    pub bbox: [f32; 4],
    /// Detector confidence in `[0, 1]`.
    pub score: f32,
    /// Keypoints `[x, y]`: right_eye, left_eye, nose_tip, mouth_center, right_ear, left_ear
    /// (see [`keypoint`]).
    pub keypoints: [[f32; 2]; 6],
}

impl Face {
    /// Width of the bounding box in pixels.
    pub fn width(&self) -> f32 {
        self.bbox[2] - self.bbox[0]
    }

    /// Height of the bounding box in pixels.
    pub fn height(&self) -> f32 {
        self.bbox[3] - self.bbox[1]
    }

    /// The four keypoints used for alignment: right eye, left eye, nose tip, mouth centre.
    pub fn alignment_points(&self) -> [[f32; 2]; 4] {
        [
            self.keypoints[keypoint::RIGHT_EYE],
            self.keypoints[keypoint::LEFT_EYE],
            self.keypoints[keypoint::NOSE_TIP],
            self.keypoints[keypoint::MOUTH_CENTER],
        ]
    }

    /// The same face with every coordinate multiplied by `factor` (to map detections made on a
    /// resized copy back to the original).
    pub fn scaled(&self, factor: f32) -> Face {
        let mut face = *self;
        for v in face.bbox.iter_mut() {
            *v *= factor;
        }
        for p in face.keypoints.iter_mut() {
            p[0] *= factor;
            p[1] *= factor;
        }
        face
    }
}

/// Intersection over union of two `[x0, y0, x1, y1]` boxes (0 when either is empty).
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ix * iy;
    let area_a = (a[2] - a[0]).max(0.0) * (a[3] - a[1]).max(0.0);
    let area_b = (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0);
    let union = area_a + area_b - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Alignment template: mean landmark positions in model-input pixels (x right, y down).
///
/// `right_eye` is the subject's right eye, on the image's left side.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
pub struct Template {
    /// Subject's right eye (image left).
    pub right_eye: [f32; 2],
    /// Subject's left eye (image right).
    pub left_eye: [f32; 2],
    /// Tip of the nose.
    pub nose_tip: [f32; 2],
    /// Centre of the mouth.
    pub mouth_center: [f32; 2],
}

impl Template {
    /// The four landmarks in BlazeFace keypoint order (right eye, left eye, nose tip, mouth).
    pub fn points(&self) -> [[f32; 2]; 4] {
        [
            self.right_eye,
            self.left_eye,
            self.nose_tip,
            self.mouth_center,
        ]
    }
}
