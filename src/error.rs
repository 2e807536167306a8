//! The crate's error type: one enum, one line per failure, always naming the file involved.

use std::path::PathBuf;

/// Every failure the library can report. Messages are one line and name the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An image file exists but could not be decoded (truncated, empty, not an image, ...).
    #[error("{path}: cannot decode image: {message}")]
    ImageDecode {
        /// The image file.
        path: PathBuf,
        /// What the decoder reported, on one line.
        message: String,
    },
    /// An image is larger than the configured pixel limit; refused before it is decoded.
    #[error(
        "{path}: image is {width}x{height} ({pixels} pixels), over the limit of {limit} pixels"
    )]
    ImageTooLarge {
        /// The image file.
        path: PathBuf,
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
    #[error("{path}: image is {width}x{height}, smaller than the {min}x{min} minimum")]
    ImageTooSmall {
        /// The image file.
        path: PathBuf,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Minimum side in pixels.
        min: u32,
    },
    /// An image could not be written.
    #[error("{path}: cannot write image: {message}")]
    ImageEncode {
        /// The output file.
        path: PathBuf,
        /// What the encoder reported, on one line.
        message: String,
    },
    /// A model file could not be read or parsed (missing, not ONNX/NNEF, unsupported operator, ...).
    #[error("{path}: cannot load model: {message}")]
    ModelLoad {
        /// The model file.
        path: PathBuf,
        /// What went wrong, on one line.
        message: String,
    },
    /// A model lacks a metadata key required by docs/model-contract.md, or has a bad value.
    #[error("{path}: model metadata `{key}` {problem}")]
    ModelMetadata {
        /// The model file.
        path: PathBuf,
        /// The metadata key (e.g. `daefr.input_size`).
        key: String,
        /// What is wrong with it ("is missing", "is not a number: ...").
        problem: String,
    },
    /// A model's input or output does not have the shape the contract requires.
    #[error("{path}: model {which} has shape {found}, expected {expected}")]
    ModelShape {
        /// The model file.
        path: PathBuf,
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
    #[error("{path}: inference failed: {message}")]
    Inference {
        /// The model file.
        path: PathBuf,
        /// What tract reported, on one line.
        message: String,
    },
    /// No model was given and the bundled default model was not found.
    #[error("no model given and the bundled default model was not found (looked in: {searched}); pass --model PATH")]
    NoDefaultModel {
        /// The places searched, comma-separated.
        searched: String,
    },
    /// `$DAEFR_MODEL` is set but does not name a file.
    #[error("{var} is set to {path}, which is not a model file; fix it or unset {var} to use the bundled model")]
    ModelEnvNotAFile {
        /// The environment variable (`DAEFR_MODEL`).
        var: &'static str,
        /// What it is set to.
        path: PathBuf,
    },
    /// Face detection failed (see [`crate::detect::DetectError`]).
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
    /// Face alignment failed (see [`crate::align::AlignError`]).
    #[error(transparent)]
    Align(#[from] crate::align::AlignError),
}

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
