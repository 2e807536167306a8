//! Finding the model files that ship with daefr (the DAEFR restorer and the BlazeFace detectors):
//! one search, used for every bundled model.

use std::path::{Path, PathBuf};

/// A bundled model file that could not be found.
#[derive(Debug, thiserror::Error)]
pub enum NotFound {
    /// The environment variable is set but does not name a file.
    #[error("{var} is set to {path}, which is not a file; fix it or unset {var} to use the bundled model")]
    EnvNotAFile {
        /// The environment variable (`DAEFR_MODEL`, `DAEFR_DETECTOR`).
        var: &'static str,
        /// What it is set to.
        path: PathBuf,
    },
    /// None of the places searched holds the file.
    #[error("no model given and the bundled {file} was not found (looked in: {searched}); pass its path")]
    Missing {
        /// The bundled file looked for, relative to `models/`.
        file: String,
        /// The places searched, comma-separated.
        searched: String,
    },
}

/// Environment variable naming the restorer model file to use instead of the bundled one.
pub const MODEL_ENV: &str = "DAEFR_MODEL";

/// Environment variable naming the face detector to use instead of the bundled default: a file,
/// or a bundled variant (`short-range`, `long-range`).
pub const DETECTOR_ENV: &str = "DAEFR_DETECTOR";

/// Where a file under `models/` (`relative`, e.g. `blazeface/face_detection_front_128x128_barracuda.onnx`)
/// is looked for, in order: `models/` in the executable's folder and in up to three folders above
/// it (an installed `/usr/lib/daefr/models`, a `target/release` build), `models/` under the
/// current directory, and `models/` in the source tree this binary was built from.
pub fn candidates(relative: &Path) -> Vec<PathBuf> {
    let relative = Path::new("models").join(relative);
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).take(4).map(Path::to_path_buf));
    }
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    roots.into_iter().map(|root| root.join(&relative)).collect()
}

/// The first of [`candidates`] that is a file.
pub fn find(relative: &Path) -> Option<PathBuf> {
    candidates(relative).into_iter().find(|p| p.is_file())
}

/// The file `$env_var` names when it is set and not empty (an error when that is not a file: a
/// variable that points nowhere is never silently ignored), else [`find`], else an error listing
/// the places searched.
pub fn locate(relative: &Path, env_var: &'static str) -> Result<PathBuf, NotFound> {
    if let Some(path) = std::env::var_os(env_var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(NotFound::EnvNotAFile { var: env_var, path })
        };
    }
    locate_bundled(relative)
}

/// [`find`], else an error listing the places searched (no environment variable).
pub fn locate_bundled(relative: &Path) -> Result<PathBuf, NotFound> {
    find(relative).ok_or_else(|| NotFound::Missing {
        file: relative.display().to_string(),
        searched: candidates(relative)
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}
