//! The DAEFR network: loading (ONNX or NNEF cache), metadata, pre/post-processing, [`Restorer`].

pub mod cache;
pub mod cost;
pub mod describe;
pub mod fidelity;
pub mod load;
pub mod metadata;
mod restorer;
mod tensor_io;

use std::path::{Path, PathBuf};

pub use fidelity::{sharpness, AutoCurve, Fidelity};
pub use load::ModelFormat;
pub use metadata::{ChannelOrder, ModelMetadata, ValueRange};
pub use restorer::{check_fidelity, LoadOptions, NodeTime, Restorer};

/// File name of the bundled default model inside `models/`: the int8-weights form of
/// `daefr-lite-128.onnx` (3.3x smaller, within 0.01 dB of it; tract folds the weights back to f32
/// when it optimizes the plan, so it runs at the same speed).
pub const DEFAULT_MODEL_FILE: &str = "daefr-lite-128-int8.onnx";

/// The bundled default model: `$DAEFR_MODEL` when set (an error if it is not a file), else
/// [`DEFAULT_MODEL_FILE`] found by [`crate::bundled::locate`].
pub fn require_default_model() -> crate::Result<PathBuf> {
    Ok(crate::bundled::locate(
        Path::new(DEFAULT_MODEL_FILE),
        crate::bundled::MODEL_ENV,
    )?)
}
