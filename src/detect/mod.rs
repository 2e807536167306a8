//! Face detection: BlazeFace run by tract, decoded over its anchors and merged by weighted
//! non-maximum suppression (both plain geometry, in [`crate::geometry`]), the tiled search of
//! large photos, and a second detector for the photos in which the first finds no face.
//!
//! The detector takes a whole frame (any size, any aspect) and returns faces in that frame's pixel
//! coordinates (x right, y down, pixel centres at integer + 0.5, like the model template).

mod blazeface;
mod fallback;
mod tiled;

use std::path::{Path, PathBuf};

use image::RgbImage;

pub use blazeface::{BlazeFace, DetectorOptions};
pub use fallback::FallbackDetector;
pub use tiled::{owned_span, window_starts, TiledDetector};

// Face data, anchors and NMS live in the core layer; re-exported here because every detector
// returns faces and BlazeFace's callers name its anchors.
pub use crate::geometry::{keypoint, weighted_nms, Anchor, AnchorLayer, Face};

/// Anything that finds faces in a frame. Implementations may keep state between frames.
pub trait FaceDetector: Send {
    /// Find the faces in `frame`, best score first, in `frame`'s pixel coordinates.
    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<Face>, DetectError>;
}

/// Which BlazeFace variant to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorKind {
    /// 128x128 "front camera" model: faces that fill a good part of the frame (selfies, portraits).
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
    #[error("{path}: face detector inference failed: {message}")]
    Inference {
        /// The detector model file.
        path: PathBuf,
        /// What tract reported.
        message: String,
    },
    /// The frame has no pixels.
    #[error("{path}: cannot detect faces in an empty {width}x{height} frame")]
    EmptyFrame {
        /// The detector model file.
        path: PathBuf,
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
    },
}

/// The default detector file: `$DAEFR_DETECTOR` when set (a file, or a bundled variant such as
/// `short-range`; an error when it is neither), else the bundled model of `kind` (see
/// [`crate::bundled::locate`]).
pub fn default_detector_path(kind: DetectorKind) -> Result<PathBuf, crate::bundled::NotFound> {
    let named = std::env::var_os(crate::bundled::DETECTOR_ENV)
        .filter(|value| !Path::new(value).is_file())
        .and_then(|value| value.to_str().and_then(|v| v.parse::<DetectorKind>().ok()));
    match named {
        Some(variant) => crate::bundled::locate_bundled(&kind_path(variant)),
        None => crate::bundled::locate(&kind_path(kind), crate::bundled::DETECTOR_ENV),
    }
}

/// Where the bundled model of the given variant lives, if it can be found
/// ([`crate::bundled::find`]; no environment variable).
pub fn detector_path(kind: DetectorKind) -> Option<PathBuf> {
    crate::bundled::find(&kind_path(kind))
}

/// The bundled model of `kind` relative to `models/`.
fn kind_path(kind: DetectorKind) -> PathBuf {
    Path::new("blazeface").join(kind.file_name())
}
