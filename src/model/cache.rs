//! The NNEF cache: an ONNX model converted once to tract's NNEF archive, which loads faster.
//!
//! The archive holds the decluttered typed graph (so loading skips parsing, type inference and
//! decluttering; only the CPU-specific optimization remains) as an uncompressed tar (`<stem>.nnef.tar`, next to the ONNX file): fp32 weights
//! barely compress, and skipping inflate keeps kiosk start-up short. The ONNX `metadata_props`
//! travel inside the archive as tract model properties (`onnx.metadata_props.<key>` in the
//! `tract_core_properties` fragment of `graph.nnef`), so no sidecar file can get lost or stale.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::load::{load_onnx_with, nnef_framework, one_line};
use crate::{Error, Result};

/// File name suffix of NNEF caches.
pub const NNEF_SUFFIX: &str = ".nnef.tar";

/// Where the NNEF cache of an ONNX file lives: `dir/name.onnx` -> `dir/name.nnef.tar`.
pub fn cache_path_for(onnx: &Path) -> PathBuf {
    let stem = onnx.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    onnx.with_file_name(format!("{stem}{NNEF_SUFFIX}"))
}

/// The cache of `onnx` if it exists and is at least as new as the ONNX file.
pub fn fresh_cache_for(onnx: &Path) -> Option<PathBuf> {
    let cache = cache_path_for(onnx);
    let cache_time = std::fs::metadata(&cache).and_then(|m| m.modified()).ok()?;
    let onnx_time = std::fs::metadata(onnx).and_then(|m| m.modified()).ok()?;
    (cache_time >= onnx_time).then_some(cache)
}

/// Converts an ONNX model to an NNEF archive at `out` (metadata included); validates the model
/// against the contract first. Writes to a temporary name, then renames, so a crash never leaves a
/// half-written cache behind.
pub fn write_nnef(onnx: &Path, out: &Path) -> Result<()> {
    let (loaded, _meta) = load_onnx_with(onnx, true)?;
    let tmp = out.with_extension("tmp");
    let io_err = |source| Error::Io {
        path: out.to_path_buf(),
        source,
    };
    let file = File::create(&tmp).map_err(io_err)?;
    let written = nnef_framework()
        .write_to_tar(&loaded.typed, BufWriter::new(file))
        .and_then(|w| w.into_inner().map_err(|e| e.into_error().into()))
        .map(|_| ());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::ModelLoad {
            path: out.to_path_buf(),
            message: format!("cannot write NNEF: {}", one_line(&e)),
        });
    }
    std::fs::rename(&tmp, out).map_err(io_err)
}
