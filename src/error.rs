//! The crate's error type: one enum, one line per failure. A failure that concerns a file is
//! wrapped once in [`Error::WithPath`] (as ripgrep's `ignore::Error::WithPath`), so its message
//! starts with the file; the variants below it say only what went wrong.

use std::path::{Path, PathBuf};

/// Every failure the library can report. Messages are one line; those about a file name it first.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A failure that concerns one file: the file, then what went wrong with it.
    #[error("{}: {err}", path.display())]
    WithPath {
        /// The file involved (image, model, output, ...).
        path: PathBuf,
        /// What went wrong with it.
        #[source]
        err: Box<Error>,
    },
    /// A file could not be opened or read.
    #[error("{source}")]
    Io {
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An image file exists but could not be decoded (truncated, empty, not an image, ...).
    #[error("cannot decode image: {message}")]
    ImageDecode {
        /// What the decoder reported, on one line.
        message: String,
    },
    /// An image is larger than the configured pixel limit; refused before it is decoded.
    #[error("image is {width}x{height} ({pixels} pixels), over the limit of {limit} pixels")]
    ImageTooLarge {
        /// Width in pixels, as read from the header.
        width: u32,
        /// Height in pixels, as read from the header.
        height: u32,
        /// width * height.
        pixels: u64,
        /// The limit in pixels.
        limit: u64,
    },
    /// An image is too small to hold a face.
    #[error("image is {width}x{height}, smaller than the {min}x{min} minimum")]
    ImageTooSmall {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Minimum side in pixels.
        min: u32,
    },
    /// An image could not be written.
    #[error("cannot write image: {message}")]
    ImageEncode {
        /// What the encoder reported, on one line.
        message: String,
    },
    /// A model file could not be read or parsed (missing, not ONNX/NNEF, unsupported operator, ...).
    #[error("cannot load model: {message}")]
    ModelLoad {
        /// What went wrong, on one line.
        message: String,
    },
    /// A model lacks a metadata key required by docs/model-contract.md, or has a bad value.
    #[error("model metadata `{key}` {problem}")]
    ModelMetadata {
        /// The metadata key (e.g. `daefr.input_size`).
        key: String,
        /// What is wrong with it ("is missing", "is not a number: ...").
        problem: String,
    },
    /// A model's input or output does not have the shape the contract requires.
    #[error("model {which} has shape {found}, expected {expected}")]
    ModelShape {
        /// `input` or `output`.
        which: String,
        /// The shape the contract requires.
        expected: String,
        /// The shape the model declares.
        found: String,
    },
    /// A face crop handed to the restorer is not the model's input size.
    #[error("face crop is {width}x{height}, the model expects {size}x{size}")]
    FaceSize {
        /// Width of the crop.
        width: u32,
        /// Height of the crop.
        height: u32,
        /// The model's input size.
        size: u32,
    },
    /// A fidelity weight outside `[0, 1]` (or not a number) was asked for.
    #[error(
        "fidelity weight {value} is outside 0..=1 (0: pure DAEFR codes, 1: closest to the input)"
    )]
    FidelityOutOfRange {
        /// The weight given.
        value: f32,
    },
    /// Running the network failed.
    #[error("inference failed: {message}")]
    Inference {
        /// What tract reported, on one line.
        message: String,
    },
    /// No model was given and the bundled one was not found (see [`crate::bundled::NotFound`]).
    #[error(transparent)]
    Bundled(#[from] crate::bundled::NotFound),
    /// Face detection failed (see [`crate::detect::DetectError`]).
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
    /// Face alignment failed (see [`crate::align::AlignError`]).
    #[error(transparent)]
    Align(#[from] crate::align::AlignError),
}

impl Error {
    /// This error as concerning the file `path` (an error that names a file already keeps it).
    pub fn with_path(self, path: impl Into<PathBuf>) -> Error {
        match self {
            named @ Error::WithPath { .. } => named,
            err => Error::WithPath {
                path: path.into(),
                err: Box::new(err),
            },
        }
    }

    /// The file this error concerns, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::WithPath { path, .. } => Some(path),
            _ => None,
        }
    }

    /// What went wrong, without the file ([`Error::WithPath`] unwrapped): the variant to match.
    pub fn kind(&self) -> &Error {
        match self {
            Error::WithPath { err, .. } => err.kind(),
            err => err,
        }
    }
}

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
