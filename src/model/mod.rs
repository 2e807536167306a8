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

/// File name of the bundled default model inside `models/`: the int8-weights form of
/// `daefr-lite-128.onnx` (3.3x smaller, within 0.01 dB of it; tract folds the weights back to f32
/// when it optimizes the plan, so it runs at the same speed).
pub const DEFAULT_MODEL_FILE: &str = "daefr-lite-128-int8.onnx";

/// Environment variable that, when set, names the default model file.
pub const MODEL_ENV: &str = "DAEFR_MODEL";

/// `$DAEFR_MODEL` when it is set and not empty.
fn model_from_env() -> Option<PathBuf> {
    std::env::var_os(MODEL_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// Places searched for the bundled default model, in order: `$DAEFR_MODEL`, `models/` next to the
/// executable, `models/` two levels up from it (a `target/release` build), the source tree this
/// binary was built from, and `models/` under the current directory. When `$DAEFR_MODEL` is set it
/// is the only candidate: a variable that points nowhere is an error, not a silent fallback.
pub fn default_model_candidates() -> Vec<PathBuf> {
    if let Some(p) = model_from_env() {
        return vec![p];
    }
    let mut out = Vec::new();
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

/// [`default_model_path`], or an error: `$DAEFR_MODEL` set to something that is not a file, or
/// the list of places searched.
pub fn require_default_model() -> crate::Result<PathBuf> {
    if let Some(path) = model_from_env().filter(|p| !p.is_file()) {
        return Err(crate::Error::ModelEnvNotAFile {
            var: MODEL_ENV,
            path,
        });
    }
    default_model_path().ok_or_else(|| crate::Error::NoDefaultModel {
        searched: default_model_candidates()
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Threads for tract's kernels when `requested` are asked for: at most the available
/// parallelism (`std::thread::available_parallelism`); more only adds threads that wait. Warns
/// once per process when it caps.
pub fn cap_threads(requested: usize) -> usize {
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    if requested <= available {
        return requested;
    }
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        log::warn!(
            "{requested} threads asked for, but this machine runs {available} at a time; using {available}"
        );
    });
    available
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_capped_at_the_available_parallelism() {
        let available = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(cap_threads(100_000), available);
        assert_eq!(cap_threads(1), 1);
        assert_eq!(cap_threads(available), available);
    }
}
