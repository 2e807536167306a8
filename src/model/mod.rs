//! The DAEFR network: loading (ONNX or NNEF cache), metadata, pre/post-processing, [`Restorer`].

pub mod cache;
pub mod load;
pub mod metadata;
mod restorer;
pub mod stats;
mod tensor_io;

use std::path::PathBuf;

pub use load::ModelFormat;
pub use metadata::{ChannelOrder, ModelMetadata, Template, ValueRange};
pub(crate) use restorer::optimize_scope;
pub use restorer::{check_fidelity, LoadOptions, NodeTime, Restorer};

/// File name of the bundled default model inside `models/`.
pub const DEFAULT_MODEL_FILE: &str = "daefr-lite-128.onnx";

/// Environment variable that, when set, names the default model file.
pub const MODEL_ENV: &str = "DAEFR_MODEL";

/// Places searched for the bundled default model, in order: `$DAEFR_MODEL`, `models/` next to the
/// executable, `models/` two levels up from it (a `target/release` build), the source tree this
/// binary was built from, and `models/` under the current directory.
pub fn default_model_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os(MODEL_ENV) {
        out.push(PathBuf::from(p));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from))
    {
        out.push(dir.join("models").join(DEFAULT_MODEL_FILE));
        if let Some(up2) = dir.parent().and_then(|d| d.parent()) {
            out.push(up2.join("models").join(DEFAULT_MODEL_FILE));
        }
    }
    out.push(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(DEFAULT_MODEL_FILE),
    );
    out.push(PathBuf::from("models").join(DEFAULT_MODEL_FILE));
    out
}

/// Finds the bundled default model (see [`default_model_candidates`]).
pub fn default_model_path() -> Option<PathBuf> {
    default_model_candidates().into_iter().find(|p| p.is_file())
}

/// [`default_model_path`], or an error listing where it looked.
pub fn require_default_model() -> crate::Result<PathBuf> {
    default_model_path().ok_or_else(|| crate::Error::NoDefaultModel {
        searched: default_model_candidates()
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}
