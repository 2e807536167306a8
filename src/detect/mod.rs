//! Face detection: BlazeFace run by tract, anchor decoding and weighted non-maximum suppression.
//!
//! The detector takes a whole frame (any size, any aspect) and returns faces in that frame's pixel
//! coordinates (x right, y down, pixel centres at integer + 0.5, like the model template).

mod anchors;
mod blazeface;
mod nms;

use std::path::{Path, PathBuf};

use image::RgbImage;

pub use anchors::{Anchor, AnchorLayer};
pub use blazeface::{BlazeFace, DetectorOptions};
pub use nms::{iou, weighted_nms};

use crate::Result;

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

/// Anything that finds faces in a frame. Implementations may keep state between frames.
pub trait FaceDetector: Send {
    /// Find the faces in `frame`, best score first, in `frame`'s pixel coordinates.
    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<Face>>;
}

/// Which BlazeFace variant to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DetectorKind {
    /// 128x128 "front camera" model: faces that fill a good part of the frame (selfies, portraits).
    #[default]
    ShortRange,
    /// 256x256 "back camera" model: smaller faces further from the camera (group photos).
    LongRange,
}

impl DetectorKind {
    /// File name of the bundled model for this variant.
    pub fn file_name(self) -> &'static str {
        match self {
            DetectorKind::ShortRange => "face_detection_front_128x128_barracuda.onnx",
            DetectorKind::LongRange => "face_detection_back_256x256_barracuda.onnx",
        }
    }
}

impl std::str::FromStr for DetectorKind {
    type Err = String;

    /// `short-range` (or `front`, `128`) / `long-range` (or `back`, `256`).
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "short-range" | "short" | "front" | "128" => Ok(DetectorKind::ShortRange),
            "long-range" | "long" | "back" | "256" => Ok(DetectorKind::LongRange),
            other => Err(format!(
                "unknown detector `{other}` (use short-range or long-range)"
            )),
        }
    }
}

impl std::fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DetectorKind::ShortRange => "short-range",
            DetectorKind::LongRange => "long-range",
        })
    }
}

/// Failures specific to face detection.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The detector model could not be loaded or optimized by tract.
    #[error("{path}: cannot load face detector: {message}")]
    Load {
        /// The model file.
        path: PathBuf,
        /// What tract reported.
        message: String,
    },
    /// The model's inputs or outputs are not BlazeFace's.
    #[error("{path}: not a BlazeFace model: {message}")]
    NotBlazeFace {
        /// The model file.
        path: PathBuf,
        /// What did not match.
        message: String,
    },
    /// Running the detector failed.
    #[error("face detector inference failed: {0}")]
    Inference(String),
    /// The frame has no pixels.
    #[error("cannot detect faces in an empty {0}x{1} frame")]
    EmptyFrame(u32, u32),
}

/// Where the bundled short-range detector lives, if it can be found.
///
/// Looks in `$DAEFR_DETECTOR` (a file), then `models/blazeface/` next to the executable, above it
/// (`target/release/../../models`), in the current directory, and in the source tree the binary was
/// built from.
pub fn default_detector_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DAEFR_DETECTOR").map(PathBuf::from) {
        if path.is_file() {
            return Some(path);
        }
    }
    detector_path(DetectorKind::ShortRange)
}

/// Where the bundled model of the given variant lives, if it can be found (same search as
/// [`default_detector_path`], without the environment variable).
pub fn detector_path(kind: DetectorKind) -> Option<PathBuf> {
    let relative = Path::new("models").join("blazeface").join(kind.file_name());
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(4) {
            roots.push(dir.to_path_buf());
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    roots
        .into_iter()
        .map(|root| root.join(&relative))
        .find(|candidate| candidate.is_file())
}
